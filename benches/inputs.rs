//! Large inputs: `check` and `fmt` must take time linear in the input, and
//! rendering many diagnostics must not rescan the file for each one.
//!
//! Run: `cargo bench --bench inputs` (release). Plain timing, best of
//! `RUNS`, since one 50 MB run takes a minute (criterion would need ten).
//! `INPUTS_FILE=PATH INPUTS_OP=check|fmt` runs one operation on one file
//! once, for `/usr/bin/time -v`.
//!
//! Measured 2026-11-28 18:48 UTC, idle 2-core machine (load 1.3-1.5),
//! release, on a 50.4 MB runbook, `/usr/bin/time`:
//!
//! | | wall | user + sys CPU | peak RSS |
//! |---|---|---|---|
//! | `runbook check`, whole-file parse (1792d95) | 16.4 s | 7.7 + 8.6 s | 3.38 GB |
//! | `runbook check`, parse in pieces | 9.4 s | 7.5 + 1.9 s | 1.81 GB |
//! | this bench, `INPUTS_OP=check` (parse 13.4 s, check 1.5 s) | 14.9 s | 8.1 + 6.7 s | 1.85 GB |
//! | this bench, `INPUTS_OP=fmt` (parse 10.5 s, fmt 3.2 s) | 13.6 s | 10.6 + 3.0 s | 1.95 GB |
//!
//! The parser reads one item at a time, so pest's token queue (about 40
//! bytes per input byte) no longer holds the whole file. What remains is
//! the AST and the checker's tables, about 37 bytes per input byte (an
//! `Expr` is 120 bytes, a statement 384), so a file near the 64 MiB limit
//! still needs about 2.4 GB. Shrinking the tree (boxing its large variants,
//! interning names) is what would bound it further.

use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// One step that draws a warning (a mutation without rollback, UPG027),
/// then steps without findings, until the text is `bytes` long.
fn generate(bytes: usize, warnings: usize) -> String {
    let mut out = String::from(
        "runbook big \"Generated for the benchmark\" {\n\
         \x20 param cluster: string\n\
         \x20 param target: version = 1.31\n\
         \x20 gate healthy {\n\
         \x20   k8s.nodes().all(n => n.ready && !n.unschedulable)\n\
         \x20   within 10m every 15s\n\
         \x20 }\n",
    );
    let mut i = 0;
    while out.len() < bytes || i < warnings {
        if i < warnings {
            out.push_str(&format!(
                "  step \"warn {i}\" {{\n\
                 \x20   eks.update_addon(cluster, \"vpc-cni\", version: \"v1.18.3-eksbuild.{i}\")\n\
                 \x20 }}\n"
            ));
        } else {
            out.push_str(&format!(
                "  # batch {i}\n\
                 \x20 step \"batch {i}\" during healthy {{\n\
                 \x20   let before = eks.addons(cluster)\n\
                 \x20   for addon in before.filter(a => a.status == \"ACTIVE\") {{\n\
                 \x20     eks.update_addon(cluster, addon.name, version: eks.default_addon_version(addon.name, target))\n\
                 \x20   }}\n\
                 \x20   log \"batch {i}: ${{before.len()}} add-ons\"\n\
                 \x20   rollback {{\n\
                 \x20     for a in before {{ eks.update_addon(cluster, a.name, version: a.version) }}\n\
                 \x20   }}\n\
                 \x20 }}\n"
            ));
        }
        i += 1;
    }
    out.push_str("}\n");
    out
}

fn best<T>(what: &str, mut f: impl FnMut() -> T) -> T {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        last = Some(f());
        times.push(start.elapsed());
    }
    let min = times.iter().min().copied().unwrap_or(Duration::ZERO);
    println!("{what}: best {min:.2?} of {RUNS} ({times:.2?})");
    last.expect("ran")
}

/// `INPUTS_FILE=PATH INPUTS_OP=check|fmt`: that one operation on that file,
/// as `runbook check` / `fmt --check` do it (load, check, render), once, so
/// `/usr/bin/time -v` can measure its peak memory in a release build.
fn one(path: &str, op: &str) {
    let start = Instant::now();
    let text = std::fs::read_to_string(path).expect("readable");
    let (sources, parsed) = runbook::syntax::parse_str(path, &text);
    let parsed_at = start.elapsed();
    let diags = match (parsed, op) {
        (Ok(file), "check") => runbook::analyze::check_files(&sources, std::slice::from_ref(&file)),
        (Ok(file), _) => {
            let out = runbook::format::format_file(&file, &text);
            println!("formatted: {} bytes", out.len());
            Vec::new()
        }
        (Err(diags), _) => diags,
    };
    let checked_at = start.elapsed();
    let (out, _) = runbook::diagnostic::render_all(&diags, &sources, false);
    println!(
        "{op} {path}: parse {parsed_at:.2?}, {op} {:.2?}, render {} diagnostics {:.2?}, total {:.2?}",
        checked_at - parsed_at,
        diags.len(),
        start.elapsed() - checked_at,
        start.elapsed()
    );
    println!("{}", out.lines().last().unwrap_or(""));
}

fn main() {
    if let (Ok(path), Ok(op)) = (std::env::var("INPUTS_FILE"), std::env::var("INPUTS_OP")) {
        return one(&path, &op);
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too,
    // with small inputs, so the bench cannot rot.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (small, large) = if quick {
        (200_000, 1_000_000)
    } else {
        (4_200_000, 50_000_000)
    };
    let warnings = if quick { 200 } else { 2_000 };

    let text = generate(small, warnings);
    let (sources, parsed) = runbook::syntax::parse_str("big.upg", &text);
    let file = parsed.expect("generated runbook parses");
    let diags = runbook::analyze::check_files(&sources, std::slice::from_ref(&file));
    assert_eq!(diags.len(), warnings, "one warning per `warn` step");
    let mb = |n: usize| n as f64 / 1e6;
    let rendered = best(
        &format!(
            "render {} diagnostics of a {:.1} MB file",
            diags.len(),
            mb(text.len())
        ),
        || runbook::diagnostic::render_all(&diags, &sources, false).0,
    );
    assert!(rendered.contains("UPG027"));

    let text = generate(large, 0);
    let mb_text = mb(text.len());
    let (sources, file) = best(&format!("parse {mb_text:.1} MB"), || {
        let (sources, parsed) = runbook::syntax::parse_str("big.upg", &text);
        (sources, parsed.expect("parses"))
    });
    best(&format!("check {mb_text:.1} MB (parsed)"), || {
        let diags = runbook::analyze::check_files(&sources, std::slice::from_ref(&file));
        assert!(diags.is_empty(), "{:?}", diags.first());
    });
    drop((sources, file));
    best(&format!("fmt {mb_text:.1} MB"), || {
        runbook::format::format_source("big.upg", &text).expect("formats")
    });

    // A syntax error after all of it: the fast parse fails at the end, the
    // detailed re-parse runs over everything again, and the one diagnostic
    // is located and rendered.
    let mut bad = text;
    bad.truncate(bad.len() - 2);
    bad.push_str("  stray =\n}\n");
    let line = bad.lines().count() - 1;
    best(
        &format!("parse+render a syntax error after {mb_text:.1} MB"),
        || {
            let (sources, parsed) = runbook::syntax::parse_str("big.upg", &bad);
            let diags = parsed.expect_err("syntax error at the end");
            let (out, _) = runbook::diagnostic::render_all(&diags, &sources, false);
            assert!(out.contains(&format!("big.upg:{line}:")), "{out}");
        },
    );
}
