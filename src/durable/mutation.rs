//! The per-mutation protocol in one place, so the interpreter adopts durable
//! runs with two calls around each mutating request:
//!
//! ```text
//! match run.begin_action(&state, &key, action, &token, &request)? {
//!     Next::Send => { send with token; run.finish_action(&key, outcome)? }
//!     Next::Reuse(result) => use result,
//!     Next::Probe(intent) => {
//!         probe (DescribeUpdate with intent.client_request_token, observed version);
//!         if it landed: run.finish_action(&key, outcome)?
//!         else: run.record_intent(&key, action, &token, &request)?; send; finish_action
//!     }
//! }
//! ```
//!
//! `token` is the request's EKS `clientRequestToken`: the interpreter's own
//! derivation, or `ActionKey::client_request_token`. It is journalled so a
//! probe after a crash can look the update up. Check
//! `ClusterLock::ensure_held` before sending.

use serde_json::Value;

use super::journal::JournalError;
use super::record::{ActionKey, ActionOutcome, Record};
use super::resume::{ActionStatus, Intent, ResumeState};
use super::store::ActiveRun;

/// What to do with a mutation.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// The intent is journalled: send the request.
    Send,
    /// Already done in an earlier attempt: do not send; this was its result.
    Reuse(Value),
    /// An earlier attempt may or may not have sent it: find out first.
    Probe(Intent),
}

impl ActiveRun {
    /// Consult the resume state and, when the request is to be sent, journal
    /// (and fsync) its intent first. A fresh run passes `ResumeState::default()`.
    pub fn begin_action(
        &mut self,
        state: &ResumeState,
        key: &ActionKey,
        action: &str,
        token: &str,
        request: &Value,
    ) -> Result<Next, JournalError> {
        match state.status(key) {
            ActionStatus::Completed { result } => Ok(Next::Reuse(result.clone())),
            ActionStatus::InDoubt(intent) => Ok(Next::Probe(intent.clone())),
            ActionStatus::NotStarted | ActionStatus::Failed { .. } => {
                self.record_intent(key, action, token, request)?;
                Ok(Next::Send)
            }
        }
    }

    /// Journal (and fsync) an `action_intent`. Returns its sequence number.
    pub fn record_intent(
        &mut self,
        key: &ActionKey,
        action: &str,
        token: &str,
        request: &Value,
    ) -> Result<u64, JournalError> {
        self.append(Record::ActionIntent {
            key: key.clone(),
            action: action.to_string(),
            client_request_token: Some(token.to_string()),
            request: request.clone(),
        })
    }

    /// Journal how the mutation ended (see `ActionOutcome` for when to
    /// record `Failed`).
    pub fn finish_action(
        &mut self,
        key: &ActionKey,
        outcome: ActionOutcome,
    ) -> Result<u64, JournalError> {
        self.append(Record::ActionResult {
            key: key.clone(),
            outcome,
        })
    }
}
