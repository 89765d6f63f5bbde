//! Expressions with the fewest parentheses that keep the tree (the parser
//! drops parentheses, so they are re-derived from precedence), as `pretty`
//! documents: one line when they fit, brackets broken open when not.

use pretty::RcDoc;

use crate::syntax::ast::*;
use crate::syntax::{escape, format_duration};

/// Binding power of postfix forms (`.f`, `[i]`, `.m()`) and of literals.
const POSTFIX: u8 = 9;
/// Binding power of prefix `!` and `-`.
const PREFIX: u8 = 8;
/// Lambdas bind loosest: as an argument they need no parentheses, anywhere
/// else they must be wrapped.
const LAMBDA: u8 = 0;

fn strength(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary { .. } => PREFIX,
        ExprKind::Lambda { .. } => LAMBDA,
        _ => POSTFIX,
    }
}

/// Widest line `fmt` aims for; a line longer than this breaks the
/// arguments of its outermost call (or list, or map) one per line.
pub const WIDTH: usize = 100;

/// A document that may break lines inside brackets.
pub type Doc = RcDoc<'static>;

/// Print `e` in canonical form on one line.
pub fn expr(e: &Expr) -> String {
    flat(&doc(e))
}

/// A document laid out without any line break.
pub fn flat(d: &Doc) -> String {
    d.pretty(usize::MAX).to_string()
}

fn wrapped(e: &Expr, needs_parens: bool) -> Doc {
    if needs_parens {
        RcDoc::text("(").append(doc(e)).append(")")
    } else {
        doc(e)
    }
}

/// The canonical layout of `e`: one line when it fits, otherwise its
/// brackets open onto indented lines, one item each, with a trailing comma.
pub fn doc(e: &Expr) -> Doc {
    match &e.kind {
        ExprKind::Str(s) => RcDoc::text(string_to(s)),
        ExprKind::Int(i) => RcDoc::text(i.to_string()),
        ExprKind::Bool(b) => RcDoc::text(if *b { "true" } else { "false" }),
        ExprKind::Duration(d) => RcDoc::text(format_duration(*d)),
        ExprKind::Version(v) => RcDoc::text(v.to_string()),
        ExprKind::List(items) => bracketed(
            "[",
            items.iter().map(|i| wrapped(i, strength(i) == LAMBDA)),
            "]",
        ),
        ExprKind::Map(entries) => bracketed(
            "{",
            entries.iter().map(|entry| {
                let mut key = String::new();
                map_key(&mut key, &entry.key);
                RcDoc::text(key + ": ")
                    .append(wrapped(&entry.value, strength(&entry.value) == LAMBDA))
            }),
            "}",
        ),
        ExprKind::Name(n) => RcDoc::text(n.name.clone()),
        ExprKind::Field { base, name } => wrapped(base, strength(base) < POSTFIX)
            .append(".")
            .append(name.name.clone()),
        ExprKind::Index { base, index } => wrapped(base, strength(base) < POSTFIX)
            .append("[")
            .append(wrapped(index, strength(index) == LAMBDA))
            .append("]"),
        ExprKind::Call {
            namespace,
            func,
            args: a,
        } => RcDoc::text(format!("{}.{}", namespace.name, func.name)).append(args(a)),
        ExprKind::Method {
            receiver,
            method,
            args: a,
        } => wrapped(receiver, strength(receiver) < POSTFIX)
            .append(".")
            .append(method.name.clone())
            .append(args(a)),
        ExprKind::Lambda { param, body } => {
            RcDoc::text(format!("{} => ", param.name)).append(doc(body))
        }
        ExprKind::Unary { op, operand } => RcDoc::text(match op {
            UnaryOp::Not => "!",
            UnaryOp::Neg => "-",
        })
        .append(wrapped(operand, strength(operand) < PREFIX)),
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            // Left associative: an equal-strength operator on the right
            // needs parentheses, on the left it does not.
            wrapped(lhs, strength(lhs) < p)
                .append(format!(" {} ", op.symbol()))
                .append(wrapped(rhs, strength(rhs) <= p))
        }
    }
}

/// `open items close`: on one line if it fits, else one item per line.
/// (A call's `(` must touch its name, so breaks only come after it.)
fn bracketed(open: &'static str, items: impl Iterator<Item = Doc>, close: &'static str) -> Doc {
    let items: Vec<Doc> = items.collect();
    if items.is_empty() {
        return RcDoc::text(open).append(close);
    }
    RcDoc::text(open)
        .append(
            RcDoc::line_()
                .append(RcDoc::intersperse(
                    items,
                    RcDoc::text(",").append(RcDoc::line()),
                ))
                .nest(2),
        )
        .append(RcDoc::text(",").flat_alt(RcDoc::nil()))
        .append(RcDoc::line_())
        .append(close)
        .group()
}

/// `(a, b: c)` of a call, as the formatter lays out built-in calls.
pub fn call_args(a: &[Arg]) -> Doc {
    args(a)
}

fn args(args: &[Arg]) -> Doc {
    bracketed(
        "(",
        args.iter().map(|arg| match &arg.name {
            Some(name) => RcDoc::text(format!("{}: ", name.name))
                .append(wrapped(&arg.value, strength(&arg.value) == LAMBDA)),
            None => doc(&arg.value),
        }),
        ")",
    )
}

fn map_key(out: &mut String, key: &str) {
    let bare = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if bare {
        out.push_str(key);
    } else {
        out.push('"');
        out.push_str(&escape(key));
        out.push('"');
    }
}

/// A string literal; raw strings verbatim.
pub fn string(out: &mut String, s: &StrLit) {
    if s.raw {
        out.push_str("\"\"\"");
        for part in &s.parts {
            if let StrPart::Text { text, .. } = part {
                out.push_str(text);
            }
        }
        out.push_str("\"\"\"");
        return;
    }
    out.push('"');
    for part in &s.parts {
        match part {
            StrPart::Text { text, .. } => out.push_str(&escape(text)),
            StrPart::Interp(e) => {
                out.push_str("${");
                out.push_str(&expr(e));
                out.push('}');
            }
        }
    }
    out.push('"');
}

pub fn string_to(s: &StrLit) -> String {
    let mut out = String::new();
    string(&mut out, s);
    out
}
