//! Parse-only and format throughput of the front end (the checker's bench
//! covers parse + check). Targets (release, one core): the shipped playbook
//! parses in under 1 ms and a 4,100-line file parses and formats in under
//! 50 ms, so `runbook fmt` and `check` over a repository feel instant.
//! Measured 2026-11-28 with pest alone (the fast path is gone), release, on
//! the shared 2-core machine at load 7-13 (so wall times are inflated, about
//! 3x by the input work's estimate): the playbook parses in 4.8-6.9 ms and
//! formats in 4.7-9.1 ms; the large file parses in 0.28-0.45 s and formats in
//! 0.33-0.51 s. Both targets are missed; pest is the cost (docs/running.md,
//! "Limits", has the profile).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runbook::format::format_source;
use runbook::syntax::parse_str;

fn playbook() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/playbooks/eks-minor-upgrade.upg"
    );
    std::fs::read_to_string(path).expect("shipped playbook")
}

/// The playbook's runbook repeated under distinct names (~4,100 lines).
fn large() -> String {
    let text = playbook();
    let start = text.find("/// Move").expect("runbook doc");
    let runbook = &text[start..];
    let mut out = text[..start].to_string();
    for i in 0..40 {
        out.push_str(
            &runbook.replace("runbook eks_minor_upgrade", &format!("runbook upgrade_{i}")),
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("syntax");
    for (name, text) in [("playbook", playbook()), ("large", large())] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| parse_str("bench.upg", &text).1.expect("parses"))
        });
        group.bench_function(format!("fmt/{name}"), |b| {
            b.iter(|| format_source("bench.upg", &text).expect("formats"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
