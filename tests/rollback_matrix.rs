//! The failure matrix (issue 12): the shipped two-hop upgrade (1.28 → 1.30 on
//! the demo fixture) with a failure injected at each step of each hop, for
//! `in_place` and `blue_green`. Faults: a gate that stops holding (a
//! kube-system Deployment no node can take), Ctrl-C, and, in the nodegroup
//! step, a PodDisruptionBudget that blocks the drain (EKS's
//! PodEvictionFailure in place; a drain timeout blue/green). After each run
//! the cluster equals its state before the failed hop (control plane,
//! add-ons, nodegroups, node readiness, no leftover group or cordon), and
//! the report's words match: every rollback "rolled back" or "kept on
//! purpose", the earlier hop "kept on purpose". The one exception is EKS's
//! own: a failed in-place rolling update leaves a node of the newer minor
//! that EKS will not replace, so the control plane cannot go back, and the
//! report must say "not undone" for both.
//!
//! A step `timeout` expiring (RUN025) is the fourth fault, at the control
//! plane's step (its update still running when the step gives up) and at
//! the add-ons' step (an add-on update cut short).
//!
//! Its own test binary (`[[test]] name = "rollback_matrix"`): about 30
//! upgrades. A representative subset runs in the integration crate
//! (`rollback::`).

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use runbook::interp::RunStatus;
use runbook::sandbox::Sandbox;

use common::faults::{
    State, break_kube_system, playbook_with_timeout, rollbacks, run_file, run_playbook,
    run_with_fault, state,
};
use common::start;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    ControlPlane,
    Addons,
    Nodegroups,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Gate,
    CtrlC,
    /// A PDB holding the drain: PodEvictionFailure in place, a drain
    /// timeout blue/green.
    Pdb,
}

fn sets(strategy: &str, target: &str) -> Vec<String> {
    vec![
        "cluster=demo".into(),
        format!("target={target}"),
        format!("strategy={strategy}"),
        "delete_emptydir_data=true".into(),
        "drain_timeout=5m".into(),
    ]
}

/// The request that starts `step` of hop `hop` (1 or 2): its path part and
/// how many such requests come before it, plus one.
fn trigger(strategy: &str, step: Step, hop: usize) -> (&'static str, usize) {
    match step {
        Step::ControlPlane => ("/clusters/demo/updates", hop),
        Step::Addons => ("/addons/kube-proxy/update", hop),
        // Three groups a hop: three version updates in place; a create and a
        // delete each blue/green.
        Step::Nodegroups if strategy == "in_place" => ("/update-version", (hop - 1) * 3 + 1),
        Step::Nodegroups => ("/node-groups", (hop - 1) * 6 + 1),
    }
}

fn title(step: Step, hop: usize) -> String {
    let minor = format!("1.{}", 28 + hop);
    match step {
        Step::ControlPlane => format!("control plane to {minor}"),
        Step::Addons => format!("add-ons for {minor}"),
        Step::Nodegroups => format!("nodegroups to {minor}"),
    }
}

/// The cluster after a clean one-hop upgrade (what hop 2's failure returns to).
async fn after_hop_one(strategy: &str) -> State {
    let (sandbox, cloud) = start("demo.yaml").await;
    let sets = sets(strategy, "1.29");
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let (summary, lines) = run_playbook(&cloud, &sets).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines}");
    state(&sandbox)
}

fn inject(fault: Fault, sandbox: &Sandbox, cloud: &runbook::interp::Cloud) {
    match fault {
        Fault::Gate => {
            let cloud = cloud.clone();
            tokio::spawn(async move { break_kube_system(&cloud).await });
        }
        Fault::CtrlC => cloud.clock.cancel(),
        Fault::Pdb => assert!(sandbox.set_pdb_enabled("shop", "checkout", true)),
    }
}

async fn case(strategy: &str, hop: usize, step: Step, fault: Fault, before: &State) {
    let (sandbox, cloud) = start("demo.yaml").await;
    let sets = sets(strategy, "1.30");
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let (summary, lines, injected) = run_with_fault(
        &sandbox,
        &cloud,
        &sets,
        trigger(strategy, step, hop),
        |sb, cloud| inject(fault, sb, cloud),
    )
    .await;
    let what = format!("{strategy}, hop {hop}, {step:?}, {fault:?}");
    assert!(injected, "{what}: the fault was never injected\n{lines}");
    let words = rollbacks(&summary);
    let after = state(&sandbox);
    if strategy == "in_place" && step == Step::Nodegroups && fault == Fault::Pdb {
        // EKS's failed rolling update keeps a newer node it will not replace.
        assert_eq!(summary.status, RunStatus::Failed, "{what}\n{lines}");
        assert_eq!(after.cordoned, 0, "{what}: a cordon was left\n{lines}");
        for step in [title(Step::Nodegroups, hop), title(Step::ControlPlane, hop)] {
            assert!(
                words.contains(&(step.clone(), "not undone".into())),
                "{what}: {step} is not reported as not undone\n{lines}"
            );
        }
        return;
    }
    assert_eq!(&after, before, "{what}\n{lines}");
    assert_eq!(summary.status, RunStatus::RolledBack, "{what}\n{lines}");
    for (step, word) in &words {
        assert!(
            word == "rolled back" || word == "kept on purpose",
            "{what}: {step}: {word}\n{lines}"
        );
    }
    if hop == 2 {
        for step in [Step::ControlPlane, Step::Addons, Step::Nodegroups] {
            assert!(
                words.contains(&(title(step, 1), "kept on purpose".into())),
                "{what}: hop 1's {step:?} is not reported as kept\n{lines}"
            );
        }
    }
    // The control plane moved in this hop unless the failure came first.
    assert!(
        words.contains(&(title(Step::ControlPlane, hop), "rolled back".into())),
        "{what}: the control plane's rollback is not reported\n{lines}"
    );
}

async fn hop(strategy: &str, hop: usize, step: Step) {
    let before = if hop == 1 {
        let (sandbox, _cloud) = start("demo.yaml").await;
        state(&sandbox)
    } else {
        after_hop_one(strategy).await
    };
    let faults: &[Fault] = match step {
        Step::Nodegroups => &[Fault::Gate, Fault::CtrlC, Fault::Pdb],
        _ => &[Fault::Gate, Fault::CtrlC],
    };
    for fault in faults {
        case(strategy, hop, step, *fault, &before).await;
    }
}

macro_rules! matrix {
    ($($name:ident: $strategy:literal, $hop:literal, $step:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                hop($strategy, $hop, $step).await;
            }
        )*
    };
}

matrix! {
    in_place_hop_1_control_plane: "in_place", 1, Step::ControlPlane;
    in_place_hop_1_addons: "in_place", 1, Step::Addons;
    in_place_hop_1_nodegroups: "in_place", 1, Step::Nodegroups;
    in_place_hop_2_control_plane: "in_place", 2, Step::ControlPlane;
    in_place_hop_2_addons: "in_place", 2, Step::Addons;
    in_place_hop_2_nodegroups: "in_place", 2, Step::Nodegroups;
    blue_green_hop_1_control_plane: "blue_green", 1, Step::ControlPlane;
    blue_green_hop_1_addons: "blue_green", 1, Step::Addons;
    blue_green_hop_1_nodegroups: "blue_green", 1, Step::Nodegroups;
    blue_green_hop_2_control_plane: "blue_green", 2, Step::ControlPlane;
    blue_green_hop_2_addons: "blue_green", 2, Step::Addons;
    blue_green_hop_2_nodegroups: "blue_green", 2, Step::Nodegroups;
}

/// A step `timeout` expiring (RUN025) at `step` of a one-hop in-place
/// upgrade: the cluster returns to its state before the hop, every
/// rollback says "rolled back" or "kept on purpose", the control plane's
/// "rolled back", and the error is the timeout's.
async fn timeout_case(step: Step, title_template: &str, timeout: &str) {
    let (sandbox, cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let path = playbook_with_timeout(dir.path(), title_template, timeout);
    let sets = sets("in_place", "1.29");
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let (summary, lines) = run_file(&cloud, &path, &sets, false).await;
    let what = format!("timeout {timeout} at {step:?}");
    let errors = format!("{:?}", summary.errors);
    assert!(errors.contains("RUN025"), "{what}: {errors}\n{lines}");
    assert!(
        errors.contains(&format!("the step ran longer than its timeout {timeout}")),
        "{what}: {errors}\n{lines}"
    );
    assert_eq!(summary.status, RunStatus::RolledBack, "{what}\n{lines}");
    let after = state(&sandbox);
    assert_eq!(after, before, "{what}\n{lines}");
    assert_eq!(after.cordoned, 0, "{what}: a cordon was left\n{lines}");
    let words = rollbacks(&summary);
    for (step, word) in &words {
        assert!(
            word == "rolled back" || word == "kept on purpose",
            "{what}: {step}: {word}\n{lines}"
        );
    }
    assert!(
        words.contains(&(title(Step::ControlPlane, 1), "rolled back".into())),
        "{what}: the control plane's rollback is not reported\n{lines}"
    );
    // Nothing after the step that timed out ran.
    assert!(
        !lines.contains("rollback: nodegroups to 1.29"),
        "{what}\n{lines}"
    );
}

/// The control-plane update takes about 25 simulated minutes: a 10-minute
/// timeout gives up while EKS is still updating, and the rollback waits for
/// it to finish before rolling it back.
#[tokio::test(flavor = "multi_thread")]
async fn timeout_at_the_control_plane() {
    timeout_case(Step::ControlPlane, "control plane to ${hop}", "10m").await;
}

/// Each add-on update takes minutes: a 4-minute timeout cuts the add-ons'
/// step short after its first update.
#[tokio::test(flavor = "multi_thread")]
async fn timeout_at_the_add_ons() {
    timeout_case(Step::Addons, "add-ons for ${hop}", "4m").await;
}
