//! Speed of custom checks: building a sandboxed engine per run must stay
//! cheap, and every stdlib check must scan a large cluster well inside its
//! 2 s deadline (target: under 50 ms each for 5 000 pods).

use criterion::{Criterion, criterion_group, criterion_main};
use runbook::checks::{self, CheckRunner, ClusterSnapshot, Origin, Params};
use runbook::source::{SourceFile, SourceMap};
use serde_json::json;

fn large_cluster(pods: usize, nodes: usize) -> ClusterSnapshot {
    let nodes: Vec<_> = (0..nodes)
        .map(|i| json!({"name": format!("node-{i}"), "kubelet_version": "v1.29.3-eks-1", "ready": true}))
        .collect();
    let pods: Vec<_> = (0..pods)
        .map(|i| {
            json!({
                "namespace": format!("ns-{}", i % 50), "name": format!("pod-{i}"), "phase": "Running",
                "ready": true, "labels": {"app": format!("app-{}", i % 500)},
                "containers": [{"name": "main", "image": format!("public.ecr.aws/app/app-{}:1.{}", i % 500, i % 7)}]
            })
        })
        .collect();
    let deployments: Vec<_> = (0..500)
        .map(|i| json!({"namespace": format!("ns-{}", i % 50), "name": format!("app-{i}"), "replicas": 10, "ready_replicas": 10}))
        .collect();
    let pdbs: Vec<_> = (0..500)
        .map(|i| json!({"namespace": format!("ns-{}", i % 50), "name": format!("app-{i}"), "min_available": 1, "selector": {"app": format!("app-{i}")}}))
        .collect();
    serde_json::from_value(json!({
        "collected_at": "2026-01-10T12:00:00Z",
        "cluster": {"name": "big", "version": "1.29"},
        "nodes": nodes, "pods": pods, "deployments": deployments, "pdbs": pdbs
    }))
    .expect("valid snapshot")
}

fn bench(c: &mut Criterion) {
    let mut sources = SourceMap::new();
    let values = large_cluster(5_000, 200).to_script().expect("converts");
    let runner = CheckRunner::default();
    let params = Params::new();
    for check in checks::STDLIB {
        let file = sources.add(SourceFile::new(check.path, None, check.source.to_string()));
        let compiled =
            checks::compile(check.name, check.source, &Origin::file(file)).expect("compiles");
        c.bench_function(&format!("run {} on 5000 pods", check.name), |b| {
            b.iter(|| runner.run(&compiled, &values, &params).expect("runs"))
        });
    }
    let file = sources.add(SourceFile::new("t.rhai", None, "true".to_string()));
    let trivial = checks::compile("t", "true", &Origin::file(file)).expect("compiles");
    let empty = ClusterSnapshot::default().to_script().expect("converts");
    c.bench_function("engine per run (trivial check)", |b| {
        b.iter(|| runner.run(&trivial, &empty, &params).expect("runs"))
    });
    c.bench_function("compile addons_compatible", |b| {
        let check = checks::stdlib_check("addons_compatible").expect("exists");
        b.iter(|| checks::compile(check.name, check.source, &Origin::file(file)).expect("compiles"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
