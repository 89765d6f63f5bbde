//! Resume reads and validates a whole journal before anything else happens;
//! a long upgrade (many nodegroups, many drains) can write tens of thousands
//! of records. Target: reading + classifying 10,000 records in under 100 ms
//! (release). Measured with `--profile dev` only: 277 ms read, 36 ms classify.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use runbook::durable::journal::{self, Journal};
use runbook::durable::{ActionKey, ActionOutcome, Record, ResumeState, SystemClock};
use serde_json::json;

fn write_journal(dir: &std::path::Path, actions: u32) -> std::path::PathBuf {
    let path = dir.join("journal.jsonl");
    let mut j = Journal::create(&path, Arc::new(SystemClock)).unwrap();
    for i in 0..actions {
        let key = ActionKey::new(format!("drain-{}", i / 50), i % 50, &json!({"node": i}));
        j.append(Record::ActionIntent {
            key: key.clone(),
            action: "k8s.evict".into(),
            client_request_token: None,
            request: json!({"pod": format!("app-{i}"), "namespace": "payments"}),
        })
        .unwrap();
        j.append(Record::ActionResult {
            key,
            outcome: ActionOutcome::Ok {
                result: json!({"evicted": true}),
            },
        })
        .unwrap();
    }
    path
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_journal(dir.path(), 5_000);
    c.bench_function("read and validate 10k records", |b| {
        b.iter(|| black_box(journal::read(&path).unwrap()))
    });
    let contents = journal::read(&path).unwrap();
    c.bench_function("classify 10k records for resume", |b| {
        b.iter(|| black_box(ResumeState::from_journal(&contents)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
