//! The catalogue of every diagnostic code the tool reports: code, title,
//! severity and explanation in one table, rendered into `docs/diagnostics.md`.
//! UPG001-UPG009 are the front end's (parse, literals, imports), UPG010-UPG079
//! the checker's, UPG080-UPG089 rhai checks', RUN the run's (parameters,
//! preconditions, failures, the journal), SBX the sandbox's (fixtures). A test
//! holds the source to this table: a code used anywhere is catalogued here.

use std::fmt::Write;

use crate::diagnostic::{Diagnostic, Severity};

/// Which stage reports a code; the docs list the codes by stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    FrontEnd,
    Checker,
    RhaiCheck,
    Run,
    Sandbox,
}

impl Stage {
    fn heading(self) -> &'static str {
        match self {
            Stage::FrontEnd => {
                "Parse, literals and imports (`runbook check`, `fmt`, every command)"
            }
            Stage::Checker => "Static checks (`runbook check`, and before every run)",
            Stage::RhaiCheck => "Custom rhai checks (compiled by `check`, run by `exec`)",
            Stage::Run => "Runs (`runbook exec`, `resume`, `rollback`)",
            Stage::Sandbox => "Sandbox fixtures (`--sandbox`, `runbook sandbox serve`)",
        }
    }

    /// The stage a code's prefix and number place it in.
    fn of(code: &str) -> Stage {
        let n: u32 = code[3..].parse().unwrap_or(0);
        match &code[..3] {
            "RUN" => Stage::Run,
            "SBX" => Stage::Sandbox,
            _ if n < 10 => Stage::FrontEnd,
            _ if n < 80 => Stage::Checker,
            _ => Stage::RhaiCheck,
        }
    }
}

#[derive(Debug)]
pub struct Code {
    pub code: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub explanation: &'static str,
}

impl Code {
    /// A diagnostic with this code at the catalogue's severity.
    pub fn diag(&self, message: impl Into<String>) -> Diagnostic {
        match self.severity {
            Severity::Error => Diagnostic::error(self.code, message),
            Severity::Warning => Diagnostic::warning(self.code, message),
        }
    }
}

const fn error(code: &'static str, title: &'static str, explanation: &'static str) -> Code {
    Code {
        code,
        title,
        severity: Severity::Error,
        explanation,
    }
}

const fn warning(code: &'static str, title: &'static str, explanation: &'static str) -> Code {
    Code {
        code,
        title,
        severity: Severity::Warning,
        explanation,
    }
}

pub const SYNTAX: Code = error(
    "UPG001",
    "syntax error",
    "The file does not follow the grammar (`grammar/upg.pest`, described in docs/language.md). The message says what was expected and what was found, at the first place the parse could not go on.",
);
pub const INVALID_DURATION: Code = error(
    "UPG002",
    "invalid duration literal",
    "A duration is one or more `<number><unit>` groups, largest unit first: `30s`, `10m`, `1h30m`, `500ms`, `1d`. Units: ms, s, m, h, d. The same rule applies to `--set` values and environment settings.",
);
pub const INVALID_VERSION: Code = error(
    "UPG003",
    "invalid version literal",
    "A version is written bare as MAJOR.MINOR or MAJOR.MINOR.PATCH, without leading zeros: `1.30`, `1.30.2`. `1.05` and `1.2.3.4` are refused, here and in `--set`.",
);
pub const NESTING_TOO_DEEP: Code = error(
    "UPG004",
    "nesting too deep",
    "Brackets, prefix operators or expressions are nested deeper than the parser allows (64 brackets, 200 levels in all). A scan before parsing enforces this, so a pathological file gets a diagnostic instead of exhausting the stack.",
);
pub const IMPORT_NOT_FOUND: Code = error(
    "UPG005",
    "file not found",
    "An `import` names a file that does not exist (relative imports resolve against the importing file, `stdlib/...` against the stdlib), or the file on the command line cannot be read.",
);
pub const IMPORT_CYCLE: Code = error(
    "UPG006",
    "import cycle",
    "Files import each other in a cycle (`a.upg` imports `b.upg` imports `a.upg`), or a file imports itself. The message shows the chain.",
);
pub const INVALID_ESCAPE: Code = error(
    "UPG007",
    "invalid escape or unclosed interpolation",
    "A string holds an escape other than `\\n \\t \\r \\0 \\\\ \\\" \\$`, or an interpolation `${` is never closed. Use `\"\"\"raw\"\"\"` strings for verbatim text.",
);
pub const CHECK_FILE_NOT_FOUND: Code = error(
    "UPG008",
    "check source file not found",
    "`check NAME \"title\" from \"FILE\"` names a rhai file that does not exist, relative to the file that declares the check.",
);
pub const INVALID_CONSTRUCT: Code = error(
    "UPG009",
    "well-formed but invalid",
    "The text parses but means nothing: an unknown type, a bare call `f(x)` (calls are namespaced), a positional argument after a keyword one, a modifier or gate clause given twice, or an integer too large.",
);
pub const UNDEFINED_NAME: Code = error(
    "UPG010",
    "undefined name",
    "A name is used that is neither a parameter of the runbook nor a variable bound by `let`, `for` or a lambda in an enclosing scope. Variables are visible from their binding to the end of the enclosing block.",
);
pub const UNKNOWN_BUILTIN: Code = error(
    "UPG011",
    "unknown action or query",
    "A call names a built-in that the registry does not declare (see docs/actions.md). Built-ins live in the namespaces `eks`, `k8s` and `nodegroup`; custom checks are called as `check.NAME(...)`.",
);
pub const ARITY: Code = error(
    "UPG012",
    "wrong number of arguments",
    "A built-in or method is called with more or fewer positional arguments than it declares. Optional parameters are keyword arguments (`name: value`) and come after the positional ones.",
);
pub const UNKNOWN_KEYWORD: Code = error(
    "UPG013",
    "unknown keyword argument",
    "A keyword argument is passed that the built-in does not declare. A misspelt keyword would otherwise be ignored silently, so it is an error.",
);
pub const MISSING_ARGUMENT: Code = error(
    "UPG014",
    "missing required keyword argument",
    "A built-in declares a keyword argument without default that must always be given (for example `version:` of `eks.update_addon`).",
);
pub const DUPLICATE_KEYWORD: Code = error(
    "UPG015",
    "duplicate keyword argument",
    "The same keyword argument is passed twice in one call; only one value can take effect.",
);
pub const TYPE_MISMATCH: Code = error(
    "UPG016",
    "type mismatch",
    "A value of one type is used where another is required: an argument of the wrong type, a condition that is not a bool, iterating over something that is not a list, arithmetic on incompatible operands, or a method argument that should be a lambda `x => ...`.",
);
pub const UNKNOWN_FIELD: Code = error(
    "UPG017",
    "unknown field",
    "A field is read from a record that does not have it. Records returned by queries have fixed fields (see the Records section of docs/actions.md); a typo such as `addon.verison` would otherwise only fail in the middle of a run.",
);
pub const VALUE_NOT_ALLOWED: Code = error(
    "UPG018",
    "value not allowed",
    "An enumerated parameter (such as `strategy:` of `nodegroup.rotate` or `resolve_conflicts:` of `eks.update_addon`) is given a string outside its allowed values: a literal in the call, or a runbook parameter passed straight through whose default or environment setting is such a literal (so a typo in `environment prod { strategy = \"blue-green\" }` is caught before the prod run).",
);
pub const UNKNOWN_METHOD: Code = error(
    "UPG019",
    "unknown method",
    "A method is called that values of this type do not have. The methods of lists, strings, maps, versions and durations are listed in docs/actions.md.",
);
pub const DUPLICATE_STEP: Code = error(
    "UPG020",
    "duplicate step id",
    "Two steps of one runbook have the same id (the slug of the title). Step ids key the run journal and `--from`/`--only` selection, so they must be unique.",
);
pub const DUPLICATE_PARAM: Code = error(
    "UPG021",
    "duplicate parameter",
    "A runbook declares the same parameter twice.",
);
pub const DUPLICATE_GATE: Code = error(
    "UPG022",
    "duplicate gate or check",
    "A gate or check is declared twice among the runbook and the files it imports; a reference to it would be ambiguous.",
);
pub const DUPLICATE_ENVIRONMENT: Code = error(
    "UPG023",
    "duplicate environment or key",
    "An environment is declared twice for the same runbook, or one environment sets the same key twice.",
);
pub const UNKNOWN_ENVIRONMENT_KEY: Code = error(
    "UPG024",
    "environment sets an unknown parameter",
    "An environment block sets a key that is not a parameter of the runbook. A misspelt key would silently leave the parameter at its default. (A value of the wrong type for a real parameter is UPG016.)",
);
pub const PARAM_NEVER_SET: Code = warning(
    "UPG025",
    "parameter without default missing from an environment",
    "A parameter has no default, some environments set it and this one does not, so a run with `--env` naming this environment fails unless `--set NAME=VALUE` is given. A parameter that no environment sets is a per-run value by design (such as the target version) and is not reported.",
);
pub const IRREVERSIBLE_UNMARKED: Code = error(
    "UPG026",
    "irreversible action in a step not marked irreversible",
    "A step calls an action that cannot be undone (`eks.delete_nodegroup`: a deleted nodegroup's nodes are gone) but is not marked `irreversible`. (`eks.update_cluster_version` is not one: EKS rolls a control plane back one minor within 7 days, so its step needs a rollback block instead, UPG027.) The marker makes dry-run and the confirmation prompt say so, and tells the engine that rollback stops at this step.",
);
pub const MISSING_ROLLBACK: Code = warning(
    "UPG027",
    "mutating step without rollback",
    "A step changes the cluster but has no `rollback { ... }` block, so a failure later in the run cannot undo it. Steps marked `irreversible` are exempt.",
);
pub const MUTATION_IN_CONDITION: Code = error(
    "UPG028",
    "action in a read-only context",
    "A precondition, a gate condition, a `when` condition, an `await` condition or a parameter default calls an action that changes the cluster. Conditions are evaluated repeatedly and during dry-run, so they must only use queries.",
);
pub const EVERY_EXCEEDS_WITHIN: Code = error(
    "UPG029",
    "polling interval longer than the timeout",
    "In a gate or an `await`, `every` is longer than `within`, so the condition would be evaluated at most once and never retried.",
);
pub const BAD_VERSION: Code = error(
    "UPG030",
    "invalid Kubernetes version",
    "A version literal is well-formed but is not a Kubernetes minor EKS could run: the major must be 1 and the minor below 100 (as in `1.30`).",
);
pub const ZERO_DURATION: Code = error(
    "UPG031",
    "zero duration",
    "A duration of zero is given where a positive one is required: `within`, `every`, `pause` and timeout arguments.",
);
pub const UNREACHABLE: Code = warning(
    "UPG032",
    "unreachable statement",
    "A statement follows `fail` in the same block, so it can never run.",
);
pub const UNKNOWN_GATE: Code = error(
    "UPG033",
    "unknown gate",
    "A `gate NAME` statement or a step's `during NAME` names a gate that is declared neither in the runbook nor in an imported file.",
);
pub const UNKNOWN_CHECK: Code = error(
    "UPG034",
    "unknown check",
    "`check.NAME(...)` calls a custom check that is declared neither in the runbook nor in an imported file (the stdlib checks come with `import \"stdlib/checks\"`).",
);
pub const STEP_IN_ROLLBACK: Code = error(
    "UPG035",
    "step inside a rollback block",
    "A rollback block undoes its step; it runs while the run is already failing, so it cannot hold steps of its own (they would be journaled and rolled back in turn). Write the undo as plain statements. Steps may nest inside a step's body: an inner step has its own rollback, run in reverse order like any other.",
);
pub const ENVIRONMENT_FOR_MISSPELT_RUNBOOK: Code = warning(
    "UPG036",
    "environment for a misspelt runbook",
    "A file-level `environment NAME for RUNBOOK` names no runbook of the program, but one with a very similar name: `--env NAME` would silently not apply its settings. (A shared file may hold environments for runbooks elsewhere; a name unlike any runbook here is not reported.)",
);
pub const CHECK_ARGUMENT: Code = error(
    "UPG037",
    "argument a check does not read",
    "A check receives its arguments by keyword, as `params.NAME` in its script. A positional argument, or a keyword the script never reads, would be silently ignored and the check would fall back to its default (a typo in `target:` could let an incompatible add-on pass). A check that uses `params` whole (indexed or passed on) accepts any keyword.",
);

pub const OUT_OF_RANGE: Code = error(
    "UPG038",
    "argument out of range",
    "A number or duration passed to a built-in is outside what it accepts: `max_unavailable` at most 100 (the EKS limit; `nodegroup.rotate` takes 0 to keep the nodegroup's own setting), node counts up to 450 (nodes in one managed nodegroup), `parallelism` 1 to 64, timeouts up to 7 days, `grace_period` up to 1 day; a `parallel for`'s `limit` 1 to 100. Literals are checked, and so are a runbook parameter's default and environment values when the parameter is passed directly; `--set` values are checked the same way before a run starts (RUN001).",
);
pub const KEEP_OUTSIDE_ROLLBACK: Code = error(
    "UPG039",
    "`keep` outside a rollback block",
    "`keep \"reason\"` declares, inside a rollback block, that what its step changed is left in place on purpose; the report then says \"kept on purpose\" with the reason instead of \"rolled back\" or \"not undone\". Outside a rollback block nothing is being undone, so there is nothing to keep: use `log` for a message.",
);
pub const UNKNOWN_TEMPLATE: Code = error(
    "UPG040",
    "unknown template",
    "`use NAME(...)` names no template declared in the file or its imports. The help suggests a close name when there is one.",
);
pub const RECURSIVE_TEMPLATE: Code = error(
    "UPG041",
    "recursive template",
    "A template uses itself, directly or through other templates: the run would never end. Templates are expanded where they are used; repeat work with `for` instead.",
);
pub const CONFIRM_IN_PARALLEL: Code = error(
    "UPG042",
    "`confirm` in a parallel branch",
    "The branches of a `parallel for` run at the same time, so a `confirm` in one would stop the terminal while its siblings go on changing the cluster, and several questions could wait at once. Ask once, before the `parallel for`, about everything its branches will do.",
);
pub const RHAI_SYNTAX: Code = error(
    "UPG080",
    "rhai syntax error",
    "The check's rhai script does not compile: a syntax error, an unknown variable, or an expression nested deeper than 64 levels. See docs/checks.md.",
);
pub const RHAI_UNKNOWN_FUNCTION: Code = error(
    "UPG081",
    "unknown function in a check",
    "The script calls a function that neither the script nor the check API (docs/checks.md) defines.",
);
pub const RHAI_ARITY: Code = error(
    "UPG082",
    "wrong number of arguments in a check",
    "A function of the check API or of the script is called with the wrong number of arguments.",
);
pub const RHAI_FORBIDDEN: Code = error(
    "UPG083",
    "forbidden in a check",
    "`import` and `eval` are refused: a check runs sandboxed, over a read-only snapshot of the cluster.",
);
pub const RHAI_LIMIT: Code = error(
    "UPG084",
    "check stopped by a limit",
    "The check ran past one of its limits (operations, time, memory, string or array size, call depth); docs/checks.md lists them. The check fails instead of hanging the run.",
);
pub const RHAI_RUNTIME: Code = error(
    "UPG085",
    "check failed at run time",
    "The script raised an error or called `throw \"msg\"` while it ran.",
);
pub const RHAI_BAD_RESULT: Code = error(
    "UPG086",
    "check returned something else",
    "A check must end with `pass(...)`, `fail(...)`, a bool, or a map with an `ok` key. Anything else is this error.",
);
pub const BAD_VALUE: Code = error(
    "RUN001",
    "bad parameter value",
    "A `--set` value or an environment setting is not of the parameter's declared type (read as the language reads literals: `10m`, `1.30`, `a,b`, `k=v,k2=v2`), or an environment value is not a literal. Reported before any client is built.",
);
pub const UNKNOWN_ENVIRONMENT: Code = error(
    "RUN002",
    "unknown environment",
    "`--env NAME` names no `environment` of the runbook. The help lists the ones it has.",
);
pub const MISSING_VALUE: Code = error(
    "RUN003",
    "parameter without a value",
    "A parameter has no default, and neither the environment nor `--set` gives it a value.",
);
pub const UNKNOWN_KEY: Code = error(
    "RUN004",
    "unknown parameter",
    "`--set key=value` names no parameter of the runbook.",
);
pub const NOT_ONE_RUNBOOK: Code = error(
    "RUN005",
    "not exactly one runbook",
    "`exec` runs the single runbook of the file it is given; the file declares none, or several.",
);
pub const NOT_CONFIRMED: Code = error(
    "RUN006",
    "protected environment not confirmed",
    "A `protected` environment asks for its name to be typed before anything changes; it was not (or there was no terminal and no `--yes`).",
);
pub const STEP_WITHOUT_TERMINAL: Code = error(
    "RUN007",
    "--step without a terminal",
    "`--step` asks before each step and needs a terminal on stdin and stderr.",
);
pub const CLUSTER_LOCKED: Code = error(
    "RUN008",
    "the cluster is locked",
    "Another run holds the cluster's Lease (`kube-system`), unexpired. The message names its holder, run and runbook. A killed run's lock lapses after its TTL.",
);
pub const LOCK_UNAVAILABLE: Code = error(
    "RUN009",
    "the cluster lock could not be taken or was lost",
    "The Lease could not be read or written even after retrying transient errors (5xx, 429, connection) within the lease duration, or a held lease was lost mid-run. A lost lock stops further mutations at once, without rolling back; the run ends `interrupted` and `runbook resume` continues it once the lock can be taken.",
);
pub const PRECONDITION: Code = error(
    "RUN010",
    "precondition does not hold",
    "A precondition was false; every failed precondition is reported with its `else` message. Nothing has changed.",
);
pub const CLOUD: Code = error(
    "RUN020",
    "a cloud call failed",
    "An EKS or Kubernetes request failed (refused, timed out, or the update it started failed). The step fails and the rollback runs.",
);
pub const GATE: Code = error(
    "RUN021",
    "gate did not hold",
    "A gate's conditions did not hold `consecutive` times within its `within`, or a `during` gate stayed false for longer than its `within`.",
);
pub const AWAIT_TIMEOUT: Code = error(
    "RUN022",
    "await timed out",
    "An `await` condition was still false when its timeout ran out.",
);
pub const FAIL: Code = error(
    "RUN023",
    "the runbook failed on purpose",
    "A `fail \"...\"` statement ran.",
);
pub const CANCELLED: Code = error(
    "RUN024",
    "interrupted or not confirmed",
    "The run was interrupted (Ctrl-C) or a `confirm` was answered no; it is rolled back like any failure.",
);
pub const STEP_TIMEOUT: Code = error(
    "RUN025",
    "step timed out",
    "A step ran longer than its `timeout D`. Its waits were cancelled at the next safe point (a request already sent is not recalled: the step counts it as a change that may have landed), then the step failed like any other: retried if it has `retry`, otherwise rolled back.",
);
pub const EVAL: Code = error(
    "RUN030",
    "expression could not be evaluated",
    "An expression failed at run time (e.g. a field of a missing object, an index out of range).",
);
pub const JOURNAL_CORRUPT: Code = error(
    "RUN040",
    "journal corrupt",
    "A line of the run's journal fails its checksum or breaks the sequence (other than a torn last line, which is dropped). The run cannot be resumed safely; check the cluster by hand. See docs/durable-runs.md.",
);
pub const JOURNAL_IO: Code = error(
    "RUN041",
    "journal I/O error",
    "The journal could not be read or written (permissions, disk full).",
);
pub const RUN_STORE: Code = error(
    "RUN042",
    "run store error",
    "The run directory (`.runbook/runs/<id>/`, or `--runs-dir`) or its `run.json` could not be read or written, or names no run.",
);
pub const RUNBOOK_CHANGED: Code = error(
    "RUN043",
    "runbook changed since the run began",
    "`resume` found the runbook or one of its imports changed since the run began. Actions are matched by step and arguments, so an edited runbook could repeat or skip work. Restore the files, or pass `--force` after checking the change is safe.",
);
pub const ALREADY_FINISHED: Code = error(
    "RUN044",
    "run already finished",
    "`resume` was given a run that already succeeded or was rolled back. Start a new run with `exec`.",
);
pub const DIVERGED: Code = error(
    "RUN045",
    "the run no longer replays its journal",
    "`resume` replays the runbook against its journal; at this position the runbook asked for something other than what the journal records (a changed runbook or `--set`). The message names the journal line and both requests. Nothing is sent and nothing is rolled back. `--force` continues live from that point.",
);
pub const ROLLBACK_REFUSED: Code = error(
    "RUN046",
    "the run cannot be rolled back now",
    "`runbook rollback RUN_ID` refused before sending anything, and says why: the run is still running (its process holds it) or was interrupted (resume it first); another rollback of it is unfinished (resume that one); the run is itself a rollback; its journal lacks what a step's rollback needs (journalled by an older version); or the first step the rollback would undo changed the control plane more than 7 days ago on the cluster's clock (the time its journal recorded), and EKS rolls a control plane back only within 7 days of its upgrade.",
);
pub const FIXTURE_UNREADABLE: Code = error(
    "SBX000",
    "cannot read fixture",
    "The fixture file given to `--sandbox` or `sandbox serve` cannot be read.",
);
pub const FIXTURE_SHAPE: Code = error(
    "SBX001",
    "invalid fixture",
    "The fixture is not valid YAML, or a key or value does not fit the fixture format (docs/sandbox.md): an unknown key (the valid ones are listed), a missing key, a value of the wrong type.",
);
pub const FIXTURE_INVALID: Code = error(
    "SBX002",
    "inconsistent fixture",
    "The fixture is well-formed but describes a cluster EKS could not have: a nodegroup newer than the control plane, an add-on version EKS does not publish, an unsupported minor.",
);
/// Every code, in order. `docs/diagnostics.md` and the golden tests
/// enumerate this table.
pub static ALL: &[&Code] = &[
    &SYNTAX,
    &INVALID_DURATION,
    &INVALID_VERSION,
    &NESTING_TOO_DEEP,
    &IMPORT_NOT_FOUND,
    &IMPORT_CYCLE,
    &INVALID_ESCAPE,
    &CHECK_FILE_NOT_FOUND,
    &INVALID_CONSTRUCT,
    &UNDEFINED_NAME,
    &UNKNOWN_BUILTIN,
    &ARITY,
    &UNKNOWN_KEYWORD,
    &MISSING_ARGUMENT,
    &DUPLICATE_KEYWORD,
    &TYPE_MISMATCH,
    &UNKNOWN_FIELD,
    &VALUE_NOT_ALLOWED,
    &UNKNOWN_METHOD,
    &DUPLICATE_STEP,
    &DUPLICATE_PARAM,
    &DUPLICATE_GATE,
    &DUPLICATE_ENVIRONMENT,
    &UNKNOWN_ENVIRONMENT_KEY,
    &PARAM_NEVER_SET,
    &IRREVERSIBLE_UNMARKED,
    &MISSING_ROLLBACK,
    &MUTATION_IN_CONDITION,
    &EVERY_EXCEEDS_WITHIN,
    &BAD_VERSION,
    &ZERO_DURATION,
    &UNREACHABLE,
    &UNKNOWN_GATE,
    &UNKNOWN_CHECK,
    &STEP_IN_ROLLBACK,
    &ENVIRONMENT_FOR_MISSPELT_RUNBOOK,
    &CHECK_ARGUMENT,
    &OUT_OF_RANGE,
    &KEEP_OUTSIDE_ROLLBACK,
    &UNKNOWN_TEMPLATE,
    &RECURSIVE_TEMPLATE,
    &CONFIRM_IN_PARALLEL,
    &RHAI_SYNTAX,
    &RHAI_UNKNOWN_FUNCTION,
    &RHAI_ARITY,
    &RHAI_FORBIDDEN,
    &RHAI_LIMIT,
    &RHAI_RUNTIME,
    &RHAI_BAD_RESULT,
    &BAD_VALUE,
    &UNKNOWN_ENVIRONMENT,
    &MISSING_VALUE,
    &UNKNOWN_KEY,
    &NOT_ONE_RUNBOOK,
    &NOT_CONFIRMED,
    &STEP_WITHOUT_TERMINAL,
    &CLUSTER_LOCKED,
    &LOCK_UNAVAILABLE,
    &PRECONDITION,
    &CLOUD,
    &GATE,
    &AWAIT_TIMEOUT,
    &FAIL,
    &CANCELLED,
    &STEP_TIMEOUT,
    &EVAL,
    &JOURNAL_CORRUPT,
    &JOURNAL_IO,
    &RUN_STORE,
    &RUNBOOK_CHANGED,
    &ALREADY_FINISHED,
    &DIVERGED,
    &ROLLBACK_REFUSED,
    &FIXTURE_UNREADABLE,
    &FIXTURE_SHAPE,
    &FIXTURE_INVALID,
];

/// The catalogue entry of `code`.
pub fn lookup(code: &str) -> Option<&'static Code> {
    ALL.iter().copied().find(|c| c.code == code)
}

/// The text of `docs/diagnostics.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Diagnostics\n\n\
         <!-- Generated from src/codes.rs by `UPDATE_DOCS=1 cargo test`; do not edit. -->\n\n\
         Every problem the tool reports has a stable code, a location (`file:line:col`, or\n\
         `<command line>` for a flag) and a help line, rendered one way on the terminal and as\n\
         JSON with `--format json`. Errors make `runbook check` exit 1; warnings do not, unless\n\
         `--deny-warnings` is given. A failed run exits 1 with its code.\n",
    );
    let stages = [
        Stage::FrontEnd,
        Stage::Checker,
        Stage::RhaiCheck,
        Stage::Run,
        Stage::Sandbox,
    ];
    for stage in stages {
        let _ = write!(
            out,
            "\n## {}\n\n| code | severity | title |\n|---|---|---|\n",
            stage.heading()
        );
        for c in ALL.iter().filter(|c| Stage::of(c.code) == stage) {
            let _ = writeln!(
                out,
                "| [{0}](#{1}) | {2} | {3} |",
                c.code,
                c.code.to_lowercase(),
                severity(c),
                c.title
            );
        }
    }
    for c in ALL {
        let _ = write!(
            out,
            "\n### {}\n\n**{}** ({})\n\n{}\n",
            c.code,
            c.title,
            severity(c),
            c.explanation
        );
    }
    out
}

fn severity(c: &Code) -> &'static str {
    match c.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_ordered_within_their_prefix() {
        let mut last: Option<&str> = None;
        for c in ALL {
            assert!(
                c.code.len() == 6 && c.code[3..].bytes().all(|b| b.is_ascii_digit()),
                "{} is not PREFIX + 3 digits",
                c.code
            );
            if let Some(prev) = last
                && prev[..3] == c.code[..3]
            {
                assert!(prev < c.code, "{} after {prev}", c.code);
            }
            last = Some(c.code);
        }
    }

    /// Every code written in the source is catalogued, so the docs list
    /// every code a user can see. A code appears in source as a string
    /// literal ("UPG012", "RUN008", "SBX001").
    #[test]
    fn every_code_in_the_source_is_catalogued() {
        fn visit(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let bytes = text.as_bytes();
                    for (i, _) in text.match_indices('"') {
                        let code = bytes.get(i + 1..i + 8);
                        if let Some(code) = code
                            && code[6] == b'"'
                            && [&b"UPG"[..], b"RUN", b"SBX"].contains(&&code[..3])
                            && code[3..6].iter().all(u8::is_ascii_digit)
                        {
                            let code = String::from_utf8(code[..6].to_vec()).unwrap();
                            found.push((code, path.display().to_string()));
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.len() > 50, "the scan found only {}", found.len());
        for (code, file) in found {
            assert!(
                lookup(&code).is_some(),
                "{code} (used in {file}) is not in the catalogue in src/codes.rs"
            );
        }
    }

    #[test]
    fn diagnostics_doc_is_fresh() {
        crate::generated_doc::assert_fresh("diagnostics.md", &markdown());
    }
}
