//! Expressions, by precedence climbing over `BinaryOp::precedence` (the
//! same table as the PrattParser in `syntax/expr.rs`, so the trees agree),
//! with the tree depth tracked exactly as the pest builder tracks it.

use crate::syntax::ast::*;
use crate::syntax::expr::MAX_EXPR_DEPTH;
use crate::syntax::literal;

use super::{P, Parser, is_ident_char, is_name_start};
use crate::syntax::error::KEYWORDS;

/// An expression and its tree depth.
type Built = (Expr, u32);

/// A new node over children of depth `child`; too deep is pest's to report.
fn deeper(kind: ExprKind, span: crate::source::Span, child: u32) -> P<Built> {
    let depth = child + 1;
    (depth <= MAX_EXPR_DEPTH).then_some((Expr { kind, span }, depth))
}

impl<'t> Parser<'t> {
    pub(super) fn expr(&mut self) -> P<Expr> {
        Some(self.expr_depth()?.0)
    }

    fn expr_depth(&mut self) -> P<Built> {
        self.binary(1)
    }

    /// Operands joined by operators binding at least as tight as `min`.
    fn binary(&mut self, min: u8) -> P<Built> {
        let (mut lhs, mut dl) = self.unary()?;
        while let Some((op, len)) = self.infix() {
            if op.precedence() < min {
                break;
            }
            self.take(len);
            let (rhs, dr) = self.binary(op.precedence() + 1)?;
            let span = lhs.span.to(rhs.span);
            let kind = ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
            (lhs, dl) = deeper(kind, span, dl.max(dr))?;
        }
        Some((lhs, dl))
    }

    /// After trivia: the binary operator that comes next, and its length.
    fn infix(&mut self) -> Option<(BinaryOp, usize)> {
        self.trivia();
        let two = [self.peek().unwrap_or(0), self.at(self.pos + 1).unwrap_or(0)];
        Some(match &two {
            b"||" => (BinaryOp::Or, 2),
            b"&&" => (BinaryOp::And, 2),
            b"==" => (BinaryOp::Eq, 2),
            b"!=" => (BinaryOp::Ne, 2),
            b"<=" => (BinaryOp::Le, 2),
            b">=" => (BinaryOp::Ge, 2),
            b"in" if !self.at(self.pos + 2).is_some_and(is_ident_char) => (BinaryOp::In, 2),
            [b'<', _] => (BinaryOp::Lt, 1),
            [b'>', _] => (BinaryOp::Gt, 1),
            [b'+', _] => (BinaryOp::Add, 1),
            [b'-', _] => (BinaryOp::Sub, 1),
            [b'*', _] => (BinaryOp::Mul, 1),
            [b'/', _] => (BinaryOp::Div, 1),
            [b'%', _] => (BinaryOp::Rem, 1),
            _ => return None,
        })
    }

    /// Prefix operators bind tighter than any binary one.
    fn unary(&mut self) -> P<Built> {
        let mut ops = Vec::new();
        loop {
            self.trivia();
            let op = match self.peek() {
                Some(b'!') => UnaryOp::Not,
                Some(b'-') => UnaryOp::Neg,
                _ => break,
            };
            let at = self.take(1);
            ops.push((op, self.span(at, at + 1)));
        }
        let (mut e, mut d) = self.postfix_expr()?;
        for (op, span) in ops.into_iter().rev() {
            let span = span.to(e.span);
            let kind = ExprKind::Unary {
                op,
                operand: Box::new(e),
            };
            (e, d) = deeper(kind, span, d)?;
        }
        Some((e, d))
    }

    /// A primary and its `.name`, `.name(..)` and `[..]` suffixes. `(` and
    /// `[` must touch what they apply to; a `.` may follow blanks and
    /// comments (a method chain over several lines).
    fn postfix_expr(&mut self) -> P<Built> {
        self.trivia();
        let (mut e, mut d) = self.primary()?;
        loop {
            match self.peek() {
                // Only built-ins and methods are callable: pest's builder
                // reports a bare call.
                Some(b'(') => return None,
                Some(b'[') => {
                    self.take(1);
                    let (index, di) = self.expr_depth()?;
                    self.expect("]")?;
                    let span = self.since(e.span.start as usize);
                    let kind = ExprKind::Index {
                        base: Box::new(e),
                        index: Box::new(index),
                    };
                    (e, d) = deeper(kind, span, d.max(di))?;
                }
                _ => {
                    let dot = self.trivia_from(self.pos);
                    if self.at(dot) != Some(b'.') || self.name_len_at(dot + 1) == 0 {
                        return Some((e, d));
                    }
                    self.trivia();
                    self.take(1);
                    let name = self.name()?;
                    if self.peek() == Some(b'(') {
                        let (args, da) = self.call_args()?;
                        let span = self.since(e.span.start as usize);
                        let kind = ExprKind::Method {
                            receiver: Box::new(e),
                            method: name,
                            args,
                        };
                        (e, d) = deeper(kind, span, d.max(da))?;
                    } else {
                        let span = e.span.to(name.span);
                        let kind = ExprKind::Field {
                            base: Box::new(e),
                            name,
                        };
                        (e, d) = deeper(kind, span, d)?;
                    }
                }
            }
        }
    }

    /// `( args )`, at the `(`; keyword arguments after positional ones.
    fn call_args(&mut self) -> P<(Vec<Arg>, u32)> {
        self.take(1);
        let mut args: Vec<Arg> = Vec::new();
        let mut depth = 0;
        while !self.eat(")") {
            let (arg, d) = self.arg()?;
            if arg.name.is_none() && args.iter().any(|a| a.name.is_some()) {
                return None;
            }
            depth = depth.max(d);
            args.push(arg);
            if !self.eat(",") {
                self.expect(")")?;
                break;
            }
        }
        Some((args, depth))
    }

    /// `name: value`, `x => body` or a positional value.
    fn arg(&mut self) -> P<(Arg, u32)> {
        self.trivia();
        let start = self.pos;
        let n = self.name_len_at(start);
        let after = self.trivia_from(start + n);
        if n > 0 && self.at(after) == Some(b':') {
            let name = self.name()?;
            self.expect(":")?;
            let (value, d) = self.expr_depth()?;
            let arg = Arg {
                name: Some(name),
                value,
                span: self.since(start),
            };
            return Some((arg, d));
        }
        let (value, d) = if n > 0 && self.b[after..].starts_with(b"=>") {
            let param = self.ident()?;
            self.expect("=>")?;
            let (body, d) = self.expr_depth()?;
            let kind = ExprKind::Lambda {
                param,
                body: Box::new(body),
            };
            deeper(kind, self.since(start), d)?
        } else {
            self.expr_depth()?
        };
        let arg = Arg {
            name: None,
            value,
            span: self.since(start),
        };
        Some((arg, d))
    }

    fn primary(&mut self) -> P<Built> {
        let start = self.pos;
        let leaf = |p: &Self, kind| {
            Some((
                Expr {
                    kind,
                    span: p.since(start),
                },
                1,
            ))
        };
        match self.peek()? {
            c if is_name_start(c) => {
                let word = &self.text[start..start + self.name_len_at(start)];
                if !KEYWORDS.contains(&word) {
                    let name = self.name()?;
                    return leaf(self, ExprKind::Name(name));
                }
                match word {
                    "true" | "false" => {
                        self.take(word.len());
                        leaf(self, ExprKind::Bool(word == "true"))
                    }
                    _ if NAMESPACES.contains(&word) => self.namespace_call(),
                    _ => None,
                }
            }
            b'"' => {
                let s = if self.b[start..].starts_with(b"\"\"\"") {
                    let (text, span) = self.raw_string()?;
                    StrLit {
                        parts: vec![StrPart::Text {
                            text: text.to_string(),
                            span,
                        }],
                        raw: true,
                        span: self.since(start),
                    }
                } else {
                    self.string()?
                };
                let interpolates = s.parts.iter().any(|p| matches!(p, StrPart::Interp(_)));
                let span = s.span;
                Some((
                    Expr {
                        kind: ExprKind::Str(s),
                        span,
                    },
                    if interpolates { 2 } else { 1 },
                ))
            }
            // Parentheses only group: the inner expression is the node.
            b'(' => {
                self.take(1);
                let inner = self.expr_depth()?;
                self.expect(")")?;
                Some(inner)
            }
            b'[' => {
                self.take(1);
                let mut items = Vec::new();
                let mut depth = 0;
                while !self.eat("]") {
                    let (e, d) = self.expr_depth()?;
                    depth = depth.max(d);
                    items.push(e);
                    if !self.eat(",") {
                        self.expect("]")?;
                        break;
                    }
                }
                deeper(ExprKind::List(items), self.since(start), depth)
            }
            b'{' => {
                self.take(1);
                let mut entries = Vec::new();
                let mut depth = 0;
                while !self.eat("}") {
                    let (key, key_span) = match self.peek() {
                        Some(b'"') => {
                            let s = self.string()?;
                            (s.as_plain()?, s.span)
                        }
                        _ => {
                            let n = self.name()?;
                            (n.name, n.span)
                        }
                    };
                    self.expect(":")?;
                    let (value, d) = self.expr_depth()?;
                    depth = depth.max(d);
                    entries.push(MapEntry {
                        key,
                        key_span,
                        value,
                    });
                    if !self.eat(",") {
                        self.expect("}")?;
                        break;
                    }
                }
                deeper(ExprKind::Map(entries), self.since(start), depth)
            }
            c if c.is_ascii_digit() => self.number(),
            _ => None,
        }
    }

    /// `eks.name(args)`, written without blanks.
    fn namespace_call(&mut self) -> P<Built> {
        let start = self.pos;
        let namespace = self.name()?;
        if self.peek() != Some(b'.') {
            return None;
        }
        self.take(1);
        if self.name_len_at(self.pos) == 0 {
            return None;
        }
        let func = self.name()?;
        if self.peek() != Some(b'(') {
            return None;
        }
        let (args, d) = self.call_args()?;
        let kind = ExprKind::Call {
            namespace,
            func,
            args,
        };
        deeper(kind, self.since(start), d)
    }

    /// A version (`1.30`), a duration (`10m`) or an int, checked as pest's
    /// builder checks them.
    fn number(&mut self) -> P<Built> {
        let start = self.pos;
        let digits = |i: usize| {
            self.b[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let dot_digit = |i: usize| {
            self.at(i) == Some(b'.') && self.at(i + 1).is_some_and(|c| c.is_ascii_digit())
        };
        let mut end = start + digits(start);
        let kind = if dot_digit(end) {
            while dot_digit(end) {
                end += 1 + digits(end + 1);
            }
            if self.at(end).is_some_and(is_ident_char) {
                return None;
            }
            let span = self.span(start, end);
            ExprKind::Version(literal::parse_version(&self.text[start..end], span).ok()?)
        } else if self.at(end).is_some_and(|c| c.is_ascii_alphabetic()) {
            end += self.b[end..]
                .iter()
                .take_while(|c| is_ident_char(**c))
                .count();
            let span = self.span(start, end);
            ExprKind::Duration(literal::parse_duration(&self.text[start..end], span).ok()?)
        } else if self.at(end) == Some(b'_') {
            return None;
        } else {
            ExprKind::Int(self.text[start..end].parse().ok()?)
        };
        self.take(end - start);
        Some((
            Expr {
                kind,
                span: self.since(start),
            },
            1,
        ))
    }

    /// A `"..."` literal at the cursor: escapes resolved, text runs merged.
    /// A `"""` here is left to pest (it reads `""` and then stumbles).
    pub(super) fn string(&mut self) -> P<StrLit> {
        self.trivia();
        let start = self.pos;
        if self.peek() != Some(b'"') || self.b[start..].starts_with(b"\"\"\"") {
            return None;
        }
        self.take(1);
        let mut parts: Vec<StrPart> = Vec::new();
        loop {
            let at = self.pos;
            let (text, span) = match self.peek()? {
                b'"' => break,
                b'\n' => return None,
                b'\\' => {
                    let len = 1 + self.text[at + 1..]
                        .chars()
                        .next()
                        .filter(|c| *c != '\n')
                        .map_or(0, char::len_utf8);
                    let span = self.span(at, at + len);
                    let ch = literal::unescape(&self.text[at + 1..at + len], span).ok()?;
                    self.pos += len;
                    (ch.to_string(), span)
                }
                b'$' if self.at(at + 1) == Some(b'{') => {
                    self.take(2);
                    let e = self.expr()?;
                    self.expect("}")?;
                    parts.push(StrPart::Interp(e));
                    continue;
                }
                _ => {
                    let mut end = at + 1;
                    while let Some(c) = self.at(end) {
                        if matches!(c, b'"' | b'\\' | b'\n')
                            || (c == b'$' && self.at(end + 1) == Some(b'{'))
                        {
                            break;
                        }
                        end += 1;
                    }
                    self.pos = end;
                    (self.text[at..end].to_string(), self.span(at, end))
                }
            };
            match parts.last_mut() {
                Some(StrPart::Text { text: t, span: s }) => {
                    t.push_str(&text);
                    *s = s.to(span);
                }
                _ => parts.push(StrPart::Text { text, span }),
            }
        }
        self.take(1);
        Some(StrLit {
            parts,
            raw: false,
            span: self.since(start),
        })
    }

    /// A `"""..."""` literal at the cursor: its text and the text's span.
    pub(super) fn raw_string(&mut self) -> P<(&'t str, crate::source::Span)> {
        let text = self.text;
        let start = self.pos;
        if !self.b[start..].starts_with(b"\"\"\"") {
            return None;
        }
        let body = start + 3;
        let len = text[body..].find("\"\"\"")?;
        self.take(len + 6);
        Some((&text[body..body + len], self.span(body, body + len)))
    }
}
