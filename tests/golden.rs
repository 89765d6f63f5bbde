//! Golden tests: drive the real `runbook` binary over `tests/golden/*.upg`
//! and compare what it prints with the checked-in `.stderr` / `.stdout`
//! files. One case per diagnostic code, named `<CODE>-<what>.upg`, plus
//! cases without a code prefix for clean files and the JSON format.
//! Regenerate expectations with `UPDATE_GOLDEN=1 cargo test --test integration golden::`
//! and review the diff.

use std::path::{Path, PathBuf};

use runbook::codes;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Runs `runbook <args>` in `tests/golden` (so file names print relative).
fn run(args: &[&str]) -> (i32, String, String) {
    let ran = crate::common::bin::Bin::new(args).dir(golden_dir()).run();
    (ran.code, ran.stdout, ran.stderr)
}

/// Compares `actual` with the file `expected`, or rewrites it when
/// UPDATE_GOLDEN is set. Returns a description of the mismatch.
fn compare(expected: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if actual.is_empty() {
            let _ = std::fs::remove_file(expected);
        } else {
            std::fs::write(expected, actual).unwrap();
        }
        return None;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_default();
    (want != actual).then(|| {
        format!(
            "{} differs\n--- expected\n{want}\n--- actual\n{actual}",
            expected.display()
        )
    })
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".upg").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// The code a case is about (`UPG012-arity` -> `UPG012`).
fn code_of(case: &str) -> Option<&str> {
    case.split('-')
        .next()
        .filter(|c| c.starts_with("UPG") && c.len() == 6)
}

/// Severity of a code, from the catalogue.
fn is_warning(code: &str) -> bool {
    codes::ALL
        .iter()
        .any(|c| c.code == code && c.severity == runbook::diagnostic::Severity::Warning)
}

#[test]
fn every_case_prints_what_is_checked_in() {
    let mut failures = Vec::new();
    for case in cases() {
        let file = format!("{case}.upg");
        let (status, stdout, stderr) = run(&["check", "--color", "never", &file]);
        let dir = golden_dir();
        failures.extend(compare(&dir.join(format!("{case}.stderr")), &stderr));
        failures.extend(compare(&dir.join(format!("{case}.stdout")), &stdout));
        match code_of(&case) {
            Some(code) => {
                // Each case is about one code: it must appear, and no other.
                let mentioned: Vec<&str> = stderr
                    .match_indices("UPG")
                    .map(|(i, _)| stderr.get(i..i + 6).unwrap_or(""))
                    .collect();
                if !mentioned.contains(&code) || mentioned.iter().any(|m| *m != code) {
                    failures.push(format!(
                        "{case}: expected only {code}, output mentions {mentioned:?}"
                    ));
                }
                let want = if is_warning(code) { 0 } else { 1 };
                if status != want {
                    failures.push(format!("{case}: exit {status}, expected {want}"));
                }
            }
            None => {
                if status != 0 {
                    failures.push(format!("{case}: clean case exited {status}:\n{stderr}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_catalogued_code_has_a_golden_case() {
    let cases = cases();
    let missing: Vec<&str> = codes::ALL
        .iter()
        .map(|c| c.code)
        .filter(|code| reported_by_check(code))
        .filter(|code| !cases.iter().any(|c| code_of(c) == Some(code)))
        .collect();
    assert!(missing.is_empty(), "no golden case for {missing:?}");
}

/// The codes `runbook check` reports: the front end's, the checker's and
/// rhai compile errors (UPG001-UPG083). The rest are reported while a run
/// runs (rhai limits and results, RUN, SBX).
fn reported_by_check(code: &str) -> bool {
    code.starts_with("UPG") && code < "UPG084"
}

#[test]
fn json_format_lists_every_diagnostic_with_its_location() {
    let file = "UPG017-unknown-field.upg";
    let (status, stdout, _) = run(&["check", "--format", "json", file]);
    assert_eq!(status, 1);
    let dir = golden_dir();
    if let Some(diff) = compare(&dir.join("json-format.json"), &stdout) {
        panic!("{diff}");
    }
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let items = value.as_array().expect("an array");
    assert!(!items.is_empty());
    for d in items {
        assert!(d["code"].as_str().unwrap().starts_with("UPG"));
        assert_eq!(d["location"]["file"], file);
        assert!(d["location"]["line"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn deny_warnings_turns_a_warning_into_failure() {
    let file = "UPG027-missing-rollback.upg";
    assert_eq!(run(&["check", "--color", "never", file]).0, 0);
    assert_eq!(
        run(&["check", "--color", "never", "--deny-warnings", file]).0,
        1
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["check", "--format", "yaml", "x.upg"]).0, 2);
}

#[test]
fn missing_file_is_reported_not_panicked() {
    let (status, _, stderr) = run(&["check", "--color", "never", "no-such-file.upg"]);
    assert_eq!(status, 1);
    assert!(stderr.contains("no-such-file.upg"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_directory_argument_checks_every_upg_file_below_it() {
    let (status, stdout, stderr) = run(&["check", "--color", "never", "dir"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("dir/sub/b.upg:4:8"), "{stderr}");
    assert!(
        stderr.ends_with("checked 2 files: 0 errors, 1 warning\n"),
        "{stderr}"
    );
}

#[test]
fn shipped_playbooks_stdlib_and_environments_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = ["playbooks", "stdlib", "examples/environments"].map(|d| root.join(d));
    let mut args = vec!["check", "--color", "never"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    let (status, _, stderr) = run(&args);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("0 errors") || stderr.contains("no problems"),
        "{stderr}"
    );
}
