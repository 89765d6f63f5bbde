//! A runbook as a whole: parameters, preconditions, its gates, and the flow
//! of statements.

use std::collections::HashMap;

use crate::builtins::Type;
use crate::syntax::ast::{GateDecl, Runbook};

use super::context::{BlockKind, Checker};
use super::{codes, types};

impl Checker<'_> {
    pub fn runbook(&mut self, runbook: &Runbook) {
        self.step_ids.clear();
        self.param_values.clear();
        self.param_numbers.clear();
        self.scoped(|c| {
            c.params(runbook);
            c.environments(runbook);
            for p in runbook.preconditions() {
                c.in_block(BlockKind::ReadOnly("a precondition"), |c| {
                    for cond in &p.conditions {
                        c.condition(cond, "a precondition");
                    }
                });
                c.string(&p.title);
                if let Some(m) = &p.else_message {
                    c.string(m);
                }
            }
            for g in runbook.gates() {
                c.gate_decl(g);
            }
            c.in_block(BlockKind::Flow, |c| {
                c.scoped(|c| {
                    for stmt in runbook.flow() {
                        c.stmt(stmt);
                    }
                })
            });
        });
    }

    /// UPG021 for a runbook's or a template's parameter declared again.
    pub fn duplicate_param(&mut self, p: &crate::syntax::ast::Param, first: crate::source::Span) {
        self.report(
            codes::DUPLICATE_PARAM
                .diag(format!("parameter `{}` is declared twice", p.name.name))
                .with_label(p.name.span, "second declaration")
                .with_label(first, "first declared here")
                .with_help("remove one of the declarations"),
        );
    }

    /// Declares the parameters in the current scope and checks their defaults.
    fn params(&mut self, runbook: &Runbook) {
        let mut seen = HashMap::new();
        for p in runbook.params() {
            if let Some(first) = seen.insert(p.name.name.as_str(), p.name.span) {
                self.duplicate_param(p, first);
                continue;
            }
            let ty = types::from_ast(&p.ty);
            if let Some(default) = &p.default {
                let t = self.in_block(BlockKind::ReadOnly("a parameter default"), |c| {
                    c.expr(default)
                });
                self.expect_type(
                    ty,
                    t,
                    default.span,
                    &format!("the default of `{}`", p.name.name),
                );
            }
            self.scopes.bind(&p.name.name, ty);
            if let Some(default) = &p.default {
                self.note_param_value(&p.name.name, default);
            }
        }
    }

    /// `gate NAME { conditions; within D every D; consecutive N }`
    pub fn gate_decl(&mut self, g: &GateDecl) {
        self.in_block(BlockKind::ReadOnly("a gate condition"), |c| {
            for cond in &g.conditions {
                c.condition(cond, "a gate condition");
            }
        });
        self.timing(g.within.as_ref(), g.every.as_ref());
        if let Some(n) = &g.consecutive {
            let t = self.expr(n);
            self.expect_type(Type::Int, t, n.span, "`consecutive`");
        }
    }

    /// Remembers a literal string or number a parameter may take.
    pub fn note_param_value(&mut self, param: &str, value: &crate::syntax::ast::Expr) {
        if let Some(n) = super::literals::number(value) {
            self.param_numbers
                .entry(param.to_string())
                .or_default()
                .push((n, value.span));
        }
        if let crate::syntax::ast::ExprKind::Str(s) = &value.kind
            && let Some(text) = s.as_plain()
        {
            self.param_values
                .entry(param.to_string())
                .or_default()
                .push((text, value.span));
        }
    }
}
