//! pest pairs → `ast`. The builder never stops at the first bad literal: it
//! records a diagnostic, substitutes a placeholder and carries on, so one run
//! reports every bad duration or escape in a file.

use std::cell::RefCell;
use std::sync::LazyLock;

use pest::Parser as _;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, SourceMap, Span};

use super::ast::*;
use super::literal;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/upg.pest"]
pub struct UpgParser;

/// Deepest expression tree the builder accepts. Long operator chains and
/// member chains nest without brackets, so the bracket pre-scan cannot see
/// them; later stages recurse over the tree and must not overflow.
pub const MAX_EXPR_DEPTH: u32 = 200;

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

/// Parse one file of `sources` into its AST.
pub fn parse_file(sources: &SourceMap, file: FileId) -> Result<File, Vec<Diagnostic>> {
    let text = sources.get(file).text.as_str();
    super::depth::check_nesting(file, text).map_err(|d| vec![d])?;
    pest::set_error_detail(true);
    let mut pairs = UpgParser::parse(Rule::file, text)
        .map_err(|e| vec![super::error::from_pest(file, text, e)])?;
    let root = pairs.next().expect("pest returns the file rule");
    let mut comments: Vec<Comment> = root
        .clone()
        .into_inner()
        .flatten()
        .filter(|p| p.as_rule() == Rule::COMMENT)
        .map(|p| Comment {
            text: p.as_str().trim_end().to_string(),
            span: span_of(file, &p),
        })
        .collect();
    comments.sort_by_key(|c| c.span.start);
    let builder = Builder {
        file,
        text,
        comments,
        errors: RefCell::new(Vec::new()),
    };
    let ast = builder.file(root);
    let errors = builder.errors.into_inner();
    if errors.is_empty() {
        Ok(ast)
    } else {
        Err(errors)
    }
}

fn span_of(file: FileId, p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    Span::new(file, s.start(), s.end())
}

/// Children that carry meaning: comments and keyword tokens are skipped.
fn kids<'i>(p: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    p.into_inner().filter(|c| !is_noise(c.as_rule()))
}

fn is_noise(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::COMMENT
            | Rule::kw_runbook
            | Rule::kw_import
            | Rule::kw_param
            | Rule::kw_environment
            | Rule::kw_precondition
            | Rule::kw_else
            | Rule::kw_gate
            | Rule::kw_within
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
            | Rule::kw_in
            | Rule::kw_if
            | Rule::kw_await
            | Rule::kw_pause
            | Rule::kw_confirm
            | Rule::kw_log
            | Rule::kw_fail
    )
}

struct Builder<'t> {
    file: FileId,
    text: &'t str,
    comments: Vec<Comment>,
    errors: RefCell<Vec<Diagnostic>>,
}

impl Builder<'_> {
    /// The pair's span without trailing whitespace and comments: pest's
    /// implicit whitespace before an optional or repeated tail that then
    /// matches nothing still ends up inside the pair.
    fn span(&self, p: &Pair<Rule>) -> Span {
        let mut span = span_of(self.file, p);
        loop {
            let text = &self.text[span.start as usize..span.end as usize];
            let trimmed = text.trim_end_matches([' ', '\t', '\r', '\n']);
            span.end = span.start + trimmed.len() as u32;
            let ends_in_comment = self
                .comments
                .binary_search_by_key(&span.end, |c| c.span.end)
                .ok()
                .map(|i| self.comments[i].span.start)
                .filter(|start| *start >= span.start);
            match ends_in_comment {
                Some(start) if start > span.start => span.end = start,
                _ => return span,
            }
        }
    }

    fn error(&self, d: Diagnostic) {
        self.errors.borrow_mut().push(d);
    }

    fn file(&self, root: Pair<Rule>) -> File {
        let span = self.span(&root);
        let mut imports = Vec::new();
        let mut items = Vec::new();
        for p in kids(root) {
            match p.as_rule() {
                Rule::import => {
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
                    imports.push(Import {
                        path,
                        path_span: s.span,
                        span,
                    });
                }
                Rule::runbook => items.push(Item::Runbook(self.runbook(p))),
                Rule::gate_decl => items.push(Item::Gate(self.gate_decl(p))),
                Rule::check_decl => items.push(Item::Check(self.check_decl(p))),
                Rule::environment => items.push(Item::Environment(self.environment(p))),
                Rule::EOI => {}
                r => unreachable!("file item {r:?}"),
            }
        }
        File {
            file: self.file,
            imports,
            items,
            comments: self.comments.clone(),
            span,
        }
    }

    /// The `///` lines directly above byte `start`, with only whitespace
    /// between them and the item.
    fn doc(&self, start: usize) -> Option<Doc> {
        let mut idx = self
            .comments
            .partition_point(|c| (c.span.end as usize) <= start);
        let mut cursor = start;
        let mut lines = Vec::new();
        let mut first: Option<Span> = None;
        let mut last: Option<Span> = None;
        while idx > 0 {
            let c = &self.comments[idx - 1];
            let gap = &self.text[c.span.end as usize..cursor];
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

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn runbook(&self, p: Pair<Rule>) -> Runbook {
        let span = self.span(&p);
        let mut it = kids(p);
        let name = self.ident(it.next().expect("runbook name"));
        let description = self.string(it.next().expect("runbook description"));
        let items = it.map(|p| self.runbook_item(p)).collect();
        Runbook {
            doc: self.doc(span.start as usize),
            name,
            description,
            items,
            span,
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
        let kind = match (name.as_str(), arg) {
            ("string", None) => TypeKind::String,
            ("int", None) => TypeKind::Int,
            ("bool", None) => TypeKind::Bool,
            ("duration", None) => TypeKind::Duration,
            ("version", None) => TypeKind::Version,
            ("list", arg) => TypeKind::List(arg),
            ("map", arg) => TypeKind::Map(arg),
            (n @ ("string" | "int" | "bool" | "duration" | "version"), Some(_)) => {
                self.error(
                    Diagnostic::error("UPG009", format!("type `{n}` takes no parameter"))
                        .with_label(span, "remove `<...>`")
                        .with_help("only `list<T>` and `map<T>` take a parameter"),
                );
                TypeKind::String
            }
            (other, _) => {
                self.error(
                    Diagnostic::error("UPG009", format!("unknown type `{other}`"))
                        .with_label(name_span, "not a type")
                        .with_help("types: string, int, bool, duration, version, list, list<T>, map, map<T>"),
                );
                TypeKind::String
            }
        };
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

    fn every(&self, p: Pair<Rule>) -> Expr {
        self.expr(kids(p).next().expect("every duration"))
    }

    fn set_once<T>(&self, slot: &mut Option<T>, value: T, span: Span, what: &str) {
        if slot.is_some() {
            self.error(
                Diagnostic::error("UPG009", format!("`{what}` given twice"))
                    .with_label(span, "second `{what}`")
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
                        span: span_of(self.file, &text),
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
            | Rule::expr_stmt => {
                let e = self.expr(kids(p).next().expect("statement expression"));
                match rule {
                    Rule::pause_stmt => StmtKind::Pause(e),
                    Rule::confirm_stmt => StmtKind::Confirm(e),
                    Rule::log_stmt => StmtKind::Log(e),
                    Rule::fail_stmt => StmtKind::Fail(e),
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

    fn slice(&self, span: Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }

    // -------------------------------------------------------------- expressions

    fn expr(&self, p: Pair<Rule>) -> Expr {
        self.expr_depth(p).0
    }

    /// Build an expression and report its tree depth.
    fn expr_depth(&self, p: Pair<Rule>) -> (Expr, u32) {
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
            let span = e.span;
            return (
                Expr {
                    kind: ExprKind::Bool(false),
                    span,
                },
                1,
            );
        }
        (e, depth)
    }

    fn postfix_expr(&self, p: Pair<Rule>) -> (Expr, u32) {
        let mut it = kids(p);
        let (mut expr, mut depth) = self.primary(it.next().expect("primary"));
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

    fn args(&self, p: Pair<Rule>) -> (Vec<Arg>, u32) {
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
            Rule::boolean => leaf(ExprKind::Bool(p.as_str() == "true")),
            Rule::namespace_call => {
                let mut it = kids(p);
                let namespace = self.ident(it.next().expect("namespace"));
                let func = self.ident(it.next().expect("function"));
                let (args, d) = self.args(it.next().expect("call args"));
                self.deeper(
                    Expr {
                        kind: ExprKind::Call {
                            namespace,
                            func,
                            args,
                        },
                        span,
                    },
                    d,
                )
            }
            Rule::ident => leaf(ExprKind::Name(self.ident(p))),
            r => unreachable!("primary {r:?}"),
        }
    }

    /// A `"..."` or `"""..."""` literal, escapes resolved, text runs merged.
    fn string(&self, p: Pair<Rule>) -> StrLit {
        let span = self.span(&p);
        if p.as_rule() == Rule::raw_string {
            let text = kids(p).next().expect("raw text");
            return StrLit {
                parts: vec![StrPart::Text {
                    text: text.as_str().to_string(),
                    span: span_of(self.file, &text),
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
            let cspan = span_of(self.file, &c);
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
