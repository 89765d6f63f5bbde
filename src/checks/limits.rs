//! Resource limits for one check run. A check is code written by whoever wrote
//! the runbook, run on the on-call engineer's machine in the middle of an
//! upgrade: it must never hang the run or exhaust memory.

use std::time::Duration;

/// Limits applied to every check run. `Default` is sized for checks that walk
/// a few thousand pods; raise them per runner if a cluster needs more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// rhai operations (roughly: expressions evaluated); 0 = unlimited, so
    /// only the deadline stops a loop.
    pub max_operations: u64,
    /// Operations added to `max_operations` for each object (pod, node,
    /// workload, ...) of the snapshot lists the check reads: a check that
    /// walks the cluster once is linear in its size, and 1,000,000 alone
    /// stopped a 30,000-pod walk of a few dozen operations per pod.
    pub operations_per_object: u64,
    /// Nested function calls (guards deep recursion).
    pub max_call_depth: usize,
    /// Nesting of expressions, top level and inside functions. rhai checks it
    /// while parsing, so `compile` applies the default and runners cannot
    /// change it.
    pub max_expr_depth: usize,
    /// Bytes in any one string.
    pub max_string_size: usize,
    /// Elements in any one array.
    pub max_array_size: usize,
    /// Entries in any one object map.
    pub max_map_size: usize,
    /// Wall-clock deadline for one run, checked on every operation. A
    /// backstop only: the operation limit is what bounds a check, the same
    /// on every machine, while wall time on a loaded 2-core runner varies
    /// (2 s stopped a 60-node check in a debug build under load).
    pub timeout: Duration,
    /// Bytes of `print`/`debug` output kept per run; the rest is counted
    /// and reported as cut.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 1_000_000,
            operations_per_object: 100,
            max_call_depth: 64,
            max_expr_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 100_000,
            timeout: Duration::from_secs(10),
            max_log_bytes: 16 << 10,
        }
    }
}
