//! The engine against the in-process sandbox, through the real aws-sdk-eks
//! and kube-rs clients: adapters first, then the interpreter. One test
//! binary (link time is precious); each test starts its own sandbox.

use std::path::{Path, PathBuf};
use std::time::Duration;

use runbook::cloud::CloudError;
use runbook::cloud::drain::{DrainOptions, Drainer, Unmanaged};
use runbook::cloud::plan::{Change, Mode, Mutation};
use runbook::cloud::rotate::{RotateOptions, Rotator, Strategy};
use runbook::cloud::workloads::{DeletePodOptions, ScaleKind};
use runbook::interp::report::StepStatus;
use runbook::interp::{self, Cloud, Reporter, RunStatus, params};
use runbook::sandbox::{Sandbox, SandboxOptions};

use crate::common::{SCALE, connect, fixture, root, start};

fn quiet(_: &str) {}

fn apply(token: &str) -> Mutation<'static> {
    Mutation::new(Mode::Apply, token.to_string(), &quiet)
}

fn plan() -> Mutation<'static> {
    Mutation::new(Mode::Plan, "plan".to_string(), &quiet)
}

async fn upgrade_control_plane_and_addons(cloud: &Cloud, to: &str) {
    cloud
        .eks
        .update_cluster_version("demo", to, false, &apply(&format!("cp-{to}")))
        .await
        .expect("control plane updates");
    for a in cloud.eks.addons("demo").await.unwrap() {
        let v = cloud.eks.default_addon_version(&a.name, to).await.unwrap();
        cloud
            .eks
            .update_addon(
                "demo",
                &a.name,
                &v,
                None,
                &apply(&format!("addon-{}-{to}", a.name)),
            )
            .await
            .expect("add-on updates");
    }
}

// ------------------------------------------------------------------ adapters

#[tokio::test(flavor = "multi_thread")]
async fn adapters_describe_the_cluster() {
    let (sandbox, cloud) = start("small.yaml").await;
    let c = cloud.eks.cluster("demo").await.unwrap();
    assert_eq!(c.version, "1.28");
    assert_eq!(c.status, "ACTIVE");
    let mut ngs = cloud.eks.nodegroup_names("demo").await.unwrap();
    ngs.sort();
    assert_eq!(ngs, ["data", "general", "system"]);
    let general = cloud.eks.nodegroup("demo", "general").await.unwrap();
    assert_eq!(general.desired_size, 3);
    assert_eq!(general.max_unavailable, Some(1));
    let addons = cloud.eks.addons("demo").await.unwrap();
    assert_eq!(addons.len(), 4);
    let v = cloud
        .eks
        .default_addon_version("kube-proxy", "1.29")
        .await
        .unwrap();
    assert!(v.starts_with("v1.29"), "{v}");
    assert_eq!(
        cloud.eks.version_path("demo", "1.30").await.unwrap(),
        ["1.29", "1.30"]
    );
    let nodes = cloud.kube.nodes(Some("general")).await.unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes
            .iter()
            .all(|n| n.ready && n.nodegroup.as_deref() == Some("general"))
    );
    assert!(sandbox.mutations().is_empty(), "reads only");
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_update_waits_and_a_rerun_sends_no_mutation() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let change = cloud
        .eks
        .update_cluster_version("demo", "1.29", false, &apply("t1"))
        .await
        .unwrap();
    assert!(matches!(change, Change::Applied { .. }), "{change:?}");
    assert_eq!(sandbox.cluster_version(), "1.29");
    assert_eq!(cloud.eks.cluster("demo").await.unwrap().status, "ACTIVE");
    let before = sandbox.mutations().len();
    let again = cloud
        .eks
        .update_cluster_version("demo", "1.29", false, &apply("t2"))
        .await
        .unwrap();
    assert!(again.is_unchanged(), "{again:?}");
    assert_eq!(
        sandbox.mutations().len(),
        before,
        "a finished update is not sent again"
    );
    let skip = cloud
        .eks
        .update_cluster_version("demo", "1.31", false, &apply("t3"))
        .await;
    assert!(matches!(skip, Err(CloudError::Invalid(m)) if m.contains("1.30")));
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_evicts_everything_but_daemonsets() {
    let (sandbox, cloud) = start("small.yaml").await;
    let node = cloud.kube.nodes(Some("general")).await.unwrap()[0]
        .name
        .clone();
    let opts = DrainOptions {
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    let report = Drainer::new(&cloud.kube, &quiet)
        .drain(&node, &opts)
        .await
        .unwrap();
    assert!(!report.evicted.is_empty(), "{report:?}");
    let left: Vec<_> = cloud
        .kube
        .pods(None, Some(&node), None)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.controller.as_deref() != Some("DaemonSet"))
        .collect();
    assert!(left.is_empty(), "left on {node}: {left:?}");
    assert!(
        sandbox
            .nodes()
            .iter()
            .any(|n| n.name == node && n.unschedulable)
    );
}

/// The node the single-replica `checkout` pod runs on.
async fn checkout_node(cloud: &Cloud) -> String {
    cloud
        .kube
        .pods(Some("shop"), None, Some("app=checkout"))
        .await
        .unwrap()
        .into_iter()
        .find_map(|p| p.node)
        .expect("checkout is scheduled")
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_blocked_by_a_pdb_names_it_and_uncordons() {
    let (sandbox, cloud) = start("small.yaml").await;
    assert!(sandbox.set_pdb_enabled("shop", "checkout", true));
    let node = checkout_node(&cloud).await;
    let opts = DrainOptions {
        timeout: Duration::from_secs(120),
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    let err = Drainer::new(&cloud.kube, &quiet)
        .drain(&node, &opts)
        .await
        .unwrap_err();
    match &err {
        CloudError::DrainBlocked { pdbs, pods, .. } => {
            assert_eq!(pdbs, &["shop/checkout"]);
            assert!(
                pods.iter().any(|p| p.starts_with("shop/checkout")),
                "{pods:?}"
            );
        }
        other => panic!("expected DrainBlocked, got {other}"),
    }
    assert!(err.to_string().contains("shop/checkout"));
    let n = sandbox
        .nodes()
        .into_iter()
        .find(|n| n.name == node)
        .unwrap();
    assert!(!n.unschedulable, "a failed drain uncordons the node");
}

/// small.yaml with a preStop hook and a grace period of `secs` on every
/// Deployment's pods, at test speed: evicted pods take that long to go.
async fn slow_pods(secs: u32) -> (Sandbox, Cloud) {
    let text = std::fs::read_to_string(root().join("examples/sandbox/small.yaml")).unwrap();
    let (head, tail) = text.split_once("  daemonSets:").unwrap();
    let hooked = head.replace(
        "\n      replicas:",
        &format!(
            "\n      preStopSeconds: {secs}\n      terminationGracePeriodSeconds: {secs}\n      replicas:"
        ),
    );
    let fixture =
        runbook::sandbox::Fixture::from_yaml("small.yaml", &format!("{hooked}  daemonSets:{tail}"))
            .unwrap();
    crate::common::start_at(fixture, SCALE).await
}

/// The drain waits for evicted pods however long they take, and lists no
/// PDB when none refuses; past its deadline it fails naming the pods still
/// there, and uncordons the node.
#[tokio::test(flavor = "multi_thread")]
async fn drain_waits_for_slow_pods_and_times_out_naming_them() {
    let (sandbox, cloud) = slow_pods(20).await;
    let node = checkout_node(&cloud).await;
    let before = sandbox.requests().len();
    let opts = DrainOptions {
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    let report = Drainer::new(&cloud.kube, &quiet)
        .drain(&node, &opts)
        .await
        .unwrap();
    assert!(report.evicted.len() > 1, "{report:?}");
    assert!(report.elapsed >= Duration::from_secs(20), "{report:?}");
    let sent = &sandbox.requests()[before..];
    assert!(
        !sent.iter().any(|r| r.path.contains("poddisruptionbudgets")),
        "{sent:#?}"
    );

    let (sandbox, cloud) = slow_pods(600).await;
    let node = checkout_node(&cloud).await;
    let opts = DrainOptions {
        delete_emptydir_data: true,
        grace_period: Some(Duration::from_secs(600)),
        timeout: Duration::from_secs(60),
        ..DrainOptions::default()
    };
    let err = Drainer::new(&cloud.kube, &quiet)
        .drain(&node, &opts)
        .await
        .unwrap_err();
    match &err {
        CloudError::Timeout { what, after } => {
            assert!(
                what.starts_with(&format!("evicted pods to leave {node}: ")),
                "{what}"
            );
            assert!(what.contains("shop/checkout"), "{what}");
            assert_eq!(*after, Duration::from_secs(60));
        }
        other => panic!("expected a timeout, got {other}"),
    }
    let n = sandbox
        .nodes()
        .into_iter()
        .find(|n| n.name == node)
        .unwrap();
    assert!(!n.unschedulable, "a failed drain uncordons the node");
}

/// Eviction requests the sandbox has served, all of them dry runs.
fn dry_run_evictions(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .inspect(|r| assert!(r.query.contains("dryRun=All"), "{r:?}"))
        .map(|r| r.path)
        .collect()
}

/// What the API server answers to a `dryRun=All` eviction of the pod: its
/// HTTP status.
async fn server_verdict(cloud: &Cloud, namespace: &str, pod: &str) -> u16 {
    let body = serde_json::json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": namespace},
        "deleteOptions": {"dryRun": ["All"]},
    });
    let request = http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/pods/{pod}/eviction?dryRun=All"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(serde_json::to_vec(&body).unwrap())
    .unwrap();
    match cloud
        .kube
        .client()
        .request::<serde_json::Value>(request)
        .await
    {
        Ok(_) => 201,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("eviction of {namespace}/{pod}: {e}"),
    }
}

/// A dry-run drain judges each eviction from the PDBs' status, as the API
/// server itself decides, and asks the server (a `dryRun=All` eviction)
/// only where a budget leaves the answer uncertain: here the `web` budget
/// (maxUnavailable 1), which the node's drain would use up, and later a
/// pod that two budgets select. `checkout`'s budget allows no disruption:
/// certain, never asked. Every verdict matches the server's answer.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_drain_judges_pdbs_from_their_status_and_asks_only_when_uncertain() {
    let (sandbox, cloud) = start("small.yaml").await;
    assert!(sandbox.set_pdb_enabled("shop", "checkout", true));
    let node = checkout_node(&cloud).await;
    let opts = DrainOptions {
        unmanaged: Unmanaged::Fail,
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    let drainer = Drainer::new(&cloud.kube, &quiet);
    let plan = drainer.plan(&node, &opts).await.unwrap();
    assert_eq!(plan.blocking_pdbs, ["shop/checkout"]);
    let checkout = plan
        .evictions
        .iter()
        .find(|e| e.pod.starts_with("checkout"))
        .unwrap();
    assert_eq!(checkout.blocked_by.as_deref(), Some("shop/checkout"));
    let web_here: Vec<String> = plan
        .evictions
        .iter()
        .filter(|e| e.pod.starts_with("web-"))
        .map(|e| format!("/api/v1/namespaces/shop/pods/{}/eviction", e.pod))
        .collect();
    assert_eq!(
        dry_run_evictions(&sandbox),
        web_here,
        "only the pods of the budget at its edge are asked about"
    );
    for e in &plan.evictions {
        let code = server_verdict(&cloud, &e.namespace, &e.pod).await;
        assert_eq!(
            code != 201,
            e.blocked_by.is_some(),
            "{}/{}: the server answers {code}, the plan says {:?}",
            e.namespace,
            e.pod,
            e.blocked_by
        );
    }

    // A second budget over checkout: the eviction API refuses pods that
    // two budgets select, and the plan learns that from the server.
    let pdbs: kube::Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
        kube::Api::namespaced(cloud.kube.client().clone(), "shop");
    let extra = serde_json::from_value(serde_json::json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "checkout-extra", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "checkout"}}, "maxUnavailable": 1},
    }))
    .unwrap();
    pdbs.create(&Default::default(), &extra).await.unwrap();
    let mutations = sandbox.mutations().len();
    let asked = dry_run_evictions(&sandbox).len();
    let plan = drainer.plan(&node, &opts).await.unwrap();
    let checkout = plan
        .evictions
        .iter()
        .find(|e| e.pod.starts_with("checkout"))
        .unwrap();
    assert_eq!(
        checkout.blocked_by.as_deref(),
        Some("shop/checkout, shop/checkout-extra")
    );
    let asked_now = dry_run_evictions(&sandbox)[asked..].to_vec();
    assert!(
        asked_now.contains(&format!(
            "/api/v1/namespaces/shop/pods/{}/eviction",
            checkout.pod
        )),
        "{asked_now:?}"
    );
    assert_eq!(asked_now.len(), web_here.len() + 1, "{asked_now:?}");
    assert_eq!(
        sandbox.mutations().len(),
        mutations,
        "a plan changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_in_place_moves_every_node() {
    let (sandbox, cloud) = start("demo.yaml").await;
    upgrade_control_plane_and_addons(&cloud, "1.29").await;
    let opts = RotateOptions {
        version: "1.29".into(),
        strategy: Strategy::InPlace,
        max_unavailable: Some(2),
        force: false,
        canary: 0,
        drain: DrainOptions::default(),
        release_version: None,
        boot_timeout: Duration::from_secs(30 * 60),
        max_unavailable_percentage: None,
    };
    let rotator = Rotator {
        eks: &cloud.eks,
        kube: &cloud.kube,
    };
    // A separate adapter for the plan: its projection must not leak into
    // the real run below (dry runs are separate runs).
    let planner = Rotator {
        eks: &runbook::cloud::eks::Eks::new(cloud.eks.client().clone(), cloud.clock.clone()),
        kube: &cloud.kube,
    };
    let planned = planner
        .rotate("demo", "system", &opts, &plan(), None)
        .await
        .unwrap();
    let Change::Planned(p) = planned else {
        panic!("{planned:?}")
    };
    assert_eq!(p.from.as_deref(), Some("1.28"));
    assert_eq!(p.nodes.len(), 2);
    let change = rotator
        .rotate("demo", "system", &opts, &apply("rot"), None)
        .await
        .unwrap();
    assert!(matches!(change, Change::Applied { .. }), "{change:?}");
    let ng = sandbox
        .nodegroups()
        .into_iter()
        .find(|n| n.name == "system")
        .unwrap();
    assert_eq!(ng.version, "1.29");
    let nodes: Vec<_> = sandbox
        .nodes()
        .into_iter()
        .filter(|n| n.nodegroup == "system")
        .collect();
    assert!(
        !nodes.is_empty() && nodes.iter().all(|n| n.version == "1.29"),
        "{nodes:?}"
    );
    assert_eq!(
        cloud
            .eks
            .nodegroup("demo", "system")
            .await
            .unwrap()
            .max_unavailable,
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_blue_green_replaces_the_group() {
    let (sandbox, cloud) = start("demo.yaml").await;
    upgrade_control_plane_and_addons(&cloud, "1.29").await;
    let opts = RotateOptions {
        version: "1.29".into(),
        strategy: Strategy::BlueGreen,
        max_unavailable: None,
        force: false,
        canary: 0,
        drain: DrainOptions {
            delete_emptydir_data: true,
            ..DrainOptions::default()
        },
        release_version: None,
        boot_timeout: Duration::from_secs(30 * 60),
        max_unavailable_percentage: None,
    };
    let rotator = Rotator {
        eks: &cloud.eks,
        kube: &cloud.kube,
    };
    let change = rotator
        .rotate("demo", "general", &opts, &apply("bg"), None)
        .await
        .unwrap();
    assert!(matches!(change, Change::Applied { .. }), "{change:?}");
    let ngs = sandbox.nodegroups();
    assert!(
        !ngs.iter().any(|n| n.name == "general"),
        "old group deleted"
    );
    let new = ngs
        .iter()
        .find(|n| n.name == "general-1-29")
        .expect("replacement exists");
    assert_eq!(new.version, "1.29");
    assert!(
        sandbox
            .nodes()
            .iter()
            .filter(|n| n.nodegroup == "general-1-29")
            .all(|n| n.ready)
    );
    let web_ready = cloud
        .kube
        .pods(Some("shop"), None, Some("app=web"))
        .await
        .unwrap()
        .iter()
        .filter(|p| p.ready)
        .count();
    assert!(web_ready >= 2, "web keeps serving on the new nodes");
}

// --------------------------------------------------------------- interpreter

/// One hop per loop iteration: control plane, add-ons, nodegroups.
const UPGRADE: &str = r#"
import "stdlib/gates"

runbook upgrade "test upgrade" {
  param cluster: string
  param target: version

  precondition "cluster is ACTIVE" {
    eks.cluster(cluster).status == "ACTIVE"
  } else "wait for ACTIVE"

  for hop in eks.version_path(cluster, target) {
    step "control plane to ${hop}" irreversible {
      eks.update_cluster_version(cluster, hop)
    }
    step "add-ons for ${hop}" {
      let before = eks.addons(cluster)
      for a in before {
        eks.update_addon(cluster, a.name, version: eks.default_addon_version(a.name, hop))
      }
      rollback {
        for a in before { eks.update_addon(cluster, a.name, version: a.version) }
      }
    }
    step "nodegroups to ${hop}" {
      for ng in eks.nodegroups(cluster) {
        nodegroup.rotate(cluster, ng, version: hop, max_unavailable: 2)
      }
      gate nodes_ready
    }
  }
}
"#;

/// Add-ons left incompatible: vpc-cni changes, kube-proxy stays at 1.28, so
/// nodes of a new 1.29 group stay NotReady and the gate fails.
/// On addon-skew.yaml the control plane already runs 1.29 while vpc-cni was
/// left at a version that supports kubelets up to 1.28 (seed 001): a 1.29
/// canary group never turns Ready. (EKS's readiness insights refuse to move
/// a control plane past its add-ons, so this state is reached by a control
/// plane upgraded earlier, not by this run.)
const INCOMPATIBLE: &str = r#"
runbook partial "add-ons left behind" {
  param cluster: string

  gate new_nodes_ready {
    k8s.nodes(nodegroup: "canary").all(n => n.ready)
    k8s.nodes(nodegroup: "canary").len() > 0
    within 10m every 30s
  }

  step "some add-ons" {
    let before = eks.addons(cluster)
    eks.update_addon(cluster, "coredns", version: "v1.11.4-eksbuild.2")
    eks.create_nodegroup(cluster, "canary", from: "current", version: 1.29)
    gate new_nodes_ready
    rollback {
      eks.delete_nodegroup(cluster, "canary")
      for a in before { eks.update_addon(cluster, a.name, version: a.version) }
    }
  }
}
"#;

fn load(text: &str) -> runbook::syntax::Program {
    match runbook::syntax::load_text("test.upg", text.to_string(), &root()) {
        Ok(p) => p,
        Err((sources, diags)) => {
            let (out, _) = runbook::diagnostic::render_all(&diags, &sources, false);
            panic!("test runbook does not load:\n{out}");
        }
    }
}

async fn exec(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    sets: &[&str],
    dry_run: bool,
) -> (interp::RunSummary, Vec<String>) {
    exec_in(program, cloud, None, sets, dry_run).await
}

/// `exec` with `--env ENV` (or none).
async fn exec_in(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    env: Option<&str>,
    sets: &[&str],
    dry_run: bool,
) -> (interp::RunSummary, Vec<String>) {
    let (summary, reporter) = exec_reported(program, cloud, env, sets, dry_run).await;
    (summary, reporter.lines())
}

/// `exec_in`, handing back the reporter: its text lines and the JSON
/// events `--output json` prints.
async fn exec_reported(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    env: Option<&str>,
    sets: &[&str],
    dry_run: bool,
) -> (interp::RunSummary, Reporter) {
    crate::common::run(program, cloud, env, sets, dry_run, None, true).await
}

#[tokio::test(flavor = "multi_thread")]
async fn runbook_upgrades_two_hops_and_a_rerun_changes_nothing() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let program = load(UPGRADE);
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo", "target=1.30"], false).await;
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{}\n{:?}",
        lines.join("\n"),
        summary.errors
    );
    assert_eq!(sandbox.cluster_version(), "1.30");
    assert!(
        sandbox.nodegroups().iter().all(|n| n.version == "1.30"),
        "{:?}",
        sandbox.nodegroups()
    );
    assert!(
        sandbox
            .nodes()
            .iter()
            .all(|n| n.ready && n.version == "1.30")
    );
    assert_eq!(
        summary
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Done)
            .count(),
        6
    );
    assert!(
        summary
            .final_state
            .iter()
            .any(|l| l.starts_with("cluster demo: 1.30")),
        "{:?}",
        summary.final_state
    );

    let before = sandbox.mutations().len();
    let (again, lines) = exec(&program, &cloud, &["cluster=demo", "target=1.30"], false).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{}", lines.join("\n"));
    assert!(again.steps.is_empty(), "no hop left: {:?}", again.steps);
    assert_eq!(sandbox.mutations().len(), before, "rerun sent mutations");
}

#[tokio::test(flavor = "multi_thread")]
async fn incompatible_addons_fail_the_gate_and_the_addon_change_is_rolled_back() {
    let (sandbox, cloud) = start("addon-skew.yaml").await;
    let original = sandbox.addon_versions();
    let program = load(INCOMPATIBLE);
    let (summary, lines) = exec(&program, &cloud, &["cluster=skew"], false).await;
    let text = lines.join("\n");
    // Nothing irreversible ran: the whole run is rolled back.
    assert_eq!(summary.status, RunStatus::RolledBack, "{text}");
    assert_eq!(summary.errors[0].code, "RUN021", "{:?}", summary.errors);
    assert!(
        summary.errors[0].message.contains("new_nodes_ready"),
        "{:?}",
        summary.errors
    );
    // The add-on step was undone: versions restored, canary group gone.
    assert_eq!(sandbox.addon_versions(), original);
    assert!(!sandbox.nodegroups().iter().any(|n| n.name == "canary"));
    assert!(
        summary
            .rollbacks
            .iter()
            .any(|(t, s, _)| t == "some add-ons" && *s == StepStatus::RolledBack),
        "{:?}",
        summary.rollbacks
    );
    assert_eq!(sandbox.cluster_version(), "1.29");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_both_hops_against_the_projected_state() {
    let (sandbox, cloud) = start("small.yaml").await;
    let program = load(UPGRADE);
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo", "target=1.30"], true).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::Planned, "{text}");
    assert!(
        text.contains("would upgrade the control plane of cluster demo: 1.28 → 1.29"),
        "{text}"
    );
    assert!(
        text.contains("would upgrade the control plane of cluster demo: 1.29 → 1.30"),
        "{text}"
    );
    assert!(text.contains("nodes affected"), "{text}");
    assert_eq!(sandbox.mutations(), vec![], "a dry run mutates nothing");
    assert_eq!(sandbox.cluster_version(), "1.28");
    let summary_text = summary.render_text();
    assert!(summary_text.contains("Plan: "), "{summary_text}");
    let predicted: Duration = summary.steps.iter().map(|s| s.predicted).sum();
    assert!(
        predicted >= Duration::from_secs(50 * 60),
        "two control-plane hops alone take 50m"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_of_every_playbook_against_every_fixture_sends_no_mutation() {
    let mut playbooks: Vec<PathBuf> = std::fs::read_dir(root().join("playbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "upg"))
        .collect();
    playbooks.sort();
    let mut fixtures: Vec<String> = std::fs::read_dir(root().join("examples/sandbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    fixtures.sort();
    assert!(!playbooks.is_empty() && !fixtures.is_empty());
    for pb in &playbooks {
        let program =
            runbook::syntax::load(pb).unwrap_or_else(|_| panic!("{} loads", pb.display()));
        for fx in &fixtures {
            let (sandbox, cloud) = start(fx).await;
            let mut sets = vec![format!("cluster={}", sandbox.cluster_name())];
            match pb.file_stem().and_then(|s| s.to_str()) {
                Some("eks-minor-upgrade") => sets.push("target=1.30".to_string()),
                Some("node-replace") => sets.push(format!("node={}", sandbox.nodes()[0].name)),
                _ => {}
            }
            let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
            let (summary, lines) = exec(&program, &cloud, &sets, true).await;
            assert_eq!(
                sandbox.mutations(),
                vec![],
                "{} on {fx} mutated:\n{}",
                pb.display(),
                lines.join("\n")
            );
            assert_ne!(
                summary.status,
                RunStatus::Succeeded,
                "a dry run never reports success as applied"
            );
        }
    }
}

#[test]
fn bad_parameters_and_unknown_environments_fail_with_a_location() {
    let program = load(UPGRADE);
    let resolved = runbook::analyze::resolve(&program).unwrap();
    let sets = vec!["cluster=demo".to_string(), "target=1.3x".to_string()];
    let (sources, diags) = params::bind(&resolved, None, &sets).unwrap_err();
    assert_eq!(diags[0].code, "RUN001");
    assert_eq!(
        sources.location(diags[0].primary_span().unwrap()),
        "<command line>:1:33"
    );
    let (_, diags) = params::bind(&resolved, Some("staging"), &sets[..1]).unwrap_err();
    assert!(diags.iter().any(|d| d.code == "RUN002"));
    assert!(
        diags
            .iter()
            .any(|d| d.code == "RUN003" && d.message.contains("target"))
    );
}

/// The real binary: bad input exits 1 with a located message and never gets
/// as far as starting the sandbox.
#[test]
fn exec_binary_rejects_bad_parameters_before_any_request() {
    let out = crate::common::bin::command()
        .args([
            "exec",
            "playbooks/eks-minor-upgrade.upg",
            "--sandbox",
            "examples/sandbox/small.yaml",
        ])
        .args(["--set", "target=1.3x"])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("RUN001") && stderr.contains("<command line>:1:"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("sandbox: cluster"),
        "sandbox must not start: {stderr}"
    );
    assert!(Path::new(&root().join("playbooks/eks-minor-upgrade.upg")).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn in_place_rotation_blocked_by_a_pdb_names_it() {
    let (sandbox, cloud) = start("demo.yaml").await;
    assert!(sandbox.set_pdb_enabled("shop", "checkout", true));
    upgrade_control_plane_and_addons(&cloud, "1.29").await;
    let node = checkout_node(&cloud).await;
    let group = sandbox
        .nodes()
        .into_iter()
        .find(|n| n.name == node)
        .map(|n| n.nodegroup)
        .unwrap();
    let opts = RotateOptions {
        version: "1.29".into(),
        strategy: Strategy::InPlace,
        max_unavailable: None,
        force: false,
        canary: 0,
        drain: DrainOptions::default(),
        release_version: None,
        boot_timeout: Duration::from_secs(30 * 60),
        max_unavailable_percentage: None,
    };
    let rotator = Rotator {
        eks: &cloud.eks,
        kube: &cloud.kube,
    };
    let err = rotator
        .rotate("demo", &group, &opts, &apply("blocked"), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CloudError::UpdateFailed { .. }), "{text}");
    assert!(text.contains("PodEvictionFailure"), "{text}");
    assert!(
        text.contains("shop/checkout"),
        "the blocking PDB is named: {text}"
    );
}

/// `--output json`: every stdout line is one JSON event, ending with the
/// summary.
#[test]
fn exec_binary_json_output_is_an_event_stream() {
    let out = crate::common::bin::command()
        .args([
            "exec",
            "playbooks/eks-minor-upgrade.upg",
            "--sandbox",
            "examples/sandbox/small.yaml",
        ])
        .args([
            "--set",
            "target=1.30",
            "--dry-run",
            "--output",
            "json",
            "--time-scale",
            "5000",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{stdout}");
    assert_eq!(kinds.last(), Some(&"summary"), "{stdout}");
    assert!(kinds.contains(&"precondition"), "{stdout}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "param" && e["name"] == "cluster" && e["value"] == "\"demo\"")
    );
}

/// Ctrl-C (the clock's cancel) stops a run mid-step; the step's change is
/// rolled back and the run reports it.
#[tokio::test(flavor = "multi_thread")]
async fn interrupt_stops_the_run_and_rolls_back() {
    let (sandbox, cloud) = start("small.yaml").await;
    let original = sandbox.addon_versions();
    let program = load(
        r#"
runbook interrupted "stopped by Ctrl-C" {
  param cluster: string
  step "swap vpc-cni" {
    let before = eks.addon(cluster, "vpc-cni")
    eks.update_addon(cluster, "vpc-cni", version: "v1.18.3-eksbuild.2")
    pause 6h
    rollback {
      eks.update_addon(cluster, "vpc-cni", version: before.version)
    }
  }
}
"#,
    );
    let clock = cloud.clock.clone();
    let first = original["vpc-cni"].clone();
    let interrupt = async move {
        // Wait until the add-on changed, then press Ctrl-C.
        while sandbox.addon_versions()["vpc-cni"] == first {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        clock.cancel();
        sandbox
    };
    let ((summary, lines), sandbox) =
        tokio::join!(exec(&program, &cloud, &["cluster=demo"], false), interrupt);
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::RolledBack, "{text}");
    assert_eq!(summary.errors[0].code, "RUN024", "{:?}", summary.errors);
    assert_eq!(sandbox.addon_versions(), original, "{text}");
    assert!(
        summary.elapsed < Duration::from_secs(6 * 3600),
        "the pause was cut short"
    );
}

/// Throttling and 5xx from both APIs are retried with backoff: reads and an
/// update with its wait still succeed.
#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_are_retried() {
    let sandbox = Sandbox::start(
        fixture("demo.yaml"),
        SandboxOptions {
            time_scale: SCALE,
            seed: 7,
            faults: "5xx=0.15,429=0.1".parse().expect("fault spec"),
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let cloud = connect(&sandbox).await;
    for _ in 0..5 {
        assert_eq!(cloud.eks.cluster("demo").await.unwrap().version, "1.28");
        assert_eq!(cloud.kube.nodes(None).await.unwrap().len(), 8);
        assert!(!cloud.kube.pods(None, None, None).await.unwrap().is_empty());
    }
    cloud
        .eks
        .update_cluster_version("demo", "1.29", false, &apply("flaky"))
        .await
        .unwrap();
    assert_eq!(sandbox.cluster_version(), "1.29");
    assert!(
        sandbox.requests().iter().any(|r| r.status >= 500),
        "faults were injected"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failing_precondition_is_reported_before_any_change() {
    let (sandbox, cloud) = start("small.yaml").await;
    let program = load(
        r#"
runbook guarded "two preconditions fail" {
  param cluster: string
  precondition "already at 1.30" { eks.cluster(cluster).version == 1.30 } else "upgrade first"
  precondition "cluster is ACTIVE" { eks.cluster(cluster).status == "ACTIVE" }
  precondition "no nodes" { k8s.nodes().len() == 0 } else "drain everything"
  step "never runs" irreversible { eks.update_cluster_version(cluster, 1.29) }
}
"#,
    );
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    assert_eq!(summary.status, RunStatus::Refused, "{}", lines.join("\n"));
    let codes: Vec<&str> = summary.errors.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["RUN010", "RUN010"]);
    assert_eq!(summary.errors[0].help.as_deref(), Some("upgrade first"));
    assert_eq!(summary.errors[1].help.as_deref(), Some("drain everything"));
    assert!(summary.steps.is_empty());
    assert!(sandbox.mutations().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_watched_during_a_step_fails_it() {
    let (_sandbox, cloud) = start("small.yaml").await;
    let program = load(
        r#"
runbook watched "during" {
  param cluster: string
  gate never {
    k8s.nodes().len() == 0
    within 5m every 30s
  }
  step "long wait" during never {
    pause 2h
  }
}
"#,
    );
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    assert_eq!(summary.errors[0].code, "RUN021", "{}", lines.join("\n"));
    assert!(
        summary.errors[0].message.contains("failed during the step"),
        "{:?}",
        summary.errors
    );
    assert!(
        summary.elapsed < Duration::from_secs(3600),
        "the pause was cut short"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_canary_gate_undoes_a_blue_green_rotation() {
    let (sandbox, cloud) = start("demo.yaml").await;
    upgrade_control_plane_and_addons(&cloud, "1.29").await;
    let opts = RotateOptions {
        version: "1.29".into(),
        strategy: Strategy::BlueGreen,
        max_unavailable: None,
        force: false,
        canary: 1,
        drain: DrainOptions {
            delete_emptydir_data: true,
            ..DrainOptions::default()
        },
        release_version: None,
        boot_timeout: Duration::from_secs(30 * 60),
        max_unavailable_percentage: None,
    };
    let rotator = Rotator {
        eks: &cloud.eks,
        kube: &cloud.kube,
    };
    let called = std::cell::Cell::new(0);
    let gate = || -> futures::future::LocalBoxFuture<'_, Result<(), CloudError>> {
        called.set(called.get() + 1);
        Box::pin(async { Err(CloudError::Invalid("canary unhealthy".into())) })
    };
    let err = rotator
        .rotate("demo", "system", &opts, &apply("canary"), Some(&gate))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("canary unhealthy"), "{err}");
    assert_eq!(called.get(), 1, "the gate runs once, after the first node");
    let ngs = sandbox.nodegroups();
    assert!(
        ngs.iter()
            .any(|n| n.name == "system" && n.version == "1.28")
    );
    assert!(
        !ngs.iter().any(|n| n.name == "system-1-29"),
        "new group deleted: {ngs:?}"
    );
    assert!(
        sandbox
            .nodes()
            .iter()
            .filter(|n| n.nodegroup == "system")
            .all(|n| !n.unschedulable),
        "old nodes uncordoned"
    );
}

// ------------------------------------------- actions incidents need (issue 17)

fn delete_opts() -> DeletePodOptions {
    DeletePodOptions {
        grace_period: Some(Duration::from_secs(30)),
        data_loss_ok: false,
        unmanaged_ok: false,
        timeout: Duration::from_secs(300),
    }
}

/// Seed 004: a single replica whose budget blocks every drain. Deleting its
/// pod lets the ReplicaSet recreate it; pods owning data are refused.
#[tokio::test(flavor = "multi_thread")]
async fn delete_pod_refuses_pods_owning_data_and_replaces_a_single_replica() {
    let (sandbox, cloud) = start("small.yaml").await;
    let api = cloud
        .kube
        .pods(Some("shop"), None, Some("app=api"))
        .await
        .unwrap()[0]
        .clone();
    let pg = cloud
        .kube
        .pods(Some("data"), None, Some("app=postgres"))
        .await
        .unwrap()[0]
        .clone();
    let before = sandbox.mutations().len();
    let err = cloud
        .kube
        .delete_pod("shop", &api.name, &delete_opts(), &apply("d1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("emptyDir"), "{err}");
    let err = cloud
        .kube
        .delete_pod("data", &pg.name, &delete_opts(), &apply("d2"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("PersistentVolumeClaim data-postgres"),
        "{err}"
    );
    // The dry run says the same and sends nothing.
    let Change::Planned(p) = cloud
        .kube
        .delete_pod("data", &pg.name, &delete_opts(), &plan())
        .await
        .unwrap()
    else {
        panic!("a plan")
    };
    assert_eq!(p.refusals.len(), 1, "{p:?}");
    assert!(
        p.lines().iter().any(|l| l.contains("would refuse")),
        "{p:?}"
    );
    assert_eq!(
        sandbox.mutations().len(),
        before,
        "refusals and plans send nothing"
    );

    let old = cloud
        .kube
        .pods(Some("shop"), None, Some("app=checkout"))
        .await
        .unwrap()[0]
        .clone();
    let change = cloud
        .kube
        .delete_pod("shop", &old.name, &delete_opts(), &apply("d3"))
        .await
        .unwrap();
    assert!(
        matches!(&change, Change::Applied { detail, .. } if detail.contains("ReplicaSet")),
        "{change:?}"
    );
    let deletes: Vec<_> = sandbox
        .mutations()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    let now = cloud
        .kube
        .pods(Some("shop"), None, Some("app=checkout"))
        .await
        .unwrap();
    assert!(now.iter().all(|p| p.uid != old.uid), "{now:?}");
    // Gone: a rerun sends nothing.
    let again = cloud
        .kube
        .delete_pod("shop", &old.name, &delete_opts(), &apply("d4"))
        .await
        .unwrap();
    assert!(again.is_unchanged(), "{again:?}");
    assert_eq!(sandbox.mutations().len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn scale_waits_for_the_replicas_and_hands_back_the_count_before() {
    let (sandbox, cloud) = start("small.yaml").await;
    let timeout = Duration::from_secs(600);
    let before = sandbox.mutations().len();
    let (planned, was) = cloud
        .kube
        .scale(
            ScaleKind::Deployment,
            "shop",
            "checkout",
            2,
            timeout,
            &plan(),
        )
        .await
        .unwrap();
    assert_eq!(was, 1);
    assert!(
        matches!(&planned, Change::Planned(p) if p.from.as_deref() == Some("1") && p.to.as_deref() == Some("2")),
        "{planned:?}"
    );
    assert_eq!(sandbox.mutations().len(), before, "a plan sends nothing");
    let (change, was) = cloud
        .kube
        .scale(
            ScaleKind::Deployment,
            "shop",
            "checkout",
            2,
            timeout,
            &apply("s1"),
        )
        .await
        .unwrap();
    assert_eq!(was, 1);
    assert!(matches!(change, Change::Applied { .. }), "{change:?}");
    let checkout = cloud
        .kube
        .pods(Some("shop"), None, Some("app=checkout"))
        .await
        .unwrap();
    assert_eq!(
        checkout
            .iter()
            .filter(|p| p.ready && !p.terminating)
            .count(),
        2,
        "{checkout:?}"
    );
    let (again, was) = cloud
        .kube
        .scale(
            ScaleKind::Deployment,
            "shop",
            "checkout",
            2,
            timeout,
            &apply("s2"),
        )
        .await
        .unwrap();
    assert_eq!(was, 2);
    assert!(again.is_unchanged(), "{again:?}");
    assert_eq!(
        sandbox.mutations().len(),
        before + 1,
        "a rerun sends nothing"
    );
    // A StatefulSet scales down to exactly the count asked for.
    let (_, was) = cloud
        .kube
        .scale(
            ScaleKind::StatefulSet,
            "data",
            "postgres",
            1,
            timeout,
            &apply("s3"),
        )
        .await
        .unwrap();
    assert_eq!(was, 2);
    let pg = cloud
        .kube
        .pods(Some("data"), None, Some("app=postgres"))
        .await
        .unwrap();
    assert_eq!(pg.len(), 1, "{pg:?}");
    let missing = cloud
        .kube
        .scale(
            ScaleKind::Deployment,
            "shop",
            "nope",
            1,
            timeout,
            &apply("s4"),
        )
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

const BACKUP: &str = r#"
runbook backup "Back up with Velero before the upgrade" {
  param cluster: string
  param namespaces: list<string> = ["shop"]

  step "velero backup" {
    k8s.create({
      apiVersion: "velero.io/v1",
      kind: "Backup",
      metadata: {name: "pre-upgrade", namespace: "velero"},
      spec: {includedNamespaces: namespaces, ttl: "720h0m0s"},
    })
    let done = k8s.wait(
      "velero.io/v1",
      "Backup",
      "pre-upgrade",
      namespace: "velero",
      field: "status.phase",
      equals: "Completed",
      fail_on: ["Failed", "PartiallyFailed", "FailedValidation"],
      timeout: 30m,
      every: 15s,
    )
    log "backed up ${done.status.progress.itemsBackedUp} item(s)"
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_runbook_creates_a_velero_backup_and_waits_for_it_to_complete() {
    let (sandbox, cloud) = start("mesh-1.25.yaml").await;
    let program = load(BACKUP);
    let (planned, lines) = exec(&program, &cloud, &["cluster=mesh"], true).await;
    let text = lines.join("\n");
    assert_eq!(planned.status, RunStatus::Planned, "{text}");
    assert!(
        text.contains("would create Backup velero/pre-upgrade"),
        "{text}"
    );
    assert_eq!(sandbox.mutations(), vec![], "a dry run mutates nothing");

    let started = sandbox.now();
    let (summary, lines) = exec(&program, &cloud, &["cluster=mesh"], false).await;
    let text = lines.join("\n");
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{text}\n{:?}",
        summary.errors
    );
    let backup = sandbox
        .kube_object("backups", "velero", "pre-upgrade")
        .unwrap();
    assert_eq!(backup["status"]["phase"], "Completed", "{backup}");
    let items = backup["status"]["progress"]["itemsBackedUp"]
        .as_u64()
        .unwrap();
    assert!(
        items >= 4,
        "the shop namespace's pods, deployment and service: {backup}"
    );
    assert!(
        text.contains(&format!("backed up {items} item(s)")),
        "{text}"
    );
    // It really waited for the backup to run.
    assert!(sandbox.now() - started >= Duration::from_secs(180));
    // A rerun finds the backup: nothing created twice.
    let before = sandbox.mutations().len();
    let (again, lines) = exec(&program, &cloud, &["cluster=mesh"], false).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{}", lines.join("\n"));
    assert_eq!(sandbox.mutations().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_velero_backup_ends_the_wait_at_once() {
    let (sandbox, cloud) = start("mesh-1.25.yaml").await;
    let program = load(BACKUP);
    let started = sandbox.now();
    let (summary, lines) = exec(
        &program,
        &cloud,
        &["cluster=mesh", r#"namespaces=["shop","payments"]"#],
        false,
    )
    .await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::Failed, "{text}");
    let msg = &summary.errors[0].message;
    assert!(msg.contains("status.phase is FailedValidation"), "{msg}");
    assert!(
        sandbox.now() - started < Duration::from_secs(5 * 60),
        "did not wait out the 30m timeout"
    );
    let backup = sandbox
        .kube_object("backups", "velero", "pre-upgrade")
        .unwrap();
    assert_eq!(backup["status"]["phase"], "FailedValidation");
}

const PATCH_AND_UNDO: &str = r#"
runbook incident "Unblock a drain, then fail later" {
  param cluster: string

  step "unblock checkout" {
    let replicas = k8s.scale("shop", "checkout", replicas: 2)
    let notes = k8s.annotate("apps/v1", "Deployment", "checkout", namespace: "shop", annotations: {"runbook/incident": "INC-42"})
    let undo = k8s.patch("apps/v1", "Deployment", "web", namespace: "shop", patch: {spec: {minReadySeconds: 10}, metadata: {labels: {tier: "front"}}})
    rollback {
      k8s.patch("apps/v1", "Deployment", "web", namespace: "shop", patch: undo)
      k8s.annotate("apps/v1", "Deployment", "checkout", namespace: "shop", annotations: notes)
      k8s.scale("shop", "checkout", replicas: replicas)
    }
  }

  step "something later fails" {
    fail "the incident got worse"
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn scale_annotate_and_patch_are_undone_by_the_values_they_return() {
    let (sandbox, cloud) = start("small.yaml").await;
    let web = sandbox.kube_object("deployments", "shop", "web").unwrap();
    let checkout = sandbox
        .kube_object("deployments", "shop", "checkout")
        .unwrap();
    let program = load(PATCH_AND_UNDO);

    let (planned, lines) = exec(&program, &cloud, &["cluster=demo"], true).await;
    let text = lines.join("\n");
    // The plan reaches the `fail` of the second step, as the run will.
    assert_eq!(planned.status, RunStatus::Failed, "{text}");
    assert!(
        text.contains("metadata.annotations.runbook/incident: (absent) → INC-42"),
        "{text}"
    );
    assert!(
        text.contains("would scale Deployment shop/checkout: 1 → 2"),
        "{text}"
    );
    assert!(
        text.contains("spec.minReadySeconds: (absent) → 10"),
        "{text}"
    );
    assert_eq!(sandbox.mutations(), vec![], "a dry run mutates nothing");

    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    let text = lines.join("\n");
    assert_eq!(
        summary.status,
        RunStatus::RolledBack,
        "{text}\n{:?}",
        summary.errors
    );
    let web_after = sandbox.kube_object("deployments", "shop", "web").unwrap();
    assert_eq!(
        web_after["spec"]["minReadySeconds"],
        serde_json::Value::Null,
        "{text}"
    );
    assert_eq!(web_after["metadata"]["labels"], web["metadata"]["labels"]);
    let co = sandbox
        .kube_object("deployments", "shop", "checkout")
        .unwrap();
    assert_eq!(co["spec"]["replicas"], 1);
    // Restored: an empty map where there were none is the same annotations.
    let annotations = |o: &serde_json::Value| {
        o["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(annotations(&co), annotations(&checkout), "{co}");
    // The three changes and their three undos; nothing else was sent.
    let kube_writes = sandbox
        .mutations()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(kube_writes, 6, "{:?}", sandbox.mutations());
}

// ---------------------------------------------------------- shipped playbooks

fn playbook(name: &str) -> runbook::syntax::Program {
    let path = root().join("playbooks").join(name);
    runbook::syntax::load(&path).unwrap_or_else(|_| panic!("{} loads", path.display()))
}

/// Seed 000: Istio 1.13 and Calico 3.21 on 1.25; the minor upgrade to 1.28
/// is refused before anything is sent, naming both.
#[tokio::test(flavor = "multi_thread")]
async fn the_minor_upgrade_refuses_a_mesh_left_behind() {
    let (sandbox, cloud) = start("mesh-1.25.yaml").await;
    let program = playbook("eks-minor-upgrade.upg");
    let (summary, lines) = exec(&program, &cloud, &["cluster=mesh", "target=1.28"], false).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::Refused, "{text}");
    assert!(
        summary.errors.iter().any(|e| e
            .message
            .contains("third-party components support the target")),
        "{:?}",
        summary.errors
    );
    assert!(
        text.contains("Istio 1.13 (1.13.4) supports Kubernetes 1.20 to 1.23, not 1.28"),
        "{text}"
    );
    assert!(text.contains("Calico 3.21 (v3.21.5)"), "{text}");
    assert_eq!(sandbox.mutations(), vec![]);
    assert_eq!(sandbox.cluster_version(), "1.25");
}

/// Seed 000's runc fix: same Kubernetes version, newer AMI, canary first.
#[tokio::test(flavor = "multi_thread")]
async fn ami_refresh_moves_every_nodegroup_to_the_newest_release_canary_first() {
    let (sandbox, cloud) = start("mesh-1.25.yaml").await;
    let program = playbook("ami-refresh.upg");
    let sets = ["cluster=mesh", "canary_nodegroup=system"];
    let (planned, lines) = exec(&program, &cloud, &sets, true).await;
    let text = lines.join("\n");
    assert_eq!(planned.status, RunStatus::Planned, "{text}");
    assert!(
        text.contains("1.25.16-20250715 → newest AMI for 1.25"),
        "{text}"
    );
    assert_eq!(sandbox.mutations(), vec![]);

    let (summary, lines) = exec(&program, &cloud, &sets, false).await;
    let text = lines.join("\n");
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{text}\n{:?}",
        summary.errors
    );
    let titles: Vec<&str> = summary.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        ["canary nodegroup system", "nodegroup general"],
        "{text}"
    );
    for ng in sandbox.nodegroups() {
        assert_eq!(ng.version, "1.25");
        assert_ne!(ng.release_version, "1.25.16-20250715", "{ng:?}");
    }
    assert!(
        sandbox
            .nodes()
            .iter()
            .all(|n| n.ready && n.version == "1.25")
    );
    // Already on the newest release: a rerun asks EKS, which refuses the
    // same release, and nothing is rolled again.
    let refreshes = || {
        sandbox
            .mutations()
            .iter()
            .filter(|r| r.path.ends_with("/update-version") && r.status < 300)
            .count()
    };
    assert_eq!(refreshes(), 2);
    // A later refresh (a new run, so a new token) finds nothing newer: EKS
    // refuses the release the group runs and nothing rolls.
    let nodes = sandbox.nodes();
    let again = cloud
        .eks
        .update_nodegroup_version(
            "mesh",
            "system",
            "1.25",
            Some("latest"),
            false,
            &apply("later"),
        )
        .await
        .unwrap();
    assert!(
        matches!(&again, Change::Unchanged { message, .. } if message == "already on the newest AMI for 1.25"),
        "{again:?}"
    );
    assert_eq!(refreshes(), 2);
    assert_eq!(sandbox.nodes(), nodes);
}

#[tokio::test(flavor = "multi_thread")]
async fn ami_refresh_pins_a_release() {
    let (sandbox, cloud) = start("mesh-1.25.yaml").await;
    let program = playbook("ami-refresh.upg");
    let sets = ["cluster=mesh", "release_version=1.25.16-20250820"];
    let (summary, lines) = exec(&program, &cloud, &sets, false).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{}", lines.join("\n"));
    assert!(
        sandbox
            .nodegroups()
            .iter()
            .all(|n| n.release_version == "1.25.16-20250820"),
        "{:?}",
        sandbox.nodegroups()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn addons_only_updates_what_lags_the_current_minor() {
    let (sandbox, cloud) = start("mesh-1.25.yaml").await;
    let program = playbook("addons-only.upg");
    let (summary, lines) = exec(&program, &cloud, &["cluster=mesh"], false).await;
    let text = lines.join("\n");
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{text}\n{:?}",
        summary.errors
    );
    let versions = sandbox.addon_versions();
    assert_eq!(versions["vpc-cni"], "v1.15.4-eksbuild.1", "{versions:?}");
    assert_eq!(versions["kube-proxy"], "v1.25.16-eksbuild.8");
    assert_eq!(sandbox.cluster_version(), "1.25");
    let updates = sandbox
        .mutations()
        .into_iter()
        .filter(|r| r.path.contains("/addons/") && r.path.ends_with("/update"))
        .count();
    assert_eq!(updates, 1, "only vpc-cni lagged: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn node_replace_surges_then_drains_the_bad_node() {
    let (sandbox, cloud) = start("small.yaml").await;
    let bad = sandbox
        .nodes()
        .into_iter()
        .find(|n| n.nodegroup == "general")
        .unwrap()
        .name;
    let program = playbook("node-replace.upg");
    let sets = [
        "cluster=demo".to_string(),
        format!("node={bad}"),
        "delete_emptydir_data=true".to_string(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let (summary, lines) = exec(&program, &cloud, &sets, false).await;
    let text = lines.join("\n");
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{text}\n{:?}",
        summary.errors
    );
    let general = sandbox
        .nodegroups()
        .into_iter()
        .find(|n| n.name == "general")
        .unwrap();
    assert_eq!(general.desired_size, 4);
    let nodes = sandbox.nodes();
    assert!(
        nodes.iter().any(|n| n.name == bad && n.unschedulable),
        "kept, cordoned"
    );
    assert_eq!(
        nodes
            .iter()
            .filter(|n| n.nodegroup == "general" && n.ready && !n.unschedulable)
            .count(),
        3,
        "{nodes:?}"
    );
    let left: Vec<_> = cloud
        .kube
        .pods(None, Some(&bad), None)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.controller.as_deref() != Some("DaemonSet"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(text.contains("stays cordoned for investigation"), "{text}");
}

/// The node-Ready wait of a blue/green rotation has its own budget now
/// (it was fixed at 30m); running out undoes the replacement.
#[tokio::test(flavor = "multi_thread")]
async fn a_blue_green_rotation_gives_up_after_its_boot_timeout() {
    // addon-skew: a 1.29 control plane whose vpc-cni is too old for 1.29
    // kubelets, so 1.29 nodes never become Ready.
    let (sandbox, cloud) = start("addon-skew.yaml").await;
    let mut opts = RotateOptions {
        version: "1.29".into(),
        strategy: Strategy::BlueGreen,
        max_unavailable: None,
        force: false,
        canary: 0,
        drain: DrainOptions::default(),
        release_version: Some("1.29.15-20250920".into()),
        boot_timeout: Duration::from_secs(60),
        max_unavailable_percentage: None,
    };
    let rotator = Rotator {
        eks: &cloud.eks,
        kube: &cloud.kube,
    };
    let err = rotator
        .rotate("skew", "current", &opts, &apply("bg-pin"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs strategy in_place"), "{err}");
    opts.release_version = None;
    let err = rotator
        .rotate("skew", "current", &opts, &apply("bg-boot"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CloudError::Timeout { what, after } if what.contains("to become Ready") && *after == Duration::from_secs(60)),
        "{err}"
    );
    // Undone: the replacement group is gone, the old one untouched.
    let groups = sandbox.nodegroups();
    assert!(
        !groups.iter().any(|g| g.name == "current-1-29"),
        "{groups:?}"
    );
    assert!(
        groups
            .iter()
            .any(|g| g.name == "current" && g.version == "1.28")
    );
}

// ------------------------------------------------------------- generated fixtures

/// `runbook sandbox generate` writes the same file for the same seed, and
/// the file is a fixture like any other: the sandbox serves exactly the
/// nodes and pods asked for, and `exec --sandbox` plans the upgrade on it.
#[tokio::test(flavor = "multi_thread")]
async fn generated_fixtures_are_deterministic_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |seed: &str, name: &str| {
        let path = dir.path().join(name);
        let out = crate::common::bin::command()
            .args(["sandbox", "generate", "--nodes", "12", "--pods", "300"])
            .args(["--nodegroups", "3", "--seed", seed, "-o"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (path.clone(), std::fs::read_to_string(&path).unwrap())
    };
    let (path, a) = generate("5", "a.yaml");
    let (_, b) = generate("5", "b.yaml");
    let (_, c) = generate("6", "c.yaml");
    assert_eq!(a, b, "same seed, same fixture");
    assert_ne!(a, c, "the seed changes the workloads");

    let fixture = runbook::sandbox::Fixture::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let sandbox = Sandbox::start(
        fixture,
        SandboxOptions {
            time_scale: 0.0,
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let nodes = sandbox.nodes();
    assert_eq!(nodes.len(), 12);
    let mut groups: Vec<&str> = nodes.iter().map(|n| n.nodegroup.as_str()).collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups, ["pool-00", "pool-01", "pool-02"]);
    assert_eq!(sandbox.pods().len(), 300);
    sandbox.shutdown().await;

    let runs = tempfile::tempdir().unwrap();
    let out = crate::common::bin::command()
        .args(["exec", "playbooks/eks-minor-upgrade.upg", "--sandbox"])
        .arg(&path)
        .args(["--set", "target=1.29", "--dry-run", "--runs-dir"])
        .arg(runs.path())
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("sandbox: cluster scale"), "{all}");
    assert!(all.contains("nodegroup pool-02"), "{all}");
}

// ------------------------------------------------------ gates for a cluster in motion

/// `exec` with an environment block, as `runbook exec --env NAME` binds it.
async fn exec_env(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    env: &str,
    sets: &[&str],
) -> (interp::RunSummary, Vec<String>) {
    exec_in(program, cloud, Some(env), sets, false).await
}

fn shipped_playbook() -> runbook::syntax::Program {
    runbook::syntax::load(&root().join("playbooks/eks-minor-upgrade.upg"))
        .unwrap_or_else(|_| panic!("the shipped playbook loads"))
}

/// The engine on a generated fixture, at test speed.
async fn start_generated(o: runbook::sandbox::GenerateOptions) -> (Sandbox, Cloud) {
    start_generated_at(o, SCALE).await
}

/// The same at `time_scale`: gates that must hold on consecutive polls while
/// nodes roll need a slower clock, or a loaded machine's CPU time passes as
/// simulated minutes between two polls.
async fn start_generated_at(
    o: runbook::sandbox::GenerateOptions,
    time_scale: f64,
) -> (Sandbox, Cloud) {
    crate::common::start_at(runbook::sandbox::Fixture::generate(o), time_scale).await
}

/// A `during` gate is checked once more when its step ends: a step whose
/// gate is false at its end fails (after the gate's `within`), is rolled
/// back, and the next step does not run, even though the watch never fired
/// while the step ran.
#[tokio::test(flavor = "multi_thread")]
async fn a_during_gate_false_when_the_step_ends_fails_the_step() {
    let (sandbox, cloud) = start("small.yaml").await;
    let program = load(
        r#"
runbook ended "during, checked at the end" {
  param cluster: string
  gate no_nodes {
    k8s.nodes().len() == 0
    within 5m every 30s
  }
  step "short" during no_nodes {
    pause 1m
    rollback {
      log "rolled back"
    }
  }
  step "irreversible next" irreversible {
    eks.update_cluster_version(cluster, 1.29)
  }
}
"#,
    );
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::RolledBack, "{text}");
    assert_eq!(summary.errors[0].code, "RUN021", "{:?}", summary.errors);
    let message = &summary.errors[0].message;
    assert!(message.contains("when the step ended"), "{message}");
    assert!(
        message.contains("no_nodes") && message.contains("within 5m"),
        "{message}"
    );
    assert!(
        summary.elapsed >= Duration::from_secs(6 * 60),
        "waited the gate's window"
    );
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(
        sandbox.cluster_version(),
        "1.28",
        "the next step did not run"
    );
    assert!(sandbox.mutations().is_empty());
}

/// A failing gate names the objects that make it false: up to five, with
/// the count, for `all` (the items where it fails) and `count(..) == 0`
/// (the items it counted).
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_gate_names_the_offending_objects() {
    let (sandbox, cloud) = start("small.yaml").await;
    let program = load(
        r#"
runbook named "offenders" {
  param cluster: string
  gate all_on_1_30 {
    k8s.nodes().len() > 0 && k8s.nodes().all(n => n.version == 1.30 || n.nodegroup == "system")
    within 30s every 10s
  }
  step "nodes" { gate all_on_1_30 }
}
"#,
    );
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    assert_eq!(summary.errors[0].code, "RUN021", "{}", lines.join("\n"));
    let message = &summary.errors[0].message;
    let workers = sandbox
        .nodes()
        .into_iter()
        .filter(|n| n.nodegroup != "system")
        .collect::<Vec<_>>();
    assert!(
        workers.len() > 5,
        "the fixture has more than five such nodes"
    );
    assert!(
        message.contains(&format!("is false for {} Node(s): ", workers.len())),
        "{message}"
    );
    assert!(
        message.contains(&format!(" and {} more", workers.len() - 5)),
        "{message}"
    );
    let named = workers.iter().filter(|n| message.contains(&n.name)).count();
    assert_eq!(named, 5, "{message}");
    assert!(
        !sandbox
            .nodes()
            .iter()
            .any(|n| n.nodegroup == "system" && message.contains(&n.name)),
        "healthy nodes are not named: {message}"
    );

    let program = load(
        r#"
runbook named "offenders" {
  param cluster: string
  gate no_web {
    k8s.pods(namespace: "shop").count(p => p.name.starts_with("web")) == 0
    within 30s every 10s
  }
  step "pods" { gate no_web }
}
"#,
    );
    let (summary, _) = exec(&program, &cloud, &["cluster=demo"], false).await;
    let message = &summary.errors[0].message;
    assert!(message.contains("Pod(s): shop/web-"), "{message}");
}

/// What the gates judge by is on the records, for user gates too: a
/// node's age on the cluster's clock, its EC2 instance, and whether it is
/// being replaced (cordoned, or tainted by EKS's rolling update).
#[tokio::test(flavor = "multi_thread")]
async fn node_records_say_how_old_a_node_is_and_whether_it_is_leaving() {
    let (sandbox, cloud) = start("small.yaml").await;
    let nodes = cloud.kube.nodes(None).await.unwrap();
    let age = nodes[0].age.expect("nodes have an age");
    let sim = sandbox.now().as_secs();
    assert!(
        age <= sim + 5 && age + 60 >= sim,
        "age {age}s, the sandbox has run {sim}s"
    );
    assert!(nodes.iter().all(|n| {
        n.instance_id
            .as_deref()
            .is_some_and(|i| i.starts_with("i-"))
    }));
    assert!(nodes.iter().all(|n| !n.replacing));

    let (a, b) = (nodes[0].name.clone(), nodes[1].name.clone());
    cloud.kube.cordon(&a).await.unwrap();
    let tainted: kube::Api<k8s_openapi::api::core::v1::Node> =
        kube::Api::all(cloud.kube.client().clone());
    tainted
        .patch(
            &b,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"taints": [
                {"key": "eks.amazonaws.com/nodegroup", "value": "unschedulable", "effect": "NoSchedule"}
            ]}})),
        )
        .await
        .unwrap();
    let program = load(&format!(
        r#"
runbook facts "node facts" {{
  param cluster: string
  precondition "leaving nodes are marked" {{
    k8s.nodes().count(n => n.replacing) == 2
    k8s.nodes().filter(n => n.replacing).all(n => n.name in ["{a}", "{b}"])
    k8s.nodes().all(n => n.age < 1h && n.instance_id.starts_with("i-"))
    k8s.nodes().filter(n => n.name == "{b}").all(n => n.taints.len() == 1 && !n.unschedulable)
    k8s.pods().all(p => p.age < 1h)
  }}
  step "nothing" {{ log "ok" }}
}}
"#
    ));
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{}\n{:?}",
        lines.join("\n"),
        summary.errors
    );
}

fn generated(nodes: u32, pods: u32, nodegroups: u32) -> runbook::sandbox::GenerateOptions {
    runbook::sandbox::GenerateOptions {
        nodes,
        pods,
        nodegroups,
        seed: 1,
    }
}

/// The issue's failure, at test size: during a managed rolling update surge
/// nodes are booting at every moment, so a `during` gate requiring every
/// node Ready fails after its 10 minutes. The shipped gates judge health
/// instead, and the shipped playbook upgrades the generated cluster with
/// each nodegroup's own update config (maxUnavailable 2 of 20).
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_playbook_passes_its_gates_while_nodegroups_roll() {
    let (sandbox, cloud) = start_generated_at(generated(60, 1500, 3), 200.0).await;
    let program = shipped_playbook();
    let (summary, lines) = exec(&program, &cloud, &["cluster=scale", "target=1.29"], false).await;
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{}\n{:?}",
        lines.join("\n"),
        summary.errors
    );
    assert!(
        sandbox
            .nodes()
            .iter()
            .all(|n| n.version == "1.29" && n.ready)
    );
    assert_eq!(sandbox.nodes().len(), 60);
    let mutations = sandbox.mutations();
    assert!(
        !mutations.iter().any(|r| r.path.ends_with("/update-config")),
        "each nodegroup kept its own update config"
    );

    // The same rotation under a gate that asks every node to be Ready within
    // a minute: a surge node boots for longer, so the rolling update itself
    // fails it (the shipped gates give joining nodes their boot allowance).
    let (sandbox, cloud) = start_generated(generated(60, 1500, 3)).await;
    let text = std::fs::read_to_string(root().join("playbooks/eks-minor-upgrade.upg"))
        .unwrap()
        .replace(
            "during system_healthy, nodegroups_keep_capacity",
            "during every_node_ready",
        )
        .replace(
            "  for hop in eks.version_path",
            "  gate every_node_ready {\n    k8s.nodes().all(n => n.ready)\n    within 1m every 5s\n  }\n\n  for hop in eks.version_path",
        );
    let strict = runbook::syntax::load_text("strict.upg", text, &root().join("playbooks"))
        .unwrap_or_else(|_| panic!("the variant loads"));
    let (summary, lines) = exec(&strict, &cloud, &["cluster=scale", "target=1.29"], false).await;
    assert_ne!(summary.status, RunStatus::Succeeded, "{}", lines.join("\n"));
    let message = &summary.errors[0].message;
    assert!(
        message.contains("every_node_ready") && message.contains("failed during the step"),
        "{message}"
    );
    drop(sandbox);
}

/// `max_unavailable_percentage` is sent as EKS's maxUnavailablePercentage
/// and the rotation replaces that share of the group at once; values out of
/// EKS's bounds fail before any request.
#[tokio::test(flavor = "multi_thread")]
async fn rotation_respects_or_sets_the_nodegroups_update_config() {
    let (sandbox, cloud) = start_generated(generated(20, 300, 2)).await;
    upgrade_scale_control_plane(&cloud).await;
    let rotator = Rotator {
        eks: &cloud.eks,
        kube: &cloud.kube,
    };
    let opts = |count: Option<i64>, pct: Option<i64>| RotateOptions {
        version: "1.29".into(),
        strategy: Strategy::InPlace,
        max_unavailable: count,
        max_unavailable_percentage: pct,
        force: false,
        canary: 0,
        drain: DrainOptions::default(),
        release_version: None,
        boot_timeout: Duration::from_secs(30 * 60),
    };
    for (count, pct) in [
        (Some(-5), None),
        (Some(101), None),
        (None, Some(0)),
        (Some(1), Some(10)),
    ] {
        let before = sandbox.requests().len();
        let err = rotator
            .rotate("scale", "pool-00", &opts(count, pct), &apply("bad"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, CloudError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("max_unavailable"), "{err}");
        assert_eq!(
            sandbox.requests().len(),
            before,
            "no request for {count:?}/{pct:?}"
        );
    }
    rotator
        .rotate(
            "scale",
            "pool-00",
            &opts(None, Some(50)),
            &apply("pct"),
            None,
        )
        .await
        .unwrap();
    let ng = cloud.eks.nodegroup("scale", "pool-00").await.unwrap();
    assert_eq!(ng.max_unavailable_percentage, Some(50));
    assert_eq!(ng.max_unavailable, None);
    assert_eq!(ng.max_unavailable_nodes, 5, "half of 10 nodes");
    let config = sandbox
        .mutations()
        .into_iter()
        .find(|r| r.path.ends_with("/update-config"))
        .expect("the percentage was sent");
    assert!(config.path.contains("pool-00"));
    assert!(
        sandbox
            .nodes()
            .iter()
            .filter(|n| n.nodegroup == "pool-00")
            .all(|n| n.version == "1.29")
    );
    // Unset: the other group keeps its maxUnavailable of 1.
    rotator
        .rotate("scale", "pool-01", &opts(None, None), &apply("kept"), None)
        .await
        .unwrap();
    let ng = cloud.eks.nodegroup("scale", "pool-01").await.unwrap();
    assert_eq!(
        (ng.max_unavailable, ng.max_unavailable_percentage),
        (Some(1), None)
    );
    assert_eq!(
        sandbox
            .mutations()
            .iter()
            .filter(|r| r.path.ends_with("/update-config"))
            .count(),
        1
    );
}

async fn upgrade_scale_control_plane(cloud: &Cloud) {
    cloud
        .eks
        .update_cluster_version("scale", "1.29", false, &apply("cp"))
        .await
        .unwrap();
    for a in cloud.eks.addons("scale").await.unwrap() {
        let v = cloud
            .eks
            .default_addon_version(&a.name, "1.29")
            .await
            .unwrap();
        cloud
            .eks
            .update_addon(
                "scale",
                &a.name,
                &v,
                None,
                &apply(&format!("addon-{}", a.name)),
            )
            .await
            .unwrap();
    }
}

/// The playbook's bounds are checked before any change: `-5` is refused by
/// a precondition, nothing is sent.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_bounds_update_settings_are_refused_before_any_change() {
    // EKS accepts 1-100 (0 keeps the nodegroup's own setting): -5 is refused
    // while the parameters are bound, before any client exists.
    let program = shipped_playbook();
    let resolved = runbook::analyze::resolve(&program).unwrap();
    let sets: Vec<String> = ["cluster=demo", "target=1.29", "max_unavailable=-5"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (sources, diags) =
        params::bind(&resolved, None, &sets).expect_err("-5 is out of EKS's bounds");
    let text = runbook::diagnostic::render_all(&diags, &sources, false).0;
    assert!(
        text.contains("RUN001") && text.contains("0 to 100"),
        "{text}"
    );
}

/// The shipped `test` environment (in_place with a canary of one node)
/// runs: a one-node copy of each group boots at the target, the gates are
/// checked, the copy is deleted, then the group rolls in place.
#[tokio::test(flavor = "multi_thread")]
async fn the_test_environment_runs_an_in_place_canary() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let (summary, lines) = exec_env(
        &shipped_playbook(),
        &cloud,
        "test",
        &["cluster=demo", "target=1.29"],
    )
    .await;
    let text = lines.join("\n");
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{text}\n{:?}",
        summary.errors
    );
    let groups = sandbox.nodegroups();
    assert!(
        groups.iter().all(|g| !g.name.ends_with("-canary")),
        "{groups:?}"
    );
    assert!(groups.iter().all(|g| g.version == "1.29"), "{groups:?}");
    let created = sandbox
        .mutations()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/node-groups"))
        .count();
    assert_eq!(created, groups.len(), "one canary per nodegroup");
    assert!(text.contains("canary"), "{text}");
}

/// The method table is the only list of methods: every entry the checker
/// accepts is one the evaluator runs, on a value of its receiver type.
#[tokio::test(flavor = "multi_thread")]
async fn every_method_in_the_table_is_checked_and_evaluated() {
    use runbook::builtins::{MethodArg, Receiver, methods::METHODS};
    let (_sandbox, cloud) = start("demo.yaml").await;
    let mut text = String::from("runbook methods \"every method\" {\n  step \"call\" {\n");
    for m in METHODS {
        let recv = match m.receiver {
            Receiver::List => r#"["b", "a"]"#,
            Receiver::String => r#"" A,b ""#,
            Receiver::Map => r#"{"k": "v"}"#,
            Receiver::Version => "1.30",
            Receiver::Duration => "5m",
        };
        let args: Vec<&str> = m
            .args
            .iter()
            .map(|a| match a {
                MethodArg::Predicate => r#"x => x == "a""#,
                MethodArg::Lambda => "x => x",
                MethodArg::Element => r#""a""#,
                MethodArg::Value(_) if m.receiver == Receiver::Map => r#""k""#,
                MethodArg::Value(_) => r#"",""#,
            })
            .collect();
        text.push_str(&format!(
            "    log \"{}.{} = ${{{recv}.{}({})}}\"\n",
            m.receiver.name(),
            m.name,
            m.name,
            args.join(", ")
        ));
    }
    text.push_str("  }\n}\n");
    let program = load(&text);
    let findings = runbook::analyze::check(&program);
    assert!(
        findings.iter().all(|d| !d.is_error()),
        "{}",
        runbook::diagnostic::render_all(&findings, &program.sources, false).0
    );
    let (summary, lines) = exec(&program, &cloud, &[], true).await;
    assert_eq!(
        summary.status,
        RunStatus::Planned,
        "{}\n{:?}",
        lines.join("\n"),
        summary.errors
    );
    let out = lines.join("\n");
    for m in METHODS {
        let line = format!("{}.{} = ", m.receiver.name(), m.name);
        assert!(out.contains(&line), "{line} not evaluated:\n{out}");
    }
    for expected in [
        r#"list.sorted = ["a", "b"]"#,
        "string.lower =  a,b ",
        "string.upper =  A,B ",
        r#"string.split = [" A", "b "]"#,
        "map.get = v",
        "version.next = 1.31",
        "duration.seconds = 300",
    ] {
        assert!(out.contains(expected), "{expected} missing:\n{out}");
    }
}

// ------------------------------------------------------ step timeout and retry

/// `timeout D` cuts a step short at its next wait, as Ctrl-C would: the
/// step fails with RUN025 after D of simulated time, and its rollback
/// restores what it changed.
#[tokio::test(flavor = "multi_thread")]
async fn a_step_past_its_timeout_fails_and_is_rolled_back() {
    let (sandbox, cloud) = start("small.yaml").await;
    let original = sandbox.addon_versions();
    let program = load(
        r#"
runbook slow "a step that outlives its timeout" {
  param cluster: string
  step "swap vpc-cni" timeout 20m {
    let before = eks.addon(cluster, "vpc-cni")
    eks.update_addon(cluster, "vpc-cni", version: "v1.18.3-eksbuild.2")
    pause 6h
    rollback {
      eks.update_addon(cluster, "vpc-cni", version: before.version)
    }
  }
}
"#,
    );
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::RolledBack, "{text}");
    assert_eq!(summary.errors[0].code, "RUN025", "{:?}", summary.errors);
    assert!(
        summary.errors[0].message.contains("timeout 20m"),
        "{:?}",
        summary.errors
    );
    let step = &summary.steps[0];
    assert_eq!(step.status, StepStatus::Failed);
    assert!(
        step.elapsed >= Duration::from_secs(20 * 60) && step.elapsed < Duration::from_secs(30 * 60),
        "cut at its timeout, not at the end of the pause: {:?}",
        step.elapsed
    );
    assert_eq!(
        summary.rollbacks[0].1,
        StepStatus::RolledBack,
        "{:?}",
        summary.rollbacks
    );
    assert_eq!(sandbox.addon_versions(), original, "{text}");
}

/// `retry N every D`: a failed attempt is rolled back, and after D the step
/// runs again under its own journal key, so its mutation is sent again (a
/// new idempotency token) and the run succeeds on the second attempt.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_step_rolls_back_its_failed_attempt_and_succeeds_later() {
    let (sandbox, cloud) = start("small.yaml").await;
    let original = sandbox.addon_versions();
    let program = load(
        r#"
runbook flaky "a step that needs a second attempt" {
  param cluster: string
  let t0 = k8s.nodes().first().age
  step "swap vpc-cni" retry 2 every 30m {
    let before = eks.addon(cluster, "vpc-cni")
    eks.update_addon(cluster, "vpc-cni", version: "v1.18.3-eksbuild.2")
    await k8s.nodes().first().age > t0 + 20m within 5m every 1m
    rollback {
      eks.update_addon(cluster, "vpc-cni", version: before.version)
    }
  }
}
"#,
    );
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::Succeeded, "{text}");
    let steps: Vec<(&str, StepStatus)> = summary
        .steps
        .iter()
        .map(|s| (s.title.as_str(), s.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("swap vpc-cni", StepStatus::Failed),
            ("swap vpc-cni (attempt 2 of 3)", StepStatus::Done)
        ],
        "{text}"
    );
    assert!(text.contains("attempt 1 of 3 failed"), "{text}");
    assert_eq!(sandbox.addon_versions()["vpc-cni"], "v1.18.3-eksbuild.2");
    assert_ne!(original["vpc-cni"], "v1.18.3-eksbuild.2");
    // Forward, its rollback, forward again: three requests, the last one
    // applied (a reused idempotency token would have changed nothing).
    let updates: Vec<u16> = sandbox
        .mutations()
        .iter()
        .filter(|r| r.path.contains("/addons/vpc-cni/update"))
        .map(|r| r.status)
        .collect();
    assert_eq!(updates, [200, 200, 200], "{text}");
}

/// A timed-out attempt whose request may have landed, with nothing to undo
/// it, is not retried (a second control-plane update would race the first);
/// and the dry run warns when a step's plan outlasts its timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_irreversible_attempt_is_not_retried_and_the_plan_warns() {
    let (sandbox, cloud) = start("demo.yaml").await;
    let program = load(
        r#"
runbook stubborn "a control plane slower than its timeout" {
  param cluster: string
  step "control plane" irreversible timeout 5m retry 1 every 1m {
    eks.update_cluster_version(cluster, 1.29)
  }
}
"#,
    );
    let (plan, lines) = exec(&program, &cloud, &["cluster=demo"], true).await;
    let text = lines.join("\n");
    assert_eq!(plan.status, RunStatus::Planned, "{text}");
    assert!(
        text.contains("beyond its timeout 5m"),
        "the plan predicts 25m for a control-plane update:\n{text}"
    );
    assert!(sandbox.mutations().is_empty());
    let (summary, lines) = exec(&program, &cloud, &["cluster=demo"], false).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::Failed, "{text}");
    assert_eq!(summary.errors[0].code, "RUN025", "{text}");
    assert_eq!(summary.steps.len(), 1, "one attempt only: {text}");
    let updates = sandbox
        .mutations()
        .iter()
        .filter(|r| r.path.ends_with("/updates") && r.path.contains("/clusters/demo"))
        .count();
    assert_eq!(updates, 1, "{text}");
}

// ------------------------------------------------------------------ templates

const TEMPLATES: &str = r#"
import "stdlib/steps"

runbook reuse "add-ons through a stdlib template, then a local one" {
  param cluster: string
  param minor: version = 1.29
  param break_it: bool = false
  param first: string = "vpc-cni"
  param second: string = "coredns"
  use addon_to(cluster, first, minor)
  if second != "" {
    use addon_to(cluster, second, minor: minor, resolve_conflicts: "PRESERVE")
  }
  if break_it {
    use fail_with("broken on purpose")
  }
}

/// Fails the run at this point, with a message.
template fail_with(why: string) {
  step "fail: ${why}" {
    fail why
  }
}
"#;

/// A template runs its steps with its arguments, each step journalled and
/// summarised under its rendered title; a later failure rolls back the
/// steps every `use` completed, newest first.
#[tokio::test(flavor = "multi_thread")]
async fn templates_run_their_steps_and_roll_back_like_written_ones() {
    let (sandbox, cloud) = start("addon-skew.yaml").await;
    let original = sandbox.addon_versions();
    let program = load(TEMPLATES);

    let (broken, lines) = exec(
        &program,
        &cloud,
        &["cluster=skew", "break_it=true", "first=coredns", "second="],
        false,
    )
    .await;
    let text = lines.join("\n");
    assert_eq!(broken.status, RunStatus::RolledBack, "{text}");
    assert_eq!(broken.errors[0].code, "RUN023", "{:?}", broken.errors);
    let rolled: Vec<&str> = broken
        .rollbacks
        .iter()
        .map(|(t, _, _)| t.as_str())
        .collect();
    assert_eq!(rolled, ["add-on coredns to 1.29"], "{text}");
    assert_eq!(sandbox.addon_versions(), original, "{text}");

    let (summary, lines) = exec(&program, &cloud, &["cluster=skew"], false).await;
    let text = lines.join("\n");
    assert_eq!(summary.status, RunStatus::Succeeded, "{text}");
    let titles: Vec<&str> = summary.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        ["add-on vpc-cni to 1.29", "add-on coredns to 1.29"],
        "{text}"
    );
    let now = sandbox.addon_versions();
    for addon in ["vpc-cni", "coredns"] {
        assert_ne!(now[addon], original[addon], "{addon} moved:\n{text}");
    }
}

/// Templates are checked like built-ins at every `use`, and a template
/// that uses itself is refused.
#[test]
fn template_uses_are_checked_like_calls() {
    let codes = |text: &str| -> Vec<&'static str> {
        let program = load(text);
        runbook::analyze::check(&program)
            .iter()
            .map(|d| d.code)
            .collect()
    };
    let base = |body: &str| {
        format!(
            "runbook t \"t\" {{\n  param cluster: string\n{body}\n}}\n\
             template swap(cluster: string, addon: string, times: int = 1) {{\n  log \"${{addon}}\"\n}}\n"
        )
    };
    assert_eq!(
        codes(&base("use swap(cluster, \"vpc-cni\")")),
        Vec::<&str>::new()
    );
    assert_eq!(codes(&base("use swp(cluster, \"vpc-cni\")")), ["UPG040"]);
    assert_eq!(codes(&base("use swap(cluster)")), ["UPG014"]);
    assert_eq!(codes(&base("use swap(cluster, \"a\", 2, 3)")), ["UPG012"]);
    assert_eq!(
        codes(&base("use swap(cluster, \"a\", tims: 2)")),
        ["UPG013"]
    );
    assert_eq!(
        codes(&base("use swap(cluster, \"a\", times: \"2\")")),
        ["UPG016"]
    );
    assert_eq!(
        codes(&base("use swap(cluster, addon: \"a\", addon: \"b\")")),
        ["UPG015"]
    );
    let recursive = "runbook t \"t\" {\n  use a()\n}\ntemplate a() {\n  use b()\n}\ntemplate b() {\n  use a()\n}\n";
    assert_eq!(codes(recursive), ["UPG041", "UPG041"]);
    let in_rollback = "runbook t \"t\" {\n  step \"s\" {\n    log \"x\"\n    rollback { use s() }\n  }\n}\ntemplate s() {\n  step \"inner\" { log \"y\" }\n}\n";
    assert_eq!(codes(in_rollback), ["UPG035"]);
}

// ------------------------------------------------------ a dry run at scale

/// Requests of the sandbox log from `from` on that read `path` (a LIST).
fn lists(requests: &[runbook::sandbox::RequestRecord], path: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

/// Planning a rotation reads the cluster once: one LIST of the group's
/// nodes, one of pods and one of PDBs, however many nodes the group has,
/// and no eviction request where no PDB makes the answer uncertain.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_of_a_rotation_lists_each_kind_once() {
    let (sandbox, cloud) = start_generated(generated(60, 1500, 3)).await;
    let m = plan();
    // Planned, so the projection is at 1.29 and the rotation plans to it.
    cloud
        .eks
        .update_cluster_version("scale", "1.29", false, &m)
        .await
        .unwrap();
    let rotator = Rotator {
        eks: &cloud.eks,
        kube: &cloud.kube,
    };
    // A plan projects its group at 1.29: each strategy plans its own group.
    for (strategy, group) in [
        (Strategy::InPlace, "pool-00"),
        (Strategy::BlueGreen, "pool-01"),
    ] {
        let before = sandbox.requests().len();
        let opts = RotateOptions {
            version: "1.29".into(),
            strategy,
            max_unavailable: None,
            max_unavailable_percentage: None,
            force: false,
            canary: 0,
            drain: DrainOptions::default(),
            release_version: None,
            boot_timeout: Duration::from_secs(30 * 60),
        };
        let Change::Planned(p) = rotator
            .rotate("scale", group, &opts, &m, None)
            .await
            .unwrap()
        else {
            panic!("{strategy:?}: a plan")
        };
        let requests = &sandbox.requests()[before..];
        assert_eq!(p.nodes.len(), 20, "{strategy:?}");
        assert!(
            p.evictions.len() > 20 * 20,
            "{strategy:?}: {}",
            p.evictions.len()
        );
        assert_eq!(
            lists(requests, "/api/v1/nodes"),
            1,
            "{strategy:?}: {requests:#?}"
        );
        assert_eq!(
            lists(requests, "/api/v1/pods"),
            1,
            "{strategy:?}: {requests:#?}"
        );
        assert_eq!(
            lists(requests, "/apis/policy/v1/poddisruptionbudgets"),
            1,
            "{strategy:?}"
        );
        // The one PDB, CoreDNS's (maxUnavailable 1), is at its edge only
        // on the node that runs a CoreDNS pod.
        assert!(
            requests
                .iter()
                .filter(|r| r.path.contains("/pods/"))
                .all(|r| r
                    .path
                    .starts_with("/api/v1/namespaces/kube-system/pods/coredns-")
                    && r.path.ends_with("/eviction")),
            "no per-pod request but about CoreDNS: {requests:#?}"
        );
    }
    assert_eq!(sandbox.mutations(), vec![]);
}

/// The shipped playbook's dry run on a generated cluster: text summarised
/// per nodegroup (its length does not grow with the cluster: the same at 15
/// and 30 nodes), no per-node LIST, and the server asked about no eviction
/// but CoreDNS's two pods (its PDB allows 1 disruption, which each of
/// those nodes' drain uses up), while the JSON events still list every pod
/// each drain would evict.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_text_is_summarised_and_json_keeps_every_pod() {
    let program = shipped_playbook();
    let mut line_counts = Vec::new();
    // Small enough that the rhai checks stay within their 2 s on a loaded
    // machine in a debug build.
    for nodes in [15, 30] {
        let (sandbox, cloud) = start_generated(generated(nodes, nodes * 20, 3)).await;
        let expected: std::collections::BTreeSet<String> = cloud
            .kube
            .pods(None, None, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.controller.as_deref() != Some("DaemonSet") && p.node.is_some())
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        let before = sandbox.requests().len();
        let (summary, reporter) = exec_reported(
            &program,
            &cloud,
            None,
            &["cluster=scale", "target=1.29"],
            true,
        )
        .await;
        let lines = reporter.lines();
        let text = lines.join("\n");
        assert_eq!(summary.status, RunStatus::Planned, "{text}");
        let requests = &sandbox.requests()[before..];
        let asked: Vec<&str> = requests
            .iter()
            .filter(|r| r.path.ends_with("/eviction"))
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(
            asked
                .iter()
                .all(|p| p.starts_with("/api/v1/namespaces/kube-system/pods/coredns-")),
            "{asked:?}"
        );
        assert!(
            !requests
                .iter()
                .any(|r| r.path == "/api/v1/pods" && r.query.contains("fieldSelector")),
            "no LIST per node"
        );
        assert_eq!(sandbox.mutations(), vec![]);
        assert!(
            text.contains(&format!("nodes affected ({})", nodes / 3)),
            "{text}"
        );
        assert!(lines.len() <= 200, "{} lines:\n{text}", lines.len());
        line_counts.push(lines.len());

        let planned: std::collections::BTreeSet<String> = reporter
            .events()
            .iter()
            .filter(|e| e["event"] == "change")
            .flat_map(|e| {
                e["change"]["evictions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|e| {
                format!(
                    "{}/{}",
                    e["namespace"].as_str().unwrap(),
                    e["pod"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(planned, expected, "every pod a drain evicts is in the JSON");
        assert!(
            expected.iter().all(|p| !text.contains(p.as_str())),
            "no pod is named in the text when nothing blocks it"
        );
    }
    assert_eq!(
        line_counts[0], line_counts[1],
        "the text does not grow with the cluster"
    );
}

/// Seed 001 one minor later (addon-skew.yaml): kube-proxy is the 1.26 build,
/// so EKS reports "Kube-proxy version skew" at ERROR for 1.30 until the
/// add-on catch-up moves it to its 1.29 build. The dry run judges the hop's
/// upgrade-readiness insights after the catch-up it planned, as EKS judges
/// the real request after the real one: it plans the hop, and the run does
/// it.
#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_judges_upgrade_insights_after_the_catch_up_it_planned() {
    let (sandbox, cloud) = start("addon-skew.yaml").await;
    let program = shipped_playbook();
    let sets = ["cluster=skew", "target=1.30"];
    let (planned, lines) = exec(&program, &cloud, &sets, true).await;
    let text = lines.join("\n");
    assert_eq!(
        planned.status,
        RunStatus::Planned,
        "{text}\n{:?}",
        planned.errors
    );
    assert!(
        text.contains("would upgrade the control plane of cluster skew: 1.29 → 1.30"),
        "{text}"
    );
    assert_eq!(sandbox.mutations(), vec![], "a dry run mutates nothing");

    let (summary, lines) = exec(&program, &cloud, &sets, false).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{}", lines.join("\n"));
    assert_eq!(sandbox.cluster_version(), "1.30");
}

/// The upgrade-readiness insights a dry run reads, on addon-skew.yaml: EKS
/// reports kube-proxy's 1.26 build at ERROR for 1.30; once the plan has
/// moved it to its 1.29 build, that check passes. Once the plan has also
/// moved the control plane to 1.30, the insights judge 1.31 afresh: the
/// 1.27 nodes of `legacy`, which the plan left alone, fail it.
#[tokio::test(flavor = "multi_thread")]
async fn planned_changes_project_the_upgrade_readiness_insights() {
    let (_sandbox, cloud) = start("addon-skew.yaml").await;
    let errors = || async {
        cloud
            .eks
            .insights_after_plan(
                "skew",
                Some("ERROR"),
                Some("UPGRADE_READINESS"),
                &cloud.kube,
            )
            .await
            .unwrap()
    };
    let names = |v: &[runbook::cloud::eks::InsightInfo]| -> Vec<String> {
        v.iter().map(|i| i.name.clone()).collect()
    };
    let now = errors().await;
    assert!(
        names(&now).contains(&"Kube-proxy version skew".to_string()),
        "{now:?}"
    );

    let kube_proxy = cloud
        .eks
        .default_addon_version("kube-proxy", "1.29")
        .await
        .unwrap();
    cloud
        .eks
        .update_addon("skew", "kube-proxy", &kube_proxy, None, &plan())
        .await
        .unwrap();
    let after = errors().await;
    assert!(
        !names(&after).contains(&"Kube-proxy version skew".to_string()),
        "{after:?}"
    );
    assert!(
        !names(&after).contains(&"Kubelet version skew".to_string()),
        "1.27 kubelets are 3 minors behind 1.30: {after:?}"
    );

    cloud
        .eks
        .update_cluster_version("skew", "1.30", false, &plan())
        .await
        .unwrap();
    let next = errors().await;
    let kubelet = next
        .iter()
        .find(|i| i.name == "Kubelet version skew")
        .unwrap_or_else(|| panic!("{next:?}"));
    assert_eq!(kubelet.kubernetes_version, "1.31");
    for n in cloud.kube.nodes(Some("legacy")).await.unwrap() {
        assert!(kubelet.reason.contains(&n.name), "{}", kubelet.reason);
    }
    // The nodes of `current` (1.28) are 3 behind 1.31: not named.
    assert!(
        kubelet.reason.starts_with("2 node(s)"),
        "{}",
        kubelet.reason
    );
    assert!(
        !names(&next).contains(&"Kube-proxy version skew".to_string()),
        "{next:?}"
    );
}
