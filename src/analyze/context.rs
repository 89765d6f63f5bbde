//! The state of one checking pass: diagnostics found so far, visible names,
//! declarations, and what kind of code is being checked (which decides whether
//! actions may be called).

use std::collections::HashMap;

use crate::builtins::Type;
use crate::checks::ParamsRead;
use crate::diagnostic::Diagnostic;
use crate::source::{SourceMap, Span};

use super::decls::Decls;
use super::scope::Scopes;

/// Where the code being checked runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Conditions and values evaluated repeatedly or during dry-run: only
    /// queries. The text names the context for messages ("a gate condition").
    ReadOnly(&'static str),
    /// Runbook-level flow outside any step: queries only, actions belong in steps.
    Flow,
    /// Inside a step body: actions allowed.
    Step,
    /// Inside a rollback block: actions allowed.
    Rollback,
}

/// A runbook parameter passed as a ranged argument (`max_unavailable: mu`):
/// its `--set` value must be in the argument's range too.
#[derive(Clone, Debug)]
pub struct RangedUse {
    pub param: String,
    pub builtin: &'static str,
    pub argument: &'static crate::builtins::Param,
}

/// What a step body does, collected while walking it.
#[derive(Default)]
pub struct StepFrame {
    /// First mutating call (span, built-in name), for the missing-rollback warning.
    pub first_mutation: Option<(Span, &'static str)>,
    /// Calls of irreversible actions.
    pub irreversible_calls: Vec<(Span, &'static str)>,
}

pub struct Checker<'a> {
    pub sources: &'a SourceMap,
    pub diags: Vec<Diagnostic>,
    pub scopes: Scopes,
    pub decls: &'a Decls<'a>,
    /// The parameters each compiled check reads (`check.NAME(key: ...)`).
    pub check_params: &'a HashMap<String, ParamsRead>,
    pub block: BlockKind,
    pub steps: Vec<StepFrame>,
    /// Unknown names are not reported (and typed `any`): for gates declared
    /// in library files checked without a runbook whose params they may use.
    pub lenient_names: bool,
    /// Step ids of the runbook being checked, with the first title's span.
    pub step_ids: HashMap<String, Span>,
    /// Literal string values each parameter of the runbook can take (its
    /// default and environment settings), checked when the parameter is
    /// passed to an enumerated argument such as `strategy:`.
    pub param_values: HashMap<String, Vec<(String, Span)>>,
    /// Literal numbers (ints, durations in seconds) each parameter can take,
    /// checked when the parameter is passed to a ranged argument.
    pub param_numbers: HashMap<String, Vec<(i64, Span)>>,
    /// Runbook parameters passed directly to ranged arguments.
    pub ranged_params: Vec<RangedUse>,
    /// Values already reported, so two calls do not report one typo twice.
    pub reported_values: std::collections::HashSet<Span>,
    /// Inside the body of a `parallel for`.
    pub in_parallel: bool,
}

impl<'a> Checker<'a> {
    pub fn new(
        sources: &'a SourceMap,
        decls: &'a Decls<'a>,
        check_params: &'a HashMap<String, ParamsRead>,
    ) -> Self {
        Checker {
            sources,
            diags: Vec::new(),
            scopes: Scopes::new(),
            decls,
            check_params,
            block: BlockKind::Flow,
            steps: Vec::new(),
            lenient_names: false,
            step_ids: HashMap::new(),
            param_values: HashMap::new(),
            param_numbers: HashMap::new(),
            ranged_params: Vec::new(),
            reported_values: Default::default(),
            in_parallel: false,
        }
    }

    /// `span` without trailing whitespace, so a label covers only the code.
    pub fn trimmed(&self, span: Span) -> Span {
        let text = self.sources.slice(span);
        let end = span.start as usize + text.trim_end().len();
        Span::new(span.file, span.start as usize, end)
    }

    pub fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Runs `f` in `mode`, restoring the previous mode afterwards.
    pub fn in_block<T>(&mut self, block: BlockKind, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.block, block);
        let out = f(self);
        self.block = saved;
        out
    }

    /// Runs `f` in a new variable scope.
    pub fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.scopes.push();
        let out = f(self);
        self.scopes.pop();
        out
    }

    /// Reports when `actual` cannot be used where `expected` is required.
    pub fn expect_type(&mut self, expected: Type, actual: Type, span: Span, what: &str) {
        if !Type::accepts(expected, actual) {
            self.report(
                super::codes::TYPE_MISMATCH
                    .diag(format!(
                        "{what} must be {}, found {}",
                        article(expected),
                        article(actual)
                    ))
                    .with_label(span, format!("this is {}", article(actual)))
                    .with_help(format!("use a value of type {expected} here")),
            );
        }
    }
}

/// "a string", "an int", "a list<string>".
pub fn article(ty: Type) -> String {
    let s = ty.to_string();
    let vowel = s.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']);
    match ty {
        Type::Unit => "nothing".to_string(),
        _ if vowel => format!("an {s}"),
        _ => format!("a {s}"),
    }
}
