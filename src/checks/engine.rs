//! The sandboxed rhai engine. Built per run from shared, pre-built packages,
//! so construction is a handful of allocations.
//!
//! What makes it a sandbox: `Engine::new_raw` plus only the standard package
//! and our helpers (rhai core has no file, network or process access, and we
//! add no package that does); a module resolver that refuses every `import`;
//! `eval` disabled; limits on operations, call depth, expression depth and
//! data sizes; a wall-clock deadline checked from `on_progress`; `print` and
//! `debug` routed to the run log, never stdout.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, Module, NativeCallContext, Shared};

use super::api;
use super::limits::Limits;

/// Value `on_progress` returns to stop a script at its deadline; the runner
/// recognises it to name the limit in the error.
pub(crate) const DEADLINE_TOKEN: &str = "runbook:deadline";

fn standard() -> Shared<Module> {
    static STD: OnceLock<Shared<Module>> = OnceLock::new();
    STD.get_or_init(|| StandardPackage::new().as_shared_module())
        .clone()
}

/// Per-run state the engine reports into: `print` and `debug` lines, kept up
/// to a byte budget (`Limits::max_log_bytes`); what is over it is counted and
/// dropped, so a chatty check cannot fill memory or the log.
#[derive(Clone, Default)]
pub(crate) struct RunLog(Arc<Mutex<LogState>>);

#[derive(Default)]
struct LogState {
    lines: Vec<String>,
    kept: usize,
    limit: usize,
    cut_lines: usize,
    cut_bytes: usize,
}

impl RunLog {
    pub fn new(limit: usize) -> Self {
        RunLog(Arc::new(Mutex::new(LogState {
            limit,
            ..LogState::default()
        })))
    }

    fn push(&self, check: &str, line: String) {
        let Ok(mut st) = self.0.lock() else { return };
        let room = st.limit.saturating_sub(st.kept);
        if line.len() <= room {
            st.kept += line.len();
            tracing::info!(check, "{}", crate::durable::redact::scrub_str(&line));
            st.lines.push(line);
            return;
        }
        if room > 0 {
            // Keep the start of the line that crosses the budget.
            let mut end = room;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            let head = format!("{}…", &line[..end]);
            st.cut_bytes += line.len() - end;
            st.kept = st.limit;
            tracing::info!(check, "{}", crate::durable::redact::scrub_str(&head));
            st.lines.push(head);
        } else {
            st.cut_bytes += line.len();
        }
        st.cut_lines += 1;
    }

    /// The lines kept, then a note saying how much was cut, if anything.
    pub fn take(&self) -> Vec<String> {
        let Ok(mut st) = self.0.lock() else {
            return Vec::new();
        };
        let mut lines = std::mem::take(&mut st.lines);
        if st.cut_bytes > 0 {
            lines.push(format!(
                "[output cut: {} more bytes in {} line{} over the {}-byte limit]",
                st.cut_bytes,
                st.cut_lines,
                if st.cut_lines == 1 { "" } else { "s" },
                st.limit
            ));
        }
        lines
    }
}

/// An engine with the sandbox and limits applied, but no deadline or log:
/// what `compile` parses with.
pub(crate) fn sandboxed(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(standard());
    engine.register_global_module(api::helpers());
    engine.register_global_module(age_module());
    engine.set_module_resolver(DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_depth);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    // Nothing to import, so allow none.
    engine.set_max_modules(0);
    engine
}

/// The engine for one run: sandbox, deadline, log, and `now` for `age()`.
pub(crate) fn for_run(limits: &Limits, check: &str, now: i64, log: RunLog) -> Engine {
    let mut engine = sandboxed(limits);
    let deadline = Instant::now() + limits.timeout;
    engine.on_progress(move |ops| {
        // Reading the clock every operation would dominate tight loops.
        (ops % 256 == 0 && Instant::now() >= deadline).then(|| Dynamic::from(DEADLINE_TOKEN))
    });
    let (name, print_log) = (check.to_string(), log.clone());
    engine.on_print(move |s| print_log.push(&name, s.to_string()));
    let name = check.to_string();
    engine.on_debug(move |s, _src, pos| {
        let line = match pos.line() {
            Some(l) => format!("[debug line {l}] {s}"),
            None => format!("[debug] {s}"),
        };
        log.push(&name, line);
    });
    engine.set_default_tag(now);
    engine
}

/// `age(timestamp)`: seconds since `timestamp` at snapshot time, which the
/// runner puts in the engine's default tag.
fn age_module() -> Shared<Module> {
    static AGE: OnceLock<Shared<Module>> = OnceLock::new();
    AGE.get_or_init(|| {
        let mut m = Module::new();
        m.set_native_fn("age", |ctx: NativeCallContext, ts: &str| {
            let now = ctx
                .tag()
                .and_then(|t| t.as_int().ok())
                .unwrap_or_else(|| jiff::Timestamp::now().as_second());
            let now = jiff::Timestamp::from_second(now).map_err(|e| e.to_string())?;
            api::age_secs(ts, now).ok_or_else(|| {
                format!("`{ts}` is not an RFC 3339 timestamp like 2026-01-01T00:00:00Z").into()
            })
        });
        m.build_index();
        m.into()
    })
    .clone()
}
