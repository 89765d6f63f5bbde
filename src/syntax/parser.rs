//! pest pairs → `ast`. The builder never stops at the first bad literal: it
//! records a diagnostic, substitutes a placeholder and carries on, so one run
//! reports every bad duration or escape in a file.

use std::cell::RefCell;

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, SourceMap, Span};

use super::ast::*;
use super::literal;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/upg.pest"]
pub struct UpgParser;

/// How many pieces before a failed one its error's detail is parsed with:
/// an alternative that fails further on than the piece after it is an
/// attempt at a construct this long, so a few suffice.
const RETRY_PIECES: usize = 16;

/// Parse one file of `sources` into its AST: the grammar's own answer, with
/// every diagnostic.
pub fn parse_file(sources: &SourceMap, file: FileId) -> Result<File, Vec<Diagnostic>> {
    match parse_file_partial(sources, file) {
        (Some(ast), errors) if errors.is_empty() => Ok(ast),
        (_, errors) => Err(errors),
    }
}

/// Parse one file, keeping the tree when only the AST builder found errors
/// (a bad duration, an unknown type: the node holds a placeholder), so a
/// checker can still report the rest of the file in the same run. `None`
/// on a syntax error, where there is no tree.
pub fn parse_file_partial(sources: &SourceMap, file: FileId) -> (Option<File>, Vec<Diagnostic>) {
    match parse_tree(sources, file) {
        Ok((ast, errors)) => (Some(ast), errors),
        Err(errors) => (None, errors),
    }
}

fn parse_tree(
    sources: &SourceMap,
    file: FileId,
) -> Result<(File, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = sources.get(file).text.as_str();
    super::depth::check_nesting(file, text).map_err(|d| vec![d])?;
    let mut b = Builder {
        file,
        text,
        base: 0,
        next: 0,
        trail: Vec::new(),
        comments: Vec::new(),
        errors: RefCell::new(Vec::new()),
    };
    let mut imports = Vec::new();
    let mut items = Vec::new();
    loop {
        let rule = if items.is_empty() {
            Rule::head_piece
        } else {
            Rule::item_piece
        };
        let Some(p) = b.piece(rule)? else { break };
        match p.as_rule() {
            Rule::import => imports.push(b.import(p)),
            Rule::runbook_open => {
                let open = b.span(&p);
                let mut it = kids(p);
                let name = b.ident(it.next().expect("runbook name"));
                let description = b.string(it.next().expect("runbook description"));
                let mut body = Vec::new();
                b.trail = vec![b.base];
                while let Some(p) = b.piece(Rule::runbook_piece)? {
                    body.push(b.runbook_item(p));
                }
                b.trail = vec![b.base];
                // The piece that ended the loop was the closing `}`.
                let span = Span::new(file, open.start as usize, b.next);
                items.push(Item::Runbook(Runbook {
                    doc: b.doc(span.start as usize),
                    name,
                    description,
                    items: body,
                    span,
                }));
            }
            Rule::gate_decl => items.push(Item::Gate(b.gate_decl(p))),
            Rule::check_decl => items.push(Item::Check(b.check_decl(p))),
            Rule::environment => items.push(Item::Environment(b.environment(p))),
            Rule::template => items.push(Item::Template(b.template(p))),
            r => unreachable!("file item {r:?}"),
        }
    }
    let span = trim_span(text, &b.comments, Span::new(file, 0, text.len()));
    let ast = File {
        file,
        imports,
        items,
        comments: b.comments.clone(),
        span,
    };
    Ok((ast, b.errors.into_inner()))
}

/// `parse` with pest's tracking of every attempted token on. The switch is
/// process-wide: one detailed parse at a time, so no thread turns it off
/// under another.
pub(super) fn detailed<T>(parse: impl FnOnce() -> T) -> T {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    pest::set_error_detail(true);
    let out = parse();
    pest::set_error_detail(false);
    out
}

/// `span` without trailing whitespace and without comments that end it.
pub(super) fn trim_span(text: &str, comments: &[Comment], mut span: Span) -> Span {
    loop {
        let text = &text[span.start as usize..span.end as usize];
        let trimmed = text.trim_end_matches([' ', '\t', '\r', '\n']);
        span.end = span.start + trimmed.len() as u32;
        let ends_in_comment = comments
            .binary_search_by_key(&span.end, |c| c.span.end)
            .ok()
            .map(|i| comments[i].span.start)
            .filter(|start| *start >= span.start);
        match ends_in_comment {
            Some(start) if start > span.start => span.end = start,
            _ => return span,
        }
    }
}

/// The `///` lines directly above byte `start`, with only whitespace
/// between them and the item. `comments` are sorted by position.
pub(super) fn doc_before(text: &str, comments: &[Comment], start: usize) -> Option<Doc> {
    let mut idx = comments.partition_point(|c| (c.span.end as usize) <= start);
    let mut cursor = start;
    let mut lines = Vec::new();
    let mut first: Option<Span> = None;
    let mut last: Option<Span> = None;
    while idx > 0 {
        let c = &comments[idx - 1];
        let gap = &text[c.span.end as usize..cursor];
        if !c.is_doc() || !gap.trim().is_empty() || gap.matches('\n').count() > 1 {
            break;
        }
        let body = &c.text[3..];
        lines.push(body.strip_prefix(' ').unwrap_or(body).to_string());
        last.get_or_insert(c.span);
        first = Some(c.span);
        cursor = c.span.start as usize;
        idx -= 1;
    }
    let (first, last) = (first?, last?);
    lines.reverse();
    Some(Doc {
        text: lines.join("\n"),
        span: first.to(last),
    })
}

/// Children that carry meaning: comments and keyword tokens are skipped.
pub(super) fn kids<'i>(p: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    p.into_inner().filter(|c| !is_noise(c.as_rule()))
}

fn is_noise(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::comment
            | Rule::kw_runbook
            | Rule::kw_import
            | Rule::kw_param
            | Rule::kw_environment
            | Rule::kw_precondition
            | Rule::kw_else
            | Rule::kw_gate
            | Rule::kw_within
            | Rule::kw_timeout
            | Rule::kw_retry
            | Rule::kw_template
            | Rule::kw_use
            | Rule::kw_every
            | Rule::kw_consecutive
            | Rule::kw_check
            | Rule::kw_from
            | Rule::kw_step
            | Rule::kw_when
            | Rule::kw_during
            | Rule::kw_rollback
            | Rule::kw_let
            | Rule::kw_for
            | Rule::kw_parallel
            | Rule::kw_limit
            | Rule::kw_in
            | Rule::kw_if
            | Rule::kw_await
            | Rule::kw_pause
            | Rule::kw_confirm
            | Rule::kw_log
            | Rule::kw_fail
            | Rule::kw_keep
    )
}

pub(super) struct Builder<'t> {
    pub(super) file: FileId,
    pub(super) text: &'t str,
    /// Where the piece being built starts in `text` (see `piece`).
    base: usize,
    next: usize,
    /// Where the last few pieces of the same list (a file's items, a
    /// runbook's) start: an error's detail is parsed again from there.
    trail: Vec<usize>,
    pub(super) comments: Vec<Comment>,
    pub(super) errors: RefCell<Vec<Diagnostic>>,
}

impl<'t> Builder<'t> {
    /// The pair's span without trailing whitespace and comments: pest's
    /// implicit whitespace before an optional or repeated tail that then
    /// matches nothing still ends up inside the pair.
    pub(super) fn span(&self, p: &Pair<Rule>) -> Span {
        trim_span(self.text, &self.comments, self.span_of(p))
    }

    /// The pair's span in the file, trailing blanks included.
    pub(super) fn span_of(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.base + s.start(), self.base + s.end())
    }

    /// The error of a piece that did not parse, with what was expected.
    /// Tracking every attempted token slows every parse several times over,
    /// so only the failed piece is parsed again with it, together with the
    /// pieces before it in `trail` (grammar/upg.pest says why).
    fn piece_error(&self, rule: Rule) -> Diagnostic {
        let (retry, from) = match (rule, self.trail.first(), self.trail.last()) {
            (_, None, _) => (rule, self.base),
            (Rule::head_piece, Some(first), _) => (Rule::head_retry, *first),
            (Rule::item_piece, _, Some(last)) => (Rule::item_retry, *last),
            (_, Some(first), _) => (Rule::runbook_retry, *first),
        };
        match detailed(|| UpgParser::parse(retry, &self.text[from..])) {
            Err(e) => super::error::from_pest(self.file, self.text, from, e),
            // pest is deterministic, so this cannot happen; still no panic.
            Ok(_) => Diagnostic::error("UPG001", "syntax error"),
        }
    }

    fn import(&self, p: Pair<Rule>) -> Import {
        let span = self.span(&p);
        let s = self.string(kids(p).next().expect("import path"));
        let path = s.as_plain().unwrap_or_else(|| {
            self.error(
                Diagnostic::error("UPG001", "an import path cannot interpolate")
                    .with_label(s.span, "interpolation here")
                    .with_help("write the path literally, e.g. `import \"./common\"`"),
            );
            String::new()
        });
        Import {
            path,
            path_span: s.span,
            span,
        }
    }

    pub(super) fn error(&self, d: Diagnostic) {
        self.errors.borrow_mut().push(d);
    }

    /// Parse the next piece of the file (a grammar rule `*_piece`) and keep
    /// its comments. Its item, or `None` for the end of the file or a
    /// runbook's closing `}`. Until the next call, `base` is where the piece
    /// starts: its pairs' spans are relative to it.
    fn piece(&mut self, rule: Rule) -> Result<Option<Pair<'t, Rule>>, Vec<Diagnostic>> {
        let text = self.text;
        self.base = self.next;
        let rest = &text[self.base..];
        let piece = match UpgParser::parse(rule, rest) {
            Ok(mut pairs) => pairs.next().expect("pest returns the piece's rule"),
            Err(_) => return Err(vec![self.piece_error(rule)]),
        };
        if self.trail.len() == RETRY_PIECES {
            self.trail.remove(0);
        }
        self.trail.push(self.base);
        let start = self.comments.len();
        for p in piece.clone().into_inner().flatten() {
            if p.as_rule() == Rule::comment {
                // Trailing blanks belong to no token: a span that ends in
                // this comment must be recognisable by where its text ends.
                let body = p.as_str().trim_end();
                let at = self.base + p.as_span().start();
                self.comments.push(Comment {
                    text: body.to_string(),
                    span: Span::new(self.file, at, at + body.len()),
                });
            }
        }
        self.comments[start..].sort_by_key(|c| c.span.start);
        let item = kids(piece.clone()).find(|p| p.as_rule() != Rule::EOI);
        self.next = self.base + piece.as_span().end();
        Ok(item)
    }

    fn doc(&self, start: usize) -> Option<Doc> {
        doc_before(self.text, &self.comments, start)
    }

    pub(super) fn ident(&self, p: Pair<Rule>) -> Ident {
        if p.as_rule() == Rule::ident && super::error::KEYWORDS.contains(&p.as_str()) {
            self.error(
                Diagnostic::error(
                    "UPG001",
                    format!("`{}` is a keyword and cannot be used as a name", p.as_str()),
                )
                .with_label(self.span(&p), "keyword")
                .with_help(
                    "keywords are reserved (docs/language.md lists them); pick another name",
                ),
            );
        }
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn runbook_item(&self, p: Pair<Rule>) -> RunbookItem {
        match p.as_rule() {
            Rule::param => RunbookItem::Param(self.param(p)),
            Rule::environment => RunbookItem::Environment(self.environment(p)),
            Rule::precondition => RunbookItem::Precondition(self.precondition(p)),
            Rule::gate_decl => RunbookItem::Gate(self.gate_decl(p)),
            Rule::check_decl => RunbookItem::Check(self.check_decl(p)),
            _ => RunbookItem::Stmt(self.stmt(p)),
        }
    }

    fn param(&self, p: Pair<Rule>) -> Param {
        let span = self.span(&p);
        let mut it = kids(p);
        let name = self.ident(it.next().expect("param name"));
        let ty = self.type_expr(it.next().expect("param type"));
        let default = it.next().map(|e| self.expr(e));
        Param {
            doc: self.doc(span.start as usize),
            name,
            ty,
            default,
            span,
        }
    }

    fn type_expr(&self, p: Pair<Rule>) -> Type {
        let span = self.span(&p);
        let mut it = kids(p);
        let name = it.next().expect("type name");
        let name_span = self.span(&name);
        let arg = it.next().map(|t| Box::new(self.type_expr(t)));
        let has_arg = arg.is_some();
        let kind = TypeKind::from_name(name.as_str(), arg).unwrap_or_else(|| {
            let n = name.as_str();
            if has_arg && TypeKind::from_name(n, None).is_some() {
                self.error(
                    Diagnostic::error("UPG009", format!("type `{n}` takes no parameter"))
                        .with_label(span, "remove `<...>`")
                        .with_help("only `list<T>` and `map<T>` take a parameter"),
                );
            } else {
                self.error(
                    Diagnostic::error("UPG009", format!("unknown type `{n}`"))
                        .with_label(name_span, "not a type")
                        .with_help("types: string, int, bool, duration, version, secret, list, list<T>, map, map<T>"),
                );
            }
            TypeKind::String
        });
        Type { kind, span }
    }

    fn environment(&self, p: Pair<Rule>) -> Environment {
        let span = self.span(&p);
        let mut it = kids(p).peekable();
        let name = self.ident(it.next().expect("environment name"));
        let mut protected = false;
        let mut runbook = None;
        let mut settings = Vec::new();
        for c in it {
            match c.as_rule() {
                Rule::protected => protected = true,
                Rule::env_for => runbook = Some(self.ident(kids(c).next().expect("runbook name"))),
                Rule::setting => {
                    let sspan = self.span(&c);
                    let mut s = kids(c);
                    let key = self.ident(s.next().expect("setting key"));
                    let value = self.expr(s.next().expect("setting value"));
                    settings.push(Setting {
                        key,
                        value,
                        span: sspan,
                    });
                }
                r => unreachable!("environment child {r:?}"),
            }
        }
        Environment {
            doc: self.doc(span.start as usize),
            name,
            protected,
            runbook,
            settings,
            span,
        }
    }

    fn precondition(&self, p: Pair<Rule>) -> Precondition {
        let span = self.span(&p);
        let mut it = kids(p);
        let title = self.string(it.next().expect("precondition title"));
        let mut conditions = Vec::new();
        let mut else_message = None;
        for c in it {
            match c.as_rule() {
                Rule::else_message => {
                    else_message = Some(self.string(kids(c).next().expect("else message")))
                }
                _ => conditions.push(self.expr(c)),
            }
        }
        Precondition {
            doc: self.doc(span.start as usize),
            title,
            conditions,
            else_message,
            span,
        }
    }

    fn template(&self, p: Pair<Rule>) -> Template {
        let span = self.span(&p);
        let mut it = kids(p);
        let name = self.ident(it.next().expect("template name"));
        let params = kids(it.next().expect("template parameters"))
            .map(|p| self.param(p))
            .collect();
        let body = self.block(it.next().expect("template body"));
        Template {
            doc: self.doc(span.start as usize),
            name,
            params,
            body,
            span,
        }
    }

    fn gate_decl(&self, p: Pair<Rule>) -> GateDecl {
        let span = self.span(&p);
        let mut it = kids(p);
        let name = self.ident(it.next().expect("gate name"));
        let mut gate = GateDecl {
            doc: self.doc(span.start as usize),
            name,
            conditions: Vec::new(),
            within: None,
            every: None,
            consecutive: None,
            span,
        };
        for c in it {
            let cspan = self.span(&c);
            match c.as_rule() {
                Rule::within_clause => {
                    let mut w = kids(c);
                    let within = self.expr(w.next().expect("within duration"));
                    let every = w.next().map(|e| self.every(e));
                    self.set_once(&mut gate.within, within, cspan, "within");
                    if let Some(every) = every {
                        self.set_once(&mut gate.every, every, cspan, "every");
                    }
                }
                Rule::consecutive_clause => {
                    let n = self.expr(kids(c).next().expect("consecutive count"));
                    self.set_once(&mut gate.consecutive, n, cspan, "consecutive");
                }
                _ => gate.conditions.push(self.expr(c)),
            }
        }
        gate
    }

    pub(super) fn every(&self, p: Pair<Rule>) -> Expr {
        self.expr(kids(p).next().expect("every duration"))
    }

    pub(super) fn set_once<T>(&self, slot: &mut Option<T>, value: T, span: Span, what: &str) {
        if slot.is_some() {
            self.error(
                Diagnostic::error("UPG009", format!("`{what}` given twice"))
                    .with_label(span, format!("second `{what}`"))
                    .with_help(format!("keep one `{what}` clause")),
            );
        } else {
            *slot = Some(value);
        }
    }

    fn check_decl(&self, p: Pair<Rule>) -> CheckDecl {
        let span = self.span(&p);
        let mut it = kids(p);
        let name = self.ident(it.next().expect("check name"));
        let mut description = None;
        let mut source = None;
        for c in it {
            match c.as_rule() {
                Rule::string | Rule::raw_string => description = Some(self.string(c)),
                Rule::check_from => {
                    let s = self.string(kids(c).next().expect("check path"));
                    let path = s.as_plain().unwrap_or_default();
                    source = Some(CheckSource::File {
                        path,
                        path_span: s.span,
                        file: None,
                    });
                }
                Rule::check_inline => {
                    let raw = kids(c).next().expect("inline rhai");
                    let text = kids(raw).next().expect("raw text");
                    source = Some(CheckSource::Inline {
                        text: text.as_str().to_string(),
                        span: self.span_of(&text),
                    });
                }
                r => unreachable!("check child {r:?}"),
            }
        }
        CheckDecl {
            doc: self.doc(span.start as usize),
            name,
            description,
            source: source.expect("grammar requires a check body"),
            span,
        }
    }

    // -------------------------------------------------------------- statements

    fn block(&self, p: Pair<Rule>) -> Block {
        let span = self.span(&p);
        Block {
            stmts: kids(p).map(|s| self.stmt(s)).collect(),
            span,
        }
    }

    fn stmt(&self, p: Pair<Rule>) -> Stmt {
        let span = self.span(&p);
        let rule = p.as_rule();
        let kind = match rule {
            Rule::step => StmtKind::Step(self.step(p)),
            Rule::let_stmt => {
                let mut it = kids(p);
                StmtKind::Let {
                    name: self.ident(it.next().expect("let name")),
                    value: self.expr(it.next().expect("let value")),
                }
            }
            Rule::for_stmt => {
                let mut it = kids(p);
                StmtKind::For {
                    var: self.ident(it.next().expect("for variable")),
                    iter: self.expr(it.next().expect("for iterable")),
                    limit: None,
                    body: self.block(it.next().expect("for body")),
                }
            }
            Rule::parallel_for => {
                let mut it = kids(p);
                StmtKind::For {
                    var: self.ident(it.next().expect("for variable")),
                    iter: self.expr(it.next().expect("for iterable")),
                    limit: Some(self.expr(it.next().expect("parallel limit"))),
                    body: self.block(it.next().expect("for body")),
                }
            }
            Rule::if_stmt => {
                let mut branches = Vec::new();
                let mut otherwise = None;
                let mut it = kids(p);
                while let Some(c) = it.next() {
                    if c.as_rule() == Rule::else_block {
                        otherwise = Some(self.block(kids(c).next().expect("else body")));
                    } else {
                        let cond = self.expr(c);
                        let body = self.block(it.next().expect("if body"));
                        branches.push((cond, body));
                    }
                }
                StmtKind::If {
                    branches,
                    otherwise,
                }
            }
            Rule::gate_stmt => StmtKind::Gate(self.ident(kids(p).next().expect("gate name"))),
            Rule::use_stmt => {
                let mut it = kids(p);
                let name = self.ident(it.next().expect("template name"));
                let (args, _) = self.args(it.next().expect("template arguments"));
                StmtKind::Use { name, args }
            }
            Rule::await_stmt => {
                let mut it = kids(p);
                StmtKind::Await {
                    condition: self.expr(it.next().expect("await condition")),
                    within: self.expr(it.next().expect("await within")),
                    every: it.next().map(|e| self.every(e)),
                }
            }
            Rule::pause_stmt
            | Rule::confirm_stmt
            | Rule::log_stmt
            | Rule::fail_stmt
            | Rule::keep_stmt
            | Rule::expr_stmt => {
                let e = self.expr(kids(p).next().expect("statement expression"));
                match rule {
                    Rule::pause_stmt => StmtKind::Pause(e),
                    Rule::confirm_stmt => StmtKind::Confirm(e),
                    Rule::log_stmt => StmtKind::Log(e),
                    Rule::fail_stmt => StmtKind::Fail(e),
                    Rule::keep_stmt => StmtKind::Keep(e),
                    _ => StmtKind::Expr(e),
                }
            }
            r => unreachable!("statement {r:?}"),
        };
        Stmt { kind, span }
    }

    fn step(&self, p: Pair<Rule>) -> Step {
        let span = self.span(&p);
        let mut it = kids(p);
        let title = self.string(it.next().expect("step title"));
        let id = literal::slug(&title.template(|e| self.slice(e.span).to_string()));
        let mut irreversible = false;
        let mut when = None;
        let mut during: Vec<Ident> = Vec::new();
        let mut timeout = None;
        let mut retry = None;
        let mut body = None;
        let mut rollback = None;
        for c in it {
            let cspan = self.span(&c);
            match c.as_rule() {
                Rule::irreversible => {
                    if irreversible {
                        self.duplicate(cspan, "irreversible");
                    }
                    irreversible = true;
                }
                Rule::when_clause => {
                    let e = self.expr(kids(c).next().expect("when condition"));
                    self.set_once(&mut when, e, cspan, "when");
                }
                Rule::during_clause => {
                    if !during.is_empty() {
                        self.duplicate(cspan, "during");
                    }
                    during.extend(kids(c).map(|g| self.ident(g)));
                }
                Rule::timeout_clause => {
                    let e = self.expr(kids(c).next().expect("timeout duration"));
                    self.set_once(&mut timeout, Box::new(e), cspan, "timeout");
                }
                Rule::retry_clause => {
                    let mut k = kids(c);
                    let times = self.expr(k.next().expect("retry count"));
                    let every = k
                        .next()
                        .map(|e| self.expr(kids(e).next().expect("retry interval")));
                    let r = Retry {
                        times,
                        every,
                        span: cspan,
                    };
                    self.set_once(&mut retry, Box::new(r), cspan, "retry");
                }
                Rule::step_body => {
                    let bspan = self.span(&c);
                    let mut stmts = Vec::new();
                    for s in kids(c) {
                        if s.as_rule() == Rule::rollback {
                            rollback = Some(self.block(kids(s).next().expect("rollback body")));
                        } else {
                            stmts.push(self.stmt(s));
                        }
                    }
                    body = Some(Block { stmts, span: bspan });
                }
                r => unreachable!("step child {r:?}"),
            }
        }
        Step {
            doc: self.doc(span.start as usize),
            title,
            id,
            irreversible,
            when,
            during,
            timeout,
            retry,
            body: body.expect("grammar requires a step body"),
            rollback,
            span,
        }
    }

    fn duplicate(&self, span: Span, what: &str) {
        self.error(
            Diagnostic::error("UPG009", format!("`{what}` given twice"))
                .with_label(span, "repeated here")
                .with_help(format!("keep one `{what}`")),
        );
    }

    pub(super) fn slice(&self, span: Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }
}

#[cfg(test)]
mod noise_tests {
    use super::*;

    /// A keyword token is never a child the AST builder reads: a new
    /// keyword missing from `is_noise` would be taken for the expression
    /// after it (a panic, found once for `timeout`).
    #[test]
    fn every_keyword_token_is_noise() {
        for rule in Rule::all_rules() {
            if format!("{rule:?}").starts_with("kw_") {
                assert!(is_noise(*rule), "{rule:?} is missing from is_noise");
            }
        }
    }
}
