//! Expressions on one line, with the fewest parentheses that keep the tree:
//! the parser drops parentheses, so they are re-derived from precedence.

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

/// Print `e` in canonical form.
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write(&mut out, e);
    out
}

fn wrapped(out: &mut String, e: &Expr, needs_parens: bool) {
    if needs_parens {
        out.push('(');
        write(out, e);
        out.push(')');
    } else {
        write(out, e);
    }
}

fn write(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Str(s) => string(out, s),
        ExprKind::Int(i) => out.push_str(&i.to_string()),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Duration(d) => out.push_str(&format_duration(*d)),
        ExprKind::Version(v) => out.push_str(&v.to_string()),
        ExprKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                wrapped(out, item, strength(item) == LAMBDA);
            }
            out.push(']');
        }
        ExprKind::Map(entries) => {
            out.push('{');
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                map_key(out, &entry.key);
                out.push_str(": ");
                wrapped(out, &entry.value, strength(&entry.value) == LAMBDA);
            }
            out.push('}');
        }
        ExprKind::Name(n) => out.push_str(&n.name),
        ExprKind::Field { base, name } => {
            wrapped(out, base, strength(base) < POSTFIX);
            out.push('.');
            out.push_str(&name.name);
        }
        ExprKind::Index { base, index } => {
            wrapped(out, base, strength(base) < POSTFIX);
            out.push('[');
            wrapped(out, index, strength(index) == LAMBDA);
            out.push(']');
        }
        ExprKind::Call {
            namespace,
            func,
            args: a,
        } => {
            out.push_str(&namespace.name);
            out.push('.');
            out.push_str(&func.name);
            args(out, a);
        }
        ExprKind::Method {
            receiver,
            method,
            args: a,
        } => {
            wrapped(out, receiver, strength(receiver) < POSTFIX);
            out.push('.');
            out.push_str(&method.name);
            args(out, a);
        }
        ExprKind::Lambda { param, body } => {
            out.push_str(&param.name);
            out.push_str(" => ");
            write(out, body);
        }
        ExprKind::Unary { op, operand } => {
            out.push(match op {
                UnaryOp::Not => '!',
                UnaryOp::Neg => '-',
            });
            wrapped(out, operand, strength(operand) < PREFIX);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            // Left associative: an equal-strength operator on the right
            // needs parentheses, on the left it does not.
            wrapped(out, lhs, strength(lhs) < p);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            wrapped(out, rhs, strength(rhs) <= p);
        }
    }
}

fn args(out: &mut String, args: &[Arg]) {
    out.push('(');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(name) = &arg.name {
            out.push_str(&name.name);
            out.push_str(": ");
            wrapped(out, &arg.value, strength(&arg.value) == LAMBDA);
        } else {
            write(out, &arg.value);
        }
    }
    out.push(')');
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
                write(out, e);
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
