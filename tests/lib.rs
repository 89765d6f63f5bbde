//! The integration tests: one crate, so the aws-sdk, kube and axum stack is
//! linked once. Each module drives the real binary or the library against the
//! in-process sandbox; `common` is what the engine modules share.

mod agreement;
mod checks;
mod cli;
mod common;
mod convergence;
mod durable;
mod durable_exec;
mod engine;
mod golden;
mod inputs;
mod parallel;
mod readme;
mod rollback;
mod sandbox;
mod secrets;
mod syntax;
