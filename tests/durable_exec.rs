//! Durable runs through the interpreter against the in-process sandbox: the
//! journal matches what the sandbox saw, a resumed run never sends a
//! mutation twice, a second run is refused by the cluster lock, and reports
//! are written. One test binary; each test starts its own sandbox.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use runbook::durable::journal;
use runbook::durable::{
    ClusterLock, Fingerprint, LockOptions, Record, ResumePlan, ResumeState, RunHeader, RunId,
    RunStore, SystemClock,
};
use runbook::interp::durable::Durable;
use runbook::interp::{self, Cloud, RunStatus};
use runbook::sandbox::{RequestRecord, Sandbox, SandboxOptions};

use crate::common::{fixture, root, start};

const UPGRADE: &str = r#"
runbook small "control plane and add-ons" {
  param cluster: string

  step "control plane" irreversible {
    eks.update_cluster_version(cluster, 1.29)
  }
  step "add-ons" {
    for a in eks.addons(cluster) {
      eks.update_addon(cluster, a.name, version: eks.default_addon_version(a.name, 1.29))
    }
  }
}
"#;

/// The runbook on disk (the journal fingerprints it) and loaded.
fn write_runbook(dir: &Path) -> (PathBuf, runbook::syntax::Program) {
    let path = dir.join("upgrade.upg");
    std::fs::write(&path, UPGRADE).unwrap();
    let program = runbook::syntax::load(&path).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    (path, program)
}

fn new_run(store: &RunStore, path: &Path, program: &runbook::syntax::Program) -> Durable {
    let now = jiff::Timestamp::now();
    let header = RunHeader::new(
        RunId::generate(now),
        path.display().to_string(),
        Fingerprint::of_sources(&program.sources),
        "demo",
        now,
    );
    let run = store.start(header, SystemClock::shared()).unwrap();
    Durable::new(run, ResumeState::default())
}

/// Take over a prepared resume as the next attempt of its run.
fn resume(plan: ResumePlan) -> Durable {
    let (run, state) = plan.begin(SystemClock::shared()).unwrap();
    Durable::new(run, state)
}

async fn exec(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    durable: &Durable,
) -> (interp::RunSummary, String) {
    exec_with(program, cloud, durable, &[]).await
}

async fn exec_with(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    durable: &Durable,
    sets: &[&str],
) -> (interp::RunSummary, String) {
    let mut sets = sets.to_vec();
    sets.push("cluster=demo");
    let (summary, lines) =
        crate::common::execute(program, cloud, None, &sets, false, Some(durable)).await;
    (summary, lines.join("\n"))
}

/// Mutating requests of the two cloud APIs, without the lock's own Lease
/// traffic.
fn mutations(sandbox: &Sandbox) -> Vec<RequestRecord> {
    sandbox
        .mutations()
        .into_iter()
        .filter(|r| !r.path.contains("/leases"))
        .collect()
}

fn records(dir: &Path) -> Vec<Record> {
    journal::read(&dir.join("journal.jsonl"))
        .unwrap()
        .records()
        .cloned()
        .collect()
}

fn assert_none_twice(sent: &[RequestRecord]) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for r in sent {
        *seen.entry((r.method.clone(), r.path.clone())).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_journals_each_mutation_the_sandbox_saw_and_writes_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, program) = write_runbook(tmp.path());
    let (sandbox, cloud) = start("demo.yaml").await;
    let durable = new_run(&RunStore::new(tmp.path().join(".runbook")), &path, &program);
    let (summary, text) = exec(&program, &cloud, &durable).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{text}");

    let recs = records(&durable.dir());
    let mut intents = 0;
    let mut applied = 0;
    for (i, r) in recs.iter().enumerate() {
        if let Record::ActionIntent {
            key,
            client_request_token,
            ..
        } = r
        {
            intents += 1;
            assert_eq!(
                client_request_token.as_deref(),
                Some(key.client_request_token(&durable.run_id()).as_str())
            );
            // Its result follows before anything else happens.
            match &recs[i + 1] {
                Record::ActionResult {
                    key: k,
                    outcome: runbook::durable::ActionOutcome::Ok { result },
                } if k == key => {
                    if result["changed"] == true {
                        applied += 1;
                    }
                }
                other => panic!("intent {key} followed by {other:?}"),
            }
        }
    }
    // One control-plane update and one per add-on, each sent exactly once.
    let sent = mutations(&sandbox);
    assert!(intents >= 2, "{recs:?}");
    assert_eq!(applied, sent.len(), "{sent:?}\n{recs:?}");
    assert_none_twice(&sent);
    assert!(
        sent.iter().all(|r| r.method == "POST"),
        "only updates: {sent:?}"
    );
    assert!(matches!(recs.last(), Some(Record::RunFinished { .. })));

    // The lock was taken and released.
    assert!(
        sandbox
            .mutations()
            .iter()
            .any(|r| r.path.contains("/leases")),
        "the run took the cluster lock"
    );
    let md = std::fs::read_to_string(durable.dir().join("report.md")).unwrap();
    let json = std::fs::read_to_string(durable.dir().join("report.json")).unwrap();
    for step in ["control-plane", "add-ons"] {
        assert!(md.contains(step), "{md}");
        assert!(json.contains(step), "{json}");
    }
    assert!(text.contains("report: "), "{text}");
}

/// Stopped while the control-plane update is in flight, then resumed: the
/// update is waited for, not sent again, and the run completes.
#[tokio::test(flavor = "multi_thread")]
async fn resume_after_an_interrupt_sends_no_mutation_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, program) = write_runbook(tmp.path());
    let (sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));
    let durable = new_run(&store, &path, &program);
    let id = durable.run_id();

    let clock = cloud.clock.clone();
    let sandbox_ref = &sandbox;
    let interrupt = async move {
        while !mutations(sandbox_ref)
            .iter()
            .any(|r| r.path.ends_with("/updates"))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        clock.cancel();
    };
    let ((first, text), ()) = tokio::join!(exec(&program, &cloud, &durable), interrupt);
    assert_eq!(first.status, RunStatus::Failed, "{text}");
    drop(durable);
    let after_first = mutations(&sandbox).len();
    assert_eq!(after_first, 1, "only the control-plane update went out");

    let plan = ResumePlan::prepare(&store, &id, false).expect("resumable");
    let resumed = resume(plan);
    let (second, text) = exec(&program, &cloud, &resumed).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{text}");
    assert!(text.contains("in progress; waiting"), "{text}");

    let sent = mutations(&sandbox);
    assert!(
        sent.len() > after_first,
        "the add-ons were updated: {sent:?}"
    );
    assert_none_twice(&sent);
    let recs = records(&resumed.dir());
    assert!(recs.iter().any(|r| matches!(r, Record::Resumed { .. })));
}

/// A crash right after an intent was journalled: on resume the action is in
/// doubt, the state is probed, and nothing is re-sent.
#[tokio::test(flavor = "multi_thread")]
async fn resume_after_a_crash_between_intent_and_result_probes_instead_of_resending() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, program) = write_runbook(tmp.path());
    let (sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));
    let durable = new_run(&store, &path, &program);
    let id = durable.run_id();
    let (summary, text) = exec(&program, &cloud, &durable).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{text}");
    let dir = durable.dir();
    drop(durable);
    let before = mutations(&sandbox);

    // Cut the journal right after the first add-on's intent, as a crash
    // after the request went out but before its result was written would.
    let journal_path = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines
        .iter()
        .position(|l| l.contains("\"action_intent\"") && l.contains("update_addon"))
        .expect("an add-on intent");
    std::fs::write(&journal_path, lines[..=cut].join("\n") + "\n").unwrap();

    let plan = ResumePlan::prepare(&store, &id, false).expect("resumable");
    assert_eq!(plan.state.in_doubt().count(), 1);
    let resumed = resume(plan);
    let (second, text) = exec(&program, &cloud, &resumed).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{text}");
    assert!(
        text.contains("done in an earlier attempt"),
        "the control plane is reused: {text}"
    );
    assert_eq!(mutations(&sandbox), before, "nothing was sent again");
    // The control plane still counts as changed by its (irreversible) step,
    // so a later failure's rollback would stop there.
    assert!(
        second.steps[0]
            .changes
            .iter()
            .any(|c| c.contains("done in an earlier attempt")),
        "{:?}",
        second.steps[0].changes
    );
}

const HOPS: &str = r#"
runbook hops "control plane along the version path, then add-ons" {
  param cluster: string
  param target: version

  precondition "the cluster starts at 1.28" {
    eks.cluster(cluster).version == 1.28
  }

  for hop in eks.version_path(cluster, target) {
    step "control plane to ${hop}" irreversible {
      eks.update_cluster_version(cluster, hop)
    }
  }
  step "add-ons" {
    for a in eks.addons(cluster) {
      eks.update_addon(cluster, a.name, version: eks.default_addon_version(a.name, target))
    }
  }
}
"#;

/// A run that dies after its control-plane hop is replayed, not restarted:
/// the precondition (false on the upgraded cluster) and the version path
/// (empty on it) come from the journal, so the run continues with the
/// add-ons. Resuming it with another target is a located divergence that
/// changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn resume_replays_recorded_results_instead_of_asking_the_changed_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hops.upg");
    std::fs::write(&path, HOPS).unwrap();
    let program = runbook::syntax::load(&path).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let (sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));
    let durable = new_run(&store, &path, &program);
    let id = durable.run_id();
    let dir = durable.dir();

    // "Crash" once the control-plane step is journalled as finished: the
    // run's future is dropped and nothing more is written.
    let step_done = || {
        records(&dir)
            .iter()
            .any(|r| matches!(r, Record::StepFinished { step, .. } if step.contains("1.29")))
    };
    tokio::select! {
        (summary, text) = exec_with(&program, &cloud, &durable, &["target=1.29"]) => {
            panic!("the run ended before the crash: {:?}\n{text}", summary.status)
        }
        () = async { while !step_done() { tokio::time::sleep(Duration::from_millis(5)).await } } => {}
    }
    drop(durable);
    assert_eq!(sandbox.cluster_version(), "1.29");
    let before = mutations(&sandbox);

    // Another target: the version path is asked with other arguments than
    // the journal recorded.
    let resumed = resume(ResumePlan::prepare(&store, &id, false).unwrap());
    let (second, text) = exec_with(&program, &cloud, &resumed, &["target=1.30"]).await;
    assert_eq!(second.status, RunStatus::Interrupted, "{text}");
    let error = &second.errors[0];
    assert_eq!(error.code, "RUN045", "{error:?}");
    assert!(
        error.message.contains("journal.jsonl:"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("eks.version_path"),
        "{}",
        error.message
    );
    assert_eq!(mutations(&sandbox), before, "nothing was sent");
    drop(resumed);

    let resumed = resume(ResumePlan::prepare(&store, &id, false).unwrap());
    let (third, text) = exec_with(&program, &cloud, &resumed, &["target=1.29"]).await;
    assert_eq!(third.status, RunStatus::Succeeded, "{text}");
    assert!(text.contains("replayed"), "{text}");
    let sent = mutations(&sandbox);
    assert_none_twice(&sent);
    assert_eq!(
        sent.iter().filter(|r| r.path.ends_with("/updates")).count(),
        1,
        "one control-plane update: {sent:?}"
    );
    assert!(
        sent.iter().any(|r| r.path.contains("/addons/")),
        "the add-ons were updated: {sent:?}"
    );
    // The report lists each step once.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(resumed.dir().join("report.json")).unwrap())
            .unwrap();
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    let mut unique = steps.clone();
    unique.dedup();
    assert_eq!(steps, unique, "{report}");
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "ok"),
        "{report}"
    );
}

/// Run until `crashed` holds, then drop the run's future, as a SIGKILL
/// would: nothing more is sent or written.
async fn run_until_crash(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    durable: &Durable,
    sets: &[&str],
    crashed: impl Fn(&[Record]) -> bool,
) {
    let dir = durable.dir();
    tokio::select! {
        (summary, text) = exec_with(program, cloud, durable, sets) => {
            panic!("the run ended before the crash: {:?}\n{text}", summary.status)
        }
        () = async { while !crashed(&records(&dir)) { tokio::time::sleep(Duration::from_millis(5)).await } } => {}
    }
}

fn step_finished(records: &[Record], title: &str) -> bool {
    records
        .iter()
        .any(|r| matches!(r, Record::StepFinished { step, .. } if step.contains(title)))
}

/// The cluster's UpdateClusterVersion requests, in order.
fn control_plane_updates(sandbox: &Sandbox) -> usize {
    mutations(sandbox)
        .iter()
        .filter(|r| r.path.ends_with("/updates"))
        .count()
}

fn load(path: &Path) -> runbook::syntax::Program {
    runbook::syntax::load(path).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    })
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

fn report_steps(report: &serde_json::Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const ADDONS: &str = r#"
runbook addons "control plane, then add-ons" {
  param cluster: string
  param resolve: string = "PRESERVE"

  precondition "the cluster starts at 1.28" {
    eks.cluster(cluster).version == 1.28
  }
  step "control plane" irreversible {
    eks.update_cluster_version(cluster, 1.29)
  }
  step "add-ons" {
    for a in eks.addons(cluster) {
      eks.update_addon(cluster, a.name, version: eks.default_addon_version(a.name, 1.29), resolve_conflicts: resolve)
      # Room for the test to "crash" between two add-ons.
      pause 30m
    }
  }
}
"#;

/// The add-on update at `index` has its result in the journal, after the
/// last `Diverged` record if `forced`.
fn addon_done(records: &[Record], index: u32, forced: bool) -> bool {
    let from = if forced {
        match records
            .iter()
            .position(|r| matches!(r, Record::Diverged { .. }))
        {
            Some(i) => i,
            None => return false,
        }
    } else {
        0
    };
    records[from..].iter().any(|r| {
        matches!(r, Record::ActionResult { key, .. } if key.step.starts_with("add-ons") && key.index == index)
    })
}

fn addon_updates(sandbox: &Sandbox, addon: &str) -> usize {
    mutations(sandbox)
        .iter()
        .filter(|r| r.path.ends_with(&format!("/addons/{addon}/update")))
        .count()
}

/// `resume --force` after a divergence, as docs/durable-runs.md states it: a
/// changed `--set` is refused with RUN045 and nothing is sent; forced, what
/// the journal holds before the divergence is replayed (the precondition,
/// false on the upgraded cluster, is not judged again; the control plane is
/// not touched), everything from it on is asked of the cluster and done
/// live (add-ons already at their version are compared, not sent), the
/// report names the divergence and lists each step once, and a later resume
/// replays the run as it went on after the divergence, not the abandoned
/// records.
#[tokio::test(flavor = "multi_thread")]
async fn resume_force_after_a_changed_set_goes_live_at_the_divergence_and_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("addons.upg");
    std::fs::write(&path, ADDONS).unwrap();
    let program = load(&path);
    let (sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));
    let durable = new_run(&store, &path, &program);
    let id = durable.run_id();
    let dir = durable.dir();
    // Crash once kube-proxy (the second add-on) is updated.
    run_until_crash(&program, &cloud, &durable, &[], |r| addon_done(r, 1, false)).await;
    drop(durable);
    assert_eq!(sandbox.cluster_version(), "1.29");
    assert_eq!(addon_updates(&sandbox, "kube-proxy"), 1);
    assert_eq!(addon_updates(&sandbox, "coredns"), 0);
    let before = mutations(&sandbox);
    let recorded = records(&dir).len();

    // Without --force: RUN045 naming the journal line and both requests,
    // nothing sent, nothing recorded but the attempt.
    let resumed = resume(ResumePlan::prepare(&store, &id, false).unwrap());
    let (refused, text) = exec_with(&program, &cloud, &resumed, &["resolve=OVERWRITE"]).await;
    assert_eq!(refused.status, RunStatus::Interrupted, "{text}");
    let error = &refused.errors[0];
    assert_eq!(error.code, "RUN045", "{error:?}");
    assert!(
        error.message.contains("journal.jsonl:"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("eks.update_addon"),
        "{}",
        error.message
    );
    assert_eq!(mutations(&sandbox), before, "nothing was sent");
    let after_refusal = records(&dir);
    assert_eq!(after_refusal.len(), recorded + 1, "{after_refusal:?}");
    assert!(matches!(after_refusal.last(), Some(Record::Resumed { .. })));
    drop(resumed);

    // --force: replayed up to the divergence (the first add-on's intent),
    // live from there. Crash once coredns (the third) is done.
    let forced = resume(ResumePlan::prepare(&store, &id, true).unwrap()).forcing(true);
    run_until_crash(&program, &cloud, &forced, &["resolve=OVERWRITE"], |r| {
        addon_done(r, 2, true)
    })
    .await;
    drop(forced);
    let recs = records(&dir);
    let (from_seq, what, asked) = recs
        .iter()
        .find_map(|r| match r {
            Record::Diverged {
                from_seq,
                recorded,
                asked,
            } => Some((*from_seq, recorded.clone(), asked.clone())),
            _ => None,
        })
        .expect("the divergence is journalled");
    assert!(what.contains("eks.update_addon"), "{what}");
    assert!(asked.contains("eks.update_addon"), "{asked}");
    assert_ne!(what, asked);
    let journal = journal::read(&dir.join("journal.jsonl")).unwrap();
    let at = journal.entries.iter().find(|e| e.seq == from_seq).unwrap();
    assert!(
        matches!(&at.record, Record::ActionIntent { key, .. } if key.index == 0),
        "the divergence is the first add-on's intent: {at:?}"
    );
    // Before it, replayed: no precondition judged (it fails on 1.29), no
    // second control-plane update. From it, live: vpc-cni and kube-proxy,
    // already at their versions, are compared and not sent; coredns is sent.
    assert_eq!(
        control_plane_updates(&sandbox),
        1,
        "{:?}",
        mutations(&sandbox)
    );
    assert_eq!(addon_updates(&sandbox, "vpc-cni"), 0);
    assert_eq!(addon_updates(&sandbox, "kube-proxy"), 1);
    assert_eq!(addon_updates(&sandbox, "coredns"), 1);

    // A later resume (no --force, the same --set) replays the forced
    // attempt: no divergence, nothing sent again.
    let resumed = resume(ResumePlan::prepare(&store, &id, false).unwrap());
    let (last, text) = exec_with(&program, &cloud, &resumed, &["resolve=OVERWRITE"]).await;
    assert_eq!(last.status, RunStatus::Succeeded, "{text}");
    assert!(last.errors.is_empty(), "{:?}", last.errors);
    let sent = mutations(&sandbox);
    assert_none_twice(&sent);
    assert_eq!(control_plane_updates(&sandbox), 1, "{sent:?}");
    assert_eq!(sandbox.addon_versions()["coredns"], "v1.11.4-eksbuild.2");

    // The report: each step once, with its outcome, and the divergence.
    let report = report(&dir);
    assert_eq!(report["state"], "succeeded", "{report}");
    assert_eq!(
        report_steps(&report),
        vec![
            ("control-plane:control plane".to_string(), "ok".to_string()),
            ("add-ons:add-ons".to_string(), "ok".to_string()),
        ],
        "{report}"
    );
    assert_eq!(report["divergences"][0]["from_seq"], from_seq, "{report}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("with --force"), "{md}");
}

/// An edited runbook is refused (RUN043) before anything is replayed or
/// sent; with `--force` the replay goes live at the first record the edit
/// changed, and the live run compares with the cluster before sending: the
/// control plane, already at 1.29, is not updated again.
#[tokio::test(flavor = "multi_thread")]
async fn resume_force_after_an_edited_runbook_goes_live_and_sends_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hops.upg");
    std::fs::write(&path, HOPS).unwrap();
    let program = load(&path);
    let (sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));
    let durable = new_run(&store, &path, &program);
    let id = durable.run_id();
    let dir = durable.dir();
    run_until_crash(&program, &cloud, &durable, &["target=1.29"], |r| {
        step_finished(r, "1.29")
    })
    .await;
    drop(durable);
    let before = mutations(&sandbox);

    // The step is renamed: its journalled start no longer matches.
    std::fs::write(
        &path,
        HOPS.replace("step \"control plane to ${hop}\"", "step \"hop ${hop}\""),
    )
    .unwrap();
    let program = load(&path);
    let error = ResumePlan::prepare(&store, &id, false).unwrap_err();
    assert_eq!(error.to_diagnostic().1.code, "RUN043", "{error}");
    assert_eq!(mutations(&sandbox), before, "nothing was sent");

    let forced = resume(ResumePlan::prepare(&store, &id, true).unwrap()).forcing(true);
    let (summary, text) = exec_with(&program, &cloud, &forced, &["target=1.29"]).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{text}");
    assert_eq!(
        control_plane_updates(&sandbox),
        1,
        "the control plane is compared, not updated again: {:?}",
        mutations(&sandbox)
    );
    assert_eq!(sandbox.cluster_version(), "1.29");
    let sent = mutations(&sandbox);
    assert_none_twice(&sent);
    assert!(sent.iter().any(|r| r.path.contains("/addons/")), "{sent:?}");
    let recs = records(&dir);
    assert!(
        recs.iter().any(|r| matches!(
            r,
            Record::Diverged { recorded, asked, .. }
                if recorded.contains("control plane to 1.29") && asked.contains("hop 1.29")
        )),
        "{recs:?}"
    );
    assert!(
        recs.iter()
            .any(|r| matches!(r, Record::Resumed { forced: true, .. })),
        "the forced resume of a changed runbook is recorded"
    );
    let report = report(&dir);
    assert_eq!(report["state"], "succeeded", "{report}");
    assert_eq!(
        report_steps(&report),
        vec![
            (
                "control-plane-to-hop:control plane to 1.29".to_string(),
                "ok".to_string()
            ),
            // Listed in the order the steps first started.
            ("add-ons:add-ons".to_string(), "ok".to_string()),
            ("hop-hop:hop 1.29".to_string(), "ok".to_string()),
        ],
        "{report}"
    );
}

const GUARDED: &str = r#"
runbook guarded "control plane and add-ons of a protected cluster" {
  param cluster: string

  step "control plane" irreversible {
    eks.update_cluster_version(cluster, 1.29)
    # Room for the test to "crash" before the add-ons.
    pause 30m
  }
  step "add-ons" {
    for a in eks.addons(cluster) {
      eks.update_addon(cluster, a.name, version: eks.default_addon_version(a.name, 1.29))
    }
  }
}

environment prod protected for guarded {
  cluster = "demo"
}
"#;

/// A run of `program` in environment `prod` with these confirmation options.
async fn exec_protected(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    durable: &Durable,
    yes: bool,
) -> (interp::RunSummary, String) {
    let (summary, reporter) =
        crate::common::run(program, cloud, Some("prod"), &[], false, Some(durable), yes).await;
    (summary, reporter.lines().join("\n"))
}

/// A protected environment is confirmed once, when the run begins (here by
/// `--yes`), and journalled; a resume replays the confirmation like any
/// `confirm` instead of asking again, so it continues without `--yes` and
/// without a terminal. A new run in the same situation is refused (RUN006).
#[tokio::test(flavor = "multi_thread")]
async fn resume_replays_the_protected_environment_confirmation() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("guarded.upg");
    std::fs::write(&path, GUARDED).unwrap();
    let program = load(&path);
    let (sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));

    // Unconfirmed, a new run is refused before anything is sent.
    let unconfirmed = new_run(&store, &path, &program);
    let (refused, text) = exec_protected(&program, &cloud, &unconfirmed, false).await;
    assert_eq!(refused.status, RunStatus::Refused, "{text}");
    assert_eq!(refused.errors[0].code, "RUN006", "{:?}", refused.errors);
    assert!(mutations(&sandbox).is_empty());
    drop(unconfirmed);

    let durable = new_run(&store, &path, &program);
    let id = durable.run_id();
    let dir = durable.dir();
    let dropped = {
        let dir = dir.clone();
        let crashed = move || {
            records(&dir)
                .iter()
                .any(|r| matches!(r, Record::ActionResult { .. }))
        };
        tokio::select! {
            (summary, text) = exec_protected(&program, &cloud, &durable, true) => {
                panic!("the run ended before the crash: {:?}\n{text}", summary.status)
            }
            () = async { while !crashed() { tokio::time::sleep(Duration::from_millis(5)).await } } => true
        }
    };
    assert!(dropped);
    drop(durable);
    let confirmations = |recs: &[Record]| {
        recs.iter()
            .filter(|r| matches!(r, Record::Observed { what, value: Some(v), .. } if what == "confirm environment" && *v == serde_json::json!(true)))
            .count()
    };
    assert_eq!(confirmations(&records(&dir)), 1, "{:?}", records(&dir));

    let resumed = resume(ResumePlan::prepare(&store, &id, false).unwrap());
    let (second, text) = exec_protected(&program, &cloud, &resumed, false).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{text}");
    assert!(
        text.contains("environment `prod` is protected: confirmed when the run began (replayed)"),
        "{text}"
    );
    assert_eq!(
        confirmations(&records(&dir)),
        1,
        "not asked or recorded again"
    );
    let sent = mutations(&sandbox);
    assert_none_twice(&sent);
    assert_eq!(control_plane_updates(&sandbox), 1, "{sent:?}");
    assert!(sent.iter().any(|r| r.path.contains("/addons/")), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_is_refused_naming_the_lock_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, program) = write_runbook(tmp.path());
    let (sandbox, cloud) = start("small.yaml").await;
    let other: RunId = "20261123T000000Z-0000beef".parse().unwrap();
    let held = ClusterLock::acquire(
        cloud.kube.client().clone(),
        LockOptions::new(other.clone(), "other.upg"),
        SystemClock::shared(),
    )
    .await
    .unwrap();

    let durable = new_run(&RunStore::new(tmp.path().join(".runbook")), &path, &program);
    let (summary, text) = exec(&program, &cloud, &durable).await;
    assert_eq!(summary.status, RunStatus::Refused, "{text}");
    let error = &summary.errors[0];
    assert_eq!(error.code, "RUN008");
    assert!(error.message.contains(other.as_str()), "{}", error.message);
    assert!(mutations(&sandbox).is_empty(), "nothing was changed");
    let runs = RunStore::new(tmp.path().join(".runbook"))
        .list(jiff::Timestamp::now())
        .unwrap();
    assert_eq!(runs[0].state, runbook::durable::RunState::Refused);
    held.release().await.unwrap();
}

const PARTIAL: &str = r#"
runbook partial "add-ons rolled back after a later failure" {
  param cluster: string
  param break_it: bool = false

  step "cordon the first node" {
    k8s.cordon(k8s.nodes()[0].name)
  }
  step "add-ons" {
    let before = eks.addon(cluster, "vpc-cni")
    eks.update_addon(cluster, "vpc-cni", version: "v1.18.3-eksbuild.2")
    rollback {
      eks.update_addon(cluster, "vpc-cni", version: before.version)
    }
  }
  step "verify" when break_it {
    fail "broken on purpose"
  }
}
"#;

/// A run that failed after rolling back its add-on step is resumed: the
/// add-on update is applied again (its journalled result is stale), with a
/// fresh token so EKS does not hand back the earlier update; the cordon,
/// which was not undone, is not sent again.
#[tokio::test(flavor = "multi_thread")]
async fn resume_after_a_rollback_reapplies_the_rolled_back_step() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("partial.upg");
    std::fs::write(&path, PARTIAL).unwrap();
    let program = runbook::syntax::load(&path).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let (sandbox, cloud) = start("small.yaml").await;
    let original = sandbox.addon_versions();
    let store = RunStore::new(tmp.path().join(".runbook"));
    let durable = new_run(&store, &path, &program);
    let id = durable.run_id();
    let (first, text) = exec_with(&program, &cloud, &durable, &["break_it=true"]).await;
    assert_eq!(first.status, RunStatus::Failed, "{text}");
    assert_eq!(
        sandbox.addon_versions(),
        original,
        "add-ons rolled back: {text}"
    );
    drop(durable);

    let resumed = resume(ResumePlan::prepare(&store, &id, false).unwrap());
    let (second, text) = exec(&program, &cloud, &resumed).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{text}");
    assert_eq!(
        sandbox.addon_versions()["vpc-cni"],
        "v1.18.3-eksbuild.2",
        "vpc-cni updated again: {text}"
    );
    let sent = mutations(&sandbox);
    let count = |suffix: &str| sent.iter().filter(|r| r.path.ends_with(suffix)).count();
    // Forward, rollback, forward again; the cordon only once.
    assert_eq!(count("/addons/vpc-cni/update"), 3, "{sent:?}");
    assert_eq!(
        sent.iter().filter(|r| r.method == "PATCH").count(),
        1,
        "{sent:?}"
    );
}

/// Reports are derived from the journal: a run killed after its final
/// record but before (or while) writing its reports leaves a complete
/// journal without report.json (report.md is written first). `runbook
/// resume` writes them from the journal — the same bytes the run would have
/// written — and exits successfully; once they exist it has nothing to do
/// (RUN044).
#[tokio::test(flavor = "multi_thread")]
async fn resume_of_a_finished_run_without_its_report_writes_it_from_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, program) = write_runbook(tmp.path());
    let (_sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));
    let durable = new_run(&store, &path, &program);
    let (summary, text) = exec(&program, &cloud, &durable).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{text}");
    let id = durable.run_id();
    let dir = durable.dir();
    drop(durable);
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();

    let resume = || {
        let out = crate::common::bin::command()
            .args(["resume", id.as_str(), "--runs-dir"])
            .arg(tmp.path().join(".runbook"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Killed between the two report files, and before either.
    for missing in [&["report.json"][..], &["report.md", "report.json"][..]] {
        for name in missing {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        let (code, stderr) = resume();
        assert_eq!(code, Some(0), "{stderr}");
        assert!(
            stderr.contains("its report was missing") && stderr.contains("report.md"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("report.json")).unwrap(),
            json
        );
        assert_eq!(std::fs::read_to_string(dir.join("report.md")).unwrap(), md);
    }
    let (code, stderr) = resume();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("RUN044"), "{stderr}");
}

/// The binary: a real run prints where its journal and report are; `--step`
/// without a terminal refuses.
#[test]
fn exec_binary_prints_the_report_path_and_step_needs_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = write_runbook(tmp.path());
    let runs = tmp.path().join("state");
    let run = |extra: &[&str]| {
        let out = crate::common::bin::command()
            .args(["exec", path.to_str().unwrap(), "--yes", "--runs-dir"])
            .arg(&runs)
            .args([
                "--sandbox",
                "examples/sandbox/demo.yaml",
                "--time-scale",
                "5000",
            ])
            .args(extra)
            .current_dir(root())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    };
    let (stdout, stderr, code) = run(&["--step"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("RUN007"), "{stderr}");

    let (stdout, stderr, code) = run(&[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report = stdout
        .lines()
        .chain(stderr.lines())
        .find_map(|l| l.split("report: ").nth(1))
        .expect("the report path is printed");
    assert!(Path::new(report.trim()).exists(), "{report}");
}

/// `runbook ARGS` against a sandbox served on 127.0.0.1, as an operator
/// would run it: kubeconfig, AWS endpoint and dummy credentials.
fn command(dir: &Path, sandbox: &Sandbox, args: &[&str]) -> std::process::Command {
    let mut cmd = crate::common::bin::command();
    cmd.args(args)
        .args(["--yes", "--output", "json", "--kubeconfig"])
        .arg(dir.join("kubeconfig"))
        .arg("--runs-dir")
        .arg(dir.join(".runbook"))
        .env("AWS_ENDPOINT_URL_EKS", sandbox.endpoint())
        .env("AWS_REGION", sandbox.region())
        .env("AWS_ACCESS_KEY_ID", "sandbox")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// A lock left by a run that died is taken over, and the operator is told
/// whose it was: another run may have left the cluster half-changed.
#[tokio::test(flavor = "multi_thread")]
async fn taking_over_a_stale_lock_is_said_on_stderr() {
    use k8s_openapi::api::coordination::v1::Lease;
    let sandbox = Sandbox::start(
        fixture("small.yaml"),
        SandboxOptions {
            time_scale: 0.0,
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    sandbox
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    let kc = kube::config::Kubeconfig::read_from(dir.path().join("kubeconfig")).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let leases: kube::Api<Lease> =
        kube::Api::namespaced(kube::Client::try_from(cfg).unwrap(), "kube-system");
    let an_hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600);
    let stale: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "runbook-lock", "namespace": "kube-system"},
        "spec": {
            "holderIdentity": "alice@laptop/20261122T230000Z-0000dead",
            "leaseDurationSeconds": 60,
            "acquireTime": an_hour_ago.to_string(),
            "renewTime": an_hour_ago.to_string(),
        }
    }))
    .unwrap();
    leases.create(&Default::default(), &stale).await.unwrap();

    let file = dir.path().join("cordon.upg");
    std::fs::write(
        &file,
        "runbook cordon_one \"cordon a node\" {\n  step \"cordon\" {\n    let n = k8s.nodes()[0].name\n    k8s.cordon(n)\n    rollback { k8s.uncordon(n) }\n  }\n}\n",
    )
    .unwrap();
    let out = command(dir.path(), &sandbox, &["exec", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "WARN took over the stale cluster lock kube-system/runbook-lock from alice@laptop/20261122T230000Z-0000dead"
        ),
        "{stderr}"
    );
}

/// The issue's crash test: `runbook exec` (a separate process) is SIGKILLed at
/// seeded random moments while cordoning the nodes of a sandbox that outlives
/// it, then `runbook resume` is run (and killed) until the run finished. The
/// sandbox's request log must show every mutation exactly once.
mod crash {
    use super::*;
    use rand::{Rng, SeedableRng};

    const CORDON_ALL: &str = r#"
runbook cordon_all "cordon every node" {
  step "cordon" {
    for n in k8s.nodes() {
      k8s.cordon(n.name)
    }
  }
}
"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigkilled_exec_is_resumed_without_repeating_a_mutation() {
        let mut total_kills = 0;
        let mut resumed_mid_run = 0;
        for seed in 1..=20u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let fixture = fixture("demo.yaml");
            let sandbox = Sandbox::start(
                fixture,
                SandboxOptions {
                    time_scale: 0.0,
                    seed,
                    // Every request takes 15 ms, so the kills land across the
                    // cordons and not only during start-up.
                    faults: "latency=15ms@1".parse().unwrap(),
                    ..SandboxOptions::default()
                },
            )
            .await
            .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("cordon.upg");
            std::fs::write(&file, CORDON_ALL).unwrap();
            sandbox
                .write_kubeconfig(&dir.path().join("kubeconfig"))
                .unwrap();
            let store = RunStore::new(dir.path().join(".runbook"));
            let state = || {
                store
                    .list(jiff::Timestamp::now())
                    .unwrap()
                    .first()
                    .map(|r| (r.header.run_id.clone(), r.state))
            };
            for attempt in 0.. {
                assert!(attempt < 40, "seed {seed}: the run never finished");
                let mut cmd = match state() {
                    None => command(dir.path(), &sandbox, &["exec", file.to_str().unwrap()]),
                    Some((_, runbook::durable::RunState::Finished)) => break,
                    Some((id, _)) => command(dir.path(), &sandbox, &["resume", id.as_str()]),
                };
                let mut child = cmd.spawn().unwrap();
                // Kill points in progress, not wall time: after one or two
                // more cordons and a little into the next request (each takes
                // 15 ms), however slow the machine is. (A wall-time delay let
                // a loaded machine kill every attempt before its first
                // cordon, and the run never finished.)
                let before = mutations(&sandbox).len();
                let more = rng.random_range(1..=2);
                let into_next = Duration::from_millis(rng.random_range(0..15));
                let wall = std::time::Instant::now();
                while child.try_wait().unwrap().is_none()
                    && mutations(&sandbox).len() < before + more
                {
                    assert!(
                        wall.elapsed() < Duration::from_secs(120),
                        "seed {seed}: an attempt made no progress in 2 minutes"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(into_next).await;
                match child.try_wait().unwrap() {
                    Some(status) => {
                        let mut err = String::new();
                        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err)
                            .unwrap();
                        assert!(status.success(), "seed {seed}: {err}");
                    }
                    None => {
                        child.kill().unwrap(); // SIGKILL
                        child.wait().unwrap();
                        total_kills += 1;
                    }
                }
            }
            let nodes = sandbox.nodes();
            assert!(nodes.iter().all(|n| n.unschedulable), "seed {seed}");
            let sent = mutations(&sandbox);
            assert_eq!(sent.len(), nodes.len(), "seed {seed}: {sent:?}");
            assert_none_twice(&sent);
            let runs = store.list(jiff::Timestamp::now()).unwrap();
            assert_eq!(runs.len(), 1);
            let recs = records(&store.run_dir(&runs[0].header.run_id));
            let resumed = recs.iter().any(|r| matches!(r, Record::Resumed { .. }));
            let cut_mid_step = recs
                .iter()
                .any(|r| matches!(r, Record::ActionIntent { .. }))
                && resumed
                && recs
                    .iter()
                    .position(|r| matches!(r, Record::Resumed { .. }))
                    > recs
                        .iter()
                        .position(|r| matches!(r, Record::ActionIntent { .. }));
            resumed_mid_run += usize::from(cut_mid_step);
        }
        eprintln!("{resumed_mid_run} of 20 runs were killed after their first mutation");
        assert!(resumed_mid_run >= 3, "too few kills landed mid-run");
        eprintln!("{total_kills} kills");
        assert!(total_kills >= 20, "only {total_kills} kills");
    }
}

/// The engine's one clock follows a served sandbox: it reads the time scale
/// the sandbox advertises on its API responses, so a crash rehearsal against
/// `runbook sandbox serve` waits no longer than `--sandbox` does.
#[tokio::test(flavor = "multi_thread")]
async fn the_clock_follows_the_time_scale_a_sandbox_advertises() {
    for scale in [1.0, 250.0, 4000.0] {
        let sandbox = Sandbox::start(
            fixture("small.yaml"),
            SandboxOptions {
                time_scale: scale,
                ..SandboxOptions::default()
            },
        )
        .await
        .unwrap();
        let cloud = crate::common::connect(&sandbox).await;
        let clock = runbook::cloud::Clock::of_target(cloud.kube.client()).await;
        assert_eq!(clock.scale(), scale);
    }
}
