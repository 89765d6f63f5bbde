//! What can go wrong talking to the cloud, in terms an on-call engineer can
//! act on. EKS update errors are carried verbatim.

use std::time::Duration;

use super::clock::human;

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("cancelled")]
    Cancelled,
    #[error("timed out after {} waiting for {what}", human(*after))]
    Timeout { what: String, after: Duration },
    #[error("{what}: update {update_id} ended {status}{}", fmt_errors(errors))]
    UpdateFailed {
        what: String,
        update_id: String,
        status: String,
        errors: Vec<String>,
    },
    #[error("EKS {op} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Eks {
        op: &'static str,
        code: Option<String>,
        message: String,
    },
    #[error("Kubernetes {op} failed: {message}")]
    Kube {
        op: String,
        status: Option<u16>,
        message: String,
    },
    #[error("drain of node {node} refused: {}", reasons.join("; "))]
    DrainRefused { node: String, reasons: Vec<String> },
    #[error("drain of node {node} blocked for {} by PodDisruptionBudget {}: pods still running: {}", human(*after), pdbs.join(", "), pods.join(", "))]
    DrainBlocked {
        node: String,
        pdbs: Vec<String>,
        pods: Vec<String>,
        after: Duration,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
}

fn fmt_errors(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

impl CloudError {
    pub fn kube(op: impl Into<String>, err: ::kube::Error) -> Self {
        let status = match &err {
            ::kube::Error::Api(s) => Some(s.code),
            _ => None,
        };
        let message = match &err {
            ::kube::Error::Api(s) => s.message.clone(),
            other => other.to_string(),
        };
        CloudError::Kube {
            op: op.into(),
            status,
            message,
        }
    }

    /// A failure worth retrying: throttling, 5xx, connection trouble.
    pub fn is_transient(&self) -> bool {
        match self {
            CloudError::Kube { status, .. } => match status {
                Some(code) => *code == 429 || *code >= 500,
                None => true,
            },
            CloudError::Eks { code, .. } => matches!(
                code.as_deref(),
                None | Some(
                    "ThrottlingException"
                        | "TooManyRequestsException"
                        | "ServerException"
                        | "ServiceUnavailableException"
                        | "InternalFailure"
                )
            ),
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        match self {
            CloudError::NotFound(_) => true,
            CloudError::Eks { code, .. } => code.as_deref() == Some("ResourceNotFoundException"),
            CloudError::Kube { status, .. } => *status == Some(404),
            _ => false,
        }
    }
}
