//! Expressions: pest's PrattParser for binary and prefix operators, then
//! postfix chains (`.field`, `.method()`, `[index]`), literals and strings.
//! Every builder returns the tree depth too, so over-deep chains that no
//! bracket reveals are cut off (UPG004) before later stages recurse.

use std::sync::LazyLock;

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::ast::*;
use super::literal;
use super::parser::{Builder, Rule, kids};

/// Deepest expression tree the builder accepts. Long operator chains and
/// member chains nest without brackets, so the bracket pre-scan cannot see
/// them; later stages recurse over the tree and must not overflow.
pub const MAX_EXPR_DEPTH: u32 = 200;

/// The names before a built-in's `.`: `eks.update_addon(..)`.
const NAMESPACES: &[&str] = &["eks", "k8s", "nodegroup", "check"];

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::infix(Rule::eq, Assoc::Left) | Op::infix(Rule::ne, Assoc::Left))
        .op(Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left)
            | Op::infix(Rule::in_op, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left)
            | Op::infix(Rule::div, Assoc::Left)
            | Op::infix(Rule::rem, Assoc::Left))
        .op(Op::prefix(Rule::not) | Op::prefix(Rule::neg))
});

impl Builder<'_> {
    pub(super) fn expr(&self, p: Pair<Rule>) -> Expr {
        self.expr_depth(p).0
    }

    /// Build an expression and report its tree depth.
    pub(super) fn expr_depth(&self, p: Pair<Rule>) -> (Expr, u32) {
        // Most expressions are one operand: no operators to order.
        let mut operands = kids(p.clone());
        if let (Some(only), None) = (operands.next(), operands.next())
            && only.as_rule() == Rule::postfix_expr
        {
            return self.postfix_expr(only);
        }
        PRATT
            .map_primary(|p| self.postfix_expr(p))
            .map_prefix(|op, (operand, d)| {
                let span = self.span(&op).to(operand.span);
                let op = match op.as_rule() {
                    Rule::not => UnaryOp::Not,
                    _ => UnaryOp::Neg,
                };
                self.deeper(
                    Expr {
                        kind: ExprKind::Unary {
                            op,
                            operand: Box::new(operand),
                        },
                        span,
                    },
                    d,
                )
            })
            .map_infix(|(lhs, dl), op, (rhs, dr)| {
                let span = lhs.span.to(rhs.span);
                let op = match op.as_rule() {
                    Rule::or => BinaryOp::Or,
                    Rule::and => BinaryOp::And,
                    Rule::eq => BinaryOp::Eq,
                    Rule::ne => BinaryOp::Ne,
                    Rule::lt => BinaryOp::Lt,
                    Rule::le => BinaryOp::Le,
                    Rule::gt => BinaryOp::Gt,
                    Rule::ge => BinaryOp::Ge,
                    Rule::in_op => BinaryOp::In,
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Sub,
                    Rule::mul => BinaryOp::Mul,
                    Rule::div => BinaryOp::Div,
                    _ => BinaryOp::Rem,
                };
                self.deeper(
                    Expr {
                        kind: ExprKind::Binary {
                            op,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        },
                        span,
                    },
                    dl.max(dr),
                )
            })
            .parse(kids(p))
    }

    /// Wrap up a new node whose deepest child has depth `child`; past the
    /// limit, report once and cut the tree off (keeping it shallow).
    fn deeper(&self, e: Expr, child: u32) -> (Expr, u32) {
        let depth = child + 1;
        if depth == MAX_EXPR_DEPTH + 1 {
            self.error(
                Diagnostic::error(
                    "UPG004",
                    format!("expression nests deeper than {MAX_EXPR_DEPTH} levels"),
                )
                .with_label(e.span, "this expression is too deep")
                .with_help("break it up with `let` bindings"),
            );
        }
        if depth > MAX_EXPR_DEPTH {
            // Keep the reported depth above the limit so the rest of a long
            // chain is cut too, without a second diagnostic.
            let span = e.span;
            return (
                Expr {
                    kind: ExprKind::Bool(false),
                    span,
                },
                depth,
            );
        }
        (e, depth)
    }

    fn postfix_expr(&self, p: Pair<Rule>) -> (Expr, u32) {
        let span = self.span(&p);
        let mut it = kids(p).peekable();
        let first = it.next().expect("primary");
        let (mut expr, mut depth) =
            if first.as_rule() == Rule::ident && NAMESPACES.contains(&first.as_str()) {
                self.builtin_call(first, it.next(), span)
            } else {
                self.primary(first)
            };
        for post in it {
            let pspan = self.span(&post);
            let span = expr.span.to(pspan);
            match post.as_rule() {
                Rule::index => {
                    let (index, di) = self.expr_depth(kids(post).next().expect("index"));
                    (expr, depth) = self.deeper(
                        Expr {
                            kind: ExprKind::Index {
                                base: Box::new(expr),
                                index: Box::new(index),
                            },
                            span,
                        },
                        depth.max(di),
                    );
                }
                Rule::member => {
                    let mut m = kids(post);
                    let name = self.ident(m.next().expect("member name"));
                    (expr, depth) = match m.next() {
                        Some(args) => {
                            let (args, da) = self.args(args);
                            self.deeper(
                                Expr {
                                    kind: ExprKind::Method {
                                        receiver: Box::new(expr),
                                        method: name,
                                        args,
                                    },
                                    span,
                                },
                                depth.max(da),
                            )
                        }
                        None => self.deeper(
                            Expr {
                                kind: ExprKind::Field {
                                    base: Box::new(expr),
                                    name,
                                },
                                span,
                            },
                            depth,
                        ),
                    };
                }
                Rule::call_args => {
                    self.error(
                        Diagnostic::error("UPG009", "only built-ins and methods can be called")
                            .with_label(span, "not callable")
                            .with_help(
                                "call a built-in as `eks.update_addon(...)` or a method as `x.len()`",
                            ),
                    );
                }
                r => unreachable!("postfix {r:?}"),
            }
        }
        (expr, depth)
    }

    pub(super) fn args(&self, p: Pair<Rule>) -> (Vec<Arg>, u32) {
        let mut args: Vec<Arg> = Vec::new();
        let mut depth = 0;
        for a in kids(p) {
            let span = self.span(&a);
            let inner = kids(a).next().expect("argument");
            let (arg, d) = match inner.as_rule() {
                Rule::kwarg => {
                    let mut it = kids(inner);
                    let name = self.ident(it.next().expect("kwarg name"));
                    let (value, d) = self.expr_depth(it.next().expect("kwarg value"));
                    (
                        Arg {
                            name: Some(name),
                            value,
                            span,
                        },
                        d,
                    )
                }
                Rule::lambda => {
                    let lspan = self.span(&inner);
                    let mut it = kids(inner);
                    let param = self.ident(it.next().expect("lambda param"));
                    let (body, d) = self.expr_depth(it.next().expect("lambda body"));
                    let (value, d) = self.deeper(
                        Expr {
                            kind: ExprKind::Lambda {
                                param,
                                body: Box::new(body),
                            },
                            span: lspan,
                        },
                        d,
                    );
                    (
                        Arg {
                            name: None,
                            value,
                            span,
                        },
                        d,
                    )
                }
                _ => {
                    let (value, d) = self.expr_depth(inner);
                    (
                        Arg {
                            name: None,
                            value,
                            span,
                        },
                        d,
                    )
                }
            };
            if arg.name.is_none()
                && let Some(prev) = args.iter().find(|a| a.name.is_some())
            {
                self.error(
                    Diagnostic::error("UPG009", "positional argument after a keyword argument")
                        .with_label(arg.span, "positional argument")
                        .with_label(prev.span, "keyword argument given before it")
                        .with_help("put positional arguments first"),
                );
            }
            depth = depth.max(d);
            args.push(arg);
        }
        (args, depth)
    }

    fn primary(&self, p: Pair<Rule>) -> (Expr, u32) {
        let span = self.span(&p);
        let leaf = |kind| (Expr { kind, span }, 1);
        match p.as_rule() {
            Rule::paren => self.expr_depth(kids(p).next().expect("parenthesized")),
            Rule::list => {
                let mut depth = 0;
                let items = kids(p)
                    .map(|e| {
                        let (e, d) = self.expr_depth(e);
                        depth = depth.max(d);
                        e
                    })
                    .collect();
                self.deeper(
                    Expr {
                        kind: ExprKind::List(items),
                        span,
                    },
                    depth,
                )
            }
            Rule::map => {
                let mut depth = 0;
                let mut entries = Vec::new();
                for entry in kids(p) {
                    let mut it = kids(entry);
                    let key = it.next().expect("map key");
                    let key_span = self.span(&key);
                    let key = if key.as_rule() == Rule::name {
                        key.as_str().to_string()
                    } else {
                        let s = self.string(key);
                        s.as_plain().unwrap_or_else(|| {
                            self.error(
                                Diagnostic::error("UPG001", "a map key cannot interpolate")
                                    .with_label(key_span, "interpolation in a key")
                                    .with_help("write the key literally"),
                            );
                            String::new()
                        })
                    };
                    let (value, d) = self.expr_depth(it.next().expect("map value"));
                    depth = depth.max(d);
                    entries.push(MapEntry {
                        key,
                        key_span,
                        value,
                    });
                }
                self.deeper(
                    Expr {
                        kind: ExprKind::Map(entries),
                        span,
                    },
                    depth,
                )
            }
            Rule::string | Rule::raw_string => {
                let s = self.string(p);
                let depth = s
                    .parts
                    .iter()
                    .map(|part| match part {
                        StrPart::Interp(_) => 2,
                        StrPart::Text { .. } => 1,
                    })
                    .max()
                    .unwrap_or(1);
                (
                    Expr {
                        kind: ExprKind::Str(s),
                        span,
                    },
                    depth,
                )
            }
            Rule::version => leaf(ExprKind::Version(
                literal::parse_version(p.as_str(), span).unwrap_or_else(|d| {
                    self.error(d);
                    Version {
                        major: 0,
                        minor: 0,
                        patch: None,
                    }
                }),
            )),
            Rule::duration => leaf(ExprKind::Duration(
                literal::parse_duration(p.as_str(), span).unwrap_or_else(|d| {
                    self.error(d);
                    std::time::Duration::ZERO
                }),
            )),
            Rule::int => leaf(ExprKind::Int(p.as_str().parse().unwrap_or_else(|_| {
                self.error(
                    Diagnostic::error("UPG009", format!("integer `{}` is too large", p.as_str()))
                        .with_label(span, "out of range")
                        .with_help(format!("integers are at most {}", i64::MAX)),
                );
                0
            }))),
            Rule::ident => match p.as_str() {
                "true" => leaf(ExprKind::Bool(true)),
                "false" => leaf(ExprKind::Bool(false)),
                _ => leaf(ExprKind::Name(self.ident(p))),
            },
            r => unreachable!("primary {r:?}"),
        }
    }

    /// `eks.update_addon(..)`: a namespace, then the member call that names
    /// the built-in (the grammar reads both as a name and a member).
    fn builtin_call(
        &self,
        namespace: Pair<Rule>,
        member: Option<Pair<Rule>>,
        whole: Span,
    ) -> (Expr, u32) {
        let namespace_span = self.span(&namespace);
        let mut parts = member
            .filter(|m| m.as_rule() == Rule::member)
            .map(|m| kids(m).collect::<Vec<_>>())
            .unwrap_or_default();
        let Some(args) = parts.pop().filter(|a| a.as_rule() == Rule::call_args) else {
            self.error(
                Diagnostic::error(
                    "UPG001",
                    format!(
                        "`{}` is a namespace of built-ins, not a value",
                        namespace.as_str()
                    ),
                )
                .with_label(namespace_span, "namespace")
                .with_help(format!(
                    "call one of its built-ins, e.g. `{}.NAME(...)`; docs/actions.md lists them",
                    namespace.as_str()
                )),
            );
            return (
                Expr {
                    kind: ExprKind::Bool(false),
                    span: whole,
                },
                1,
            );
        };
        let func = self.ident(parts.pop().expect("built-in name"));
        let span = namespace_span.to(self.span(&args));
        let (args, d) = self.args(args);
        self.deeper(
            Expr {
                kind: ExprKind::Call {
                    namespace: Ident {
                        name: namespace.as_str().to_string(),
                        span: namespace_span,
                    },
                    func,
                    args,
                },
                span,
            },
            d,
        )
    }

    /// A `"..."` or `"""..."""` literal, escapes resolved, text runs merged.
    pub(super) fn string(&self, p: Pair<Rule>) -> StrLit {
        let span = self.span(&p);
        if p.as_rule() == Rule::raw_string {
            let text = kids(p).next().expect("raw text");
            return StrLit {
                parts: vec![StrPart::Text {
                    text: text.as_str().to_string(),
                    span: self.span_of(&text),
                }],
                raw: true,
                span,
            };
        }
        let mut parts: Vec<StrPart> = Vec::new();
        let push_text = |parts: &mut Vec<StrPart>, s: &str, sp: Span| {
            if let Some(StrPart::Text { text, span }) = parts.last_mut() {
                text.push_str(s);
                *span = span.to(sp);
            } else {
                parts.push(StrPart::Text {
                    text: s.to_string(),
                    span: sp,
                });
            }
        };
        for c in kids(p) {
            // Exact spans: text may end in spaces that belong to it.
            let cspan = self.span_of(&c);
            match c.as_rule() {
                Rule::text => push_text(&mut parts, c.as_str(), cspan),
                Rule::escape => {
                    let ch = literal::unescape(&c.as_str()[1..], cspan).unwrap_or_else(|d| {
                        self.error(d);
                        '?'
                    });
                    push_text(&mut parts, ch.encode_utf8(&mut [0; 4]), cspan);
                }
                Rule::interp => {
                    parts.push(StrPart::Interp(self.expr(kids(c).next().expect("interp"))))
                }
                r => unreachable!("string part {r:?}"),
            }
        }
        StrLit {
            parts,
            raw: false,
            span,
        }
    }
}
