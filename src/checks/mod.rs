//! Custom checks: small rhai scripts that look at a read-only snapshot of the
//! cluster and say pass or fail, with a message and the offending objects.
//!
//! Stages: `compile` (parse + vet, diagnostics UPG080-UPG086) at
//! `runbook check` time; `collect` a `ClusterSnapshot` through the real
//! clients; `CheckRunner::run` a compiled check against it in a sandboxed
//! engine built per run. The stdlib checks live in `stdlib/checks/*.rhai`.
//! See docs/checks.md for the script API.

mod api;
mod collect;
mod compile;
mod engine;
mod limits;
mod outcome;
mod runner;
mod snapshot;
mod stdlib;

pub use api::{ImageRef, compare_versions, parse_duration_secs, parse_image_ref};
pub use collect::{collect, collect_reading};
pub use compile::{
    BAD_RESULT, CompiledCheck, FORBIDDEN, LIMIT_EXCEEDED, Origin, ParamsRead, RUNTIME_ERROR,
    SYNTAX_ERROR, UNKNOWN_FUNCTION, WRONG_ARITY, compile, diagnose,
};
pub use limits::Limits;
pub use outcome::{CheckError, CheckOutcome, Offender};
pub use runner::{CheckRunner, Params};
pub use snapshot::*;
pub use stdlib::{STDLIB, StdlibCheck, stdlib_check};
