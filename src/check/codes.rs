//! The catalogue of checker diagnostics (UPG010 and up): code, title,
//! severity and explanation in one table, rendered into `docs/diagnostics.md`.
//! Parse and import errors (UPG001-UPG009) belong to `crate::syntax`; rhai
//! check compile errors (UPG080-UPG089) to `crate::checks`.

use std::fmt::Write;

use crate::diagnostic::{Diagnostic, Severity};

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
    "A step calls an action that cannot be undone (`eks.update_cluster_version`: EKS cannot downgrade a control plane; `eks.delete_nodegroup`: a deleted nodegroup's nodes are gone) but is not marked `irreversible`. The marker makes dry-run and the confirmation prompt say so, and tells the engine that rollback stops at this step.",
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
    "A number or duration passed to a built-in is outside what it accepts: `max_unavailable` 1 to 100 (the EKS limit), node counts up to 450 (nodes in one managed nodegroup), `parallelism` 1 to 64, timeouts up to 7 days, `grace_period` up to 1 day. Literals are checked, and so are a runbook parameter's default and environment values when the parameter is passed directly; `--set` values are checked the same way before a run starts (RUN001).",
);

/// Every checker code, in order. `docs/diagnostics.md` and the golden tests
/// enumerate this table.
pub static ALL: &[&Code] = &[
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
];

/// The text of `docs/diagnostics.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Checker diagnostics\n\n\
         <!-- Generated from src/check/codes.rs by `UPDATE_DOCS=1 cargo test`; do not edit. -->\n\n\
         `runbook check` reports these codes (parse and import errors UPG001-UPG009 are described in\n\
         docs/language.md; rhai check errors UPG080-UPG089 in docs/checks.md). Errors make\n\
         `runbook check` exit 1; warnings do not, unless `--deny-warnings` is given.\n\n\
         | code | severity | title |\n|---|---|---|\n",
    );
    for c in ALL {
        let _ = writeln!(
            out,
            "| [{0}](#{1}) | {2} | {3} |",
            c.code,
            c.code.to_lowercase(),
            severity(c),
            c.title
        );
    }
    for c in ALL {
        let _ = write!(
            out,
            "\n## {}\n\n**{}** ({})\n\n{}\n",
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
    fn codes_are_unique_ordered_and_in_range() {
        let mut last = 9;
        for c in ALL {
            let n: u32 = c.code.strip_prefix("UPG").unwrap().parse().unwrap();
            assert!(n > last && n < 80, "{} out of order or range", c.code);
            last = n;
        }
    }

    #[test]
    fn diagnostics_doc_is_fresh() {
        crate::generated_doc::assert_fresh("diagnostics.md", &markdown());
    }
}
