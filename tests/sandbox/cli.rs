//! `runbook sandbox serve` driven as a user runs it: the real binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::common::example;

fn runbook() -> Command {
    crate::common::bin::command()
}

#[test]
fn bad_fixture_exits_1_with_location_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(
        &path,
        "cluster:\n  name: x\n  version: \"1.28\"\nnodegroup: []\n",
    )
    .unwrap();
    let out = runbook()
        .args(["sandbox", "serve"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.yaml:4:1"), "{err}");
    assert!(err.contains("unknown field `nodegroup`"), "{err}");
    assert!(err.contains("help:") && err.contains("nodegroups"), "{err}");
}

#[test]
fn bad_faults_spec_is_a_usage_error() {
    let out = runbook()
        .args(["sandbox", "serve", "x.yaml", "--faults", "5xx=7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not between 0 and 1"), "{err}");
}

#[test]
fn serve_prints_endpoint_writes_kubeconfig_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc.yaml");
    let mut child = runbook()
        .args(["sandbox", "serve"])
        .arg(example("small.yaml"))
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["--time-scale", "0", "--seed", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("sandbox cluster demo (us-west-2) serving on http://127.0.0.1:"),
        "{first}"
    );
    let endpoint = first.rsplit(' ').next().unwrap().to_string();
    let exports: Vec<String> = lines.by_ref().take(4).map(|l| l.unwrap()).collect();
    assert!(
        exports
            .iter()
            .any(|l| l.contains(&format!("AWS_ENDPOINT_URL_EKS={endpoint}"))),
        "{exports:?}"
    );
    let config = std::fs::read_to_string(&kc).unwrap();
    assert!(config.contains(&format!("server: {endpoint}")), "{config}");
    assert!(config.contains("current-context: demo"));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}
