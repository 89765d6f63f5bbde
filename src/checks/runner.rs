//! Run a compiled check against a snapshot, in a fresh sandboxed engine.
//! Synchronous and CPU-bound: async callers use `spawn_blocking`.

use indexmap::IndexMap;
use rhai::{EvalAltResult, Position, Scope};

use super::compile::{BAD_RESULT, CompiledCheck, LIMIT_EXCEEDED, RUNTIME_ERROR};
use super::engine::{self, DEADLINE_TOKEN, RunLog};
use super::limits::Limits;
use super::outcome::{self, CheckError, CheckOutcome};
use super::snapshot::ScriptValues;

/// The keyword arguments of one invocation, `check.NAME(key: value, ...)`,
/// as JSON values (durations as strings like "10m" or seconds).
pub type Params = IndexMap<String, serde_json::Value>;

#[derive(Clone, Debug, Default)]
pub struct CheckRunner {
    limits: Limits,
}

impl CheckRunner {
    pub fn new(limits: Limits) -> Self {
        CheckRunner { limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn run(
        &self,
        check: &CompiledCheck,
        snapshot: &ScriptValues,
        params: &Params,
    ) -> Result<CheckOutcome, CheckError> {
        let log = RunLog::new(self.limits.max_log_bytes);
        let read: Vec<&(&str, rhai::Dynamic)> = snapshot
            .vars
            .iter()
            .filter(|(n, _)| check.uses.contains(n))
            .collect();
        let limits = self.limits_for(read.iter().map(|(_, v)| v));
        let engine = engine::for_run(&limits, check.name(), snapshot.now, log.clone());
        let mut scope = Scope::new();
        // Cloning the whole snapshot per run would dominate cheap checks.
        for (name, value) in read {
            scope.push_constant(*name, value.clone());
        }
        let params = rhai::serde::to_dynamic(params).map_err(|e| CheckError {
            check: check.name().to_string(),
            code: RUNTIME_ERROR,
            message: format!("check `{}`: bad parameters: {e}", check.name()),
            span: None,
            logs: Vec::new(),
        })?;
        scope.push_constant("params", params);

        let result = engine.eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &check.ast);
        let logs = log.take();
        let error = |code, message: String, pos: Position, logs: Vec<String>| CheckError {
            check: check.name().to_string(),
            code,
            message,
            span: check.span_at(pos, 1),
            logs,
        };
        match result {
            Ok(value) => match outcome::decode(value) {
                Ok((passed, message, offenders)) => Ok(CheckOutcome {
                    passed,
                    message,
                    offenders,
                    logs,
                }),
                Err(why) => Err(error(
                    BAD_RESULT,
                    format!("check `{}` {why}", check.name()),
                    Position::NONE,
                    logs,
                )),
            },
            Err(err) => {
                let (code, what, pos) = describe(&limits, *err);
                Err(error(
                    code,
                    format!("check `{}` {what}", check.name()),
                    pos,
                    logs,
                ))
            }
        }
    }

    /// The limits of one run: the operation budget grows with the objects
    /// in the snapshot lists the check reads (`Limits::operations_per_object`).
    fn limits_for<'v>(&self, read: impl Iterator<Item = &'v rhai::Dynamic>) -> Limits {
        let mut limits = self.limits.clone();
        if limits.max_operations > 0 {
            let objects: u64 = read
                .filter_map(|v| v.as_array_ref().ok().map(|a| a.len() as u64))
                .sum();
            limits.max_operations = limits
                .max_operations
                .saturating_add(objects.saturating_mul(limits.operations_per_object));
        }
        limits
    }
}

/// Code, message tail and position of a rhai error, naming the limit hit.
fn describe(l: &Limits, err: EvalAltResult) -> (&'static str, String, Position) {
    let pos = err.position();
    let stopped = |what: String| (LIMIT_EXCEEDED, format!("stopped: {what}"), pos);
    match err {
        // Report where inside the function it went wrong.
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => describe(l, *inner),
        EvalAltResult::ErrorTooManyOperations(_) => {
            stopped(format!("exceeded {} operations", l.max_operations))
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            stopped(format!("exceeded call depth {}", l.max_call_depth))
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let what = what.to_lowercase();
            stopped(if what.contains("string") {
                format!("exceeded string size {} bytes", l.max_string_size)
            } else if what.contains("array") {
                format!("exceeded array size {} elements", l.max_array_size)
            } else if what.contains("map") {
                format!("exceeded map size {} entries", l.max_map_size)
            } else {
                format!("{what} too large")
            })
        }
        EvalAltResult::ErrorTerminated(token, _)
            if token.clone().into_string().ok().as_deref() == Some(DEADLINE_TOKEN) =>
        {
            stopped(format!("exceeded time limit {:?}", l.timeout))
        }
        EvalAltResult::ErrorTooManyModules(_) | EvalAltResult::ErrorModuleNotFound(..) => (
            RUNTIME_ERROR,
            "was refused: checks cannot import modules".to_string(),
            pos,
        ),
        EvalAltResult::ErrorRuntime(value, _) => (RUNTIME_ERROR, format!("threw: {value}"), pos),
        other => (RUNTIME_ERROR, format!("failed: {other}"), pos),
    }
}
