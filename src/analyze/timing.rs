//! `within D every D` of gates and awaits: both durations, positive, and the
//! interval no longer than the timeout.

use crate::builtins::Type;
use crate::syntax::ast::Expr;

use super::context::Checker;
use super::{codes, literals};

impl Checker<'_> {
    pub fn timing(&mut self, within: Option<&Expr>, every: Option<&Expr>) {
        for (e, what) in [(within, "`within`"), (every, "`every`")] {
            if let Some(e) = e {
                let t = self.expr(e);
                self.expect_type(Type::Duration, t, e.span, what);
                literals::check_positive_duration(self, e, what);
            }
        }
        let (Some(within), Some(every)) = (within, every) else {
            return;
        };
        if let (Some(w), Some(e)) = (
            literals::duration_value(within),
            literals::duration_value(every),
        ) && e > w
        {
            {
                self.report(
                    codes::EVERY_EXCEEDS_WITHIN
                        .diag("`every` is longer than `within`: the condition would be checked at most once")
                        .with_label(every.span, "polling interval")
                        .with_label(within.span, "timeout")
                        .with_help("poll more often than the timeout, e.g. `within 10m every 15s`"),
                );
            }
        }
    }
}
