//! The README's promises, driven through the real binary: its tour of the
//! language checks and is formatted, and its first command upgrades the demo
//! sandbox cluster from 1.28 to 1.30.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let ran = crate::common::bin::Bin::new(args).run();
    (ran.code, ran.stdout, ran.stderr)
}

/// The README's tour of the language is real: it checks clean (the one
/// warning is the rotation step without rollback) and is already formatted.
#[test]
fn readme_tour_checks_and_is_formatted() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```upg\n").expect("README has a ```upg block") + 7;
    let len = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tour = dir.path().join("tour.upg");
    std::fs::write(&tour, &readme[start..start + len]).unwrap();
    let tour = tour.to_str().unwrap();
    let (status, _, stderr) = run(&["check", "--color", "never", tour]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("0 errors, 1 warning"), "{stderr}");
    let (status, _, stderr) = run(&["fmt", "--check", tour]);
    assert_eq!(status, 0, "{stderr}");
}

/// The README's first command (here on the debug binary): two hops, every
/// nodegroup rotated, add-ons moved, and the final state printed.
#[test]
fn readme_main_command_upgrades_the_demo_cluster_two_hops() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -- exec "))
        .expect("README shows the main command");
    let args: Vec<&str> = line["cargo run --release -- ".len()..]
        .split_whitespace()
        .collect();
    let (status, stdout, stderr) = run(&args);
    let all = format!("{stdout}{stderr}");
    assert_eq!(status, 0, "{all}");
    for want in [
        "cluster demo: 1.28 → 1.29",
        "cluster demo: 1.29 → 1.30",
        "add-on kube-proxy: v1.29.15-eksbuild.16 → v1.30.14-eksbuild.8",
        "cluster demo: 1.30 (ACTIVE)",
        "nodegroup general: 1.30 (ACTIVE, 3 nodes)",
        "nodegroup data: 1.30 (ACTIVE, 3 nodes)",
        "nodegroup system: 1.30 (ACTIVE, 2 nodes)",
        "nodes: 8/8 Ready",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

/// The same command with `--dry-run` plans both hops and changes nothing:
/// the plan of the second hop starts from the projected first.
#[test]
fn readme_dry_run_plans_both_hops() {
    let (status, stdout, stderr) = run(&[
        "exec",
        "playbooks/eks-minor-upgrade.upg",
        "--sandbox",
        "examples/sandbox/demo.yaml",
        "--set",
        "target=1.30",
        "--dry-run",
    ]);
    let all = format!("{stdout}{stderr}");
    assert_eq!(status, 0, "{all}");
    assert!(
        all.contains("would upgrade the control plane of cluster demo: 1.28 → 1.29"),
        "{all}"
    );
    assert!(
        all.contains("would upgrade the control plane of cluster demo: 1.29 → 1.30"),
        "{all}"
    );
    // 2 control-plane hops, kube-proxy twice, coredns once, 3 nodegroups twice.
    assert!(all.contains("Plan: 11 change(s)"), "{all}");
}
