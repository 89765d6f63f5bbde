//! `runbook show`: what a runbook is and does, in the style of `just --list`:
//! name and description, parameters, environments, preconditions, gates and
//! the step tree with step ids. Colour only on a terminal.

use std::fmt::Write as _;
use std::path::PathBuf;

use console::style;

use super::Outcome;
use crate::diagnostic::render_all;
use crate::format::{expr_to_string, type_to_string};
use crate::syntax::ast::*;
use crate::syntax::{Program, load};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Describe the runbooks in FILE: description, parameters with types, defaults \
                  and doc comments, environments (protected ones marked), preconditions, \
                  gates, and the step tree with the stable step ids that `exec` reports."
)]
pub struct Args {
    /// The .upg file to describe
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    let program = match load(&args.file) {
        Ok(p) => p,
        Err((sources, diags)) => {
            let (text, _) = render_all(&diags, &sources, console::colors_enabled_stderr());
            eprint!("{text}");
            return Ok(Outcome::Failed);
        }
    };
    print!("{}", render(&program));
    Ok(Outcome::Ok)
}

fn render(program: &Program) -> String {
    let mut out = String::new();
    let runbooks: Vec<&Runbook> = program.runbooks().collect();
    if runbooks.is_empty() {
        let _ = writeln!(
            out,
            "no runbook in {}",
            program.sources.get(program.root).name
        );
    }
    for (i, runbook) in runbooks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        show_runbook(&mut out, program, runbook);
    }
    out
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{}", style(title).bold());
}

/// Rows of one section, printed with the `# note` column aligned.
#[derive(Default)]
struct Rows(Vec<(String, usize, Option<String>)>);

impl Rows {
    /// `styled` is what is printed, `plain` its text without colour codes.
    fn push(&mut self, styled: String, plain: &str, note: Option<String>) {
        self.0.push((styled, plain.chars().count(), note));
    }

    fn print(self, out: &mut String, title: &str) {
        if self.0.is_empty() {
            return;
        }
        heading(out, title);
        let width = self.0.iter().map(|(_, len, _)| *len).max().unwrap_or(0);
        for (text, len, note) in self.0 {
            match note {
                Some(note) if !note.is_empty() => {
                    let pad = " ".repeat(width - len + 1);
                    let note = style(format!("# {note}")).blue();
                    let _ = writeln!(out, "    {text}{pad}{note}");
                }
                _ => {
                    let _ = writeln!(out, "    {text}");
                }
            }
        }
    }
}

/// The first paragraph of a doc comment, on one line.
fn summary(doc: &Option<Doc>) -> Option<String> {
    let doc = doc.as_ref()?;
    let para: Vec<&str> = doc
        .text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    Some(para.join(" "))
}

fn with_origin(doc: Option<String>, from: Option<&str>) -> Option<String> {
    match (doc, from) {
        (Some(doc), Some(f)) => Some(format!("{doc} ({f})")),
        (Some(doc), None) => Some(doc),
        (None, Some(f)) => Some(format!("({f})")),
        (None, None) => None,
    }
}

fn show_runbook(out: &mut String, program: &Program, r: &Runbook) {
    let description = expr_to_string_lit(&r.description);
    let _ = writeln!(
        out,
        "{} {}",
        style(&r.name.name).bold().cyan(),
        style(description.trim_matches('"')).dim()
    );
    if let Some(doc) = &r.doc {
        for line in doc.text.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }

    let mut rows = Rows::default();
    for p in r.params() {
        let mut rest = format!(": {}", type_to_string(&p.ty));
        if let Some(d) = &p.default {
            rest.push_str(&format!(" = {}", expr_to_string(d)));
        }
        let plain = format!("{}{rest}", p.name.name);
        let styled = format!("{}{rest}", style(&p.name.name).green());
        rows.push(styled, &plain, summary(&p.doc));
    }
    rows.print(out, "Parameters:");

    let mut envs: Vec<(&Environment, Option<&str>)> = r.environments().map(|e| (e, None)).collect();
    for file in &program.files {
        let file_name = program.sources.get(file.file).name.as_str();
        for item in &file.items {
            if let Item::Environment(e) = item
                && e.runbook.as_ref().is_none_or(|n| n.name == r.name.name)
            {
                envs.push((e, Some(file_name)));
            }
        }
    }
    let mut rows = Rows::default();
    for (e, from) in envs {
        let (plain, styled) = if e.protected {
            (
                format!("{} [protected]", e.name.name),
                format!("{} {}", e.name.name, style("[protected]").red()),
            )
        } else {
            (e.name.name.clone(), e.name.name.clone())
        };
        rows.push(styled, &plain, with_origin(summary(&e.doc), from));
    }
    rows.print(out, "Environments:");

    let mut rows = Rows::default();
    for p in r.preconditions() {
        let title = p.title.template(expr_to_string);
        rows.push(title.clone(), &title, summary(&p.doc));
    }
    rows.print(out, "Preconditions:");

    let mut gates: Vec<(&GateDecl, Option<&str>)> = r.gates().map(|g| (g, None)).collect();
    for file in &program.files {
        let file_name = program.sources.get(file.file).name.as_str();
        for item in &file.items {
            if let Item::Gate(g) = item {
                gates.push((g, Some(file_name)));
            }
        }
    }
    let mut rows = Rows::default();
    for (g, from) in gates {
        let timing = gate_timing(g);
        let note = with_origin(summary(&g.doc), from);
        let note = match (note, timing.is_empty()) {
            (Some(n), false) => Some(format!("{n} [{timing}]")),
            (None, false) => Some(format!("[{timing}]")),
            (n, true) => n,
        };
        rows.push(style(&g.name.name).yellow().to_string(), &g.name.name, note);
    }
    rows.print(out, "Gates:");

    heading(out, "Steps:");
    let before = out.len();
    for stmt in r.flow() {
        show_stmt(out, stmt, 1);
    }
    if out.len() == before {
        let _ = writeln!(out, "    (none)");
    }
}

fn expr_to_string_lit(s: &StrLit) -> String {
    s.template(expr_to_string)
}

fn gate_timing(g: &GateDecl) -> String {
    let mut parts = Vec::new();
    if let Some(w) = &g.within {
        parts.push(format!("within {}", expr_to_string(w)));
    }
    if let Some(e) = &g.every {
        parts.push(format!("every {}", expr_to_string(e)));
    }
    if let Some(c) = &g.consecutive {
        parts.push(format!("consecutive {}", expr_to_string(c)));
    }
    parts.join(", ")
}

/// Steps with their ids; loops and branches as headers around them. Other
/// statements are not listed: they are details of the steps.
fn show_stmt(out: &mut String, stmt: &Stmt, depth: usize) {
    let indent = "    ".repeat(depth);
    match &stmt.kind {
        StmtKind::Step(step) => {
            let mut flags = Vec::new();
            if step.irreversible {
                flags.push(style("irreversible").red().to_string());
            }
            if let Some(w) = &step.when {
                flags.push(format!("when {}", expr_to_string(w)));
            }
            if !step.during.is_empty() {
                let names: Vec<&str> = step.during.iter().map(|g| g.name.as_str()).collect();
                flags.push(format!("during {}", names.join(", ")));
            }
            if step.rollback.is_some() {
                flags.push("rollback".to_string());
            }
            let title = step.title.template(expr_to_string);
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", flags.join("; "))
            };
            let _ = writeln!(out, "{indent}{}  {title}{flags}", style(&step.id).green());
            if let Some(doc) = &step.doc {
                for line in doc.text.lines() {
                    let _ = writeln!(out, "{indent}    {}", style(format!("# {line}")).blue());
                }
            }
        }
        StmtKind::For {
            var,
            iter,
            limit,
            body,
        } => {
            let head = match limit {
                None => format!("for {} in {}:", var.name, expr_to_string(iter)),
                Some(n) => format!(
                    "parallel for {} in {} limit {}:",
                    var.name,
                    expr_to_string(iter),
                    expr_to_string(n)
                ),
            };
            let _ = writeln!(out, "{indent}{}", style(head).dim());
            for s in &body.stmts {
                show_stmt(out, s, depth + 1);
            }
        }
        StmtKind::If {
            branches,
            otherwise,
        } => {
            for (i, (cond, body)) in branches.iter().enumerate() {
                let kw = if i == 0 { "if" } else { "else if" };
                let _ = writeln!(
                    out,
                    "{indent}{}",
                    style(format!("{kw} {}:", expr_to_string(cond))).dim()
                );
                for s in &body.stmts {
                    show_stmt(out, s, depth + 1);
                }
            }
            if let Some(body) = otherwise {
                let _ = writeln!(out, "{indent}{}", style("else:").dim());
                for s in &body.stmts {
                    show_stmt(out, s, depth + 1);
                }
            }
        }
        _ => {}
    }
}
