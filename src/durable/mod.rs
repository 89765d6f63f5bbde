//! Durable runs: an upgrade takes hours and the process running it can die at
//! any moment, so every run writes an append-only, checksummed journal that a
//! later `runbook resume` replays to continue exactly where it stopped without
//! repeating a mutation, and holds a cluster-wide Lease so no two runs (or a
//! run and another automation that honours the lock) mutate the same cluster.
//!
//! Stages, one file each: `run_id` (names), `record` (what is journalled),
//! `journal` (the file format: append + fsync, read + validate), `store`
//! (`.runbook/runs/<id>/` layout and listing), `resume` (what a journal says about a run), `history` (deterministic
//! replay of its recorded results),
//! `mutation` (the intent/result protocol around each mutating request),
//! `lease` (the cluster lock), `report` (Markdown + JSON run reports),
//! `undo` (what a finished run left to undo, for `runbook rollback`).
//! `redact` keeps secrets out of everything written to disk.

pub mod clock;
pub mod header;
pub mod history;
pub mod journal;
pub mod lease;
pub mod mutation;
pub mod record;
pub mod redact;
pub mod report;
pub mod resume;
pub mod run_id;
pub mod store;
pub mod undo;

pub use clock::{ManualClock, SharedClock, SystemClock, TimeSource};
pub use header::{Fingerprint, RunHeader};
pub use history::{ActionReplay, Divergence, History, Replay};
pub use journal::{Entry, Journal, JournalContents, JournalError, TornTail};
pub use lease::{ClusterLock, Holder, LockError, LockMonitor, LockOptions};
pub use mutation::Next;
pub use record::{ActionKey, ActionOutcome, Record, RunOutcome, StepOutcome};
pub use report::Report;
pub use resume::{ActionStatus, ResumePlan, ResumeState};
pub use run_id::RunId;
pub use store::{ActiveRun, RunState, RunStore, RunSummary, StoreError};
