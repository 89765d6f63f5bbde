//! Statements: bindings, loops, conditionals, waits, and unreachable code
//! after `fail`. Steps are in `steps`.

use crate::builtins::{Param, Type};
use crate::syntax::ast::{Block, Stmt, StmtKind};

use super::context::{BlockKind, Checker};
use super::{codes, literals};

/// The branches a `parallel for` runs at once: enough for every managed
/// nodegroup of a cluster, not so many that their polls swamp the API.
pub const MAX_PARALLEL: i64 = 100;

/// A `parallel for`'s `limit`, checked as a ranged argument is (UPG038,
/// and RUN001 for a runbook parameter given with `--set`).
pub static PARALLEL_LIMIT: Param = Param {
    name: "limit",
    ty: Type::Int,
    required: true,
    default: None,
    allowed: &[],
    range: Some((1, MAX_PARALLEL)),
    doc: "how many branches run at once",
};

impl Checker<'_> {
    /// A block in its own scope.
    pub fn block(&mut self, block: &Block) {
        self.scoped(|c| c.stmts(&block.stmts));
    }

    /// Statements in the current scope (a step's rollback sees its body's
    /// variables, so the caller decides about scoping).
    pub fn stmts(&mut self, stmts: &[Stmt]) {
        let mut failed = false;
        for stmt in stmts {
            if failed {
                self.report(
                    codes::UNREACHABLE
                        .diag("this statement can never run")
                        .with_label(self.trimmed(stmt.span), "unreachable")
                        .with_help("`fail` stops the run; remove the statements after it or move the `fail` into an `if`"),
                );
                failed = false;
            }
            self.stmt(stmt);
            if matches!(stmt.kind, StmtKind::Fail(_)) {
                failed = true;
            }
        }
    }

    pub fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Step(step) => self.step(step),
            StmtKind::Use { name, args } => self.use_template(name, args, stmt.span),
            StmtKind::Let { name, value } => {
                let t = self.expr(value);
                self.scopes.bind(&name.name, t);
            }
            StmtKind::For {
                var,
                iter,
                limit,
                body,
            } => {
                if let Some(limit) = limit {
                    let t = self.in_block(BlockKind::ReadOnly("a `parallel for` limit"), |c| {
                        c.expr(limit)
                    });
                    self.expect_type(Type::Int, t, limit.span, "a `parallel for` limit");
                    self.in_range("parallel for", &PARALLEL_LIMIT, limit);
                }
                let t = self.expr(iter);
                let elem = match t.element() {
                    Some(e) => e,
                    None => {
                        self.expect_type(
                            super::types::list_of(Type::Any),
                            t,
                            iter.span,
                            "the value of a `for` loop",
                        );
                        Type::Any
                    }
                };
                let outer = self.in_parallel;
                self.in_parallel |= limit.is_some();
                self.scoped(|c| {
                    c.scopes.bind(&var.name, elem);
                    c.stmts(&body.stmts);
                });
                self.in_parallel = outer;
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (cond, block) in branches {
                    self.condition(cond, "an `if` condition");
                    self.block(block);
                }
                if let Some(b) = otherwise {
                    self.block(b);
                }
            }
            StmtKind::Gate(name) => self.gate_ref(name),
            StmtKind::Await {
                condition,
                within,
                every,
            } => {
                self.in_block(BlockKind::ReadOnly("an `await` condition"), |c| {
                    c.condition(condition, "an `await` condition")
                });
                self.timing(Some(within), every.as_ref());
            }
            StmtKind::Pause(d) => {
                let t = self.expr(d);
                self.expect_type(Type::Duration, t, d.span, "`pause`");
                literals::check_positive_duration(self, d, "`pause`");
            }
            StmtKind::Confirm(e) => {
                if self.in_parallel {
                    self.report(
                        codes::CONFIRM_IN_PARALLEL
                            .diag("`confirm` inside a `parallel for` branch")
                            .with_label(self.trimmed(stmt.span), "branches run at the same time")
                            .with_help("ask once, before the `parallel for`, about what all its branches will do"),
                    );
                }
                self.expr(e);
            }
            StmtKind::Log(e) | StmtKind::Fail(e) => {
                self.expr(e);
            }
            StmtKind::Keep(reason) => {
                if self.block != BlockKind::Rollback {
                    self.report(
                        codes::KEEP_OUTSIDE_ROLLBACK
                            .diag("`keep` belongs in a rollback block")
                            .with_label(stmt.span, "nothing is being undone here")
                            .with_help("use `log` for a message, or move `keep \"reason\"` into the step's `rollback { ... }`"),
                    );
                }
                let t = self.expr(reason);
                self.expect_type(Type::String, t, reason.span, "`keep`");
            }
            StmtKind::Expr(e) => {
                self.expr(e);
            }
        }
    }
}
