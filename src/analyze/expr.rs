//! Typing expressions: names, literals, fields, indexing and operators.
//! Calls and methods are in `calls`.

use crate::builtins::Type;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, StrLit, StrPart, UnaryOp};

use super::context::{Checker, article};
use super::types::{list_of, unify};
use super::{codes, literals, suggest};

impl Checker<'_> {
    /// The static type of `expr`, reporting every problem inside it.
    pub fn expr(&mut self, expr: &Expr) -> Type {
        match &expr.kind {
            ExprKind::Str(s) => {
                self.string(s);
                Type::String
            }
            ExprKind::Int(_) => Type::Int,
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Duration(_) => Type::Duration,
            ExprKind::Version(v) => {
                literals::check_version(self, v, expr.span);
                Type::Version
            }
            ExprKind::List(items) => {
                let types: Vec<Type> = items.iter().map(|e| self.expr(e)).collect();
                list_of(unify(types))
            }
            ExprKind::Map(entries) => {
                for e in entries {
                    self.expr(&e.value);
                }
                Type::Map
            }
            ExprKind::Name(id) => self.name(&id.name, id.span),
            ExprKind::Field { base, name } => {
                let base_ty = self.expr(base);
                self.field(base_ty, &name.name, name.span, base.span)
            }
            ExprKind::Index { base, index } => {
                let base_ty = self.expr(base);
                let index_ty = self.expr(index);
                match base_ty {
                    Type::List(elem) => {
                        self.expect_type(Type::Int, index_ty, index.span, "a list index");
                        *elem
                    }
                    Type::Map | Type::Record(_) => {
                        self.expect_type(Type::String, index_ty, index.span, "a map key");
                        Type::Any
                    }
                    Type::Any => Type::Any,
                    other => {
                        self.report(
                            codes::TYPE_MISMATCH
                                .diag(format!("cannot index into {}", article(other)))
                                .with_label(base.span, format!("this is {}", article(other)))
                                .with_help("only lists and maps can be indexed with `[...]`"),
                        );
                        Type::Any
                    }
                }
            }
            ExprKind::Call {
                namespace,
                func,
                args,
            } => self.call(expr, namespace, func, args),
            ExprKind::Method {
                receiver,
                method,
                args,
            } => self.method(receiver, method, args),
            ExprKind::Lambda { param, body } => {
                // Only reachable as an argument of a built-in (methods handle
                // their lambdas); the argument check reports the misuse.
                self.scoped(|c| {
                    c.scopes.bind(&param.name, Type::Any);
                    c.expr(body);
                });
                Type::Any
            }
            ExprKind::Unary { op, operand } => {
                let t = self.expr(operand);
                match op {
                    UnaryOp::Not => {
                        self.expect_type(Type::Bool, t, operand.span, "the operand of `!`");
                        Type::Bool
                    }
                    UnaryOp::Neg => {
                        self.expect_type(Type::Int, t, operand.span, "the operand of `-`");
                        Type::Int
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(expr, *op, lhs, rhs),
        }
    }

    /// Checks the interpolations of a string literal.
    pub fn string(&mut self, s: &StrLit) {
        for part in &s.parts {
            if let StrPart::Interp(e) = part {
                self.expr(e);
            }
        }
    }

    /// `expr` must be a bool (a condition).
    pub fn condition(&mut self, expr: &Expr, what: &str) {
        let t = self.expr(expr);
        self.expect_type(Type::Bool, t, expr.span, what);
    }

    fn name(&mut self, name: &str, span: crate::source::Span) -> Type {
        if let Some(b) = self.scopes.get(name) {
            return b;
        }
        if self.lenient_names {
            return Type::Any;
        }
        let help = suggest::did_you_mean(name, self.scopes.visible(), || {
            "declare it with `param` or bind it with `let` before this point".to_string()
        });
        self.report(
            codes::UNDEFINED_NAME
                .diag(format!("`{name}` is not defined"))
                .with_label(span, "not a parameter or variable in scope")
                .with_help(help),
        );
        Type::Any
    }

    fn field(
        &mut self,
        base: Type,
        name: &str,
        span: crate::source::Span,
        base_span: crate::source::Span,
    ) -> Type {
        match base {
            Type::Record(r) => match r.field(name) {
                Some(f) => f.ty,
                None => {
                    let help = suggest::did_you_mean(name, r.fields.iter().map(|f| f.name), || {
                        let names: Vec<&str> = r.fields.iter().map(|f| f.name).collect();
                        format!("{} has the fields {}", r.name, names.join(", "))
                    });
                    self.report(
                        codes::UNKNOWN_FIELD
                            .diag(format!("{} has no field `{name}`", r.name))
                            .with_label(span, "unknown field")
                            .with_label(base_span, format!("this is {}", article(base)))
                            .with_help(help),
                    );
                    Type::Any
                }
            },
            Type::Map | Type::Any => Type::Any,
            other => {
                let help = if super::super::builtins::methods::method(other, name).is_some() {
                    format!("`{name}` is a method: call it as `.{name}()`")
                } else {
                    format!("values of type {other} have no fields")
                };
                self.report(
                    codes::UNKNOWN_FIELD
                        .diag(format!("{} has no field `{name}`", article(other)))
                        .with_label(span, "unknown field")
                        .with_help(help),
                );
                Type::Any
            }
        }
    }

    fn binary(&mut self, _expr: &Expr, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> Type {
        let l = self.expr(lhs);
        let r = self.expr(rhs);
        let sym = op.symbol();
        let mismatch = |c: &mut Self, why: String| {
            c.report(
                codes::TYPE_MISMATCH
                    .diag(format!(
                        "cannot apply `{sym}` to {} and {}",
                        article(l),
                        article(r)
                    ))
                    .with_label(lhs.span, article(l))
                    .with_label(rhs.span, article(r))
                    .with_help(why),
            );
        };
        let any = l == Type::Any || r == Type::Any;
        match op {
            BinaryOp::And | BinaryOp::Or => {
                self.expect_type(
                    Type::Bool,
                    l,
                    lhs.span,
                    &format!("the left side of `{sym}`"),
                );
                self.expect_type(
                    Type::Bool,
                    r,
                    rhs.span,
                    &format!("the right side of `{sym}`"),
                );
                Type::Bool
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                if !Type::accepts(l, r) {
                    mismatch(self, "these can never be equal".to_string());
                }
                Type::Bool
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ordered = matches!(
                    l,
                    Type::Int | Type::Duration | Type::Version | Type::String | Type::Any
                );
                if !any && (!ordered || !Type::accepts(l, r)) {
                    mismatch(
                        self,
                        "only ints, durations, versions and strings of the same type compare"
                            .to_string(),
                    );
                }
                Type::Bool
            }
            BinaryOp::In => {
                match r {
                    Type::List(elem) => {
                        if !Type::accepts(*elem, l) {
                            mismatch(self, format!("the list holds {}", article(*elem)));
                        }
                    }
                    Type::Map | Type::Record(_) | Type::String => {
                        self.expect_type(Type::String, l, lhs.span, "the left side of `in`");
                    }
                    Type::Any => {}
                    _ => mismatch(
                        self,
                        "`in` needs a list, map or string on the right".to_string(),
                    ),
                }
                Type::Bool
            }
            BinaryOp::Add => match (l, r) {
                _ if any => Type::Any,
                (Type::Int, Type::Int) => Type::Int,
                (Type::String, _) | (_, Type::String) => Type::String,
                (Type::Duration, Type::Duration) => Type::Duration,
                (Type::List(_), Type::List(_)) if Type::accepts(l, r) => l,
                _ => {
                    mismatch(
                        self,
                        "`+` adds ints or durations, joins strings or lists".to_string(),
                    );
                    Type::Any
                }
            },
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => match (op, l, r) {
                _ if any => Type::Any,
                (_, Type::Int, Type::Int) => Type::Int,
                (BinaryOp::Sub, Type::Duration, Type::Duration) => Type::Duration,
                (BinaryOp::Mul | BinaryOp::Div, Type::Duration, Type::Int) => Type::Duration,
                _ => {
                    mismatch(self, format!("`{sym}` works on ints (and durations)"));
                    Type::Any
                }
            },
        }
    }
}
