//! What a journal records. One variant per event the interpreter reports; the
//! serialized form (`"type": "action_intent"`, ...) is the on-disk format, so
//! variants and fields are only ever added, never renamed.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::run_id::RunId;

/// Identity of one mutating action across restarts: the step, the action's
/// position in it, and a hash of its resolved arguments. If the arguments
/// resolve differently on resume, it is a different action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionKey {
    pub step: String,
    pub index: u32,
    /// First 16 hex digits of the SHA-256 of the canonical (key-sorted) JSON
    /// of the arguments.
    pub args: String,
}

/// First 16 hex digits of the SHA-256 of `args` as canonical JSON.
pub fn args_hash(args: &Value) -> String {
    hex_prefix(&Sha256::digest(canonical_json(args).as_bytes()), 16)
}

impl ActionKey {
    pub fn new(step: impl Into<String>, index: u32, args: &Value) -> ActionKey {
        ActionKey {
            step: step.into(),
            index,
            args: args_hash(args),
        }
    }

    /// The EKS `clientRequestToken` for this action in this run. Deterministic,
    /// so a request re-sent after a crash is also idempotent on the AWS side.
    pub fn client_request_token(&self, run: &RunId) -> String {
        let digest = Sha256::digest(format!("{run}\n{self}").as_bytes());
        let h = hex_prefix(&digest, 32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Display for ActionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]@{}", self.step, self.index, self.args)
    }
}

pub(crate) fn hex_prefix(bytes: &[u8], digits: usize) -> String {
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(digits);
    s
}

/// JSON with object keys sorted at every level, so equal values hash equally
/// whatever order they were built in.
fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// What a completed step's rollback block needs, journalled in its
/// `step_finished` record (and redacted like every record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UndoContext {
    /// The step's variables (its own and its loops', not the runbook's
    /// parameters, which `run.json` holds), in the interpreter's lossless
    /// encoding (`interp::value::recorded`).
    #[serde(default)]
    pub bindings: serde_json::Map<String, Value>,
    /// What the step changed, as its rollback's verdict compares it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<StepChange>,
    /// The bound EKS puts on undoing the step's change (a control plane:
    /// one minor, once, within 7 days), when it made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// When the step finished, on the engine's clock: the cluster's time
    /// (a sandbox's simulated time), which the 7-day window is measured on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<jiff::Timestamp>,
}

/// One change a step made: a target moved `from` one version `to` another
/// (either may be unknown).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepChange {
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Ok,
    Failed,
    Skipped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Succeeded,
    Failed,
    RolledBack,
    /// Stopped before any change: a precondition, the lock or a declined
    /// confirmation. Resuming runs it again from the start.
    Refused,
}

/// How a mutating action ended. Record `Failed` only when the mutation is
/// known not to have taken effect (or finished failing); when unsure, record
/// nothing, so resume treats the action as in doubt and probes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ActionOutcome {
    Ok { result: Value },
    Failed { error: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// First record of every journal; the full header is in `run.json`.
    RunStarted {
        run_id: RunId,
        runbook: String,
        cluster: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        environment: Option<String>,
    },
    /// A later process picked the run up again.
    Resumed {
        attempt: u32,
        forced: bool,
        /// A torn last line (crash mid-write) was cut off before appending.
        dropped_torn_tail: bool,
    },
    StepStarted {
        step: String,
    },
    StepFinished {
        step: String,
        outcome: StepOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// How long the step took on the engine's clock when that is
        /// simulated (a sandbox): the journal's timestamps are wall time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        simulated_seconds: Option<u64>,
        /// A step that finished `ok`: what its rollback block needs, so
        /// `runbook rollback` can undo it later from the journal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        undo: Option<UndoContext>,
    },
    /// Written (and fsynced) before a mutating request goes out.
    ActionIntent {
        key: ActionKey,
        /// The built-in, e.g. `eks.update_cluster_version`.
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_request_token: Option<String>,
        /// What is about to be sent, for people and for probing on resume.
        request: Value,
    },
    /// Written after the mutation's outcome is known.
    ActionResult {
        key: ActionKey,
        #[serde(flatten)]
        outcome: ActionOutcome,
    },
    GateResult {
        gate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        passed: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
        /// A step's `during` gate that failed while the step ran (rather
        /// than a `gate` statement).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        during: bool,
    },
    /// A result the run read from the world — a query built-in, a check, a
    /// confirmation, the preconditions, an `await` or `pause` — so a resume
    /// replays it instead of asking again (see `durable::history`).
    Observed {
        /// The built-in (`eks.version_path`), `check.NAME`, or the statement
        /// (`preconditions`, `confirm`, `await`, `pause`).
        what: String,
        /// Hash of the arguments (as an action key's).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        args: String,
        /// The value, in the interpreter's lossless encoding.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
        /// The read failed with this message (replayed as the same failure).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Something that held the run up, e.g. a PodDisruptionBudget blocking a
    /// drain or an image pull backing off.
    Blocker {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        kind: String,
        subject: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// `resume --force` met a divergence and went live: the events from
    /// sequence number `from_seq` up to this record are history that no
    /// later replay consults (a later resume replays what came after).
    Diverged {
        from_seq: u64,
        /// What the journal recorded at `from_seq`.
        recorded: String,
        /// What the runbook asked for instead.
        asked: String,
    },
    RollbackStarted {
        step: String,
        reason: String,
    },
    RollbackFinished {
        step: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The report's word for it, judged from the cluster: "rolled back",
        /// "kept on purpose" or "not undone".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<String>,
    },
    RunFinished {
        outcome: RunOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Cluster state observed at the end, filled by the interpreter.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        final_state: Option<Value>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn action_key_ignores_key_order_but_not_values() {
        let a = ActionKey::new("upgrade", 0, &json!({"version": "1.31", "name": "prod"}));
        let b = ActionKey::new("upgrade", 0, &json!({"name": "prod", "version": "1.31"}));
        let c = ActionKey::new("upgrade", 0, &json!({"name": "prod", "version": "1.32"}));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.args.len(), 16);
    }

    #[test]
    fn client_request_token_is_stable_per_run_and_action() {
        let run: RunId = "20261123T011336Z-4f2a9c1e".parse().unwrap();
        let other: RunId = "20261123T011336Z-00000000".parse().unwrap();
        let key = ActionKey::new("upgrade", 1, &json!({"v": 1}));
        let token = key.client_request_token(&run);
        assert_eq!(token, key.client_request_token(&run));
        assert_ne!(token, key.client_request_token(&other));
        assert_eq!(token.len(), 36);
    }
}
