//! Steps: unique ids, `when` and `during`, `timeout` and `retry`, the
//! irreversible marker, and rollback blocks (holding no steps) for steps
//! that change the cluster.

use crate::builtins::Type;
use crate::syntax::ast::{Ident, Step};

use super::context::{BlockKind, Checker, StepFrame};
use super::suggest;
use super::{codes, literals};

impl Checker<'_> {
    pub fn step(&mut self, step: &Step) {
        if self.block == BlockKind::Rollback {
            self.report(
                codes::STEP_IN_ROLLBACK
                    .diag("a rollback block cannot contain a step")
                    .with_label(step.title.span, "step inside a rollback")
                    .with_help("write the undo as plain statements of the rollback block"),
            );
        }
        self.string(&step.title);
        if let Some(first) = self.step_ids.get(&step.id).copied() {
            self.report(
                codes::DUPLICATE_STEP
                    .diag(format!("two steps have the id `{}`", step.id))
                    .with_label(step.title.span, "second step with this id")
                    .with_label(first, "first step with this id")
                    .with_help(
                        "step ids are the slug of the title: give the steps distinct titles",
                    ),
            );
        } else {
            self.step_ids.insert(step.id.clone(), step.title.span);
        }
        if let Some(when) = &step.when {
            self.in_block(BlockKind::ReadOnly("a `when` condition"), |c| {
                c.condition(when, "a `when` condition")
            });
        }
        for gate in &step.during {
            self.gate_ref(gate);
        }
        self.step_timing(step);

        self.steps.push(StepFrame::default());
        self.scoped(|c| {
            c.in_block(BlockKind::Step, |c| c.stmts(&step.body.stmts));
            if let Some(rollback) = &step.rollback {
                c.in_block(BlockKind::Rollback, |c| c.block(rollback));
            }
        });
        let frame = self.steps.pop().unwrap_or_default();

        if !step.irreversible {
            for (span, name) in &frame.irreversible_calls {
                let title = step.title.span;
                self.report(
                    codes::IRREVERSIBLE_UNMARKED
                        .diag(format!(
                            "`{name}` cannot be undone, but the step is not marked `irreversible`"
                        ))
                        .with_label(*span, "irreversible action")
                        .with_label(title, "in this step")
                        .with_help("mark the step: `step \"...\" irreversible { ... }`"),
                );
            }
        }
        if let (Some((span, name)), false, None) =
            (frame.first_mutation, step.irreversible, &step.rollback)
            && frame.irreversible_calls.is_empty()
        {
            {
                self.report(
                    codes::MISSING_ROLLBACK
                        .diag("this step changes the cluster but has no rollback block")
                        .with_label(step.title.span, "step without rollback")
                        .with_label(span, format!("`{name}` changes the cluster"))
                        .with_help("add `rollback { ... }` that undoes the change, e.g. by applying the previous version"),
                );
            }
        }
    }

    /// `gate NAME` or `during NAME`: the gate must be declared.
    pub fn gate_ref(&mut self, name: &Ident) {
        if self.decls.gates.contains_key(name.name.as_str()) {
            return;
        }
        let help = suggest::did_you_mean(&name.name, self.decls.gates.keys().copied(), || {
            "declare it with `gate NAME { ... }` or import it, e.g. `import \"stdlib/gates\"`"
                .to_string()
        });
        self.report(
            codes::UNKNOWN_GATE
                .diag(format!("gate `{}` is not declared", name.name))
                .with_label(name.span, "unknown gate")
                .with_help(help),
        );
    }
}

/// How many times a step may be retried: enough for a flaky API or a slow
/// controller, not a loop.
pub const MAX_RETRIES: i64 = 10;

impl Checker<'_> {
    /// `timeout D` and `retry N every D`: values read once, when the step
    /// starts.
    fn step_timing(&mut self, step: &Step) {
        self.in_block(BlockKind::ReadOnly("a step's `timeout` or `retry`"), |c| {
            if let Some(t) = &step.timeout {
                let ty = c.expr(t);
                c.expect_type(Type::Duration, ty, t.span, "`timeout`");
                literals::check_positive_duration(c, t, "`timeout`");
            }
            let Some(retry) = &step.retry else {
                return;
            };
            let ty = c.expr(&retry.times);
            c.expect_type(Type::Int, ty, retry.times.span, "`retry`");
            if let Some(n) = literals::number(&retry.times)
                && !(1..=MAX_RETRIES).contains(&n)
            {
                c.report(
                    codes::OUT_OF_RANGE
                        .diag(format!(
                            "`retry` takes 1 to {MAX_RETRIES} attempts, got {n}"
                        ))
                        .with_label(retry.times.span, "out of range")
                        .with_help(
                            "retry a few times; a longer wait belongs in `await ... within`",
                        ),
                );
            }
            if let Some(every) = &retry.every {
                let ty = c.expr(every);
                c.expect_type(Type::Duration, ty, every.span, "`every`");
                literals::check_positive_duration(c, every, "`every`");
            }
        });
    }
}
