//! `runbook check FILE|DIR...`: load, check, print diagnostics and a summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{SourceMap, Span};

use super::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files, or directories whose `.upg` files are all checked
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// When to colour the output
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// `human`: rendered reports on stderr; `json`: an array on stdout
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Fail (exit 1) on warnings too
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

/// The diagnostics of one root file, with the sources they point into.
struct Checked {
    sources: SourceMap,
    diagnostics: Vec<Diagnostic>,
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    let files = super::upg_files(&args.paths, "check")?;
    let checked: Vec<Checked> = files.iter().map(|f| check_one(f)).collect();

    let all = || checked.iter().flat_map(|c| c.diagnostics.iter());
    let errors = all().filter(|d| d.is_error()).count();
    let warnings = all().filter(|d| d.severity == Severity::Warning).count();

    match args.format {
        Format::Json => {
            let items: Vec<serde_json::Value> = checked
                .iter()
                .flat_map(|c| {
                    sorted(&c.diagnostics)
                        .into_iter()
                        .map(|d| d.to_json(&c.sources))
                })
                .collect();
            let text = serde_json::to_string_pretty(&items).expect("JSON values serialize");
            println!("{text}");
        }
        Format::Human => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => std::io::stderr().is_terminal() && console::colors_enabled_stderr(),
            };
            let mut out = String::new();
            for c in &checked {
                for d in sorted(&c.diagnostics) {
                    out.push_str(&d.render(&c.sources, color));
                    out.push('\n');
                }
            }
            out.push_str(&summary(files.len(), errors, warnings));
            eprint!("{out}");
        }
    }
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}

/// Every diagnostic of a file in one run: load and parse errors, and the
/// checker's findings whenever the whole program has a tree. A finding inside
/// a span a parse error already points at (the placeholder a bad literal
/// left) would only repeat it, so it is dropped.
fn check_one(path: &Path) -> Checked {
    match crate::syntax::load_partial(path) {
        Ok(partial) => {
            let mut diagnostics = partial.diagnostics;
            if partial.complete {
                let reported: Vec<Span> = diagnostics
                    .iter()
                    .filter_map(Diagnostic::primary_span)
                    .collect();
                let overlaps = |s: Span| {
                    reported.iter().any(|r| {
                        r.file == s.file
                            && r.start < s.end.max(s.start + 1)
                            && s.start < r.end.max(r.start + 1)
                    })
                };
                diagnostics.extend(
                    crate::analyze::check(&partial.program)
                        .into_iter()
                        .filter(|d| !d.primary_span().is_some_and(overlaps)),
                );
            }
            Checked {
                diagnostics,
                sources: partial.program.sources,
            }
        }
        Err((sources, diagnostics)) => Checked {
            sources,
            diagnostics,
        },
    }
}

/// Source order: file, then offset; diagnostics without a location first.
fn sorted(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    let mut v: Vec<&Diagnostic> = diags.iter().collect();
    v.sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start)));
    v
}

fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors == 0 && warnings == 0 {
        format!("checked {}: no problems found\n", plural(files, "file"))
    } else {
        format!(
            "checked {}: {}, {}\n",
            plural(files, "file"),
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}
