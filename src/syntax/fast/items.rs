//! Files, runbooks, declarations and statements.

use crate::syntax::ast::*;
use crate::syntax::literal;

use super::{P, Parser};

impl Parser<'_> {
    pub(super) fn file(&mut self) -> P<(Vec<Import>, Vec<Item>)> {
        let mut imports = Vec::new();
        let mut items = Vec::new();
        loop {
            let item = match self.peek_word() {
                "import" if items.is_empty() => {
                    imports.push(self.import()?);
                    continue;
                }
                "runbook" => Item::Runbook(self.runbook()?),
                "gate" => Item::Gate(self.gate_decl()?),
                "check" => Item::Check(self.check_decl()?),
                "environment" => Item::Environment(self.environment()?),
                "" if self.pos == self.b.len() => return Some((imports, items)),
                _ => return None,
            };
            items.push(item);
        }
    }

    fn import(&mut self) -> P<Import> {
        let start = self.pos;
        self.keyword("import")?;
        let s = self.string()?;
        Some(Import {
            path: s.as_plain()?,
            path_span: s.span,
            span: self.since(start),
        })
    }

    fn runbook(&mut self) -> P<Runbook> {
        let start = self.pos;
        self.keyword("runbook")?;
        let name = self.ident()?;
        let description = self.string()?;
        self.expect("{")?;
        let mut items = Vec::new();
        while !self.eat("}") {
            items.push(self.runbook_item()?);
        }
        Some(Runbook {
            doc: self.doc(start),
            name,
            description,
            items,
            span: self.since(start),
        })
    }

    fn runbook_item(&mut self) -> P<RunbookItem> {
        Some(match self.peek_word() {
            "param" => RunbookItem::Param(self.param()?),
            "environment" => RunbookItem::Environment(self.environment()?),
            "precondition" => RunbookItem::Precondition(self.precondition()?),
            // `gate NAME {` declares; `gate NAME` alone waits on a gate.
            "gate" if self.gate_decl_ahead() => RunbookItem::Gate(self.gate_decl()?),
            // `check.f(..)` is a call; `check NAME ...` declares.
            "check" if self.at(self.pos + 5) != Some(b'.') => {
                RunbookItem::Check(self.check_decl()?)
            }
            _ => RunbookItem::Stmt(self.stmt()?),
        })
    }

    /// At `gate`: is `gate NAME {` next?
    fn gate_decl_ahead(&self) -> bool {
        let i = self.trivia_from(self.pos + 4);
        let n = self.name_len_at(i);
        n > 0 && self.at(self.trivia_from(i + n)) == Some(b'{')
    }

    fn param(&mut self) -> P<Param> {
        let start = self.pos;
        self.keyword("param")?;
        let name = self.ident()?;
        self.expect(":")?;
        let ty = self.type_expr()?;
        let default = if self.eat("=") {
            Some(self.expr()?)
        } else {
            None
        };
        Some(Param {
            doc: self.doc(start),
            name,
            ty,
            default,
            span: self.since(start),
        })
    }

    fn type_expr(&mut self) -> P<Type> {
        let name = self.name()?;
        let arg = if self.eat("<") {
            let t = self.type_expr()?;
            self.expect(">")?;
            Some(Box::new(t))
        } else {
            None
        };
        Some(Type {
            kind: TypeKind::from_name(&name.name, arg)?,
            span: self.since(name.span.start as usize),
        })
    }

    fn environment(&mut self) -> P<Environment> {
        let start = self.pos;
        self.keyword("environment")?;
        let name = self.ident()?;
        let protected = self.keyword("protected").is_some();
        let runbook = match self.keyword("for") {
            Some(()) => Some(self.ident()?),
            None => None,
        };
        self.expect("{")?;
        let mut settings = Vec::new();
        while !self.eat("}") {
            let key = self.name()?;
            self.expect("=")?;
            let value = self.expr()?;
            settings.push(Setting {
                span: self.since(key.span.start as usize),
                key,
                value,
            });
        }
        Some(Environment {
            doc: self.doc(start),
            name,
            protected,
            runbook,
            settings,
            span: self.since(start),
        })
    }

    fn precondition(&mut self) -> P<Precondition> {
        let start = self.pos;
        self.keyword("precondition")?;
        let title = self.string()?;
        self.expect("{")?;
        let mut conditions = vec![self.expr()?];
        while !self.eat("}") {
            conditions.push(self.expr()?);
        }
        let else_message = match self.keyword("else") {
            Some(()) => Some(self.string()?),
            None => None,
        };
        Some(Precondition {
            doc: self.doc(start),
            title,
            conditions,
            else_message,
            span: self.since(start),
        })
    }

    fn gate_decl(&mut self) -> P<GateDecl> {
        let start = self.pos;
        self.keyword("gate")?;
        let name = self.ident()?;
        self.expect("{")?;
        let mut gate = GateDecl {
            doc: self.doc(start),
            name,
            conditions: Vec::new(),
            within: None,
            every: None,
            consecutive: None,
            span: self.since(start),
        };
        while !self.eat("}") {
            match self.peek_word() {
                "within" => {
                    self.keyword("within")?;
                    once(&mut gate.within, self.expr()?)?;
                    if self.keyword("every").is_some() {
                        once(&mut gate.every, self.expr()?)?;
                    }
                }
                "consecutive" => {
                    self.keyword("consecutive")?;
                    once(&mut gate.consecutive, self.expr()?)?;
                }
                _ => gate.conditions.push(self.expr()?),
            }
        }
        gate.span = self.since(start);
        Some(gate)
    }

    fn check_decl(&mut self) -> P<CheckDecl> {
        let start = self.pos;
        self.keyword("check")?;
        let name = self.ident()?;
        self.trivia();
        let description = match self.peek() {
            Some(b'"') => Some(self.string()?),
            _ => None,
        };
        let source = if self.keyword("from").is_some() {
            let s = self.string()?;
            CheckSource::File {
                path: s.as_plain()?,
                path_span: s.span,
                file: None,
            }
        } else {
            self.expect("{")?;
            self.trivia();
            let (text, span) = self.raw_string()?;
            self.expect("}")?;
            CheckSource::Inline {
                text: text.to_string(),
                span,
            }
        };
        Some(CheckDecl {
            doc: self.doc(start),
            name,
            description,
            source,
            span: self.since(start),
        })
    }

    // -------------------------------------------------------------- statements

    fn block(&mut self) -> P<Block> {
        self.trivia();
        let start = self.pos;
        self.expect("{")?;
        let mut stmts = Vec::new();
        while !self.eat("}") {
            stmts.push(self.stmt()?);
        }
        Some(Block {
            stmts,
            span: self.since(start),
        })
    }

    fn stmt(&mut self) -> P<Stmt> {
        let word = self.peek_word();
        let start = self.pos;
        let kind = match word {
            "step" => StmtKind::Step(self.step()?),
            "let" => {
                self.keyword("let")?;
                let name = self.ident()?;
                self.expect("=")?;
                StmtKind::Let {
                    name,
                    value: self.expr()?,
                }
            }
            "for" => {
                self.keyword("for")?;
                let var = self.ident()?;
                self.keyword("in")?;
                StmtKind::For {
                    var,
                    iter: self.expr()?,
                    body: self.block()?,
                }
            }
            "if" => {
                self.keyword("if")?;
                let mut branches = vec![(self.expr()?, self.block()?)];
                let mut otherwise = None;
                while self.keyword("else").is_some() {
                    if self.keyword("if").is_some() {
                        branches.push((self.expr()?, self.block()?));
                    } else {
                        otherwise = Some(self.block()?);
                        break;
                    }
                }
                StmtKind::If {
                    branches,
                    otherwise,
                }
            }
            "gate" => {
                self.keyword("gate")?;
                StmtKind::Gate(self.ident()?)
            }
            "await" => {
                self.keyword("await")?;
                let condition = self.expr()?;
                self.keyword("within")?;
                let within = self.expr()?;
                let every = match self.keyword("every") {
                    Some(()) => Some(self.expr()?),
                    None => None,
                };
                StmtKind::Await {
                    condition,
                    within,
                    every,
                }
            }
            "pause" | "confirm" | "log" | "fail" => {
                self.keyword(word)?;
                let e = self.expr()?;
                match word {
                    "pause" => StmtKind::Pause(e),
                    "confirm" => StmtKind::Confirm(e),
                    "log" => StmtKind::Log(e),
                    _ => StmtKind::Fail(e),
                }
            }
            _ => StmtKind::Expr(self.expr()?),
        };
        Some(Stmt {
            kind,
            span: self.since(start),
        })
    }

    fn step(&mut self) -> P<Step> {
        let start = self.pos;
        self.keyword("step")?;
        let title = self.string()?;
        let text = self.text;
        let id = literal::slug(
            &title.template(|e| text[e.span.start as usize..e.span.end as usize].to_string()),
        );
        let mut irreversible = false;
        let mut when = None;
        let mut during = Vec::new();
        loop {
            match self.peek_word() {
                "irreversible" if !irreversible => {
                    self.keyword("irreversible")?;
                    irreversible = true;
                }
                "when" => {
                    self.keyword("when")?;
                    once(&mut when, self.expr()?)?;
                }
                "during" if during.is_empty() => {
                    self.keyword("during")?;
                    during.push(self.ident()?);
                    while self.eat(",") {
                        during.push(self.ident()?);
                    }
                }
                "" => break,
                // A repeated modifier: pest's builder says so.
                _ => return None,
            }
        }
        let body_start = self.pos;
        self.expect("{")?;
        let mut stmts = Vec::new();
        let mut rollback = None;
        while !self.eat("}") {
            if self.peek_word() == "rollback" {
                self.keyword("rollback")?;
                rollback = Some(self.block()?);
                self.expect("}")?;
                break;
            }
            stmts.push(self.stmt()?);
        }
        Some(Step {
            doc: self.doc(start),
            title,
            id,
            irreversible,
            when,
            during,
            body: Block {
                stmts,
                span: self.since(body_start),
            },
            rollback,
            span: self.since(start),
        })
    }
}

/// Fill a clause that may appear once; a second one is left to pest's
/// builder to report.
fn once<T>(slot: &mut Option<T>, value: T) -> P<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}
