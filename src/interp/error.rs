//! Why a run stopped, located in the runbook when it can be.

use crate::cloud::CloudError;
use crate::diagnostic::Diagnostic;
use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailKind {
    /// An expression could not be evaluated (type error, missing field).
    Eval,
    /// A cloud call failed.
    Cloud,
    /// A precondition does not hold.
    Precondition,
    /// A gate did not hold within its window.
    Gate,
    /// An `await` did not hold within its window.
    Await,
    /// A `fail` statement.
    Fail,
    /// Ctrl-C, or a confirmation refused.
    Cancelled,
    /// A step ran past its `timeout`.
    Timeout,
    /// A resumed run asked for something other than its journal holds.
    /// The run stops as it is (no rollback) and stays resumable.
    Diverged,
    /// The cluster lock was lost (or the journal cannot be written): no
    /// further mutation; the run stops as it is and stays resumable.
    Stopped,
}

impl FailKind {
    /// The run stops where it is, without rollback or a final record:
    /// `runbook resume` continues it.
    pub fn suspends(self) -> bool {
        matches!(self, FailKind::Diverged | FailKind::Stopped)
    }
}

#[derive(Clone, Debug)]
pub struct RunError {
    pub kind: FailKind,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl RunError {
    pub fn new(kind: FailKind, message: impl Into<String>, span: Span) -> Self {
        RunError {
            kind,
            message: message.into(),
            span: Some(span),
            help: None,
        }
    }

    pub fn eval(message: impl Into<String>, span: Span) -> Self {
        RunError::new(FailKind::Eval, message, span)
    }

    pub fn cloud(err: CloudError, span: Span) -> Self {
        let kind = if matches!(err, CloudError::Cancelled) {
            FailKind::Cancelled
        } else {
            FailKind::Cloud
        };
        let help = match &err {
            CloudError::DrainBlocked { pdbs, .. } if !pdbs.is_empty() => Some(format!(
                "relax PodDisruptionBudget {} (or scale its workload up), then rerun",
                pdbs.join(", ")
            )),
            CloudError::DrainRefused { .. } => {
                Some("move or protect those pods first, or allow them explicitly".into())
            }
            _ => None,
        };
        RunError {
            kind,
            message: err.to_string(),
            span: Some(span),
            help,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn code(&self) -> &'static str {
        match self.kind {
            FailKind::Precondition => "RUN010",
            FailKind::Eval => "RUN030",
            FailKind::Cloud => "RUN020",
            FailKind::Gate => "RUN021",
            FailKind::Await => "RUN022",
            FailKind::Fail => "RUN023",
            FailKind::Cancelled => "RUN024",
            FailKind::Timeout => "RUN025",
            FailKind::Diverged => "RUN045",
            FailKind::Stopped => "RUN009",
        }
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut d = Diagnostic::error(self.code(), self.message.clone());
        if let Some(span) = self.span {
            d = d.with_label(span, "");
        }
        if let Some(h) = &self.help {
            d = d.with_help(h.clone());
        }
        d
    }
}
