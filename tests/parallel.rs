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
