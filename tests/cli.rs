//! What users of kubectl, eksctl and just expect of a command line: shell
//! completions and a `--version` that names the build's commit.

use std::path::Path;

// The build script itself, to test how it finds the commit.
#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

fn runbook(args: &[&str]) -> (i32, String, String) {
    let ran = crate::common::bin::Bin::new(args).run();
    (ran.code, ran.stdout, ran.stderr)
}

#[test]
fn completions_cover_every_subcommand_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_runbook()"),
        ("zsh", "#compdef runbook"),
        ("fish", "complete -c runbook"),
        ("elvish", "edit:completion:arg-completer[runbook]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (status, out, err) = runbook(&["completions", shell]);
        assert_eq!(status, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        for sub in ["check", "exec", "resume", "sandbox", "completions"] {
            assert!(out.contains(sub), "{shell} lacks {sub}");
        }
    }
    // Flags of nested subcommands too.
    let (_, bash, _) = runbook(&["completions", "bash"]);
    assert!(bash.contains("--nodegroups") && bash.contains("--dry-run"));
    let (status, _, err) = runbook(&["completions", "tcsh"]);
    assert_eq!(status, 2, "an unknown shell is a usage error");
    assert!(err.contains("bash"), "the valid shells are listed: {err}");
}

#[test]
fn version_names_the_commit_this_binary_was_built_from() {
    let (status, out, _) = runbook(&["--version"]);
    assert_eq!(status, 0);
    let line = out.trim();
    let commit = line
        .strip_prefix(&format!("runbook {} (commit ", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {line}"));
    let (expected, _) = build_script::git_commit(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert_eq!(commit, expected);
    if expected != "unknown" {
        assert_eq!(commit.len(), 12);
        assert!(commit.chars().all(|c| c.is_ascii_hexdigit()), "{commit}");
    }
}

#[test]
fn a_source_tree_without_git_reports_an_unknown_commit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\n").unwrap();
    let (commit, watch) = build_script::git_commit(dir.path());
    assert_eq!(commit, "unknown");
    assert!(watch.is_empty());
    // A copy unpacked inside some other checkout is not that checkout.
    let inner = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/no-git-copy");
    std::fs::create_dir_all(&inner).unwrap();
    assert_eq!(build_script::git_commit(&inner).0, "unknown");
}
