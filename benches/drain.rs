//! Requests per node drain (run with `cargo bench --bench drain`): the
//! engine's drain (`k8s.drain`, `cloud::drain::Drainer` through kube-rs)
//! against `kubectl drain`, each on its own sandbox started from the same
//! fixture and seed, draining the same node, counted from the sandbox's
//! request log. Target: the engine sends at most half of kubectl's requests.
//!
//! Both run at time scale 1 (wall time): kubectl polls every pod it evicted
//! once a wall second until it is gone, so a faster clock would understate
//! it; the engine waits in simulated time and is the same at any scale.
//! Discovery and the engine's one clock probe (`/version`) are per process,
//! not per drain, and are counted apart.
//!
//! Measured 2026-11-28 (kubectl 1.32.4, shared 2-core machine under load),
//! draining the busiest node of small.yaml (3 evictable pods): the same
//! counts in a release build (`cargo bench --bench drain`, load 10-12) and
//! a debug one (`cargo test --bench drain`, load 12); counts do not depend
//! on the build or the load.
//! - default termination (~1 s): engine 7 requests (+1 setup), kubectl 16
//!   (+11 discovery): **0.44×, met**. Engine: GET node, PATCH node, 1 pod
//!   list, 3 evictions, 1 watch of the node's pods; kubectl: GET node, PATCH
//!   node, 1 pod list, 4 DaemonSet GETs, 3 evictions, 6 pod GETs.
//! - a 20 s preStop hook on every Deployment pod: engine 7 (+1), kubectl 56
//!   (+11): **0.12×, met**. The engine's one watch against kubectl's 46 pod
//!   GETs: the engine's count no longer grows with how long pods take.
//!
//! Before (same day): engine 9 and 13 (0.56×, missed; 0.23×). It listed
//! every PodDisruptionBudget before evicting, and polled the node's pods
//! right after the evictions, then every 5 s. Now (`src/cloud/drain.rs`) the
//! PDBs are listed on the first 429 only, to name the blocker (the
//! eviction's own answer says that one blocks), and the wait is one watch
//! of the node's pods from the resourceVersion of the list the drain began
//! with (plus a list per 30 s without an answer, against a stalled watch:
//! none here).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use runbook::cloud::Clock;
use runbook::cloud::drain::{DrainOptions, Drainer};
use runbook::cloud::kube::Kube;
use runbook::sandbox::{Api, Fixture, RequestRecord, Sandbox, SandboxOptions};

#[allow(dead_code)]
#[path = "../tests/sandbox/common.rs"]
mod common;

/// Requests one drain sent, split into per-drain work and per-process setup.
#[derive(Default, Debug)]
struct Count {
    total: usize,
    setup: usize,
    by_kind: std::collections::BTreeMap<String, usize>,
}

impl Count {
    fn of(records: &[RequestRecord]) -> Count {
        let mut c = Count::default();
        for r in records.iter().filter(|r| r.api == Api::Kube) {
            if is_setup(&r.path) {
                c.setup += 1;
                continue;
            }
            c.total += 1;
            *c.by_kind.entry(kind(r)).or_default() += 1;
        }
        c
    }
}

fn is_setup(path: &str) -> bool {
    path == "/version"
        || path == "/api"
        || path == "/apis"
        || path.starts_with("/openapi")
        || path.split('/').count() <= 4 && (path.starts_with("/apis/") || path == "/api/v1")
}

/// `GET pods`, `POST pods/eviction`, ...: the method and the resource.
fn kind(r: &RequestRecord) -> String {
    let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let rest = match segs.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => &segs[..],
    };
    let rest = match rest {
        ["namespaces", _, rest @ ..] if !rest.is_empty() => rest,
        r => r,
    };
    let resource = match rest {
        [res] => format!("{res} (list)"),
        [res, _] => res.to_string(),
        [res, _, sub, ..] => format!("{res}/{sub}"),
        _ => r.path.clone(),
    };
    format!("{} {resource}", r.method)
}

fn fixture(pre_stop: Option<u32>) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sandbox/small.yaml");
    let mut text = std::fs::read_to_string(path).unwrap();
    if let Some(s) = pre_stop {
        // Every Deployment's pods get a preStop hook of `s` seconds.
        let (head, tail) = text
            .split_once("  daemonSets:")
            .expect("small.yaml has DaemonSets");
        let hooked = head.replace(
            "\n      replicas:",
            &format!("\n      preStopSeconds: {s}\n      replicas:"),
        );
        text = format!("{hooked}  daemonSets:{tail}");
    }
    Fixture::from_yaml("small.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
}

async fn start(pre_stop: Option<u32>) -> Sandbox {
    Sandbox::start(
        fixture(pre_stop),
        SandboxOptions {
            time_scale: 1.0,
            ..Default::default()
        },
    )
    .await
    .expect("sandbox starts")
}

/// The node to drain: the one with the most pods a drain evicts (not
/// DaemonSet pods), first by name on a tie; the same on every sandbox of the
/// fixture, since the world is deterministic.
fn busiest_node(sb: &Sandbox) -> (String, usize) {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for p in sb.pods() {
        let daemon = p.name.starts_with("log-agent-")
            || p.namespace == "kube-system" && !p.name.starts_with("coredns-");
        if let (Some(node), false) = (p.node, daemon) {
            *counts.entry(node).or_default() += 1;
        }
    }
    let (node, n) = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .expect("a node with pods");
    (node, n)
}

async fn engine(pre_stop: Option<u32>) -> (Count, Duration, usize) {
    let sb = start(pre_stop).await;
    let (node, pods) = busiest_node(&sb);
    let client = common::kube(&sb).await;
    let kube = Kube::new(client.clone(), Clock::of_target(&client).await);
    let before = sb.requests().len();
    let progress = |_: &str| {};
    let drainer = Drainer::new(&kube, &progress);
    let opts = DrainOptions {
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    let started = Instant::now();
    let report = drainer
        .drain(&node, &opts)
        .await
        .expect("the engine drains");
    let took = started.elapsed();
    assert_eq!(report.evicted.len(), pods, "{report:?}");
    let mut count = Count::of(&sb.requests()[before..]);
    // The clock probe is made once per run, like discovery.
    count.setup += 1;
    sb.shutdown().await;
    (count, took, pods)
}

async fn kubectl(bin: &PathBuf, pre_stop: Option<u32>) -> (Count, Duration) {
    let sb = start(pre_stop).await;
    let (node, _) = busiest_node(&sb);
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sb.write_kubeconfig(&kc).unwrap();
    let before = sb.requests().len();
    let started = Instant::now();
    let out = tokio::process::Command::new(bin)
        .env("KUBECONFIG", &kc)
        // A cold discovery cache, as on a first run.
        .env("KUBECACHEDIR", dir.path().join("cache"))
        .args([
            "drain",
            &node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=600s",
        ])
        .output()
        .await
        .expect("kubectl runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "kubectl drain: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let count = Count::of(&sb.requests()[before..]);
    sb.shutdown().await;
    (count, took)
}

fn find_kubectl() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    })
}

fn main() {
    // `cargo bench` passes filter arguments; this bench has one scenario set.
    let Some(bin) = find_kubectl() else {
        eprintln!("skipping the drain bench: kubectl not found on PATH");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (label, pre_stop) in [
        ("small.yaml, default termination", None),
        ("small.yaml, 20 s preStop on every Deployment pod", Some(20)),
    ] {
        let (ours, our_time, pods) = rt.block_on(engine(pre_stop));
        let (theirs, their_time) = rt.block_on(kubectl(&bin, pre_stop));
        let ratio = ours.total as f64 / theirs.total as f64;
        println!("drain/{label}: {pods} pods evicted from the busiest node");
        println!(
            "  engine : {:>4} requests (+{} setup) in {:.1} s  {:?}",
            ours.total,
            ours.setup,
            our_time.as_secs_f64(),
            ours.by_kind
        );
        println!(
            "  kubectl: {:>4} requests (+{} setup) in {:.1} s  {:?}",
            theirs.total,
            theirs.setup,
            their_time.as_secs_f64(),
            theirs.by_kind
        );
        println!(
            "  ratio {ratio:.2}× (target ≤ 0.50×): {}",
            if ratio <= 0.5 { "met" } else { "MISSED" }
        );
    }
}
