//! Rollbacks that succeed: a failure at any step of a hop of the shipped
//! playbook returns the cluster to its state before that hop, in the order
//! EKS allows (nodegroups, add-ons EKS accepts at that moment, the control
//! plane as a VersionRollback, then the add-ons only the older minor
//! accepts); earlier hops stay, and the report's words match the state.

use runbook::interp::{self, RunStatus};

use crate::common::faults::{
    PLAYBOOK, break_kube_system, rollbacks, run_file, run_playbook, run_with_fault, state,
};
use crate::common::{root, start};

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_blue_green_drain_returns_the_cluster_to_before_the_hop() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    // The PDB appears once the first replacement group is being created:
    // the drain of the old nodes then times out.
    let (summary, lines, injected) = run_with_fault(
        &sandbox,
        &cloud,
        &[
            "cluster=demo",
            "target=1.29",
            "strategy=blue_green",
            "delete_emptydir_data=true",
            "drain_timeout=5m",
            // One group at a time: the first group's blocked drain fails
            // the step before any other group has moved, every time.
            "parallel_nodegroups=1",
        ],
        ("/node-groups", 1),
        |sb, _| assert!(sb.set_pdb_enabled("shop", "checkout", true)),
    )
    .await;
    assert!(injected, "{lines}");
    assert_eq!(summary.status, RunStatus::RolledBack, "{lines}");
    assert_eq!(state(&sandbox), before, "{lines}");
    let errors = format!("{:?}", summary.errors);
    assert!(errors.contains("shop/checkout"), "{errors}\n{lines}");
    // kube-proxy's 1.28 build is refused while the control plane runs 1.29:
    // the add-ons' rollback keeps it on purpose, and the control plane's
    // rollback restores it.
    assert_eq!(
        rollbacks(&summary),
        [
            (
                "add-ons for 1.29".to_string(),
                "kept on purpose".to_string()
            ),
            (
                "control plane to 1.29".to_string(),
                "rolled back".to_string()
            ),
        ],
        "{lines}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_the_add_ons_returns_the_cluster_to_before_the_hop() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    let (summary, lines, injected) = run_with_fault(
        &sandbox,
        &cloud,
        &["cluster=demo", "target=1.29"],
        ("/addons/coredns/update", 1),
        |_, cloud| cloud.clock.cancel(),
    )
    .await;
    assert!(injected, "{lines}");
    assert_eq!(summary.status, RunStatus::RolledBack, "{lines}");
    assert_eq!(state(&sandbox), before, "{lines}");
    // kube-proxy's 1.28 build is refused while the control plane runs 1.29:
    // the add-ons' rollback keeps it, on purpose, for the control plane's
    // rollback to restore.
    let words = rollbacks(&summary);
    assert!(
        words.contains(&("add-ons for 1.29".into(), "kept on purpose".into())),
        "{lines}"
    );
    assert!(
        words.contains(&("control plane to 1.29".into(), "rolled back".into())),
        "{lines}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_hop_two_returns_to_after_hop_one_and_says_hop_one_stays() {
    let (sandbox, cloud) = start("demo.yaml").await;
    // What hop 1 alone leaves: the same fixture upgraded to 1.29.
    let after_hop_one = {
        let (sandbox, cloud) = start("demo.yaml").await;
        let (summary, lines) = run_playbook(
            &cloud,
            &[
                "cluster=demo",
                "target=1.29",
                "strategy=blue_green",
                "delete_emptydir_data=true",
            ],
        )
        .await;
        assert_eq!(summary.status, RunStatus::Succeeded, "{lines}");
        state(&sandbox)
    };
    // Ctrl-C during hop 2's kube-proxy update (the second one of the run).
    let (summary, lines, injected) = run_with_fault(
        &sandbox,
        &cloud,
        &[
            "cluster=demo",
            "target=1.30",
            "strategy=blue_green",
            "delete_emptydir_data=true",
        ],
        ("/addons/kube-proxy/update", 2),
        |_, cloud| cloud.clock.cancel(),
    )
    .await;
    assert!(injected, "{lines}");
    assert_eq!(state(&sandbox), after_hop_one, "{lines}");
    let words = rollbacks(&summary);
    assert!(
        words.contains(&("control plane to 1.30".into(), "rolled back".into())),
        "{lines}"
    );
    for step in [
        "control plane to 1.29",
        "add-ons for 1.29",
        "nodegroups to 1.29",
    ] {
        assert!(
            words.contains(&(step.into(), "kept on purpose".into())),
            "{step} is not reported as kept: {lines}"
        );
    }
    assert!(lines.contains("one minor, once"), "{lines}");
    assert_eq!(summary.status, RunStatus::RolledBack, "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_eviction_failure_in_place_is_reported_as_it_is() {
    // EKS's failed rolling update keeps the nodegroup at 1.28 but leaves the
    // 1.29 node it launched; EKS then refuses the control plane's rollback
    // (a kubelet newer than 1.28). The report must say so, not "rolled back".
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines, injected) = run_with_fault(
        &sandbox,
        &cloud,
        &["cluster=demo", "target=1.29"],
        ("/update-version", 1),
        |sb, _| assert!(sb.set_pdb_enabled("shop", "checkout", true)),
    )
    .await;
    assert!(injected, "{lines}");
    let errors = format!("{:?}", summary.errors);
    assert!(errors.contains("PodEvictionFailure"), "{errors}\n{lines}");
    assert_eq!(summary.status, RunStatus::Failed, "{lines}");
    let after = state(&sandbox);
    assert_eq!(after.control_plane, "1.29", "{lines}");
    assert_eq!(after.cordoned, 0, "a cordon was left: {lines}");
    let words = rollbacks(&summary);
    assert!(
        words.contains(&("control plane to 1.29".into(), "not undone".into())),
        "{lines}"
    );
    // The nodegroup's rollback says what it could not undo, and EKS's
    // refusal of the control plane's rollback is quoted.
    assert!(
        words.contains(&("nodegroups to 1.29".into(), "not undone".into())),
        "{lines}"
    );
    assert!(lines.contains("that EKS will not replace"), "{lines}");
    assert!(lines.contains("Kubelet version skew"), "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_during_gate_stopping_a_blue_green_rotation_deletes_the_new_group_and_uncordons_the_old()
{
    let (sandbox, cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    // As the first replacement group is created, the gate breaks and a PDB
    // holds the drain: 10 minutes later the step's `during system_healthy`
    // fails it while a rotation is still draining.
    let (summary, lines, injected) = run_with_fault(
        &sandbox,
        &cloud,
        &[
            "cluster=demo",
            "target=1.29",
            "strategy=blue_green",
            "delete_emptydir_data=true",
            "drain_timeout=1h",
        ],
        ("/node-groups", 1),
        |sb, cloud| {
            assert!(sb.set_pdb_enabled("shop", "checkout", true));
            let cloud = cloud.clone();
            tokio::spawn(async move { break_kube_system(&cloud).await });
        },
    )
    .await;
    assert!(injected, "{lines}");
    let errors = format!("{:?}", summary.errors);
    assert!(
        errors.contains("failed during the step"),
        "{errors}\n{lines}"
    );
    assert!(
        lines.contains("uncordoned; nodegroup"),
        "no replacement was cut short: {lines}"
    );
    assert_eq!(state(&sandbox), before, "{lines}");
    assert_eq!(summary.status, RunStatus::RolledBack, "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_failing_after_the_control_plane_moved_rolls_it_back() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    let (summary, lines, injected) = run_with_fault(
        &sandbox,
        &cloud,
        &["cluster=demo", "target=1.29"],
        ("/clusters/demo/updates", 1),
        |_, cloud| {
            let cloud = cloud.clone();
            tokio::spawn(async move { break_kube_system(&cloud).await });
        },
    )
    .await;
    assert!(injected, "{lines}");
    let errors = format!("{:?}", summary.errors);
    assert!(errors.contains("system_healthy"), "{errors}\n{lines}");
    assert_eq!(state(&sandbox), before, "{lines}");
    assert_eq!(
        rollbacks(&summary),
        [(
            "control plane to 1.29".to_string(),
            "rolled back".to_string()
        )],
        "{lines}"
    );
    assert_eq!(summary.status, RunStatus::RolledBack, "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_plans_every_rollback_against_the_state_it_would_meet() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines) = run_file(
        &cloud,
        &root().join(PLAYBOOK),
        &["cluster=demo", "target=1.30"],
        true,
    )
    .await;
    assert_eq!(summary.status, RunStatus::Planned, "{lines}");
    assert!(
        sandbox.mutations().is_empty(),
        "the dry run sent {:?}",
        sandbox.mutations()
    );
    for step in [
        "nodegroups to 1.30",
        "add-ons for 1.30",
        "control plane to 1.30",
        "control plane to 1.29",
    ] {
        assert!(
            lines.contains(&format!(
                "↩ if a later step fails, `{step}`: EKS would accept every request of its rollback"
            )),
            "{step}: {lines}"
        );
    }
    // kube-proxy's older build waits for the control plane to go back, which
    // EKS allows after this run's own upgrade; earlier hops stay.
    assert!(
        lines.contains("kept on purpose: kube-proxy v1.29.15-eksbuild.16 is not offered for 1.30"),
        "{lines}"
    );
    assert!(
        lines.contains("would roll back the control plane of cluster demo: 1.30 → 1.29"),
        "{lines}"
    );
    assert!(
        lines.contains(
            "a rollback ends after this step: EKS rolls the control plane back one minor, once"
        ),
        "{lines}"
    );
}

/// The dry run's rollback-path check judges the control plane's rollback
/// against the rollback its own plan would open: after a finished upgrade
/// to 1.29 (EKS reports rollback readiness for 1.28, with nodes, kube-proxy
/// and coredns on 1.29 failing it), a dry run to 1.30 plans the rollback
/// from 1.30 to 1.29, which the nodegroups' and add-ons' rollbacks planned
/// before it leave ready: EKS would accept it.
#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_of_a_second_upgrade_judges_the_rollback_it_would_open() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines) = run_playbook(&cloud, &["cluster=demo", "target=1.29"]).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines}");
    let sent = sandbox.mutations().len();
    let (plan, lines) = run_file(
        &cloud,
        &root().join(PLAYBOOK),
        &["cluster=demo", "target=1.30"],
        true,
    )
    .await;
    assert_eq!(plan.status, RunStatus::Planned, "{lines}");
    assert_eq!(sandbox.mutations().len(), sent, "the dry run sent requests");
    assert!(
        lines.contains(
            "↩ if a later step fails, `control plane to 1.30`: EKS would accept every request of its rollback"
        ),
        "{lines}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_names_a_rollback_eks_would_refuse_before_anything_changes() {
    // The naive rollback the shipped playbook had: restore the add-ons
    // recorded before the hop while the control plane already runs 1.29.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("naive.upg");
    std::fs::write(
        &path,
        r#"
runbook naive "control plane, then add-ons, rolled back naively" {
  param cluster: string
  step "control plane to 1.29" {
    let previous = eks.cluster(cluster).version
    eks.update_cluster_version(cluster, 1.29)
    rollback {
      eks.update_cluster_version(cluster, previous)
    }
  }
  step "kube-proxy for 1.29" {
    let before = eks.addon(cluster, "kube-proxy")
    eks.update_addon(cluster, "kube-proxy", version: eks.default_addon_version("kube-proxy", 1.29))
    rollback {
      eks.update_addon(cluster, "kube-proxy", version: before.version)
    }
  }
}
"#,
    )
    .unwrap();
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines) = run_file(&cloud, &path, &["cluster=demo"], true).await;
    assert_eq!(summary.status, RunStatus::Planned, "{lines}");
    assert!(sandbox.mutations().is_empty());
    assert!(
        lines.contains("! if a later step fails, `kube-proxy for 1.29`: EKS would refuse: add-on kube-proxy: EKS does not offer kube-proxy v1.28.15-eksbuild.31 for Kubernetes 1.29"),
        "{lines}"
    );
}

/// A runbook that only rolls the control plane back to `1.28`.
const ROLL_BACK_TO_1_28: &str = r#"
runbook back "roll the control plane back" {
  param cluster: string
  step "control plane back to 1.28" {
    eks.update_cluster_version(cluster, 1.28)
    rollback {
      eks.update_cluster_version(cluster, 1.29)
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_control_plane_rollback_is_refused_after_seven_simulated_days() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines) = run_playbook(&cloud, &["cluster=demo", "target=1.29"]).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("back.upg");
    std::fs::write(&path, ROLL_BACK_TO_1_28).unwrap();

    // Six days on, the dry run says EKS would accept it, and how long for.
    sandbox.advance(std::time::Duration::from_secs(6 * 86_400));
    let (plan, lines) = run_file(&cloud, &path, &["cluster=demo"], true).await;
    assert_eq!(plan.status, RunStatus::Planned, "{lines}");
    assert!(
        lines.contains("a VersionRollback, which EKS allows for"),
        "{lines}"
    );

    // Two more: the dry run names the refusal before anything changes, and
    // a real run is refused by EKS, the control plane staying at 1.29.
    sandbox.advance(std::time::Duration::from_secs(2 * 86_400));
    let before = sandbox.mutations().len();
    let (plan, lines) = run_file(&cloud, &path, &["cluster=demo"], true).await;
    assert_eq!(plan.status, RunStatus::Planned, "{lines}");
    assert!(lines.contains("would refuse: EKS:"), "{lines}");
    assert!(lines.contains("7 days"), "{lines}");
    assert_eq!(
        sandbox.mutations().len(),
        before,
        "the dry run sent requests"
    );
    let (summary, lines) = run_file(&cloud, &path, &["cluster=demo"], false).await;
    assert!(!summary.status.is_ok(), "{lines}");
    let errors = format!("{:?}", summary.errors);
    assert!(errors.contains("7 days"), "{errors}\n{lines}");
    assert_eq!(sandbox.cluster_version(), "1.29");
}

/// Run an inline runbook against the demo cluster; the summary, the lines
/// and the sandbox.
async fn run_inline(text: &str) -> (interp::RunSummary, String, runbook::sandbox::Sandbox) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inline.upg");
    std::fs::write(&path, text).unwrap();
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines) = run_file(&cloud, &path, &["cluster=demo"], false).await;
    (summary, lines, sandbox)
}

fn cordoned(sandbox: &runbook::sandbox::Sandbox) -> Vec<String> {
    sandbox
        .nodes()
        .into_iter()
        .filter(|n| n.unschedulable)
        .map(|n| n.nodegroup)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_block_that_changes_nothing_back_is_not_reported_as_rolled_back() {
    let (summary, lines, sandbox) = run_inline(
        r#"
runbook honest "a log is not an undo" {
  param cluster: string
  step "cordon a general node" {
    let node = k8s.nodes(nodegroup: "general")[0].name
    k8s.cordon(node)
    rollback {
      k8s.uncordon(node)
    }
  }
  step "cordon a data node" {
    let node = k8s.nodes(nodegroup: "data")[0].name
    k8s.cordon(node)
    rollback {
      log "uncordon ${node} by hand"
    }
  }
  step "fail" {
    fail "stop here"
  }
}
"#,
    )
    .await;
    assert_eq!(summary.status, RunStatus::Failed, "{lines}");
    assert_eq!(
        rollbacks(&summary),
        [
            ("cordon a data node".to_string(), "not undone".to_string()),
            (
                "cordon a general node".to_string(),
                "rolled back".to_string()
            ),
        ],
        "{lines}"
    );
    assert!(
        lines.contains("the rollback block changed nothing back"),
        "{lines}"
    );
    assert_eq!(cordoned(&sandbox), ["data"], "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_irreversible_step_stops_the_rollback_and_earlier_steps_are_left_as_they_are() {
    let (summary, lines, sandbox) = run_inline(
        r#"
runbook honest "an irreversible step ends the rollback" {
  param cluster: string
  step "cordon a general node" {
    let node = k8s.nodes(nodegroup: "general")[0].name
    k8s.cordon(node)
    rollback {
      k8s.uncordon(node)
    }
  }
  step "remove the system nodegroup" irreversible {
    eks.delete_nodegroup(cluster, "system")
  }
  step "fail" {
    fail "stop here"
  }
}
"#,
    )
    .await;
    assert_eq!(summary.status, RunStatus::Failed, "{lines}");
    let words = rollbacks(&summary);
    assert_eq!(
        words,
        [
            (
                "remove the system nodegroup".to_string(),
                "not undone".to_string()
            ),
            (
                "cordon a general node".to_string(),
                "not undone".to_string()
            ),
        ],
        "{lines}"
    );
    assert!(lines.contains("irreversible, cannot be undone"), "{lines}");
    assert!(
        lines.contains("left as is: the rollback stopped at"),
        "{lines}"
    );
    // The rollback stopped: the earlier step's block did not run.
    assert_eq!(cordoned(&sandbox), ["general"], "{lines}");
}

/// `runbook ARGS` against the sandbox served on 127.0.0.1, as on-call would
/// run it days after the upgrade: kubeconfig, AWS endpoint, dummy
/// credentials, and the runs directory of the upgrade.
fn runbook_cli(
    dir: &std::path::Path,
    sandbox: &runbook::sandbox::Sandbox,
    args: &[&str],
) -> crate::common::bin::Ran {
    let bin = crate::common::bin::Bin::new(args)
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .arg("--runs-dir")
        .arg(dir.join(".runbook"))
        .env("AWS_ENDPOINT_URL_EKS", sandbox.endpoint())
        .env("AWS_REGION", sandbox.region())
        .env("AWS_ACCESS_KEY_ID", "sandbox")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir);
    // The sandbox is served by this runtime: wait without blocking it.
    tokio::task::block_in_place(|| bin.run())
}

/// A finished one-hop upgrade through the binary; the directory holding
/// its journal and its run id.
fn upgraded(sandbox: &runbook::sandbox::Sandbox) -> (tempfile::TempDir, String) {
    upgraded_to(sandbox, "1.29")
}

fn upgraded_to(sandbox: &runbook::sandbox::Sandbox, target: &str) -> (tempfile::TempDir, String) {
    upgraded_with(sandbox, &[&format!("target={target}")])
}

/// A finished upgrade of the demo cluster with the playbook's parameters
/// `sets` (`target=1.29`, ...).
fn upgraded_with(
    sandbox: &runbook::sandbox::Sandbox,
    sets: &[&str],
) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    sandbox
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    let playbook = root().join(PLAYBOOK);
    let ran = runbook_cli(
        dir.path(),
        sandbox,
        &std::iter::once(["exec", playbook.to_str().unwrap()])
            .chain(std::iter::once(["--set", "cluster=demo"]))
            .chain(sets.iter().map(|s| ["--set", *s]))
            .flatten()
            .chain(["--yes"])
            .collect::<Vec<&str>>(),
    );
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let id = ran
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split(':').next())
        .expect("the run id is printed")
        .to_string();
    (dir, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn runbook_rollback_returns_a_finished_hop_to_the_start_after_planning_it() {
    let (sandbox, _cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    let (dir, id) = upgraded(&sandbox);
    let after = state(&sandbox);
    assert_eq!(after.control_plane, "1.29");
    assert_ne!(after, before);

    // The plan: every compensation, with EKS's verdict now; nothing sent.
    let sent = sandbox.mutations().len();
    let plan = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--dry-run"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert_eq!(
        sandbox.mutations().len(),
        sent,
        "{:?}",
        &sandbox.mutations()[sent..]
    );
    for step in ["nodegroups to 1.29", "add-ons for 1.29"] {
        assert!(
            plan.stdout.contains(&format!(
                "`{step}`: EKS would accept every request of its rollback"
            )),
            "{step}\n{}",
            plan.stdout
        );
    }
    assert!(
        plan.stdout
            .contains("would roll nodegroup general: 1.29 → 1.28"),
        "{}",
        plan.stdout
    );
    // The control plane's rollback reads EKS's rollback-readiness insights:
    // judged after the nodegroups and add-ons planned above go back (nodes
    // on 1.28, coredns on its 1.28 build), EKS accepts it, as it then does.
    assert!(
        plan.stdout
            .contains("`control plane to 1.29`: EKS would accept every request of its rollback"),
        "{}",
        plan.stdout
    );
    let planned = planned_requests(&plan.stdout);
    assert!(
        planned.contains(&("POST".into(), "/clusters/demo/updates".into())),
        "{planned:?}\n{}",
        plan.stdout
    );

    // The rollback itself: a new run, linked to the upgrade. It sends
    // exactly what its plan listed.
    let sent = sandbox.mutations().len();
    let ran = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--yes"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(state(&sandbox), before, "{}", ran.stdout);
    assert_eq!(
        sent_requests(&sandbox, sent),
        planned,
        "planned:\n{}\nran:\n{}",
        plan.stdout,
        ran.stdout
    );
    for step in ["nodegroups to 1.29", "control plane to 1.29"] {
        assert!(
            ran.stdout.contains(&format!("↩ {step}: rolled back")),
            "{step}\n{}",
            ran.stdout
        );
    }
    let runs = crate::common::bin::Bin::new(["runs", "--runs-dir"])
        .arg(dir.path().join(".runbook"))
        .run();
    assert!(
        runs.stdout.contains(&format!("(rollback of {id})")),
        "{}",
        runs.stdout
    );
    let rollback_id = runs
        .stdout
        .lines()
        .find(|l| l.contains("(rollback of"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let shown = crate::common::bin::Bin::new(["runs", "show", &rollback_id, "--runs-dir"])
        .arg(dir.path().join(".runbook"))
        .run();
    assert!(
        shown.stdout.contains(&format!("rolls back run {id}")),
        "{}",
        shown.stdout
    );
    // A second rollback runs only what the first kept on purpose (the
    // add-ons' kube-proxy, which the control plane's rollback restored):
    // it finds it undone, and sends nothing.
    let changes = |sb: &runbook::sandbox::Sandbox| {
        sb.mutations()
            .into_iter()
            .filter(|r| !r.path.contains("/leases"))
            .count()
    };
    let sent = changes(&sandbox);
    let again = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--yes"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("↩ add-ons for 1.29: rolled back"),
        "{}",
        again.stdout
    );
    assert!(
        !again.stdout.contains("nodegroups to 1.29"),
        "{}",
        again.stdout
    );
    // Only the cluster lock was taken and released.
    assert_eq!(changes(&sandbox), sent, "{}", again.stdout);
    assert_eq!(state(&sandbox), before);
}

/// The EKS requests a dry run's `would …` lines stand for, as the
/// sandbox logs them (method, path), sorted.
fn planned_requests(plan: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in plan.lines() {
        let Some((_, what)) = line.split_once("would ") else {
            continue;
        };
        let target = |prefix: &str| {
            what.strip_prefix(prefix)
                .and_then(|rest| rest.split([':', ' ']).next())
                .map(str::to_string)
        };
        let request = if let Some(ng) = target("roll nodegroup ") {
            (
                "POST",
                format!("/clusters/demo/node-groups/{ng}/update-version"),
            )
        } else if let Some(addon) = target("update add-on ") {
            ("POST", format!("/clusters/demo/addons/{addon}/update"))
        } else if what.starts_with("roll back the control plane of cluster demo")
            || what.starts_with("upgrade the control plane of cluster demo")
        {
            ("POST", "/clusters/demo/updates".to_string())
        } else if let Some(ng) = target("delete nodegroup ") {
            ("DELETE", format!("/clusters/demo/node-groups/{ng}"))
        } else if what.starts_with("create nodegroup ") {
            ("POST", "/clusters/demo/node-groups".to_string())
        } else {
            continue;
        };
        out.push((request.0.to_string(), request.1));
    }
    out.sort();
    out
}

/// The mutating requests sent since the `since`-th, the cluster lock's
/// aside, sorted as `planned_requests`.
fn sent_requests(sandbox: &runbook::sandbox::Sandbox, since: usize) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = sandbox.mutations()[since..]
        .iter()
        .filter(|r| !r.path.contains("/leases"))
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    out.sort();
    out
}

/// What the plan does not change stays a refusal: a nodegroup someone
/// added on 1.29 after the upgrade is no step's to roll back, so its nodes
/// keep EKS's kubelet-skew insight at ERROR. The dry run says the control
/// plane's rollback would be refused, and the real rollback is refused the
/// same way, after the same nodegroup and add-on rollbacks.
#[tokio::test(flavor = "multi_thread")]
async fn runbook_rollback_plans_a_refusal_it_does_not_fix_and_meets_it() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let (dir, id) = upgraded(&sandbox);
    let eks = cloud.eks.client();
    let source = eks
        .describe_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap();
    let source = source.nodegroup().unwrap();
    eks.create_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("extra")
        .node_role(source.node_role().unwrap())
        .set_subnets(Some(source.subnets().to_vec()))
        .set_instance_types(Some(source.instance_types().to_vec()))
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(1)
                .desired_size(1)
                .build(),
        )
        .version("1.29")
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !sandbox
        .nodes()
        .iter()
        .any(|n| n.nodegroup == "extra" && n.ready)
    {
        assert!(std::time::Instant::now() < deadline, "extra never joined");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let refusal = "`control plane to 1.29`: its rollback would fail: EKS would refuse to roll the control plane back to 1.28: Kubelet version skew";

    let sent = sandbox.mutations().len();
    let plan = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--dry-run"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert_eq!(sandbox.mutations().len(), sent, "the dry run sent requests");
    assert!(plan.stdout.contains(refusal), "{}", plan.stdout);
    let planned = planned_requests(&plan.stdout);

    let ran = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--yes"]);
    assert_ne!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let out = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        out.contains(
            "EKS would refuse to roll the control plane back to 1.28: Kubelet version skew"
        ),
        "{out}"
    );
    assert!(
        ran.stdout.contains("↩ control plane to 1.29: not undone"),
        "{}",
        ran.stdout
    );
    assert_eq!(sandbox.cluster_version(), "1.29");
    // What it did send is what the plan listed: the nodegroups' and
    // add-ons' rollbacks, no control-plane request.
    assert!(
        !planned
            .iter()
            .any(|(_, path)| path == "/clusters/demo/updates"),
        "{planned:?}"
    );
    assert_eq!(sent_requests(&sandbox, sent), planned, "{}", ran.stdout);
}

/// `runbook rollback` of a run whose nodegroups rotated in parallel (the
/// demo's three groups at once, `parallel_nodegroups=3`), in place and
/// blue/green: every nodegroup, add-on and the control plane back at the
/// start, no nodegroup or cordon left over, and the report's words say so.
#[tokio::test(flavor = "multi_thread")]
async fn runbook_rollback_of_parallel_rotations_returns_everything_to_the_start() {
    for (strategy, starts) in [
        ("in_place", "/update-version"),
        ("blue_green", "/node-groups"),
    ] {
        let (sandbox, _cloud) = start("demo.yaml").await;
        let before = state(&sandbox);
        let (dir, id) = upgraded_with(
            &sandbox,
            &[
                "target=1.29",
                &format!("strategy={strategy}"),
                "parallel_nodegroups=3",
                "delete_emptydir_data=true",
            ],
        );
        assert_eq!(sandbox.cluster_version(), "1.29", "{strategy}");
        // The three rotations overlapped: each began (an in-place update, a
        // replacement group created) before the first could have finished,
        // which is no sooner than its new nodes boot.
        let began: Vec<u64> = sandbox
            .mutations()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(starts))
            .map(|r| r.sim_time_ms)
            .collect();
        assert_eq!(began.len(), 3, "{strategy}: {began:?}");
        assert!(
            u128::from(began[2] - began[0]) < runbook::cloud::timing::NODE_BOOT.as_millis(),
            "{strategy}: the rotations did not overlap: {began:?}"
        );

        let ran = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--yes"]);
        assert_eq!(ran.code, 0, "{strategy}: {}{}", ran.stdout, ran.stderr);
        let after = state(&sandbox);
        assert_eq!(after, before, "{strategy}: {}", ran.stdout);
        assert_eq!(after.cordoned, 0, "{strategy}");
        assert_eq!(after.groups, 3, "{strategy}: a nodegroup was left over");
        for step in ["nodegroups to 1.29", "control plane to 1.29"] {
            assert!(
                ran.stdout.contains(&format!("↩ {step}: rolled back")),
                "{strategy}: {step}\n{}",
                ran.stdout
            );
        }
        assert!(
            !ran.stdout.contains("not undone"),
            "{strategy}: {}",
            ran.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runbook_rollback_is_refused_after_seven_simulated_days_and_sends_nothing() {
    let (sandbox, _cloud) = start("demo.yaml").await;
    let (dir, id) = upgraded(&sandbox);
    let after = state(&sandbox);
    sandbox.advance(std::time::Duration::from_secs(7 * 86_400 + 3600));
    let sent = sandbox.mutations().len();
    for args in [
        vec!["rollback", &id, "--yes"],
        vec!["rollback", &id, "--dry-run"],
    ] {
        let ran = runbook_cli(dir.path(), &sandbox, &args);
        assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
        let out = format!("{}{}", ran.stdout, ran.stderr);
        assert!(out.contains("RUN046"), "{out}");
        assert!(
            out.contains("the window for undoing `control plane to 1.29` has passed"),
            "{out}"
        );
        assert!(out.contains("within 7 days of its upgrade"), "{out}");
    }
    assert_eq!(
        sandbox.mutations().len(),
        sent,
        "{:?}",
        &sandbox.mutations()[sent..]
    );
    assert_eq!(state(&sandbox), after);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_that_fails_before_binding_what_its_rollback_reads_had_nothing_to_undo() {
    let (sandbox, _cloud) = start("demo.yaml").await;
    let addons = sandbox.addon_versions();
    drop(sandbox);
    let (summary, lines, sandbox) = run_inline(
        r#"
runbook early "a step that fails before it changes anything" {
  param cluster: string
  step "update coredns" {
    if eks.cluster(cluster).version == 1.28 {
      fail "stop before anything changed"
    }
    let before = eks.addons(cluster)
    eks.update_addon(cluster, "coredns", version: "v1.10.1-eksbuild.17")
    rollback {
      for a in before {
        eks.update_addon(cluster, a.name, version: a.version)
      }
    }
  }
}
"#,
    )
    .await;
    let errors = format!("{:?}", summary.errors);
    assert!(errors.contains("stop before anything changed"), "{errors}");
    assert!(
        lines.contains(
            "↩ update coredns: nothing to undo: it changed nothing before it failed (its rollback block reads what the step never bound: `before` is not defined here)"
        ),
        "{lines}"
    );
    assert!(!lines.contains("rollback failed"), "{lines}");
    assert!(rollbacks(&summary).is_empty(), "{lines}");
    assert_eq!(summary.status, RunStatus::RolledBack, "{lines}");
    assert!(
        sandbox
            .mutations()
            .iter()
            .all(|r| r.path.contains("/leases")),
        "{:?}",
        sandbox.mutations()
    );
    assert_eq!(sandbox.addon_versions(), addons);
}

/// A step `timeout` expiring at the add-ons (RUN025) while an update is
/// still running: the rollback waits for it, and the hop is undone (the
/// failure matrix has this and the control plane's).
#[tokio::test(flavor = "multi_thread")]
async fn an_add_on_step_timing_out_returns_the_cluster_to_before_the_hop() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let path = crate::common::faults::playbook_with_timeout(dir.path(), "add-ons for ${hop}", "4m");
    let (summary, lines) = run_file(&cloud, &path, &["cluster=demo", "target=1.29"], false).await;
    let errors = format!("{:?}", summary.errors);
    assert!(
        errors.contains("RUN025") && errors.contains("the step ran longer than its timeout 4m"),
        "{errors}\n{lines}"
    );
    assert_eq!(summary.status, RunStatus::RolledBack, "{lines}");
    assert_eq!(state(&sandbox), before, "{lines}");
    assert_eq!(
        rollbacks(&summary),
        [
            (
                "add-ons for 1.29".to_string(),
                "kept on purpose".to_string()
            ),
            (
                "control plane to 1.29".to_string(),
                "rolled back".to_string()
            ),
        ],
        "{lines}"
    );
}

/// A `runbook rollback` killed mid-way is a run like any other: `runbook
/// resume` continues it from its journal, and the cluster ends where an
/// uninterrupted rollback leaves it.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_runbook_rollback_is_finished_by_runbook_resume() {
    let (sandbox, _cloud) = start("demo.yaml").await;
    let before = state(&sandbox);
    let (dir, id) = upgraded(&sandbox);
    let updates = |sb: &runbook::sandbox::Sandbox| {
        sb.mutations()
            .iter()
            .filter(|r| r.path.contains("/update-version"))
            .count()
    };
    let sent = updates(&sandbox);
    let mut child = crate::common::bin::Bin::new(["rollback", &id, "--yes"])
        .arg("--kubeconfig")
        .arg(dir.path().join("kubeconfig"))
        .arg("--runs-dir")
        .arg(dir.path().join(".runbook"))
        .env("AWS_ENDPOINT_URL_EKS", sandbox.endpoint())
        .env("AWS_REGION", sandbox.region())
        .env("AWS_ACCESS_KEY_ID", "sandbox")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir.path())
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once its first nodegroup rollback has gone out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while updates(&sandbox) == sent && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(updates(&sandbox) > sent, "the rollback never began");
    let runs: Vec<String> = std::fs::read_dir(dir.path().join(".runbook/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|r| *r != id)
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let ran = runbook_cli(dir.path(), &sandbox, &["resume", &runs[0], "--yes"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(state(&sandbox), before, "{}", ran.stdout);
    assert!(
        ran.stdout.contains("↩ control plane to 1.29: rolled back"),
        "{}",
        ran.stdout
    );
}

/// Rolling back a finished two-hop upgrade undoes the second hop and ends
/// there, as a failed run's rollback does: EKS rolls a control plane back
/// one minor, once, so the first hop stays, and the report says so.
#[tokio::test(flavor = "multi_thread")]
async fn runbook_rollback_of_two_hops_undoes_the_second_and_says_the_first_stays() {
    let (sandbox, _cloud) = start("demo.yaml").await;
    // What hop 1 alone leaves: the same fixture upgraded to 1.29.
    let after_hop_one = {
        let (sandbox, _cloud) = start("demo.yaml").await;
        let _ = upgraded_to(&sandbox, "1.29");
        state(&sandbox)
    };
    let (dir, id) = upgraded_to(&sandbox, "1.30");
    assert_eq!(sandbox.cluster_version(), "1.30");
    let ran = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--yes"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(state(&sandbox), after_hop_one, "{}", ran.stdout);
    assert!(
        ran.stdout.contains("↩ control plane to 1.30: rolled back"),
        "{}",
        ran.stdout
    );
    for step in [
        "control plane to 1.29",
        "add-ons for 1.29",
        "nodegroups to 1.29",
    ] {
        assert!(
            ran.stdout.contains(&format!(
                "↩ {step}: kept on purpose — stays: EKS rolls the control plane back one minor, once"
            )),
            "{step}\n{}",
            ran.stdout
        );
    }
    // A second rollback re-judges only what the first kept on purpose (hop
    // 2's add-ons, which the control plane's rollback restored), and ends
    // at the control plane again.
    let again = runbook_cli(dir.path(), &sandbox, &["rollback", &id, "--yes"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("↩ add-ons for 1.30: rolled back"),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("↩ add-ons for 1.29: kept on purpose — stays"),
        "{}",
        again.stdout
    );
    assert_eq!(state(&sandbox), after_hop_one, "{}", again.stdout);
}
