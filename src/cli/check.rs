//! `runbook check FILE|DIR...`: load, check, print diagnostics and a summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceMap;

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
    let files = expand(&args.paths)?;
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

/// Files named directly, plus the `.upg` files under named directories
/// (recursively, in name order).
fn expand(paths: &[PathBuf]) -> miette::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            collect_dir(path, &mut files)
                .map_err(|e| miette::miette!("cannot read directory `{}`: {e}", path.display()))?;
            if files.len() == before {
                return Err(miette::miette!(
                    help = "point `runbook check` at `.upg` files or a directory holding some",
                    "no `.upg` files in `{}`",
                    path.display()
                ));
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_dir(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "upg") {
            files.push(path);
        }
    }
    Ok(())
}

fn check_one(path: &Path) -> Checked {
    match crate::syntax::load(path) {
        Ok(program) => Checked {
            diagnostics: crate::check::check(&program),
            sources: program.sources,
        },
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
