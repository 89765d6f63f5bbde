//! Plan against run (see tests/plan_agreement.rs): one playbook on one
//! fixture, planned on one sandbox and run on a fresh one; what differs.

use std::collections::BTreeSet;

use serde_json::Value;

use runbook::interp::Cloud;
use runbook::sandbox::Sandbox;

use crate::common::{fixture, root};

/// Disagreements found and not fixed yet: `(fixture, playbook, what)`,
/// `*` for every fixture. Durations are matched on the step, not the
/// figures; a known duration may also fall within ±25% on a given run (a
/// sandbox on a loaded machine is not exact), so only its absence from
/// every run is not reported.
pub const KNOWN: &[(&str, &str, &str)] = &[];

/// Whether a disagreement `d` of `playbook` on `fixture` is the known `k`.
pub fn known(fixture: &str, playbook: &str, d: &str, k: &(&str, &str, &str)) -> bool {
    let (kf, kp, kd) = k;
    (*kf == "*" || *kf == fixture) && *kp == playbook && d.contains(kd)
}

#[allow(dead_code)] // the integration crate runs one case only
pub const PLAYBOOKS: &[&str] = &[
    "eks-minor-upgrade",
    "addons-only",
    "ami-refresh",
    "node-replace",
];

/// The time scale of the cases whose durations are compared: the engine's
/// own CPU time passes as simulated time, `scale` times over, so on a
/// shared 2-core machine at 1,000 a gate's evaluation of every pod shows
/// as simulated minutes. At 200 it stays within a few seconds.
const TIMED_SCALE: f64 = 200.0;
/// The others: outcome, changes and evictions do not depend on it.
const FAST_SCALE: f64 = 1000.0;
/// The fixture whose every playbook is also timed.
const TIMED_FIXTURE: &str = "demo.yaml";

pub struct Case {
    pub fixture: String,
    pub playbook: &'static str,
    /// `--set` values beyond the cluster (and the case's default target).
    pub sets: Vec<String>,
    /// Whether planned durations are compared (at `TIMED_SCALE`).
    pub timed: bool,
}

impl Case {
    pub fn new(fixture: &str, playbook: &'static str) -> Case {
        Case {
            fixture: fixture.to_string(),
            playbook,
            sets: vec![],
            timed: false,
        }
    }

    /// How the report names it: the fixture, and any `--set` beyond it.
    pub fn label(&self) -> String {
        if self.sets.is_empty() {
            self.fixture.clone()
        } else {
            format!("{} ({})", self.fixture, self.sets.join(" "))
        }
    }

    /// Every shipped playbook on every example fixture (the demo's timed),
    /// and the upgrade over two hops on the demo with each strategy.
    #[allow(dead_code)] // the integration crate runs one case only
    pub fn all() -> Vec<Case> {
        let mut fixtures: Vec<String> = std::fs::read_dir(root().join("examples/sandbox"))
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.ends_with(".yaml").then_some(name)
            })
            .collect();
        fixtures.sort();
        let mut cases: Vec<Case> = fixtures
            .iter()
            .flat_map(|f| {
                PLAYBOOKS.iter().map(move |p| Case {
                    timed: f == TIMED_FIXTURE,
                    ..Case::new(f, p)
                })
            })
            .collect();
        // Two hops, 1.28 → 1.30. Blue/green drains with our drain, which
        // refuses the demo's emptyDir pods unless allowed (as the run does).
        for sets in [
            vec!["target=1.30"],
            vec![
                "target=1.30",
                "strategy=blue_green",
                "delete_emptydir_data=true",
            ],
        ] {
            cases.push(Case {
                sets: sets.into_iter().map(str::to_string).collect(),
                ..Case::new(TIMED_FIXTURE, "eks-minor-upgrade")
            });
        }
        cases
    }
}

/// The sandbox of `fixture` at `scale`, and the engine's clients on it.
async fn start(fixture_name: &str, scale: f64) -> (Sandbox, Cloud) {
    crate::common::start_at(fixture(fixture_name), scale).await
}

fn next_minor(v: &str) -> String {
    let (major, minor) = v.split_once('.').expect("a minor version");
    let minor: u32 = minor.split('.').next().unwrap().parse().unwrap();
    format!("{major}.{}", minor + 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_upgrade_is_planned_as_it_runs_on_a_blocked_pdb() {
    // One case of tests/plan_agreement.rs, kept in the integration crate.
    let case = Case::new("pdb-blocked.yaml", "eks-minor-upgrade");
    let found = compare(&case).await;
    let unexplained: Vec<_> = found
        .iter()
        .filter(|d| {
            !KNOWN
                .iter()
                .any(|k| known(&case.label(), case.playbook, d, k))
        })
        .collect();
    assert!(unexplained.is_empty(), "{unexplained:?}");
}

/// A nodegroup's name without a replacement's or canary's suffix.
fn base(ng: &str) -> String {
    let mut name = ng.to_string();
    if let Some(i) = name.find("-canary") {
        name.truncate(i);
    }
    // `general-1-29`: the blue/green replacement of `general`.
    let parts: Vec<&str> = name.rsplitn(3, '-').collect();
    if parts.len() == 3 && parts[0].parse::<u32>().is_ok() && parts[1].parse::<u32>().is_ok() {
        return parts[2].to_string();
    }
    name
}

/// What the forward plan changes: targets, evictions, and each step's
/// predicted duration. Rollback plans (after `rollback_started`) are not
/// forward changes.
struct Planned {
    targets: BTreeSet<String>,
    evictions: BTreeSet<String>,
    steps: Vec<(String, u64)>,
    /// Steps with a change the plan says is known only at run time.
    uncertain_steps: BTreeSet<String>,
    /// The targets of those changes.
    maybe: BTreeSet<String>,
    run_time_only: bool,
    /// A change drains nodes and pods the plan names only at run time (an
    /// earlier hop brings them up).
    evictions_at_run_time: bool,
    status: String,
}

fn read_plan(events: &[Value]) -> Planned {
    let mut p = Planned {
        targets: BTreeSet::new(),
        evictions: BTreeSet::new(),
        steps: vec![],
        uncertain_steps: BTreeSet::new(),
        maybe: BTreeSet::new(),
        run_time_only: false,
        evictions_at_run_time: false,
        status: String::new(),
    };
    let mut in_rollback = false;
    let mut step = String::new();
    for e in events {
        match e["event"].as_str().unwrap_or_default() {
            "rollback_started" => in_rollback = true,
            "rollback_finished" => in_rollback = false,
            "log"
                if e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("known only at run time") =>
            {
                p.run_time_only = true
            }
            "step_started" if !in_rollback => {
                step = e["title"].as_str().unwrap_or_default().to_string();
            }
            "change" if !in_rollback && e["change"]["kind"] == "planned" => {
                let c = &e["change"];
                let at_run_time = c["notes"].as_array().into_iter().flatten().any(|n| {
                    n.as_str()
                        .unwrap_or_default()
                        .contains("known only at run time")
                });
                let target = normalise(c["target"].as_str().unwrap_or_default());
                if c["notes"].as_array().into_iter().flatten().any(|n| {
                    n.as_str()
                        .unwrap_or_default()
                        .contains("named only at run time")
                }) {
                    p.evictions_at_run_time = true;
                }
                if at_run_time {
                    // It may or may not change: neither counts against the plan.
                    p.uncertain_steps.insert(step.clone());
                    p.maybe.insert(target);
                } else {
                    p.targets.insert(target);
                }
                for ev in c["evictions"].as_array().into_iter().flatten() {
                    p.evictions.insert(format!(
                        "{}/{}",
                        ev["namespace"].as_str().unwrap_or_default(),
                        ev["pod"].as_str().unwrap_or_default()
                    ));
                }
            }
            "step_finished" if !in_rollback && e["status"] == "planned" => {
                p.steps.push((
                    e["title"].as_str().unwrap_or_default().to_string(),
                    e["predicted_s"].as_u64().unwrap_or_default(),
                ));
            }
            _ => {}
        }
    }
    p
}

fn normalise(target: &str) -> String {
    // `nodegroup general config` (its update settings) is the group too.
    match target.strip_prefix("nodegroup ") {
        Some(ng) => format!(
            "nodegroup {}",
            base(ng.split_whitespace().next().unwrap_or_default())
        ),
        None => target.to_string(),
    }
}

/// The run's accepted mutations, as plan targets and evicted pods.
fn read_run(sandbox: &runbook::sandbox::Sandbox) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut targets = BTreeSet::new();
    let mut evictions = BTreeSet::new();
    for r in sandbox.mutations() {
        if r.status >= 400 || r.path.contains("/leases") {
            continue;
        }
        let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["clusters", c, "updates"] => {
                targets.insert(format!("cluster {c}"));
            }
            ["clusters", _, "addons", a, "update"] => {
                targets.insert(format!("add-on {a}"));
            }
            ["clusters", _, "node-groups", ng, ..] => {
                targets.insert(format!("nodegroup {}", base(ng)));
            }
            ["api", "v1", "nodes", node] => {
                targets.insert(format!("node {node}"));
            }
            ["api", "v1", "namespaces", ns, "pods", pod, "eviction"] => {
                evictions.insert(format!("{ns}/{pod}"));
            }
            _ => {}
        }
    }
    (targets, evictions)
}

/// Plan `case`, run it on a fresh sandbox, and say where they differ.
pub async fn compare(case: &Case) -> Vec<String> {
    let path = root().join(format!("playbooks/{}.upg", case.playbook));
    let program = runbook::syntax::load(&path).unwrap_or_else(|(sources, d)| {
        panic!("{}", runbook::diagnostic::render_all(&d, &sources, false).0)
    });
    let scale = if case.timed { TIMED_SCALE } else { FAST_SCALE };
    let (planning, cloud) = start(&case.fixture, scale).await;
    let (cluster, version) = (planning.cluster_name(), planning.cluster_version());
    let mut sets = vec![format!("cluster={cluster}")];
    sets.extend(case.sets.iter().cloned());
    let target_set = case.sets.iter().any(|s| s.starts_with("target="));
    match case.playbook {
        "eks-minor-upgrade" if !target_set => sets.push(format!("target={}", next_minor(&version))),
        "node-replace" => sets.push(format!(
            "node={}",
            planning.nodes().first().expect("a node").name
        )),
        _ => {}
    }
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let (planned, reporter) =
        crate::common::run(&program, &cloud, None, &sets, true, None, true).await;
    let mut events = reporter.events();
    let mut plan = read_plan(&events);
    plan.status = planned.status.as_str().to_string();
    drop(planning);

    let (running, cloud) = start(&case.fixture, scale).await;
    let (summary, reporter) =
        crate::common::run(&program, &cloud, None, &sets, false, None, true).await;
    let (targets, evicted) = read_run(&running);
    events = reporter.events();

    let mut out = Vec::new();
    let run_ok = summary.status.is_ok();
    if (plan.status == "planned") != run_ok {
        out.push(format!(
            "outcome: the plan {}, the run {} ({})",
            plan.status,
            summary.status.as_str(),
            summary
                .errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default()
        ));
        return out;
    }
    if !run_ok {
        return out;
    }
    for t in plan.targets.difference(&targets) {
        out.push(format!("planned, not changed: {t}"));
    }
    if !plan.run_time_only {
        for t in targets
            .difference(&plan.targets)
            .filter(|t| !plan.maybe.contains(*t))
        {
            out.push(format!("changed, not planned: {t}"));
        }
    }
    let missing = evicted.difference(&plan.evictions).count();
    if missing > 0 && !plan.run_time_only && !plan.evictions_at_run_time {
        out.push(format!("{missing} eviction(s) sent, not planned"));
    }
    if !case.timed {
        return out;
    }
    // Steps with a real duration: each within ±25% of its plan.
    for e in &events {
        if e["event"] != "step_finished" || e["status"] != "done" {
            continue;
        }
        let title = e["title"].as_str().unwrap_or_default();
        let took = e["elapsed_s"].as_u64().unwrap_or_default();
        let Some((_, planned)) = plan.steps.iter().find(|(t, _)| t == title) else {
            continue;
        };
        if plan.uncertain_steps.contains(title) {
            continue;
        }
        if took.max(*planned) < 120 {
            continue;
        }
        let ratio = *planned as f64 / took.max(1) as f64;
        if !(0.75..=1.25).contains(&ratio) {
            out.push(format!(
                "duration of `{title}`: planned {planned}s, took {took}s"
            ));
        }
    }
    out
}
