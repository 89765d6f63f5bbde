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
        let engine = engine::for_run(&self.limits, check.name(), snapshot.now, log.clone());
        let mut scope = Scope::new();
        // Cloning the whole snapshot per run would dominate cheap checks.
        for (name, value) in snapshot.vars.iter().filter(|(n, _)| check.uses.contains(n)) {
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
                let (code, what, pos) = self.describe(*err);
                Err(error(
                    code,
                    format!("check `{}` {what}", check.name()),
                    pos,
                    logs,
                ))
            }
        }
    }

    /// Code, message tail and position of a rhai error, naming the limit hit.
    fn describe(&self, err: EvalAltResult) -> (&'static str, String, Position) {
        let l = &self.limits;
        let pos = err.position();
        let stopped = |what: String| (LIMIT_EXCEEDED, format!("stopped: {what}"), pos);
        match err {
            // Report where inside the function it went wrong.
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => self.describe(*inner),
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
            EvalAltResult::ErrorRuntime(value, _) => {
                (RUNTIME_ERROR, format!("threw: {value}"), pos)
            }
            other => (RUNTIME_ERROR, format!("failed: {other}"), pos),
        }
    }
}
