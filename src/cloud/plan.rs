//! What a mutation did or would do. Plan mode returns a `Plan` and sends no
//! mutating request; apply mode returns `Applied` or `Unchanged`.

use std::time::Duration;

use serde::Serialize;

use super::clock::human;

/// Apply for real, or only describe what would change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Plan,
}

/// Per-call context of a mutation.
pub struct Mutation<'a> {
    pub mode: Mode,
    /// Idempotency token (see `durable::ActionKey::client_request_token`).
    pub token: String,
    /// Progress lines for the UI ("update abc: InProgress, 4m").
    pub progress: &'a (dyn Fn(&str) + Send + Sync),
    /// Simulated-time budget for the whole mutation including its wait.
    pub timeout: Duration,
    /// A resumed run whose journal has this mutation's intent but no
    /// result: the request may already have gone out, so updates in flight
    /// on the target are waited for before the state is compared, and
    /// nothing is sent when it already matches.
    pub probe: bool,
}

impl<'a> Mutation<'a> {
    pub fn new(mode: Mode, token: String, progress: &'a (dyn Fn(&str) + Send + Sync)) -> Self {
        Mutation {
            mode,
            token,
            progress,
            timeout: Duration::from_secs(2 * 3600),
            probe: false,
        }
    }

    pub fn is_plan(&self) -> bool {
        self.mode == Mode::Plan
    }

    /// The same context with a sub-token for one request of a compound action.
    pub fn part(&self, part: &str) -> Mutation<'a> {
        Mutation {
            mode: self.mode,
            token: super::token::derive(&self.token, part),
            progress: self.progress,
            timeout: self.timeout,
            probe: self.probe,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PlannedEviction {
    pub node: String,
    pub namespace: String,
    pub pod: String,
    /// The PDB the server says would refuse this eviction right now.
    pub blocked_by: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Plan {
    pub action: String,
    pub target: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub nodes: Vec<String>,
    pub evictions: Vec<PlannedEviction>,
    pub blocking_pdbs: Vec<String>,
    /// Refusals a real run would hit (unmanaged or emptyDir pods).
    pub refusals: Vec<String>,
    #[serde(serialize_with = "secs")]
    pub predicted: Duration,
    pub notes: Vec<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Plan {
    pub fn new(action: &str, target: impl Into<String>) -> Self {
        Plan {
            action: action.to_string(),
            target: target.into(),
            ..Plan::default()
        }
    }

    pub fn from_to(mut self, from: Option<String>, to: impl Into<String>) -> Self {
        self.from = from;
        self.to = Some(to.into());
        self
    }

    pub fn predicted(mut self, d: Duration) -> Self {
        self.predicted = d;
        self
    }

    /// Human lines, one fact per line, for the dry-run output.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "would {} {}{} (about {})",
            self.action,
            self.target,
            match (&self.from, &self.to) {
                (Some(f), Some(t)) => format!(": {f} → {t}"),
                (None, Some(t)) => format!(" → {t}"),
                _ => String::new(),
            },
            human(self.predicted)
        )];
        if !self.nodes.is_empty() {
            out.push(format!("nodes affected: {}", self.nodes.join(", ")));
        }
        for e in &self.evictions {
            out.push(format!(
                "evict {}/{} from {}{}",
                e.namespace,
                e.pod,
                e.node,
                e.blocked_by
                    .as_ref()
                    .map(|p| format!(" — BLOCKED by PodDisruptionBudget {p}"))
                    .unwrap_or_default()
            ));
        }
        for r in &self.refusals {
            out.push(format!("would refuse: {r}"));
        }
        out.extend(self.notes.iter().cloned());
        out
    }
}

/// The result of one mutation.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The state already matched: no request was sent.
    Unchanged {
        target: String,
        message: String,
    },
    Applied {
        target: String,
        from: Option<String>,
        to: Option<String>,
        detail: String,
    },
    Planned(Plan),
}

impl Change {
    pub fn unchanged(target: impl Into<String>, message: impl Into<String>) -> Self {
        Change::Unchanged {
            target: target.into(),
            message: message.into(),
        }
    }

    pub fn is_unchanged(&self) -> bool {
        matches!(self, Change::Unchanged { .. })
    }

    /// One line summary for logs and the closing summary.
    pub fn summary(&self) -> String {
        match self {
            Change::Unchanged { target, message } => format!("{target}: {message}"),
            Change::Applied {
                target,
                from,
                to,
                detail,
            } => match (from, to) {
                (Some(f), Some(t)) => format!("{target}: {f} → {t} {detail}").trim_end().into(),
                _ => format!("{target}: {detail}"),
            },
            Change::Planned(p) => p.lines().join("\n"),
        }
    }
}
