//! Environment blocks: each key must be a parameter of the runbook with a
//! value of its type; no environment twice; and a parameter without default
//! that some environments set but others do not is flagged, since selecting
//! those others needs `--set` (a parameter no environment sets is a per-run
//! value by design and is not reported).

use std::collections::HashMap;

use crate::syntax::ast::{Environment, Runbook};

use super::context::{BlockKind, Checker};
use super::decls::Decls;
use super::{codes, suggest, types};

impl Checker<'_> {
    pub fn environments(&mut self, runbook: &Runbook) {
        let decls = self.decls;
        let envs: Vec<&Environment> = runbook
            .environments()
            .chain(decls.file_environments.iter().copied().filter(|e| {
                e.runbook
                    .as_ref()
                    .is_none_or(|r| r.name == runbook.name.name)
            }))
            .collect();
        let params: HashMap<&str, &crate::syntax::ast::Param> = runbook
            .params()
            .map(|p| (p.name.name.as_str(), p))
            .collect();

        let mut names = HashMap::new();
        for env in &envs {
            if let Some(first) = names.insert(env.name.name.as_str(), env.name.span) {
                self.report(
                    codes::DUPLICATE_ENVIRONMENT
                        .diag(format!(
                            "environment `{}` is declared twice for runbook `{}`",
                            env.name.name, runbook.name.name
                        ))
                        .with_label(env.name.span, "second declaration")
                        .with_label(first, "first declared here")
                        .with_help("merge the two blocks into one"),
                );
            }
            let mut keys = HashMap::new();
            for s in &env.settings {
                if let Some(first) = keys.insert(s.key.name.as_str(), s.key.span) {
                    self.report(
                        codes::DUPLICATE_ENVIRONMENT
                            .diag(format!(
                                "environment `{}` sets `{}` twice",
                                env.name.name, s.key.name
                            ))
                            .with_label(s.key.span, "set again here")
                            .with_label(first, "first set here")
                            .with_help("keep one of the two settings"),
                    );
                }
                let t = self.in_block(BlockKind::ReadOnly("an environment value"), |c| {
                    c.expr(&s.value)
                });
                match params.get(s.key.name.as_str()) {
                    Some(p) => {
                        self.expect_type(
                            types::from_ast(&p.ty),
                            t,
                            s.value.span,
                            &format!("`{}`", s.key.name),
                        );
                        self.note_param_value(&s.key.name, &s.value);
                    }
                    None => {
                        let help =
                            suggest::did_you_mean(&s.key.name, params.keys().copied(), || {
                                let mut names: Vec<&str> = params.keys().copied().collect();
                                names.sort_unstable();
                                format!(
                                    "the parameters of `{}` are: {}",
                                    runbook.name.name,
                                    names.join(", ")
                                )
                            });
                        self.report(
                            codes::UNKNOWN_ENVIRONMENT_KEY
                                .diag(format!(
                                    "`{}` is not a parameter of runbook `{}`",
                                    s.key.name, runbook.name.name
                                ))
                                .with_label(s.key.span, "unknown parameter")
                                .with_help(help),
                        );
                    }
                }
            }
        }

        for p in runbook.params().filter(|p| p.default.is_none()) {
            let sets = |e: &&&Environment| e.settings.iter().any(|s| s.key.name == p.name.name);
            if !envs.iter().any(|e| sets(&e)) {
                continue;
            }
            for env in envs.iter().filter(|e| !sets(e)) {
                self.report(
                    codes::PARAM_NEVER_SET
                        .diag(format!(
                            "environment `{}` does not set `{}`, which has no default",
                            env.name.name, p.name.name
                        ))
                        .with_label(env.name.span, format!("`{}` missing", p.name.name))
                        .with_label(p.name.span, "parameter without default")
                        .with_help(format!(
                            "set `{} = ...` here (other environments do), give the parameter a default, or pass `--set {}=...` on every run",
                            p.name.name, p.name.name
                        )),
                );
            }
        }
    }
}

impl Checker<'_> {
    /// `environment NAME for RUNBOOK` at file level naming no runbook of
    /// the program but nearly one: a typo that would drop the settings. A
    /// name unlike every runbook here may be for a runbook elsewhere.
    pub fn environment_targets(&mut self, decls: &Decls) {
        let names = || decls.runbooks.iter().map(|r| r.name.name.as_str());
        for env in &decls.file_environments {
            let Some(target) = &env.runbook else { continue };
            if names().any(|n| n == target.name) {
                continue;
            }
            let Some(near) = suggest::closest(&target.name, names()) else {
                continue;
            };
            self.report(
                codes::ENVIRONMENT_FOR_MISSPELT_RUNBOOK
                    .diag(format!(
                        "environment `{}` is for runbook `{}`, which is not in this program",
                        env.name.name, target.name
                    ))
                    .with_label(target.span, "no runbook of this name")
                    .with_help(format!("did you mean `{near}`?")),
            );
        }
    }
}
