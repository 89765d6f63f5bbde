//! Failure injection for the shipped playbook: run it against a sandbox,
//! break something when a given request goes out (a PDB, a gate, Ctrl-C),
//! and compare the cluster with the state a rollback must restore. Shared by
//! the integration tests (`rollback`) and the failure matrix binary.

use std::collections::BTreeMap;

use runbook::interp;
use runbook::sandbox::Sandbox;

use super::root;

pub const PLAYBOOK: &str = "playbooks/eks-minor-upgrade.upg";

/// Run the shipped playbook for real; the summary and the lines it printed.
pub async fn run_playbook(cloud: &interp::Cloud, sets: &[&str]) -> (interp::RunSummary, String) {
    run_file(cloud, &root().join(PLAYBOOK), sets, false).await
}

/// Run (or, with `dry_run`, plan) the runbook in `path`.
pub async fn run_file(
    cloud: &interp::Cloud,
    path: &std::path::Path,
    sets: &[&str],
    dry_run: bool,
) -> (interp::RunSummary, String) {
    let program = runbook::syntax::load(path).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let (summary, lines) = super::execute(&program, cloud, None, sets, dry_run, None).await;
    (summary, lines.join("\n"))
}

/// What a rollback must restore, as a test compares it.
#[derive(Debug, PartialEq)]
pub struct State {
    pub control_plane: String,
    pub addons: BTreeMap<String, String>,
    /// Nodegroup → version (blue/green renames groups, so by base name).
    pub nodegroups: BTreeMap<String, String>,
    /// How many groups exist: a leftover replacement shares a base name.
    pub groups: usize,
    pub nodes: usize,
    pub ready: usize,
    pub cordoned: usize,
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

pub fn state(sandbox: &Sandbox) -> State {
    let nodes = sandbox.nodes();
    State {
        control_plane: sandbox.cluster_version(),
        addons: sandbox.addon_versions(),
        nodegroups: sandbox
            .nodegroups()
            .into_iter()
            .map(|ng| (base_name(&ng.name), ng.version))
            .collect(),
        groups: sandbox.nodegroups().len(),
        nodes: nodes.len(),
        ready: nodes.iter().filter(|n| n.ready).count(),
        cordoned: nodes.iter().filter(|n| n.unschedulable).count(),
    }
}

/// Run the playbook; once the `when.1`-th mutating request whose path
/// contains `when.0` reaches the sandbox, `inject` runs (the failure a test
/// wants).
pub async fn run_with_fault(
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

/// A gate failure on demand: a kube-system Deployment no node can take
/// (its nodeSelector matches none), so `system_healthy` stops holding.
pub async fn break_kube_system(cloud: &interp::Cloud) {
    use k8s_openapi::api::apps::v1::Deployment;
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "stuck", "namespace": "kube-system"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "stuck"}},
            "template": {
                "metadata": {"labels": {"app": "stuck"}},
                "spec": {
                    "nodeSelector": {"workload": "nowhere"},
                    "containers": [{"name": "main", "image": "public.ecr.aws/nginx/nginx:1.27"}]
                }
            }
        }
    }))
    .unwrap();
    kube::Api::<Deployment>::namespaced(cloud.kube.client().clone(), "kube-system")
        .create(&kube::api::PostParams::default(), &deployment)
        .await
        .expect("the stuck deployment is created");
}

/// The rollback lines of a report: `(step, status word)`.
pub fn rollbacks(summary: &interp::RunSummary) -> Vec<(String, String)> {
    summary
        .rollbacks
        .iter()
        .map(|(t, s, _)| (t.clone(), s.as_str().to_string()))
        .collect()
}

/// A copy of the shipped playbook in `dir` whose step titled `title` (its
/// title template, e.g. `control plane to ${hop}`) has `timeout D`, so that
/// the step times out (RUN025) mid-way. The example environments it imports
/// by relative path are left out.
pub fn playbook_with_timeout(
    dir: &std::path::Path,
    title: &str,
    timeout: &str,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join(PLAYBOOK)).unwrap();
    let header = format!("step \"{title}\"");
    assert!(text.contains(&header), "no step {header}");
    let text: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("import \"../examples"))
        .collect();
    let text = text
        .join("\n")
        .replace(&header, &format!("{header} timeout {timeout}"));
    let path = dir.join("upgrade.upg");
    std::fs::write(&path, text + "\n").unwrap();
    path
}
