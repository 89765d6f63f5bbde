//! Templates: each declared once program-wide (a duplicate is UPG022), its
//! body checked once on its own, in runbook flow, with its parameters bound;
//! each `use` checked against the declaration like a built-in call (arity,
//! keywords, types), never where a step may not stand when the template
//! holds steps, and never recursively.

use std::collections::{HashMap, HashSet};

use crate::source::Span;
use crate::syntax::ast::{Arg, Block, Ident, StmtKind, Template};

use super::context::{BlockKind, Checker};
use super::{codes, suggest, types};

impl Checker<'_> {
    /// The declaration: parameters unique and typed (defaults included),
    /// the body checked as runbook flow where only its parameters and the
    /// runbook's are in scope.
    pub fn template_decl(&mut self, t: &Template) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        self.scoped(|c| {
            for p in &t.params {
                if let Some(first) = seen.insert(p.name.name.as_str(), p.name.span) {
                    c.duplicate_param(p, first);
                    continue;
                }
                let ty = types::from_ast(&p.ty);
                if let Some(d) = &p.default {
                    let dt = c.expr(d);
                    c.expect_type(ty, dt, d.span, "the default");
                }
                c.scopes.bind(&p.name.name, ty);
            }
            c.in_block(BlockKind::Flow, |c| c.stmts(&t.body.stmts));
        });
    }

    /// `use NAME(args)`.
    pub fn use_template(&mut self, name: &Ident, args: &[Arg], span: Span) {
        let Some(t) = self.decls.templates.get(name.name.as_str()).copied() else {
            for a in args {
                self.expr(&a.value);
            }
            let help =
                suggest::did_you_mean(&name.name, self.decls.templates.keys().copied(), || {
                    "declare it with `template NAME(param: type) { ... }` or import the file \
                     that does"
                        .to_string()
                });
            self.report(
                codes::UNKNOWN_TEMPLATE
                    .diag(format!("template `{}` is not declared", name.name))
                    .with_label(name.span, "unknown template")
                    .with_help(help),
            );
            return;
        };
        if self.block == BlockKind::Rollback && holds_step(&t.body) {
            self.report(
                codes::STEP_IN_ROLLBACK
                    .diag(format!(
                        "a rollback block cannot use template `{}`: it holds steps",
                        name.name
                    ))
                    .with_label(span, "template with steps inside a rollback")
                    .with_label(t.name.span, "declared here")
                    .with_help("write the undo as plain statements of the rollback block"),
            );
        }
        let mut given: HashMap<&str, Span> = HashMap::new();
        let mut positional = 0;
        for a in args {
            let param = match &a.name {
                None => {
                    positional += 1;
                    match t.params.get(positional - 1) {
                        Some(p) => p,
                        None => {
                            self.expr(&a.value);
                            self.report(
                                codes::ARITY
                                    .diag(format!(
                                        "template `{}` takes {} argument(s)",
                                        name.name,
                                        t.params.len()
                                    ))
                                    .with_label(a.value.span, "extra argument")
                                    .with_label(t.name.span, "declared here")
                                    .with_help(signature(t)),
                            );
                            continue;
                        }
                    }
                }
                Some(k) => match t.params.iter().find(|p| p.name.name == k.name) {
                    Some(p) => p,
                    None => {
                        self.expr(&a.value);
                        let names = t.params.iter().map(|p| p.name.name.as_str());
                        let help = suggest::did_you_mean(&k.name, names, || signature(t));
                        self.report(
                            codes::UNKNOWN_KEYWORD
                                .diag(format!(
                                    "template `{}` has no parameter `{}`",
                                    name.name, k.name
                                ))
                                .with_label(k.span, "unknown parameter")
                                .with_help(help),
                        );
                        continue;
                    }
                },
            };
            if let Some(first) = given.insert(param.name.name.as_str(), a.value.span) {
                self.report(
                    codes::DUPLICATE_KEYWORD
                        .diag(format!("`{}` is given twice", param.name.name))
                        .with_label(a.value.span, "given again")
                        .with_label(first, "first given here")
                        .with_help("give each parameter once"),
                );
            }
            let at = self.expr(&a.value);
            self.expect_type(
                types::from_ast(&param.ty),
                at,
                a.value.span,
                &format!("`{}`", param.name.name),
            );
        }
        for p in &t.params {
            if p.default.is_none() && !given.contains_key(p.name.name.as_str()) {
                self.report(
                    codes::MISSING_ARGUMENT
                        .diag(format!("template `{}` needs `{}`", name.name, p.name.name))
                        .with_label(span, format!("`{}` missing", p.name.name))
                        .with_help(signature(t)),
                );
            }
        }
    }
}

/// `template NAME(a: string, b: int = 1)`, for help lines.
fn signature(t: &Template) -> String {
    let params: Vec<String> = t
        .params
        .iter()
        .map(|p| {
            let s = format!("{}: {}", p.name.name, crate::format::type_to_string(&p.ty));
            if p.default.is_some() {
                format!("{s} = ...")
            } else {
                s
            }
        })
        .collect();
    format!("template {}({})", t.name.name, params.join(", "))
}

/// Whether a block holds a step, at any depth (not inside rollbacks, which
/// hold none).
fn holds_step(b: &Block) -> bool {
    b.stmts.iter().any(|s| match &s.kind {
        StmtKind::Step(_) => true,
        StmtKind::For { body, .. } => holds_step(body),
        StmtKind::If {
            branches,
            otherwise,
        } => {
            branches.iter().any(|(_, b)| holds_step(b))
                || otherwise.as_ref().is_some_and(holds_step)
        }
        _ => false,
    })
}

/// The `use` statements of a block, at any depth.
fn uses<'a>(b: &'a Block, out: &mut Vec<&'a Ident>) {
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Use { name, .. } => out.push(name),
            StmtKind::Step(step) => {
                uses(&step.body, out);
                if let Some(r) = &step.rollback {
                    uses(r, out);
                }
            }
            StmtKind::For { body, .. } => uses(body, out),
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (_, b) in branches {
                    uses(b, out);
                }
                if let Some(b) = otherwise {
                    uses(b, out);
                }
            }
            _ => {}
        }
    }
}

/// The `use` sites that close a cycle (a template using itself, directly or
/// through others): each such `use` would never end. Returns each site with
/// the template it is in.
pub fn recursive_uses<'a>(templates: &HashMap<&'a str, &'a Template>) -> Vec<(&'a Ident, &'a str)> {
    let edges: HashMap<&str, Vec<&Ident>> = templates
        .iter()
        .map(|(name, t)| {
            let mut out = Vec::new();
            uses(&t.body, &mut out);
            (*name, out)
        })
        .collect();
    // Every template reachable from `from` through one or more uses.
    let reach = |from: &str| -> HashSet<&str> {
        let mut seen = HashSet::new();
        let mut todo = vec![from];
        while let Some(at) = todo.pop() {
            for c in edges.get(at).into_iter().flatten() {
                if seen.insert(c.name.as_str()) {
                    todo.push(c.name.as_str());
                }
            }
        }
        seen
    };
    let mut found = Vec::new();
    let mut names: Vec<&&str> = templates.keys().collect();
    names.sort();
    for name in names {
        for site in edges.get(*name).into_iter().flatten() {
            if site.name == *name || reach(&site.name).contains(*name) {
                found.push((*site, *name));
            }
        }
    }
    found
}
