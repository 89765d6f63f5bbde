//! Parse and check a generated 10,000-line runbook (500 KB). Target: ≤ 50 ms.
//! Measured 2026-11-28 15:03 UTC, release, on an idle 2-core machine (load
//! 0.9-1.1), criterion median [95% interval]:
//!
//! | | parse + check | parse | check |
//! |---|---|---|---|
//! | grammar of session 5, pest 2.9.6 (pest alone, no AST: 86 ms) | - | - | - |
//! | cheaper grammar, pest 2.9.6 | 87.9 ms [86.1, 90.0] | 84.8 ms | - |
//! | cheaper grammar, pest 2.8.6, one-operand fast path | 65.3 ms [59.9, 71.8] | 57.4 ms | 4.6 ms |
//!
//! The target is still missed by about 15 ms. pest itself now takes about
//! 27 ms of the parse (callgrind: 237M instructions, was 740M); the rest is
//! building the AST from pest's pairs (walking the token queue, allocating
//! names and nodes) and collecting comments. That walk is the next place to
//! look.

use criterion::{Criterion, criterion_group, criterion_main};

/// A runbook of about `lines` lines: params, a gate, then steps that query,
/// loop, call actions with keyword arguments and roll back.
fn generate(lines: usize) -> String {
    let mut out = String::from(
        "runbook big \"Generated for the benchmark\" {\n\
         \x20 param cluster: string\n\
         \x20 param target: version = 1.31\n\
         \x20 param max_unavailable: int = 1\n\
         \x20 environment prod protected { cluster = \"prod-eu\" max_unavailable = 2 }\n\
         \x20 precondition \"no ERROR insights\" {\n\
         \x20   eks.insights(cluster, status: \"ERROR\").len() == 0\n\
         \x20 } else \"fix them first\"\n\
         \x20 gate healthy {\n\
         \x20   k8s.nodes().all(n => n.ready && !n.unschedulable)\n\
         \x20   within 10m every 15s\n\
         \x20   consecutive 2\n\
         \x20 }\n",
    );
    let mut i = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "  step \"add-on batch {i}\" during healthy {{\n\
             \x20   let before = eks.addons(cluster)\n\
             \x20   for addon in before.filter(a => a.status == \"ACTIVE\" && a.name != \"coredns\") {{\n\
             \x20     eks.update_addon(cluster, addon.name, version: eks.default_addon_version(addon.name, target), resolve_conflicts: \"OVERWRITE\")\n\
             \x20   }}\n\
             \x20   await k8s.pods(namespace: \"kube-system\").all(p => p.ready) within 5m every 10s\n\
             \x20   log \"batch {i}: ${{before.len()}} add-ons on ${{cluster}}\"\n\
             \x20   rollback {{\n\
             \x20     for a in before {{ eks.update_addon(cluster, a.name, version: a.version) }}\n\
             \x20   }}\n\
             \x20 }}\n"
        ));
        i += 1;
    }
    out.push_str("}\n");
    out
}

fn bench(c: &mut Criterion) {
    let text = generate(10_000);
    // Fail loudly rather than time a program that does not parse or check.
    let (sources, parsed) = runbook::syntax::parse_str("big.upg", &text);
    let file = parsed.expect("generated runbook parses");
    let diags = runbook::analyze::check_files(&sources, std::slice::from_ref(&file));
    assert!(
        diags.is_empty(),
        "generated runbook has findings: {diags:?}"
    );

    c.bench_function("parse+check 10k lines", |b| {
        b.iter(|| {
            let (sources, parsed) = runbook::syntax::parse_str("big.upg", &text);
            let file = parsed.expect("parses");
            runbook::analyze::check_files(&sources, std::slice::from_ref(&file))
        })
    });
}

/// The two halves apart, to see which one to optimise.
fn halves(c: &mut Criterion) {
    let text = generate(10_000);
    c.bench_function("parse 10k lines", |b| {
        b.iter(|| {
            runbook::syntax::parse_str("big.upg", &text)
                .1
                .expect("parses")
        })
    });
    let (sources, parsed) = runbook::syntax::parse_str("big.upg", &text);
    let file = parsed.expect("parses");
    c.bench_function("check 10k lines", |b| {
        b.iter(|| runbook::analyze::check_files(&sources, std::slice::from_ref(&file)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench, halves
}
criterion_main!(benches);
