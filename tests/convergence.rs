//! The shipped playbook brings a cluster to its target from partial states,
//! not only from a clean one: a control plane ahead of its add-ons and nodes
//! (seed 001), nodegroups behind the control plane, a nodegroup rolled back by
//! other automation. Each run ends converged, and a rerun sends nothing.

use runbook::interp::{self, RunStatus};
use runbook::sandbox::Sandbox;

use crate::common::{root, start};

const PLAYBOOK: &str = "playbooks/eks-minor-upgrade.upg";

/// Run the shipped playbook for real with `--set` values; the summary and
/// the lines it printed.
async fn run_playbook(cloud: &interp::Cloud, sets: &[&str]) -> (interp::RunSummary, String) {
    let program = runbook::syntax::load(&root().join(PLAYBOOK)).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let (summary, lines) = crate::common::execute(&program, cloud, None, sets, false, None).await;
    (summary, lines.join("\n"))
}

/// The cluster is at `version` everywhere: control plane, every nodegroup
/// and node, every node Ready, and kube-proxy on that minor's build.
fn assert_converged(sandbox: &Sandbox, version: &str, lines: &str) {
    assert_eq!(sandbox.cluster_version(), version, "{lines}");
    for ng in sandbox.nodegroups() {
        assert_eq!(ng.version, version, "nodegroup {} lags:\n{lines}", ng.name);
    }
    let nodes = sandbox.nodes();
    assert!(!nodes.is_empty());
    for n in &nodes {
        assert!(
            n.ready && n.version == version,
            "node {} ready={} version={}:\n{lines}",
            n.name,
            n.ready,
            n.version
        );
    }
    let kube_proxy = &sandbox.addon_versions()["kube-proxy"];
    assert!(
        kube_proxy.starts_with(&format!("v{version}.")),
        "kube-proxy {kube_proxy} is not the {version} build"
    );
}

/// The sandbox's mutating requests whose path contains `part`, as indexes
/// into its request log.
fn mutations_to(sandbox: &Sandbox, part: &str) -> Vec<u64> {
    sandbox
        .mutations()
        .iter()
        .filter(|r| r.path.contains(part))
        .map(|r| r.seq)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_done_upgrade_is_finished_without_touching_the_control_plane() {
    // Seed 001: control plane already 1.29, add-ons and nodes still 1.28.
    let (sandbox, cloud) = start("half-upgraded.yaml").await;
    let (summary, lines) = run_playbook(&cloud, &["cluster=half", "target=1.29"]).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines}");
    assert_converged(&sandbox, "1.29", &lines);
    // UpdateClusterVersion is a POST to .../clusters/NAME/updates.
    assert!(
        mutations_to(&sandbox, "/clusters/half/updates").is_empty(),
        "the control plane was already at the target:\n{lines}"
    );

    let before = sandbox.mutations().len();
    let (again, lines) = run_playbook(&cloud, &["cluster=half", "target=1.29"]).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{lines}");
    assert_eq!(
        sandbox.mutations().len(),
        before,
        "a converged cluster got mutations:\n{lines}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodegroups_behind_the_control_plane_catch_up_before_it_moves() {
    // addon-skew: control plane 1.29, nodegroups on 1.27 and 1.28.
    let (sandbox, cloud) = start("addon-skew.yaml").await;
    let (summary, lines) = run_playbook(&cloud, &["cluster=skew", "target=1.30"]).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines}");
    assert_converged(&sandbox, "1.30", &lines);
    let first_cluster_update = mutations_to(&sandbox, "/clusters/skew/updates")
        .first()
        .copied()
        .expect("the control plane was upgraded");
    for ng in ["legacy", "current"] {
        let first = mutations_to(&sandbox, &format!("/node-groups/{ng}/update-version"));
        assert!(
            first.first().is_some_and(|seq| *seq < first_cluster_update),
            "nodegroup {ng} was not brought to 1.29 before the control plane moved:\n{lines}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nodegroup_rolled_back_by_someone_else_is_brought_forward_again() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines) = run_playbook(&cloud, &["cluster=demo", "target=1.29"]).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{lines}");
    assert_converged(&sandbox, "1.29", &lines);

    // Seed 000's "radar": other automation rolls a nodegroup back.
    sandbox
        .trigger_external_rollback("data", "1.28")
        .expect("the rollback starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Its update must have finished: one still in flight is other automation
    // at work, which the playbook refuses to run over.
    while sandbox
        .nodegroups()
        .iter()
        .any(|ng| ng.name == "data" && (ng.version != "1.28" || ng.status != "ACTIVE"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the rollback never landed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (again, lines) = run_playbook(&cloud, &["cluster=demo", "target=1.29"]).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{lines}");
    assert_converged(&sandbox, "1.29", &lines);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_automation_moving_a_nodegroup_stops_the_run_before_the_next_hop() {
    // Seed 000's "radar": once hop 1's control plane is up, another tool
    // rolls nodegroup `data` back to 1.28 while this run goes on.
    let (sandbox, cloud) = start("demo.yaml").await;
    let radar = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while sandbox.cluster_version() != "1.29" {
            assert!(std::time::Instant::now() < deadline, "hop 1 never began");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        sandbox
            .trigger_external_rollback("data", "1.28")
            .expect("the radar's rollback starts")
    };
    let ((summary, lines), radar_update) = tokio::join!(
        run_playbook(&cloud, &["cluster=demo", "target=1.30"]),
        radar
    );
    // Nothing is rolled back over other automation: hop 1 stays, and is
    // reported as kept on purpose, with the reason.
    assert!(!summary.status.is_ok(), "{lines}");
    assert!(
        summary
            .rollbacks
            .iter()
            .any(|(step, status, _)| step == "control plane to 1.29"
                && status.as_str() == "kept on purpose"),
        "{lines}"
    );
    let said = format!("{lines}\n{:?}", summary.errors);
    assert!(
        said.contains("other automation changed the cluster")
            && said.contains("nodegroup data: VersionUpdate")
            && said.contains("Version=1.28"),
        "the failure does not say who moved what (update {radar_update}):\n{said}"
    );
    assert_eq!(
        mutations_to(&sandbox, "/clusters/demo/updates").len(),
        1,
        "the control plane moved past hop 1 over the drift:\n{lines}"
    );
    assert_eq!(sandbox.cluster_version(), "1.29");
}
