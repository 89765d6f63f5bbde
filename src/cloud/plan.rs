//! What a mutation did or would do. Plan mode returns a `Plan` and sends no
//! mutating request; apply mode returns `Applied` or `Unchanged`.

use std::time::Duration;

use serde::Serialize;

use super::clock::human;

/// Apply for real, or only describe what would change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Plan,
}

/// Per-call context of a mutation.
pub struct Mutation<'a> {
    pub mode: Mode,
    /// Idempotency token (see `durable::ActionKey::client_request_token`).
    pub token: String,
    /// Progress lines for the UI ("update abc: InProgress, 4m").
    pub progress: &'a (dyn Fn(&str) + Send + Sync),
    /// Simulated-time budget for the whole mutation including its wait.
    pub timeout: Duration,
    /// A resumed run whose journal has this mutation's intent but no
    /// result: the request may already have gone out, so updates in flight
    /// on the target are waited for before the state is compared, and
    /// nothing is sent when it already matches.
    pub probe: bool,
}

impl<'a> Mutation<'a> {
    pub fn new(mode: Mode, token: String, progress: &'a (dyn Fn(&str) + Send + Sync)) -> Self {
        Mutation {
            mode,
            token,
            progress,
            timeout: Duration::from_secs(2 * 3600),
            probe: false,
        }
    }

    pub fn is_plan(&self) -> bool {
        self.mode == Mode::Plan
    }

    /// The same context with a sub-token for one request of a compound action.
    pub fn part(&self, part: &str) -> Mutation<'a> {
        Mutation {
            mode: self.mode,
            token: super::token::derive(&self.token, part),
            progress: self.progress,
            timeout: self.timeout,
            probe: self.probe,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PlannedEviction {
    pub node: String,
    pub namespace: String,
    pub pod: String,
    /// The PDB the server says would refuse this eviction right now.
    pub blocked_by: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Plan {
    pub action: String,
    pub target: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub nodes: Vec<String>,
    pub evictions: Vec<PlannedEviction>,
    pub blocking_pdbs: Vec<String>,
    /// Refusals a real run would hit (unmanaged or emptyDir pods).
    pub refusals: Vec<String>,
    #[serde(serialize_with = "secs")]
    pub predicted: Duration,
    pub notes: Vec<String>,
    /// Evictions refused for as long as a run would wait, so the drain
    /// fails: `namespace/pod` and why (see `Drainer::plan_nodes`).
    #[serde(skip)]
    pub held: Vec<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Plan {
    pub fn new(action: &str, target: impl Into<String>) -> Self {
        Plan {
            action: action.to_string(),
            target: target.into(),
            ..Plan::default()
        }
    }

    pub fn from_to(mut self, from: Option<String>, to: impl Into<String>) -> Self {
        self.from = from;
        self.to = Some(to.into());
        self
    }

    pub fn predicted(mut self, d: Duration) -> Self {
        self.predicted = d;
        self
    }

    /// Human lines for the dry-run output: a summary whose length does not
    /// grow with the cluster (counts, then the nodes, pods and PDBs that
    /// stand out, a few by name). `--output json` carries every eviction.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "would {} {}{} (about {})",
            self.action,
            self.target,
            match (&self.from, &self.to) {
                (Some(f), Some(t)) => format!(": {f} → {t}"),
                (None, Some(t)) => format!(" → {t}"),
                _ => String::new(),
            },
            human(self.predicted)
        )];
        if !self.nodes.is_empty() {
            out.push(format!(
                "nodes affected ({}): {}",
                self.nodes.len(),
                some_of(self.nodes.iter().map(String::as_str), self.nodes.len())
            ));
        }
        out.extend(self.eviction_lines());
        // Refusals read "<namespace>/<pod> <why>": one line per reason.
        let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
        for r in &self.refusals {
            let (pod, why) = r.split_once(' ').unwrap_or(("", r));
            match by_reason.iter_mut().find(|(w, _)| *w == why) {
                Some((_, pods)) => pods.push(pod),
                None => by_reason.push((why, vec![pod])),
            }
        }
        for (why, pods) in by_reason {
            out.push(match pods.as_slice() {
                [pod] => format!("would refuse: {pod} {why}"),
                _ => format!(
                    "would refuse {} pods: {why}: {}",
                    pods.len(),
                    some_of(pods.iter().copied(), pods.len())
                ),
            });
        }
        out.extend(self.notes.iter().cloned());
        out
    }

    /// Evictions: the count per node, then each blocking PDB with the pods
    /// and nodes it holds up.
    fn eviction_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(first) = self.evictions.first() else {
            return out;
        };
        let mut per_node: Vec<(&str, usize)> = Vec::new();
        for e in &self.evictions {
            match per_node.last_mut() {
                Some((n, c)) if *n == e.node => *c += 1,
                _ => per_node.push((&e.node, 1)),
            }
        }
        let (min, max) = per_node
            .iter()
            .fold((usize::MAX, 0), |(lo, hi), &(_, c)| (lo.min(c), hi.max(c)));
        out.push(match per_node.as_slice() {
            [_] => format!("evict {} pod(s) from {}", self.evictions.len(), first.node),
            _ if min == max => format!(
                "evict {} pod(s) from {} node(s), {min} each",
                self.evictions.len(),
                per_node.len()
            ),
            _ => format!(
                "evict {} pod(s) from {} node(s), {min} to {max} each",
                self.evictions.len(),
                per_node.len()
            ),
        });
        let mut blocked: Vec<(&str, Vec<&PlannedEviction>)> = Vec::new();
        for e in &self.evictions {
            let Some(pdb) = e.blocked_by.as_deref() else {
                continue;
            };
            match blocked.iter_mut().find(|(p, _)| *p == pdb) {
                Some((_, es)) => es.push(e),
                None => blocked.push((pdb, vec![e])),
            }
        }
        for (pdb, es) in blocked {
            let mut nodes: Vec<(&str, usize)> = Vec::new();
            for e in &es {
                match nodes.last_mut() {
                    Some((n, c)) if *n == e.node => *c += 1,
                    _ => nodes.push((&e.node, 1)),
                }
            }
            let pods = es.iter().map(|e| format!("{}/{}", e.namespace, e.pod));
            out.push(format!(
                "BLOCKED by PodDisruptionBudget {pdb}: {} pod(s) on {} node(s): {}",
                es.len(),
                nodes.len(),
                if nodes.len() == 1 {
                    some_of(pods, es.len())
                } else {
                    let named = nodes.iter().map(|(n, c)| format!("{n} ({c})"));
                    some_of(named, nodes.len())
                }
            ));
        }
        out
    }
}

/// `a, b, c, d, e and N more`: the first few of `total` names.
fn some_of<T: std::fmt::Display>(names: impl Iterator<Item = T>, total: usize) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<String> = names.take(SHOWN).map(|n| n.to_string()).collect();
    if total > shown.len() {
        format!("{} and {} more", shown.join(", "), total - shown.len())
    } else {
        shown.join(", ")
    }
}

/// The subjects (nodes, add-ons) a readiness insight would fail once the
/// changes planned so far are made: those it fails now that the plan
/// leaves alone, then each one the plan changes that fails in its planned
/// state (`planned`: subject, fails). A dry run judges a later request
/// against this, as EKS will judge the real one after the real changes.
pub fn failing_after_plan(failing_now: &[String], planned: &[(String, bool)]) -> Vec<String> {
    let mut out: Vec<String> = failing_now
        .iter()
        .filter(|s| !planned.iter().any(|(p, _)| p == *s))
        .cloned()
        .collect();
    for (subject, fails) in planned {
        if *fails && !out.contains(subject) {
            out.push(subject.clone());
        }
    }
    out
}

/// The result of one mutation.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The state already matched: no request was sent.
    Unchanged {
        target: String,
        message: String,
    },
    Applied {
        target: String,
        from: Option<String>,
        to: Option<String>,
        detail: String,
    },
    Planned(Plan),
}

impl Change {
    pub fn unchanged(target: impl Into<String>, message: impl Into<String>) -> Self {
        Change::Unchanged {
            target: target.into(),
            message: message.into(),
        }
    }

    pub fn is_unchanged(&self) -> bool {
        matches!(self, Change::Unchanged { .. })
    }

    /// One line summary for logs and the closing summary.
    pub fn summary(&self) -> String {
        match self {
            Change::Unchanged { target, message } => format!("{target}: {message}"),
            Change::Applied {
                target,
                from,
                to,
                detail,
            } => match (from, to) {
                (Some(f), Some(t)) => format!("{target}: {f} → {t} {detail}").trim_end().into(),
                _ => format!("{target}: {detail}"),
            },
            Change::Planned(p) => p.lines().join("\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eviction(node: &str, pod: &str, blocked_by: Option<&str>) -> PlannedEviction {
        PlannedEviction {
            node: node.into(),
            namespace: "shop".into(),
            pod: pod.into(),
            blocked_by: blocked_by.map(str::to_string),
        }
    }

    /// A 1,000-node plan reads in a handful of lines: counts, the first few
    /// names, each blocking PDB with its nodes, each refusal reason once.
    #[test]
    fn lines_summarise_however_many_nodes_and_pods() {
        let mut plan = Plan::new("roll in place", "nodegroup pool-00")
            .from_to(Some("1.28".into()), "1.29")
            .predicted(Duration::from_secs(3600));
        for n in 0..1000 {
            let node = format!("node-{n:04}");
            for p in 0..30 {
                let blocked = (n < 3 && p == 0).then_some("shop/checkout");
                plan.evictions
                    .push(eviction(&node, &format!("web-{n}-{p}"), blocked));
            }
            plan.nodes.push(node);
        }
        plan.evictions.push(eviction("node-0999", "extra", None));
        for i in 0..7 {
            plan.refusals.push(format!(
                "shop/api-{i} uses emptyDir storage that eviction deletes (allow with delete_emptydir_data: true)"
            ));
        }
        plan.refusals
            .push("tools/debug is not managed by a controller".to_string());
        let lines = plan.lines();
        assert_eq!(
            lines,
            [
                "would roll in place nodegroup pool-00: 1.28 → 1.29 (about 1h)",
                "nodes affected (1000): node-0000, node-0001, node-0002, node-0003, node-0004 and 995 more",
                "evict 30001 pod(s) from 1000 node(s), 30 to 31 each",
                "BLOCKED by PodDisruptionBudget shop/checkout: 3 pod(s) on 3 node(s): node-0000 (1), node-0001 (1), node-0002 (1)",
                "would refuse 7 pods: uses emptyDir storage that eviction deletes (allow with delete_emptydir_data: true): shop/api-0, shop/api-1, shop/api-2, shop/api-3, shop/api-4 and 2 more",
                "would refuse: tools/debug is not managed by a controller",
            ],
            "{lines:#?}"
        );
    }

    /// What the plan rolls back no longer fails, what it breaks does, and
    /// what it leaves alone keeps EKS's verdict.
    #[test]
    fn an_insight_after_the_plan_keeps_what_it_leaves_alone() {
        let now = ["n1".to_string(), "n2".to_string(), "x9".to_string()];
        let planned = [
            ("n1".to_string(), false),
            ("n2".to_string(), false),
            ("n3".to_string(), true),
        ];
        assert_eq!(failing_after_plan(&now, &planned), ["x9", "n3"]);
        assert_eq!(failing_after_plan(&now, &[]), now);
        assert!(failing_after_plan(&[], &planned[..2]).is_empty());
    }

    #[test]
    fn one_node_names_its_blocked_pods() {
        let mut plan = Plan::new("drain", "node n1");
        plan.nodes.push("n1".into());
        plan.evictions.push(eviction("n1", "web-1", None));
        plan.evictions
            .push(eviction("n1", "checkout-1", Some("shop/checkout")));
        let lines = plan.lines();
        assert_eq!(lines[2], "evict 2 pod(s) from n1");
        assert_eq!(
            lines[3],
            "BLOCKED by PodDisruptionBudget shop/checkout: 1 pod(s) on 1 node(s): shop/checkout-1"
        );
    }
}
