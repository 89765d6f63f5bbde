//! Rollbacks that succeed: a failure at any step of a hop of the shipped
//! playbook returns the cluster to its state before that hop, in the order
//! EKS allows (nodegroups, add-ons EKS accepts at that moment, the control
//! plane as a VersionRollback, then the add-ons only the older minor
//! accepts); earlier hops stay, and the report's words match the state.

use std::collections::BTreeMap;

use runbook::interp::{self, ExecOptions, Output, Reporter, RunStatus, params};
use runbook::sandbox::Sandbox;

use crate::common::{root, start};

const PLAYBOOK: &str = "playbooks/eks-minor-upgrade.upg";

/// Run the shipped playbook for real; the summary and the lines it printed.
pub(crate) async fn run_playbook(
    cloud: &interp::Cloud,
    sets: &[&str],
) -> (interp::RunSummary, String) {
    let program = runbook::syntax::load(&root().join(PLAYBOOK)).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let runbook = params::root_runbook(&program).unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let bound = params::bind(&program, runbook, None, &sets).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let reporter = Reporter::new(Output::Text, cloud.clock.clone());
    let opts = ExecOptions {
        dry_run: false,
        yes: true,
        interactive: false,
        step: false,
        run_id: "20261128T000000Z-00000002".parse().unwrap(),
    };
    let summary = interp::execute(
        &program,
        runbook,
        &bound,
        cloud.clone(),
        &opts,
        &reporter,
        None,
    )
    .await;
    let lines = reporter.lines().join("\n");
    (summary, lines)
}

/// What a rollback must restore, as a test compares it.
#[derive(Debug, PartialEq)]
pub(crate) struct State {
    control_plane: String,
    addons: BTreeMap<String, String>,
    /// Nodegroup → version (blue/green renames groups, so by base name).
    nodegroups: BTreeMap<String, String>,
    nodes: usize,
    ready: usize,
    cordoned: usize,
}

/// `general-1-29` → `general`.
fn base_name(name: &str) -> String {
    let parts: Vec<&str> = name.rsplitn(3, '-').collect();
    match parts.as_slice() {
        [minor, major, base]
            if minor.chars().all(|c| c.is_ascii_digit())
                && major.chars().all(|c| c.is_ascii_digit()) =>
        {
            base.to_string()
        }
        _ => name.to_string(),
    }
}

pub(crate) fn state(sandbox: &Sandbox) -> State {
    let nodes = sandbox.nodes();
    State {
        control_plane: sandbox.cluster_version(),
        addons: sandbox.addon_versions(),
        nodegroups: sandbox
            .nodegroups()
            .into_iter()
            .map(|ng| (base_name(&ng.name), ng.version))
            .collect(),
        nodes: nodes.len(),
        ready: nodes.iter().filter(|n| n.ready).count(),
        cordoned: nodes.iter().filter(|n| n.unschedulable).count(),
    }
}

/// Run the playbook; once the `when.1`-th mutating request whose path
/// contains `when.0` reaches the sandbox, `inject` runs (the failure a test
/// wants).
pub(crate) async fn run_with_fault(
    sandbox: &Sandbox,
    cloud: &interp::Cloud,
    sets: &[&str],
    when: (&str, usize),
    inject: impl FnOnce(&Sandbox, &interp::Cloud),
) -> (interp::RunSummary, String, bool) {
    let done = std::sync::atomic::AtomicBool::new(false);
    let run = async {
        let r = run_playbook(cloud, sets).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let watch = async {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let seen = sandbox
                .mutations()
                .iter()
                .filter(|r| r.path.contains(when.0))
                .count();
            if seen >= when.1 {
                inject(sandbox, cloud);
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        false
    };
    let ((summary, lines), injected) = futures::future::join(run, watch).await;
    (summary, lines, injected)
}

/// The rollback lines of a report: `(step, status word)`.
fn rollbacks(summary: &interp::RunSummary) -> Vec<(String, String)> {
    summary
        .rollbacks
        .iter()
        .map(|(t, s, _)| (t.clone(), s.as_str().to_string()))
        .collect()
}

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
