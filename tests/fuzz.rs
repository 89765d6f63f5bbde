//! Fuzzing the input surface: the parser, the loader and checker (rhai
//! checks included), `fmt` and the fixture loader, on mutations of every
//! shipped runbook, golden file and fixture. The properties are the ones a
//! user under stress relies on: no panic, a located diagnostic for every
//! error, and `fmt` output that parses to the same tree and is a fixed point.
//!
//! Its own test binary, because it is slow by design. Cases per property:
//! `FUZZ_CASES` (default 2,000, which `cargo test --locked` in CI runs in
//! bounded time; raise it for a longer local session). A failing input is
//! printed by proptest; add it to the corpus below to keep it.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use runbook::diagnostic::Diagnostic;
use runbook::format::format_source;
use runbook::sandbox::Fixture;
use runbook::syntax::{parse_str, strip_spans};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        // Shrinking a mutation of a large file takes long and rarely helps:
        // the failing input itself is printed.
        max_shrink_iters: 64,
        ..Config::default()
    })
}

/// Every file of `dir` (recursively) ending in `ext`, as text.
fn corpus(dir: &Path, ext: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            corpus(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext)
            && let Ok(text) = std::fs::read_to_string(&p)
        {
            out.push(text);
        }
    }
}

fn upg_corpus() -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        "playbooks",
        "examples",
        "tests/golden",
        "tests/syntax-golden",
        "stdlib",
    ] {
        corpus(&root().join(dir), "upg", &mut out);
    }
    // Inputs that once went wrong.
    out.push("environment pre-prod { cluster = \"x\" }".into());
    out.push("runbook r \"d\" { param t: secret\n step \"s\" { fail \"${t}\" } }".into());
    assert!(out.len() > 20, "the corpus is the shipped files");
    out
}

fn yaml_corpus() -> Vec<String> {
    let mut out = Vec::new();
    corpus(&root().join("examples/sandbox"), "yaml", &mut out);
    assert!(!out.is_empty());
    out
}

/// Text likely to matter to a parser: tokens of both languages, brackets,
/// quotes, escapes, interpolations, multi-byte characters, huge numbers.
const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "\"\"\"",
    "${",
    "\\",
    "\n",
    " ",
    ":",
    ",",
    "=",
    "=>",
    ".",
    "-",
    "#",
    "//",
    "é",
    "🦀",
    "\u{0}",
    "\r",
    "\t",
    "0",
    "99999999999999999999999",
    "1.30",
    "0s",
    "10q",
    "1h30m",
    "step",
    "runbook",
    "param",
    "gate",
    "check",
    "environment",
    "within",
    "every",
    "rollback",
    "irreversible",
    "import",
    "let",
    "fn",
    "params.target",
    "eks.",
    "nodegroup.rotate(",
    "max_unavailable:",
    "secret",
    "- ",
    "key: ",
    "nodes:",
    "  ",
    "null",
    "~",
    "&a",
    "*a",
    "!!",
    "---",
    "...",
];

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    Replace(usize, usize, &'static str),
    /// Copy a slice of the text somewhere else (duplicates structure).
    Splice(usize, usize, usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let piece = proptest::sample::select(PIECES);
    let edit = prop_oneof![
        (any::<usize>(), piece.clone()).prop_map(|(a, p)| Edit::Insert(a, p)),
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0usize..8, piece).prop_map(|(a, n, p)| Edit::Replace(a, n, p)),
        (any::<usize>(), 0usize..200, any::<usize>()).prop_map(|(a, n, b)| Edit::Splice(a, n, b)),
    ];
    proptest::collection::vec(edit, 1..6)
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut s = text.to_string();
    for e in edits {
        match *e {
            Edit::Insert(at, p) => {
                let i = boundary(&s, at);
                s.insert_str(i, p);
            }
            Edit::Delete(at, n) => {
                let i = boundary(&s, at);
                let j = boundary(&s, (i + n).min(s.len()));
                s.replace_range(i..j.max(i), "");
            }
            Edit::Replace(at, n, p) => {
                let i = boundary(&s, at);
                let j = boundary(&s, (i + n).min(s.len()));
                s.replace_range(i..j.max(i), p);
            }
            Edit::Splice(from, n, to) => {
                let i = boundary(&s, from);
                let j = boundary(&s, (i + n).min(s.len())).max(i);
                let piece = s[i..j].to_string();
                let k = boundary(&s, to);
                s.insert_str(k, &piece);
            }
        }
    }
    s
}

fn mutated(corpus: Vec<String>) -> impl Strategy<Value = String> {
    (proptest::sample::select(corpus), edits()).prop_map(|(text, e)| apply(&text, &e))
}

/// Every error has a code and either a location or no source to point at.
fn well_formed(diags: &[Diagnostic]) -> Result<(), TestCaseError> {
    for d in diags {
        prop_assert!(!d.code.is_empty(), "diagnostic without a code: {d:?}");
        prop_assert!(!d.message.is_empty(), "diagnostic without a message: {d:?}");
    }
    Ok(())
}

#[test]
fn parser_checker_and_fmt_hold_on_mutated_runbooks() {
    // Imports of the mutated root resolve against the repository root.
    let base = root();
    runner()
        .run(&mutated(upg_corpus()), |text| {
            // The parser: a tree or located errors, never a panic.
            let (sources, parsed) = parse_str("fuzz.upg", &text);
            if let Err(diags) = &parsed {
                well_formed(diags)?;
                prop_assert!(diags.iter().any(Diagnostic::is_error));
                // Rendering reads the source around each label.
                let (out, _) = runbook::diagnostic::render_all(diags, &sources, false);
                prop_assert!(out.contains("error"));
            }
            // Loader and checker, rhai checks included.
            match runbook::syntax::load_text("fuzz.upg", text.clone(), &base) {
                Ok(program) => well_formed(&runbook::analyze::check(&program))?,
                Err((_, diags)) => well_formed(&diags)?,
            }
            // fmt: same meaning, and a fixed point.
            if let Ok(ast) = parsed {
                let formatted = format_source("fuzz.upg", &text).map_err(|(_, d)| {
                    TestCaseError::fail(format!("parsed but fmt failed: {d:?}"))
                })?;
                let (_, again) = parse_str("fuzz.upg", &formatted);
                let again = again.map_err(|d| {
                    TestCaseError::fail(format!("fmt output does not parse: {d:?}\n{formatted}"))
                })?;
                prop_assert_eq!(
                    strip_spans(&ast),
                    strip_spans(&again),
                    "fmt changed the meaning"
                );
                let twice = format_source("fuzz.upg", &formatted).map_err(|_| {
                    TestCaseError::fail("formatted text does not format".to_string())
                })?;
                prop_assert_eq!(&twice, &formatted, "fmt is not idempotent");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn rhai_checks_never_panic_the_checker() {
    let mut bodies = Vec::new();
    for (path, text) in runbook::syntax::stdlib_files() {
        if path.ends_with(".rhai") {
            bodies.push(text.to_string());
        }
    }
    corpus(&root().join("examples"), "rhai", &mut bodies);
    corpus(&root().join("tests"), "rhai", &mut bodies);
    assert!(!bodies.is_empty());
    runner()
        .run(&mutated(bodies), |script| {
            if script.contains("\"\"\"") {
                return Ok(());
            }
            let text = format!(
                "check c \"\"\"{script}\"\"\"\nrunbook r \"d\" {{\n  param cluster: string\n  precondition \"p\" {{ check.c(target: \"1.30\") }}\n}}\n"
            );
            match runbook::syntax::load_text("fuzz.upg", text, &root()) {
                Ok(program) => well_formed(&runbook::analyze::check(&program))?,
                Err((_, diags)) => well_formed(&diags)?,
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_fixture_loader_holds_on_mutated_fixtures() {
    runner()
        .run(&mutated(yaml_corpus()), |text| {
            if let Err(e) = Fixture::from_yaml("fuzz.yaml", &text) {
                prop_assert!(!e.diagnostic.code.is_empty());
                // Rendering must not panic either, whatever the span.
                let _ = e.render(false);
            }
            Ok(())
        })
        .unwrap();
}
