//! `parallel for`: branches that really overlap in simulated time, at most
//! `limit` at once; a failing branch that stops its siblings and a rollback
//! that undoes every branch's completed steps; the dry run's duration.

use std::time::Duration;

use runbook::interp::RunStatus;
use runbook::interp::report::StepStatus;

use crate::common::{execute, root, start};

fn load(text: &str) -> runbook::syntax::Program {
    match runbook::syntax::load_text("parallel.upg", text.to_string(), &root()) {
        Ok(p) => p,
        Err((sources, diags)) => {
            let (out, _) = runbook::diagnostic::render_all(&diags, &sources, false);
            panic!("test runbook does not load:\n{out}");
        }
    }
}

const WAITS: &str = r#"
runbook waits "two waits" {
  param cluster: string
  param at_once: int = 2
  parallel for x in ["a", "b"] limit at_once {
    step "wait ${x}" {
      pause 20m
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn branches_overlap_in_simulated_time_at_most_limit_at_once() {
    let (_sandbox, cloud) = start("small.yaml").await;
    let program = load(WAITS);
    let (both, lines) = execute(&program, &cloud, None, &["cluster=demo"], false, None).await;
    assert_eq!(both.status, RunStatus::Succeeded, "{}", lines.join("\n"));
    let waits: Vec<_> = both
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Done)
        .collect();
    assert_eq!(waits.len(), 2, "{:?}", both.steps);
    assert!(
        waits
            .iter()
            .all(|s| s.elapsed >= Duration::from_secs(20 * 60))
    );
    // Two 20-minute waits side by side: about 20 minutes, not 40.
    assert!(
        both.elapsed < Duration::from_secs(30 * 60),
        "took {:?}\n{}",
        both.elapsed,
        lines.join("\n")
    );
    // Every line of a branch says which one it is.
    assert!(
        lines.iter().any(|l| l.contains("[a] ▶ wait a")),
        "{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| l.contains("[b] ✓ wait b")),
        "{}",
        lines.join("\n")
    );

    let (one, lines) = execute(
        &program,
        &cloud,
        None,
        &["cluster=demo", "at_once=1"],
        false,
        None,
    )
    .await;
    assert_eq!(one.status, RunStatus::Succeeded, "{}", lines.join("\n"));
    assert!(
        one.elapsed >= Duration::from_secs(40 * 60),
        "limit 1 runs one at a time: {:?}",
        one.elapsed
    );

    // The dry run plans both branches and says how long the stage takes.
    let (plan, lines) = execute(&program, &cloud, None, &["cluster=demo"], true, None).await;
    assert_eq!(plan.status, RunStatus::Planned, "{}", lines.join("\n"));
    assert_eq!(plan.steps.len(), 2, "{:?}", plan.steps);
    // Each pause is part of its step's predicted time, and the stage lasts
    // as its longest branch, not the sum.
    assert!(
        plan.steps
            .iter()
            .all(|s| s.predicted == Duration::from_secs(20 * 60)),
        "{:?}",
        plan.steps
    );
    let text = plan.render_text();
    assert!(text.contains("about 20m if every gate passes"), "{text}");
    let (plan, _) = execute(
        &program,
        &cloud,
        None,
        &["cluster=demo", "at_once=1"],
        true,
        None,
    )
    .await;
    let text = plan.render_text();
    assert!(text.contains("about 40m if every gate passes"), "{text}");
}

/// Branch `a` cordons its node, then fails; branch `b` cordons its node,
/// then waits an hour. `a`'s failure stops `b`'s wait at once, and the
/// rollback uncordons both nodes.
const FAILS: &str = r#"
runbook fails "one branch fails" {
  param cluster: string
  let names = k8s.nodes().map(n => n.name)
  parallel for node in [names[0], names[1]] limit 2 {
    step "cordon ${node}" {
      k8s.cordon(node)
      rollback {
        k8s.uncordon(node)
      }
    }
    if node == names[0] {
      step "fail on ${node}" {
        pause 5m
        fail "boom on ${node}"
      }
    } else {
      step "long wait on ${node}" {
        pause 1h
      }
    }
  }
  step "never reached" {
    pause 1m
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_branch_stops_its_sibling_and_both_are_rolled_back() {
    let (sandbox, cloud) = start("small.yaml").await;
    let program = load(FAILS);
    let (summary, lines) = execute(&program, &cloud, None, &["cluster=demo"], false, None).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::RolledBack, "{text}");
    assert!(
        summary.errors[0].message.contains("boom on"),
        "the failing branch's error is the run's: {:?}",
        summary.errors
    );
    // The sibling's hour-long wait was stopped at its next safe point.
    assert!(
        summary.elapsed < Duration::from_secs(30 * 60),
        "took {:?}\n{text}",
        summary.elapsed
    );
    let long = summary
        .steps
        .iter()
        .find(|s| s.title.starts_with("long wait"))
        .expect("the sibling's step ran");
    assert_eq!(long.status, StepStatus::Failed, "{text}");
    assert!(!summary.steps.iter().any(|s| s.title == "never reached"));
    // Both branches' completed steps were undone.
    let rolled: Vec<_> = summary
        .rollbacks
        .iter()
        .filter(|(t, s, _)| t.starts_with("cordon") && *s == StepStatus::RolledBack)
        .collect();
    assert_eq!(rolled.len(), 2, "{:?}\n{text}", summary.rollbacks);
    assert!(
        sandbox.nodes().iter().all(|n| !n.unschedulable),
        "{:?}",
        sandbox.nodes()
    );
}

/// The control plane, then every nodegroup rotated in its own branch.
const ROTATE: &str = r#"
runbook rotate "nodegroups in parallel" {
  param cluster: string

  step "control plane" irreversible {
    eks.update_cluster_version(cluster, 1.29)
  }
  step "add-ons" {
    for a in eks.addons(cluster) {
      eks.update_addon(cluster, a.name, version: eks.default_addon_version(a.name, 1.29))
    }
  }
  parallel for ng in eks.nodegroups(cluster) limit 3 {
    step "rotate ${ng}" {
      nodegroup.rotate(cluster, ng, version: 1.29)
      rollback {
        nodegroup.undo_rotation(cluster, ng, version: 1.29)
      }
    }
  }
}
"#;

fn journal(dir: &std::path::Path) -> Vec<runbook::durable::Entry> {
    runbook::durable::journal::read(&dir.join("journal.jsonl"))
        .unwrap()
        .entries
}

fn finished(entries: &[runbook::durable::Entry], title: &str) -> bool {
    entries.iter().any(|e| {
        matches!(&e.record, runbook::durable::Record::StepFinished { step, .. } if step.contains(title))
    })
}

fn started(entries: &[runbook::durable::Entry], title: &str) -> bool {
    entries.iter().any(|e| {
        matches!(&e.record, runbook::durable::Record::StepStarted { step } if step.contains(title))
    })
}

/// Killed while one rotation has finished and another is under way, then
/// resumed: the finished branch is replayed, the unfinished one re-entered,
/// and no accepted mutation is sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_parallel_stage_resumes_without_sending_a_mutation_twice() {
    use runbook::durable::{
        Fingerprint, ResumePlan, ResumeState, RunHeader, RunId, RunStore, SystemClock,
    };
    use runbook::interp::durable::Durable;

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rotate.upg");
    std::fs::write(&path, ROTATE).unwrap();
    let program = runbook::syntax::load(&path).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let (sandbox, cloud) = start("demo.yaml").await;
    let store = RunStore::new(tmp.path().join(".runbook"));
    let now = jiff::Timestamp::now();
    let header = RunHeader::new(
        RunId::generate(now),
        path.display().to_string(),
        Fingerprint::of_sources(&program.sources),
        "demo",
        now,
    );
    let durable = Durable::new(
        store.start(header, SystemClock::shared()).unwrap(),
        ResumeState::default(),
    );
    let id = durable.run_id();
    let dir = durable.dir();
    let groups = ["general", "data", "system"];

    // The kill: one group's rotation done, another's still running.
    let killed = |entries: &[runbook::durable::Entry]| {
        let done = groups
            .iter()
            .filter(|g| finished(entries, &format!("rotate {g}")))
            .count();
        let running = groups.iter().any(|g| {
            started(entries, &format!("rotate {g}")) && !finished(entries, &format!("rotate {g}"))
        });
        done >= 1 && running
    };
    tokio::select! {
        (summary, lines) = execute(&program, &cloud, None, &["cluster=demo"], false, Some(&durable)) => {
            panic!("the run ended before the kill: {:?}\n{}", summary.status, lines.join("\n"))
        }
        () = async { while !killed(&journal(&dir)) { tokio::time::sleep(Duration::from_millis(5)).await } } => {}
    }
    drop(durable);
    cloud.clock.reset_cancel();
    let at_kill = journal(&dir);
    // Each branch journals in its own lane.
    let lanes: std::collections::HashSet<_> =
        at_kill.iter().filter_map(|e| e.branch.clone()).collect();
    assert!(lanes.len() >= 2, "{lanes:?}");
    assert!(lanes.iter().all(|l| l.starts_with("ng[")), "{lanes:?}");

    let plan = ResumePlan::prepare(&store, &id, false).expect("resumable");
    let (run, state) = plan.begin(SystemClock::shared()).unwrap();
    let resumed = Durable::new(run, state);
    let (summary, lines) = execute(
        &program,
        &cloud,
        None,
        &["cluster=demo"],
        false,
        Some(&resumed),
    )
    .await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::Succeeded, "{text}");
    // The finished branch's rotation came from the journal.
    assert!(text.contains("done in an earlier attempt"), "{text}");
    assert!(
        sandbox.nodegroups().iter().all(|n| n.version == "1.29"),
        "{:?}",
        sandbox.nodegroups()
    );
    assert!(
        sandbox.nodes().iter().all(|n| n.version == "1.29"),
        "{:?}",
        sandbox.nodes()
    );
    // No accepted mutation twice: one update per nodegroup, add-on and
    // the control plane.
    let mut seen: std::collections::HashMap<(String, String), usize> = Default::default();
    for r in sandbox.mutations() {
        if r.path.contains("/leases") || r.status >= 400 {
            continue;
        }
        *seen.entry((r.method.clone(), r.path.clone())).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}\n{text}");
    for g in groups {
        let updates = seen
            .keys()
            .filter(|(_, p)| p.contains(&format!("/node-groups/{g}/update-version")))
            .count();
        assert_eq!(updates, 1, "{g}: {seen:?}");
    }
}
