//! Values that parse but make no sense: Kubernetes versions EKS cannot run
//! and zero durations where time must pass.

use std::time::Duration;

use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind, Version};

use super::codes;
use super::context::Checker;

/// Kubernetes minors are `1.N`; anything else is a typo (`1.300`, `2.1`).
pub fn check_version(c: &mut Checker, v: &Version, span: Span) {
    if v.major != 1 || v.minor >= 100 {
        let why = if v.major != 1 {
            format!("Kubernetes has no major version {}", v.major)
        } else {
            format!("minor {} is far beyond any Kubernetes release", v.minor)
        };
        c.report(
            codes::BAD_VERSION
                .diag(format!("`{v}` is not a Kubernetes version"))
                .with_label(span, why)
                .with_help("write the minor as `1.N`, e.g. `1.30`"),
        );
    }
}

/// A literal zero duration where time must pass (`pause 0s`, `every 0s`).
pub fn check_positive_duration(c: &mut Checker, e: &Expr, what: &str) {
    if let ExprKind::Duration(d) = e.kind
        && d == Duration::ZERO
    {
        c.report(
            codes::ZERO_DURATION
                .diag(format!("{what} must be longer than zero"))
                .with_label(e.span, "zero duration")
                .with_help("give a positive duration such as `30s` or `5m`"),
        );
    }
}

/// A literal int (possibly negated) or duration (in whole seconds), for
/// range checks.
pub fn number(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(i) => Some(*i),
        ExprKind::Duration(d) => Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        ExprKind::Unary {
            op: crate::syntax::ast::UnaryOp::Neg,
            operand,
        } => number(operand).map(|v| v.saturating_neg()),
        _ => None,
    }
}

/// A literal duration's value, for comparing `every` with `within`.
pub fn duration_value(e: &Expr) -> Option<Duration> {
    match e.kind {
        ExprKind::Duration(d) => Some(d),
        _ => None,
    }
}
