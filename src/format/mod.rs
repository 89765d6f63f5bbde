//! `runbook fmt`: one canonical layout for `.upg` files. Two-space indent,
//! one statement per line, expressions with normalized spacing on one line
//! unless wider than `expr::WIDTH` (then brackets break open, one item per
//! line), at most one blank line kept between statements.
//!
//! Comments are not in the tree, so they are interleaved by position: before
//! printing a node, every comment that starts before it is printed on its own
//! line; a comment on the same line right after a node stays at its end.
//! Comments inside a one-line construct (e.g. in a multi-line list) move
//! above it. Meaning never changes: `syntax::strip_spans` of the tree before
//! and after is equal, and formatting twice gives the same text.

mod expr;

use pretty::RcDoc;

use crate::diagnostic::Diagnostic;
use crate::source::{SourceMap, Span};
use crate::syntax::ast::*;

pub use expr::expr as expr_to_string;
use expr::{Doc, WIDTH};

/// Format source text; parse errors come back with the source map they
/// point into, and the text is left alone.
pub fn format_source(name: &str, text: &str) -> Result<String, (SourceMap, Vec<Diagnostic>)> {
    let (sources, parsed) = crate::syntax::parse_str(name, text);
    match parsed {
        Ok(file) => Ok(format_file(&file, text)),
        Err(diags) => Err((sources, diags)),
    }
}

/// Print a parsed file. `source` is the text it was parsed from (used for
/// blank lines and same-line comments); pass "" for a synthesized tree.
pub fn format_file(file: &File, source: &str) -> String {
    let mut p = Printer {
        out: String::new(),
        indent: 0,
        comments: &file.comments,
        next_comment: 0,
        source,
        last_pos: 0,
    };
    for import in &file.imports {
        p.leaf_at(import.span, |p| {
            RcDoc::text(format!("import {}", p.str_lit_plain(&import.path)))
        });
    }
    for item in &file.items {
        match item {
            Item::Runbook(r) => p.runbook(r),
            Item::Gate(g) => p.gate(g),
            Item::Check(c) => p.check(c),
            Item::Environment(e) => p.environment(e),
            Item::Template(t) => p.template(t),
        }
    }
    p.comments_before(usize::MAX, false);
    p.out
}

struct Printer<'a> {
    out: String,
    indent: usize,
    comments: &'a [Comment],
    next_comment: usize,
    source: &'a str,
    /// End of the last source construct printed: blank lines are detected
    /// between it and the next one.
    last_pos: usize,
}

impl Printer<'_> {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// A line that breaks inside brackets when it is wider than `WIDTH`;
    /// continuation lines are indented from this line's indentation.
    fn line_doc(&mut self, doc: Doc) {
        let indent = self.indent * 2;
        let doc = RcDoc::text(" ".repeat(indent)).append(doc.nest(indent as isize));
        let _ = doc.render_fmt(WIDTH, &mut self.out);
        self.out.push('\n');
    }

    /// One blank line if the source had one between `last_pos` and `pos`,
    /// except right after an opening brace or at the top of the file.
    fn blank_before(&mut self, pos: usize) {
        let gap = self.source.get(self.last_pos..pos).unwrap_or("");
        if gap.matches('\n').count() >= 2 && !self.out.is_empty() && !self.out.ends_with("{\n") {
            self.out.push('\n');
        }
    }

    /// Print, each on its own line, the comments that start before `pos`.
    fn comments_before(&mut self, pos: usize, hoisting: bool) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start as usize >= pos {
                break;
            }
            if !hoisting {
                self.blank_before(c.span.start as usize);
            }
            let text = c.text.clone();
            self.line(&text);
            self.next_comment += 1;
            if !hoisting {
                self.last_pos = c.span.end as usize;
            }
        }
    }

    /// Keep a comment that follows `end` on the same line at the line's end.
    fn trailing(&mut self, end: usize) {
        self.last_pos = self.last_pos.max(end);
        if let Some(c) = self.comments.get(self.next_comment) {
            let start = c.span.start as usize;
            let between = self.source.get(end..start);
            if start >= end && between.is_some_and(|b| b.chars().all(|ch| ch == ' ' || ch == '\t'))
            {
                self.out.pop();
                self.out.push_str("  ");
                self.out.push_str(&c.text);
                self.out.push('\n');
                self.next_comment += 1;
                self.last_pos = c.span.end as usize;
            }
        }
    }

    /// Start a node at `start` whose header ends at `header_end`: comments
    /// before it, a kept blank line, then comments inside the header.
    fn open(&mut self, start: usize, header_end: usize) {
        self.comments_before(start, false);
        self.blank_before(start);
        self.comments_before(header_end, true);
        self.last_pos = self.last_pos.max(start);
    }

    /// A node printed on one line, or broken inside its brackets if wide.
    fn leaf(&mut self, start: usize, end: usize, doc: impl FnOnce(&mut Self) -> Doc) {
        self.open(start, end);
        let doc = doc(self);
        self.line_doc(doc);
        self.trailing(end);
    }

    /// A leaf that covers exactly `span`.
    fn leaf_at(&mut self, span: Span, doc: impl FnOnce(&mut Self) -> Doc) {
        self.leaf(span.start as usize, span.end as usize, doc);
    }

    /// One line per condition (preconditions and gates).
    fn conditions(&mut self, conditions: &[Expr]) {
        for c in conditions {
            self.leaf_at(c.span, |_| expr::doc(c));
        }
    }

    /// `header {` ... `}` where `body_start`..`body_end` is the braces' span.
    fn braced(
        &mut self,
        start: usize,
        header: String,
        body_start: usize,
        body_end: usize,
        body: impl FnOnce(&mut Self),
        after_close: &str,
    ) {
        self.open(start, body_start);
        let before = self.open_brace(&header, body_start);
        body(self);
        self.close_brace(Some((before, &header)), body_end, after_close);
    }

    fn open_brace(&mut self, header: &str, body_start: usize) -> usize {
        let before = self.out.len();
        self.line(&format!("{header} {{"));
        self.last_pos = body_start + 1;
        self.indent += 1;
        before
    }

    /// Close a block; an empty one (no statements, no comments) collapses to
    /// `header {}` when `collapse` names where its header line starts.
    fn close_brace(&mut self, collapse: Option<(usize, &str)>, body_end: usize, after_close: &str) {
        self.comments_before(body_end.saturating_sub(1), false);
        self.indent -= 1;
        match collapse {
            Some((before, header)) if self.out.len() == before + self.line_len(header) => {
                self.out.truncate(before);
                self.line(&format!("{header} {{}}{after_close}"));
            }
            _ => self.line(&format!("}}{after_close}")),
        }
        self.last_pos = body_end;
    }

    fn line_len(&self, header: &str) -> usize {
        self.indent * 2 + header.len() + 3
    }

    fn str_lit_plain(&self, s: &str) -> String {
        format!("\"{}\"", crate::syntax::escape(s))
    }

    // -------------------------------------------------------------- items

    fn runbook(&mut self, r: &Runbook) {
        let header = format!(
            "runbook {} {}",
            r.name.name,
            expr::string_to(&r.description)
        );
        let (start, end) = (r.span.start as usize, r.span.end as usize);
        let body_start = r.description.span.end as usize;
        self.braced(
            start,
            header,
            body_start,
            end,
            |p| {
                for item in &r.items {
                    match item {
                        RunbookItem::Param(x) => p.param(x),
                        RunbookItem::Environment(x) => p.environment(x),
                        RunbookItem::Precondition(x) => p.precondition(x),
                        RunbookItem::Gate(x) => p.gate(x),
                        RunbookItem::Check(x) => p.check(x),
                        RunbookItem::Stmt(x) => p.stmt(x),
                    }
                }
            },
            "",
        );
        self.trailing(end);
    }

    fn param(&mut self, x: &Param) {
        self.leaf_at(x.span, |_| {
            let head = RcDoc::text(format!("param {}: {}", x.name.name, type_to_string(&x.ty)));
            match &x.default {
                Some(d) => head.append(" = ").append(expr::doc(d)),
                None => head,
            }
        });
    }

    fn environment(&mut self, x: &Environment) {
        let mut header = format!("environment {}", x.name.name);
        if x.protected {
            header.push_str(" protected");
        }
        if let Some(rb) = &x.runbook {
            header.push_str(" for ");
            header.push_str(&rb.name);
        }
        let body_start =
            self.brace_after(x.runbook.as_ref().map_or(x.name.span.end, |r| r.span.end) as usize);
        let end = x.span.end as usize;
        self.braced(
            x.span.start as usize,
            header,
            body_start,
            end,
            |p| {
                for s in &x.settings {
                    p.leaf_at(s.span, |_| {
                        RcDoc::text(format!("{} = ", s.key.name)).append(expr::doc(&s.value))
                    });
                }
            },
            "",
        );
        self.trailing(end);
    }

    /// Position of the first `{` at or after `from` in the source (0 for a
    /// synthesized tree, which has no source).
    fn brace_after(&self, from: usize) -> usize {
        self.source
            .get(from..)
            .and_then(|rest| rest.find('{'))
            .map_or(from, |i| from + i)
    }

    fn precondition(&mut self, x: &Precondition) {
        let header = format!("precondition {}", expr::string_to(&x.title));
        let body_start = self.brace_after(x.title.span.end as usize);
        let body_end = match &x.else_message {
            Some(m) => self.brace_end_before(m.span.start as usize),
            None => x.span.end as usize,
        };
        let after = match &x.else_message {
            Some(m) => format!(" else {}", expr::string_to(m)),
            None => String::new(),
        };
        self.braced(
            x.span.start as usize,
            header,
            body_start,
            body_end,
            |p| {
                p.conditions(&x.conditions);
            },
            &after,
        );
        self.trailing(x.span.end as usize);
    }

    /// End (exclusive) of the last `}` before `before`.
    fn brace_end_before(&self, before: usize) -> usize {
        self.source
            .get(..before)
            .and_then(|s| s.rfind('}'))
            .map_or(before, |i| i + 1)
    }

    fn template(&mut self, x: &Template) {
        let params: Vec<String> = x
            .params
            .iter()
            .map(|p| {
                let head = format!("{}: {}", p.name.name, type_to_string(&p.ty));
                match &p.default {
                    Some(d) => format!("{head} = {}", expr::expr(d)),
                    None => head,
                }
            })
            .collect();
        let header = format!("template {}({})", x.name.name, params.join(", "));
        let end = x.span.end as usize;
        self.braced(
            x.span.start as usize,
            header,
            x.body.span.start as usize,
            x.body.span.end as usize,
            |p| p.block_body(&x.body),
            "",
        );
        self.trailing(end);
    }

    fn gate(&mut self, x: &GateDecl) {
        let header = format!("gate {}", x.name.name);
        let body_start = self.brace_after(x.name.span.end as usize);
        let end = x.span.end as usize;
        self.braced(
            x.span.start as usize,
            header,
            body_start,
            end,
            |p| {
                p.conditions(&x.conditions);
                if let Some(w) = &x.within {
                    let end = x.every.as_ref().map_or(w.span.end, |e| e.span.end) as usize;
                    p.leaf(w.span.start as usize, end, |_| {
                        let within = RcDoc::text("within ").append(expr::doc(w));
                        match &x.every {
                            Some(e) => within.append(" every ").append(expr::doc(e)),
                            None => within,
                        }
                    });
                }
                if let Some(n) = &x.consecutive {
                    p.leaf_at(n.span, |_| RcDoc::text("consecutive ").append(expr::doc(n)));
                }
            },
            "",
        );
        self.trailing(end);
    }

    fn check(&mut self, x: &CheckDecl) {
        let mut header = format!("check {}", x.name.name);
        if let Some(d) = &x.description {
            header.push(' ');
            header.push_str(&expr::string_to(d));
        }
        let (start, end) = (x.span.start as usize, x.span.end as usize);
        match &x.source {
            CheckSource::File { path, .. } => {
                self.leaf(start, end, |p| {
                    RcDoc::text(format!("{header} from {}", p.str_lit_plain(path)))
                });
            }
            CheckSource::Inline { text, span } => {
                let body_start = self.brace_after(
                    x.description
                        .as_ref()
                        .map_or(x.name.span.end, |d| d.span.end) as usize,
                );
                let text_start = (span.start as usize).saturating_sub(3);
                self.braced(
                    start,
                    header,
                    body_start,
                    end,
                    |p| {
                        p.comments_before(text_start, false);
                        p.line(&format!("\"\"\"{text}\"\"\""));
                        p.last_pos = span.end as usize + 3;
                    },
                    "",
                );
                self.trailing(end);
            }
        }
    }

    // -------------------------------------------------------------- statements

    fn block_body(&mut self, b: &Block) {
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let (start, end) = (s.span.start as usize, s.span.end as usize);
        match &s.kind {
            StmtKind::Step(step) => self.step(step),
            StmtKind::For {
                var,
                iter,
                limit,
                body,
            } => {
                let header = match limit {
                    None => format!("for {} in {}", var.name, expr::expr(iter)),
                    Some(n) => format!(
                        "parallel for {} in {} limit {}",
                        var.name,
                        expr::expr(iter),
                        expr::expr(n)
                    ),
                };
                self.braced(
                    start,
                    header,
                    body.span.start as usize,
                    body.span.end as usize,
                    |p| p.block_body(body),
                    "",
                );
                self.trailing(end);
            }
            StmtKind::If {
                branches,
                otherwise,
            } => self.if_stmt(start, end, branches, otherwise.as_ref()),
            _ => self.leaf(start, end, |_| simple_stmt(&s.kind)),
        }
    }

    fn if_stmt(
        &mut self,
        start: usize,
        end: usize,
        branches: &[(Expr, Block)],
        otherwise: Option<&Block>,
    ) {
        let (first_cond, first_body) = &branches[0];
        self.open(start, first_body.span.start as usize);
        let header = format!("if {}", expr::expr(first_cond));
        let before = self.open_brace(&header, first_body.span.start as usize);
        self.block_body(first_body);
        let mut last = first_body;
        let rest = branches[1..]
            .iter()
            .map(|(c, b)| (format!("}} else if {} {{", expr::expr(c)), b))
            .chain(otherwise.map(|b| ("} else {".to_string(), b)));
        let mut single = true;
        for (line, body) in rest {
            single = false;
            // Comments between two branches end up in the next branch.
            self.comments_before((last.span.end as usize).saturating_sub(1), false);
            self.indent -= 1;
            self.line(&line);
            self.indent += 1;
            self.last_pos = body.span.start as usize + 1;
            self.block_body(body);
            last = body;
        }
        let collapse = single.then_some((before, header.as_str()));
        self.close_brace(collapse, last.span.end as usize, "");
        self.trailing(end);
    }

    fn step(&mut self, x: &Step) {
        let mut header = format!("step {}", expr::string_to(&x.title));
        if x.irreversible {
            header.push_str(" irreversible");
        }
        if let Some(w) = &x.when {
            header.push_str(" when ");
            header.push_str(&expr::expr(w));
        }
        if !x.during.is_empty() {
            header.push_str(" during ");
            let names: Vec<&str> = x.during.iter().map(|g| g.name.as_str()).collect();
            header.push_str(&names.join(", "));
        }
        if let Some(t) = &x.timeout {
            header.push_str(" timeout ");
            header.push_str(&expr::expr(t));
        }
        if let Some(r) = &x.retry {
            header.push_str(" retry ");
            header.push_str(&expr::expr(&r.times));
            if let Some(e) = &r.every {
                header.push_str(" every ");
                header.push_str(&expr::expr(e));
            }
        }
        let end = x.span.end as usize;
        self.braced(
            x.span.start as usize,
            header,
            x.body.span.start as usize,
            x.body.span.end as usize,
            |p| {
                p.block_body(&x.body);
                if let Some(rb) = &x.rollback {
                    let rb_start = p.rollback_start(rb);
                    p.braced(
                        rb_start,
                        "rollback".to_string(),
                        rb.span.start as usize,
                        rb.span.end as usize,
                        |p| p.block_body(rb),
                        "",
                    );
                    p.trailing(rb.span.end as usize);
                }
            },
            "",
        );
        self.trailing(end);
    }

    /// Where the `rollback` keyword starts (the block span starts at `{`).
    fn rollback_start(&self, rb: &Block) -> usize {
        let brace = rb.span.start as usize;
        self.source
            .get(..brace)
            .and_then(|s| s.rfind("rollback"))
            .unwrap_or(brace)
    }
}

fn simple_stmt(kind: &StmtKind) -> Doc {
    let keyword = |kw: &str, e: &Expr| RcDoc::text(format!("{kw} ")).append(expr::doc(e));
    match kind {
        StmtKind::Let { name, value } => keyword(&format!("let {} =", name.name), value),
        StmtKind::Gate(g) => RcDoc::text(format!("gate {}", g.name)),
        StmtKind::Use { name, args } => {
            RcDoc::text(format!("use {}", name.name)).append(expr::call_args(args))
        }
        StmtKind::Await {
            condition,
            within,
            every,
        } => {
            let d = keyword("await", condition)
                .append(" within ")
                .append(expr::doc(within));
            match every {
                Some(e) => d.append(" every ").append(expr::doc(e)),
                None => d,
            }
        }
        StmtKind::Pause(e) => keyword("pause", e),
        StmtKind::Confirm(e) => keyword("confirm", e),
        StmtKind::Log(e) => keyword("log", e),
        StmtKind::Keep(e) => keyword("keep", e),
        StmtKind::Fail(e) => keyword("fail", e),
        StmtKind::Expr(e) => expr::doc(e),
        StmtKind::Step(_) | StmtKind::For { .. } | StmtKind::If { .. } => {
            unreachable!("compound statements are printed by Printer::stmt")
        }
    }
}

pub fn type_to_string(t: &Type) -> String {
    match &t.kind {
        TypeKind::String => "string".into(),
        TypeKind::Int => "int".into(),
        TypeKind::Bool => "bool".into(),
        TypeKind::Duration => "duration".into(),
        TypeKind::Version => "version".into(),
        TypeKind::Secret => "secret".into(),
        TypeKind::List(None) => "list".into(),
        TypeKind::List(Some(inner)) => format!("list<{}>", type_to_string(inner)),
        TypeKind::Map(None) => "map".into(),
        TypeKind::Map(Some(inner)) => format!("map<{}>", type_to_string(inner)),
    }
}
