//! The typed, spanned AST of one `.upg` file. Every node carries the `Span`
//! of the text it came from. Nodes keep source order (the formatter relies on
//! it to put comments back where they were); accessor methods give the views
//! later stages want (`Runbook::params`, `Runbook::flow`, ...).
//!
//! `Serialize` is derived so tests can compare two trees while ignoring spans
//! (`syntax::strip_spans`), which is how "fmt never changes meaning" is checked.

use std::time::Duration;

use serde::Serialize;

use crate::source::{FileId, Span};

/// One parsed file: imports first, then top-level items, plus every comment
/// (for the formatter; doc comments are also attached to their items).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct File {
    pub file: FileId,
    pub imports: Vec<Import>,
    pub items: Vec<Item>,
    pub comments: Vec<Comment>,
    pub span: Span,
}

/// `import "stdlib/gates"` or `import "./common"` (`.upg` optional).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Import {
    pub path: String,
    pub path_span: Span,
    pub span: Span,
}

// Items are built once per file; boxing them would only add noise to every
// consumer's pattern matches.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Item {
    Runbook(Runbook),
    Gate(GateDecl),
    Check(CheckDecl),
    Environment(Environment),
    Template(Template),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Runbook(r) => r.span,
            Item::Gate(g) => g.span,
            Item::Check(c) => c.span,
            Item::Environment(e) => e.span,
            Item::Template(t) => t.span,
        }
    }
}

/// A comment as written, marker included (`# x`, `// x`, `/// x`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}

impl Comment {
    /// `///` (but not `////`) comments document the item that follows.
    pub fn is_doc(&self) -> bool {
        self.text.starts_with("///") && !self.text.starts_with("////")
    }
}

/// Doc comment lines joined with `\n`, without the `///` marker and the one
/// space after it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Doc {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl Ident {
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

// ------------------------------------------------------------------ runbook

/// `runbook NAME "description" { ... }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Runbook {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub description: StrLit,
    /// Declarations and the statement flow, in source order.
    pub items: Vec<RunbookItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RunbookItem {
    Param(Param),
    Environment(Environment),
    Precondition(Precondition),
    Gate(GateDecl),
    Check(CheckDecl),
    /// Steps, loops, lets, ... at runbook level: the flow that `exec` runs.
    Stmt(Stmt),
}

impl RunbookItem {
    pub fn span(&self) -> Span {
        match self {
            RunbookItem::Param(x) => x.span,
            RunbookItem::Environment(x) => x.span,
            RunbookItem::Precondition(x) => x.span,
            RunbookItem::Gate(x) => x.span,
            RunbookItem::Check(x) => x.span,
            RunbookItem::Stmt(x) => x.span,
        }
    }
}

impl Runbook {
    pub fn params(&self) -> impl Iterator<Item = &Param> {
        self.items.iter().filter_map(|i| match i {
            RunbookItem::Param(p) => Some(p),
            _ => None,
        })
    }

    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.items.iter().filter_map(|i| match i {
            RunbookItem::Environment(e) => Some(e),
            _ => None,
        })
    }

    pub fn preconditions(&self) -> impl Iterator<Item = &Precondition> {
        self.items.iter().filter_map(|i| match i {
            RunbookItem::Precondition(p) => Some(p),
            _ => None,
        })
    }

    pub fn gates(&self) -> impl Iterator<Item = &GateDecl> {
        self.items.iter().filter_map(|i| match i {
            RunbookItem::Gate(g) => Some(g),
            _ => None,
        })
    }

    pub fn checks(&self) -> impl Iterator<Item = &CheckDecl> {
        self.items.iter().filter_map(|i| match i {
            RunbookItem::Check(c) => Some(c),
            _ => None,
        })
    }

    /// The runbook-level statements, in order: what `exec` runs after the
    /// preconditions hold.
    pub fn flow(&self) -> impl Iterator<Item = &Stmt> {
        self.items.iter().filter_map(|i| match i {
            RunbookItem::Stmt(s) => Some(s),
            _ => None,
        })
    }
}

/// `param name: type [= default]`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub ty: Type,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Type {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TypeKind {
    String,
    Int,
    Bool,
    Duration,
    Version,
    /// A string that is never shown: redacted in output, journals and
    /// reports wherever its value appears.
    Secret,
    /// `list` or `list<T>`
    List(Option<Box<Type>>),
    /// `map` or `map<T>` (keys are strings)
    Map(Option<Box<Type>>),
}

impl TypeKind {
    /// The type a name (and optional `<T>`) spells, or `None` for an unknown
    /// name or a parameter on a scalar.
    pub fn from_name(name: &str, arg: Option<Box<Type>>) -> Option<TypeKind> {
        Some(match (name, arg) {
            ("string", None) => TypeKind::String,
            ("int", None) => TypeKind::Int,
            ("bool", None) => TypeKind::Bool,
            ("duration", None) => TypeKind::Duration,
            ("version", None) => TypeKind::Version,
            ("secret", None) => TypeKind::Secret,
            ("list", arg) => TypeKind::List(arg),
            ("map", arg) => TypeKind::Map(arg),
            _ => return None,
        })
    }
}

/// `environment NAME [protected] [for RUNBOOK] { key = value ... }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Environment {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub protected: bool,
    /// `for RUNBOOK`: only valid in a file-level environment block.
    pub runbook: Option<Ident>,
    pub settings: Vec<Setting>,
    pub span: Span,
}

/// `key = value` inside an environment block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `precondition "title" { cond... } [else "message"]`: every condition must
/// hold before the first step runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Precondition {
    pub doc: Option<Doc>,
    pub title: StrLit,
    pub conditions: Vec<Expr>,
    pub else_message: Option<StrLit>,
    pub span: Span,
}

/// `template NAME(param: type [= default], ...) { statements }`: a reusable
/// sequence of statements, run by `use NAME(args)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Template {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Block,
    pub span: Span,
}

/// `gate NAME { cond...  within D every D  consecutive N }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub conditions: Vec<Expr>,
    pub within: Option<Expr>,
    pub every: Option<Expr>,
    pub consecutive: Option<Expr>,
    pub span: Span,
}

/// `check NAME ["description"] { """rhai""" }` or `check NAME from "x.rhai"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub description: Option<StrLit>,
    pub source: CheckSource,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum CheckSource {
    /// The rhai text between the `"""` quotes; `span` covers exactly that
    /// text, so a rhai line/column maps to the `.upg` file.
    Inline { text: String, span: Span },
    /// `from "path"`, relative to the declaring file. `file` is filled in by
    /// `syntax::load` (the rhai file is added to the `SourceMap`); it stays
    /// `None` after a bare `parse_file`.
    File {
        path: String,
        path_span: Span,
        #[serde(skip)]
        file: Option<FileId>,
    },
}

// ------------------------------------------------------------------ statements

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StmtKind {
    Step(Step),
    /// `let name = value`
    Let {
        name: Ident,
        value: Expr,
    },
    /// `for var in iter { body }`, or with `limit`
    /// `parallel for var in iter limit N { body }`: one branch per item,
    /// at most N running at once.
    For {
        var: Ident,
        iter: Expr,
        limit: Option<Expr>,
        body: Block,
    },
    /// `if c { } else if c { } else { }`: one branch per condition.
    If {
        branches: Vec<(Expr, Block)>,
        otherwise: Option<Block>,
    },
    /// `gate NAME`: evaluate a declared gate now and wait for it.
    Gate(Ident),
    /// `use NAME(args)`: run a template's statements with these arguments.
    Use {
        name: Ident,
        args: Vec<Arg>,
    },
    /// `await cond within D [every D]`
    Await {
        condition: Expr,
        within: Expr,
        every: Option<Expr>,
    },
    /// `pause D`
    Pause(Expr),
    /// `confirm "message"`: ask the operator (skipped in --dry-run).
    Confirm(Expr),
    /// `log "message"`
    Log(Expr),
    /// `fail "message"`: stop the run (and roll back).
    Fail(Expr),
    /// `keep "reason"`, in a rollback block: what the step changed is left
    /// in place on purpose; the report says so, with the reason.
    Keep(Expr),
    /// A call used as a statement, e.g. `eks.update_addon(...)`.
    Expr(Expr),
}

/// `step "title" [irreversible] [when cond] [during GATE, ...] { ... rollback { ... } }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    pub doc: Option<Doc>,
    pub title: StrLit,
    /// Stable id: the slug of the title *template* (`"nodegroups to ${hop}"`
    /// → `nodegroups-to-hop`), the same for every loop iteration.
    pub id: String,
    pub irreversible: bool,
    pub when: Option<Expr>,
    pub during: Vec<Ident>,
    /// `timeout D`: the step fails when it runs longer.
    pub timeout: Option<Box<Expr>>,
    /// `retry N [every D]`: a failed attempt is rolled back and run again.
    pub retry: Option<Box<Retry>>,
    pub body: Block,
    pub rollback: Option<Block>,
    pub span: Span,
}

/// `retry N [every D]` of a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retry {
    pub times: Expr,
    pub every: Option<Expr>,
    pub span: Span,
}

// ------------------------------------------------------------------ expressions

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExprKind {
    Str(StrLit),
    Int(i64),
    Bool(bool),
    Duration(#[serde(serialize_with = "ser_duration")] Duration),
    Version(Version),
    List(Vec<Expr>),
    Map(Vec<MapEntry>),
    /// A variable, parameter or loop variable.
    Name(Ident),
    /// `base.name`
    Field {
        base: Box<Expr>,
        name: Ident,
    },
    /// `base[index]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// A built-in call `ns.func(args)` (namespace is one of `NAMESPACES`).
    Call {
        namespace: Ident,
        func: Ident,
        args: Vec<Arg>,
    },
    /// `receiver.method(args)`, e.g. `nodes.all(n => n.ready)`, `x.len()`.
    Method {
        receiver: Box<Expr>,
        method: Ident,
        args: Vec<Arg>,
    },
    /// `param => body`: only as a call argument.
    Lambda {
        param: Ident,
        body: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

/// The namespaces of built-in calls. They are keywords: `eks` alone is not a
/// value and cannot be rebound.
pub const NAMESPACES: &[&str] = &["eks", "k8s", "nodegroup", "check"];

/// `name: value` (keyword) or `value` (positional); positionals come first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MapEntry {
    pub key: String,
    pub key_span: Span,
    pub value: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding power, higher binds tighter; all binary operators are left
    /// associative. Mirrors the PrattParser in `expr.rs`.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::In => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }
}

/// `1.30` or `1.30.2`, written bare.
pub use crate::literal::Version;

/// A string literal: `"..."` with `${expr}` interpolation, or raw `"""..."""`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrLit {
    pub parts: Vec<StrPart>,
    /// Written as `"""..."""`: no escapes, no interpolation.
    pub raw: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StrPart {
    /// Literal text with escapes already resolved.
    Text { text: String, span: Span },
    /// `${expr}`
    Interp(Expr),
}

impl StrLit {
    /// The value if there is no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StrPart::Text { text, .. } => out.push_str(text),
                StrPart::Interp(_) => return None,
            }
        }
        Some(out)
    }

    /// The text with each interpolation shown as `${...}` of its source-less
    /// rendering; used for titles in `show` and for step ids.
    pub fn template(&self, render: impl Fn(&Expr) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StrPart::Text { text, .. } => out.push_str(text),
                StrPart::Interp(e) => {
                    out.push_str("${");
                    out.push_str(&render(e));
                    out.push('}');
                }
            }
        }
        out
    }
}
