//! `runbook fmt`: rewrite files in the canonical layout (or, with --check,
//! only say which would change). A file that does not parse is never
//! touched; its diagnostics are printed and the exit code is 1.

use std::io::Write;
use std::path::{Path, PathBuf};

use miette::{IntoDiagnostic, WrapErr};

use super::Outcome;
use crate::diagnostic::render_all;
use crate::format::format_source;
use crate::source::{MAX_SOURCE_BYTES, read_text};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Rewrite .upg files in the one canonical layout: two-space indent, one \
                  statement per line, normalized spacing, comments kept. Files are replaced \
                  atomically; a file with syntax errors is left untouched.\n\n\
                  Directories are searched for .upg files."
)]
pub struct Args {
    /// Only check: list files that are not formatted and exit 1 if any
    #[arg(long)]
    pub check: bool,

    /// Files or directories to format
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    let files = super::upg_files(&args.files, "fmt")?;
    let color = console::colors_enabled_stderr();
    let mut failed = false;
    let mut stdout = std::io::stdout().lock();
    for file in files {
        let name = file.display().to_string();
        let text = match read_text(&file, MAX_SOURCE_BYTES) {
            Ok(t) => t,
            Err(e) => {
                // One unreadable file should not hide the others' results.
                eprintln!("error: {e}\n  help: {}", e.hint());
                failed = true;
                continue;
            }
        };
        let formatted = match format_source(&name, &text) {
            Ok(f) => f,
            Err((sources, diags)) => {
                let (rendered, _) = render_all(&diags, &sources, color);
                eprint!("{rendered}");
                failed = true;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if args.check {
            writeln!(stdout, "would reformat {name}").into_diagnostic()?;
            failed = true;
        } else {
            write_atomically(&file, &formatted)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write {name}"))?;
            writeln!(stdout, "formatted {name}").into_diagnostic()?;
        }
    }
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}

/// Write next to the target, then rename over it: a crash or full disk
/// never leaves a half-written runbook.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.fmt-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
