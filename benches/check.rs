//! Parse and check a generated 10,000-line runbook. Target: ≤ 50 ms.
//! Measured 2026-11-28, release, pest the only parser, on the shared 2-core
//! machine at load 7-13: parse + check 0.53-1.8 s (median 1.14 s), of which
//! parsing 0.66-2.0 s and checking 25-88 ms (median 44 ms). The target is
//! missed: pest parses about 1.5-2 MB/s (its token queue, its stack guard and
//! call-limit tracker on every rule call, and `!keyword` before every
//! identifier); the checker is not the cost.

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
