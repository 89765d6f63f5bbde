//! runbook: declarative, statically checked, dry-runnable upgrade runbooks for
//! Kubernetes on Amazon EKS.
//!
//! The pipeline has clear stages, each in its own module:
//! `syntax` (parse `.upg` files to a spanned AST) → `check` (static analysis,
//! diagnostics) → `interp` (evaluate and execute against real clients in
//! `cloud`). `builtins` is the one registry of built-in actions and queries that
//! every stage reads. `checks` runs sandboxed rhai checks. `sandbox` is the
//! simulated EKS cluster that serves the real EKS and Kubernetes REST APIs.

pub mod analyze;
pub mod builtins;
pub mod checks;
pub mod cli;
pub mod cloud;
pub mod codes;
pub mod diagnostic;
pub mod durable;
pub mod format;
#[cfg(test)]
mod generated_doc;
pub mod interp;
pub mod literal;
pub mod sandbox;
pub mod source;
pub mod syntax;

/// Every runbook binary (the CLI, its tests and benchmarks) allocates with
/// mimalloc: the sandbox builds and drops hundreds of thousands of small JSON
/// values during a rotation, and glibc's malloc spends much of that time
/// consolidating free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
