//! Node drain through the policy/v1 Eviction API, as `kubectl drain` does it
//! but with the engine's policies: DaemonSet and mirror pods are skipped;
//! emptyDir and unmanaged pods are refused unless allowed (deleting them
//! loses data, and nothing here ever force-deletes); each pod's grace period
//! is capped; evictions run with bounded parallelism; a 429 from a PDB is
//! retried with backoff while recording which PDB blocks; the whole drain has
//! a real deadline; and a failed drain uncordons the node again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use ::kube::api::{Api, ListParams, WatchEvent, WatchParams};
use ::kube::core::{Selector, SelectorExt};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use super::CloudError;
use super::clock::{Clock, human};
use super::kube::{Kube, PdbInfo, PodInfo};
use super::plan::{Plan, PlannedEviction};
use super::timing;

#[derive(Clone, Debug)]
pub struct DrainOptions {
    /// Cap on each pod's termination grace period.
    pub grace_period: Option<Duration>,
    /// Deadline for the whole drain (simulated time).
    pub timeout: Duration,
    /// Evictions in flight at once.
    pub parallelism: usize,
    /// Allow evicting pods with emptyDir volumes (their data is lost).
    pub delete_emptydir_data: bool,
    /// What to do with pods no controller will recreate.
    pub unmanaged: Unmanaged,
}

/// Policy for pods without a controller: evicting one loses it for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmanaged {
    /// Refuse the drain (the default).
    Fail,
    /// Leave them on the node and drain the rest.
    Skip,
    /// Evict them too (through the Eviction API; never force-deleted).
    Evict,
}

impl std::str::FromStr for Unmanaged {
    type Err = CloudError;
    fn from_str(s: &str) -> Result<Self, CloudError> {
        match s {
            "fail" => Ok(Unmanaged::Fail),
            "skip" => Ok(Unmanaged::Skip),
            "delete" | "evict" => Ok(Unmanaged::Evict),
            other => Err(CloudError::Invalid(format!(
                "unknown unmanaged_pods policy `{other}` (expected fail, skip or delete)"
            ))),
        }
    }
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            grace_period: Some(Duration::from_secs(120)),
            timeout: Duration::from_secs(15 * 60),
            parallelism: 4,
            delete_emptydir_data: false,
            unmanaged: Unmanaged::Fail,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DrainReport {
    pub node: String,
    pub evicted: Vec<String>,
    pub skipped: Vec<String>,
    /// PDBs that refused at least one eviction along the way.
    pub blocked_by: Vec<String>,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// What to do with one pod on the node.
enum Disposition {
    Evict,
    Skip(&'static str),
    Refuse(String),
}

fn classify(pod: &PodInfo, opts: &DrainOptions) -> Disposition {
    if pod.mirror {
        return Disposition::Skip("mirror pod");
    }
    if pod.controller.as_deref() == Some("DaemonSet") {
        return Disposition::Skip("DaemonSet pod");
    }
    if pod.phase == "Succeeded" || pod.phase == "Failed" {
        return Disposition::Skip("finished");
    }
    if pod.terminating {
        return Disposition::Skip("already terminating");
    }
    if pod.controller.is_none() {
        match opts.unmanaged {
            Unmanaged::Fail => {
                return Disposition::Refuse(format!(
                    "{}/{} is not managed by a controller; evicting it loses it for good (unmanaged_pods: \"skip\" leaves it, \"delete\" evicts it)",
                    pod.namespace, pod.name
                ));
            }
            Unmanaged::Skip => return Disposition::Skip("unmanaged, left in place"),
            Unmanaged::Evict => {}
        }
    }
    if pod.uses_empty_dir && !opts.delete_emptydir_data {
        return Disposition::Refuse(format!(
            "{}/{} uses emptyDir storage that eviction deletes (allow with delete_emptydir_data: true)",
            pod.namespace, pod.name
        ));
    }
    Disposition::Evict
}

fn pod_id(p: &PodInfo) -> String {
    format!("{}/{}", p.namespace, p.name)
}

/// The PDBs (namespace/name) whose selector matches the pod.
fn pdbs_for(pod: &PodInfo, pdbs: &[PdbInfo]) -> Vec<String> {
    pdbs.iter()
        .filter(|b| b.selects(pod))
        .map(PdbInfo::id)
        .collect()
}

fn is_pdb_refusal(err: &::kube::Error) -> bool {
    matches!(err, ::kube::Error::Api(s) if s.code == 429)
}

pub struct Drainer<'a> {
    kube: &'a Kube,
    clock: &'a Clock,
    progress: &'a (dyn Fn(&str) + Send + Sync),
}

impl<'a> Drainer<'a> {
    pub fn new(kube: &'a Kube, progress: &'a (dyn Fn(&str) + Send + Sync)) -> Self {
        Drainer {
            kube,
            clock: kube.clock(),
            progress,
        }
    }

    /// Cordon and drain `node`. On failure the node is uncordoned again (if
    /// this drain cordoned it) and the error names the blocking PDBs.
    pub async fn drain(&self, node: &str, opts: &DrainOptions) -> Result<DrainReport, CloudError> {
        let cordoned = self.kube.cordon(node).await?;
        let result = self.evict_all(node, opts).await;
        if result.is_err() && cordoned {
            // Best effort: the drain's own error is the one to report.
            let _ = self.kube.uncordon(node).await;
        }
        result
    }

    async fn evict_all(&self, node: &str, opts: &DrainOptions) -> Result<DrainReport, CloudError> {
        let started = self.clock.now();
        let deadline = self.clock.deadline(opts.timeout);
        let (pods, listed_at) = self.node_pods(node).await?;
        let mut report = DrainReport {
            node: node.to_string(),
            ..DrainReport::default()
        };
        let mut refusals = Vec::new();
        let mut to_evict = Vec::new();
        for pod in pods {
            match classify(&pod, opts) {
                Disposition::Evict => to_evict.push(pod),
                Disposition::Skip(why) => report.skipped.push(format!("{} ({why})", pod_id(&pod))),
                Disposition::Refuse(why) => refusals.push(why),
            }
        }
        if !refusals.is_empty() {
            return Err(CloudError::DrainRefused {
                node: node.to_string(),
                reasons: refusals,
            });
        }
        // Listed on the first refusal only: the eviction's own 429 says a
        // budget blocks, the list says which.
        let pdbs = tokio::sync::OnceCell::new();
        let blocked_by = Mutex::new(BTreeSet::new());
        let results: Vec<Result<(), CloudError>> = futures::stream::iter(to_evict.iter())
            .map(|pod| self.evict_one(pod, opts, &pdbs, &blocked_by, deadline))
            .buffer_unordered(opts.parallelism.max(1))
            .collect()
            .await;
        let blocked: Vec<String> = blocked_by
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut stuck = Vec::new();
        for r in results {
            match r {
                Ok(()) => {}
                Err(CloudError::Timeout { what, .. }) => stuck.push(what),
                Err(e) => return Err(e),
            }
        }
        if !stuck.is_empty() {
            return Err(CloudError::DrainBlocked {
                node: node.to_string(),
                pdbs: blocked,
                pods: stuck,
                after: opts.timeout,
            });
        }
        self.wait_gone(node, &to_evict, listed_at, started, opts.timeout)
            .await?;
        report.evicted = to_evict.iter().map(pod_id).collect();
        report.blocked_by = blocked;
        report.elapsed = self.clock.since(started);
        Ok(report)
    }

    /// Evict one pod, retrying PDB refusals until the deadline. A refusal
    /// past the deadline is a `Timeout` naming the pod.
    async fn evict_one(
        &self,
        pod: &PodInfo,
        opts: &DrainOptions,
        pdbs: &tokio::sync::OnceCell<Vec<PdbInfo>>,
        blocked_by: &Mutex<BTreeSet<String>>,
        deadline: super::clock::Deadline,
    ) -> Result<(), CloudError> {
        let grace = match (pod.grace_period, opts.grace_period) {
            (Some(g), Some(cap)) => Some((g as u64).min(cap.as_secs()) as u32),
            (None, Some(cap)) => Some(cap.as_secs() as u32),
            (g, None) => g.map(|g| g as u32),
        };
        let mut backoff = Duration::from_secs(5);
        loop {
            match self.evict(pod, grace, false).await {
                Ok(_) => return Ok(()),
                Err(::kube::Error::Api(s)) if s.code == 404 => return Ok(()),
                Err(e) if is_pdb_refusal(&e) => {
                    let pdbs = pdbs.get_or_try_init(|| self.kube.pdbs(None)).await?;
                    let names = pdbs_for(pod, pdbs);
                    (self.progress)(&format!(
                        "eviction of {} refused by PodDisruptionBudget {}; retrying in {}",
                        pod_id(pod),
                        if names.is_empty() {
                            "(unknown)".to_string()
                        } else {
                            names.join(", ")
                        },
                        human(backoff)
                    ));
                    blocked_by
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(names);
                }
                Err(e) => {
                    let err = CloudError::kube(format!("evict {}", pod_id(pod)), e);
                    if !err.is_transient() {
                        return Err(err);
                    }
                }
            }
            if deadline.passed(self.clock) {
                return Err(CloudError::Timeout {
                    what: pod_id(pod),
                    after: deadline.budget(),
                });
            }
            self.clock.sleep(backoff).await?;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// The node's pods and the resourceVersion of that list, from which
    /// `wait_gone` watches.
    async fn node_pods(&self, node: &str) -> Result<(Vec<PodInfo>, String), CloudError> {
        let api: Api<Pod> = Api::all(self.kube.client().clone());
        let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let list = self.kube.read("list pods", || api.list(&lp)).await?;
        let pods = list.items.iter().map(super::kube::pod_info).collect();
        Ok((pods, list.metadata.resource_version.unwrap_or_default()))
    }

    /// Wait until no evicted pod (by uid) is still on the node: one watch
    /// of the node's pods from the list the drain began with (`from`), so
    /// pods that stop within `RESYNC` cost one request however long they
    /// take. A watch can stall without ending (a proxy, a dropped
    /// connection; a sandbox steps its world only when asked), so each
    /// `RESYNC` without an answer the node's pods are listed; a watch the
    /// server ends (its timeout, a resourceVersion too old) is followed by
    /// a list and a new watch. The deadline is `budget` after `started`,
    /// on the engine's clock.
    async fn wait_gone(
        &self,
        node: &str,
        evicted: &[PodInfo],
        from: String,
        started: Duration,
        budget: Duration,
    ) -> Result<(), CloudError> {
        const RESYNC: Duration = Duration::from_secs(30);
        let mut left: HashMap<&str, String> = evicted
            .iter()
            .map(|p| (p.uid.as_str(), pod_id(p)))
            .collect();
        let api: Api<Pod> = Api::all(self.kube.client().clone());
        let fields = format!("spec.nodeName={node}");
        let mut from = Some(from).filter(|v| !v.is_empty());
        let timed_out = |left: &HashMap<&str, String>| {
            let mut pods: Vec<&str> = left.values().map(String::as_str).collect();
            pods.sort_unstable();
            CloudError::Timeout {
                what: format!("evicted pods to leave {node}: {}", pods.join(", ")),
                after: budget,
            }
        };
        // Drop what a list of the node's pods no longer has; its version.
        let listed = |left: &mut HashMap<&str, String>, pods: Vec<PodInfo>| {
            let here: HashSet<&str> = pods.iter().map(|p| p.uid.as_str()).collect();
            left.retain(|uid, _| here.contains(uid));
        };
        while !left.is_empty() {
            let version = match from.take() {
                Some(v) => v,
                None => {
                    let (pods, version) = self.node_pods(node).await?;
                    listed(&mut left, pods);
                    if left.is_empty() {
                        return Ok(());
                    }
                    version
                }
            };
            let Some(remaining) = budget.checked_sub(self.clock.since(started)) else {
                return Err(timed_out(&left));
            };
            (self.progress)(&format!(
                "{node}: waiting for {} pod(s) to terminate",
                left.len()
            ));
            // kube refuses a watch timeout of 295 s or more; a longer wait
            // watches again.
            let secs = remaining.as_secs().clamp(1, 290) as u32;
            let wp = WatchParams::default().fields(&fields).timeout(secs);
            let stream = match api.watch(&wp, &version).await {
                Ok(stream) => stream,
                Err(e) => {
                    let err = CloudError::kube(format!("watch pods on {node}"), e);
                    if !err.is_transient() {
                        return Err(err);
                    }
                    self.clock.sleep(Duration::from_secs(1)).await?;
                    continue;
                }
            };
            let mut stream = std::pin::pin!(stream);
            loop {
                let Some(remaining) = budget.checked_sub(self.clock.since(started)) else {
                    return Err(timed_out(&left));
                };
                tokio::select! {
                    event = stream.next() => match event {
                        Some(Ok(WatchEvent::Deleted(pod))) => {
                            let uid = pod.metadata.uid.as_deref().unwrap_or_default();
                            if left.remove(uid).is_some() && left.is_empty() {
                                return Ok(());
                            }
                        }
                        Some(Ok(
                            WatchEvent::Added(_) | WatchEvent::Modified(_) | WatchEvent::Bookmark(_),
                        )) => {}
                        // Ended, expired (410) or broken: list and watch again.
                        Some(Ok(WatchEvent::Error(_)) | Err(_)) | None => break,
                    },
                    slept = self.clock.sleep(remaining.min(RESYNC)) => {
                        slept?;
                        if remaining <= RESYNC {
                            return Err(timed_out(&left));
                        }
                        let (pods, _) = self.node_pods(node).await?;
                        listed(&mut left, pods);
                        if left.is_empty() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// POST the pod's `eviction` subresource. Built by hand because kube 5's
    /// `Api::evict` sends `delete_options` instead of `deleteOptions`, so a
    /// grace-period cap would be silently ignored by the API server.
    async fn evict(
        &self,
        pod: &PodInfo,
        grace: Option<u32>,
        dry_run: bool,
    ) -> Result<(), ::kube::Error> {
        let mut url = format!(
            "/api/v1/namespaces/{}/pods/{}/eviction",
            pod.namespace, pod.name
        );
        let mut delete_options = serde_json::json!({});
        if let Some(g) = grace {
            delete_options["gracePeriodSeconds"] = g.into();
        }
        if dry_run {
            url.push_str("?dryRun=All");
            delete_options["dryRun"] = serde_json::json!(["All"]);
        }
        let body = serde_json::json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod.name, "namespace": pod.namespace},
            "deleteOptions": delete_options,
        });
        let request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body).map_err(::kube::Error::SerdeError)?)
            .map_err(::kube::Error::HttpError)?;
        self.kube
            .client()
            .request::<serde_json::Value>(request)
            .await
            .map(drop)
    }

    /// Dry run: what a drain of `node` would evict, and which PDBs would
    /// refuse (see `plan_nodes`).
    pub async fn plan(&self, node: &str, opts: &DrainOptions) -> Result<Plan, CloudError> {
        let pods = self.kube.pods(None, Some(node), None).await?;
        let pdbs = self.kube.pdbs(None).await?;
        let mut plan = Plan::new("drain", format!("node {node}"));
        let timing = self
            .plan_pods(&mut plan, &[node.to_string()], pods, &pdbs, opts)
            .await?;
        plan.predicted = timing.iter().map(|t| t.drain).sum();
        Ok(plan)
    }

    /// Dry run of draining every node in `nodes`, from one LIST of pods and
    /// one of PDBs. Verdicts come from the budgets' status, as the API
    /// server decides them; only a pod whose budget makes the answer
    /// uncertain is asked about with a `dryRun=All` eviction (see
    /// `verdict`). `predicted` is left to the caller.
    pub async fn plan_nodes(
        &self,
        nodes: &[String],
        opts: &DrainOptions,
    ) -> Result<(Plan, Vec<NodeTiming>), CloudError> {
        let mut plan = Plan::new("drain", format!("{} node(s)", nodes.len()));
        if nodes.is_empty() {
            return Ok((plan, vec![]));
        }
        let pods = self.kube.pods(None, None, None).await?;
        let pdbs = self.kube.pdbs(None).await?;
        let timing = self.plan_pods(&mut plan, nodes, pods, &pdbs, opts).await?;
        Ok((plan, timing))
    }

    /// Fill `plan` with the evictions and refusals of draining `nodes`, in
    /// that order, given every pod that may run there; `held` gets the
    /// evictions no wait would let through. Returns how long each node's
    /// drain takes (see `NodeTiming`).
    async fn plan_pods(
        &self,
        plan: &mut Plan,
        nodes: &[String],
        pods: Vec<PodInfo>,
        pdbs: &[PdbInfo],
        opts: &DrainOptions,
    ) -> Result<Vec<NodeTiming>, CloudError> {
        let mut on_node: HashMap<&str, Vec<&PodInfo>> =
            nodes.iter().map(|n| (n.as_str(), Vec::new())).collect();
        for pod in &pods {
            if let Some(list) = pod.node.as_deref().and_then(|n| on_node.get_mut(n)) {
                list.push(pod);
            }
        }
        let budgets = Budgets::new(pdbs);
        let mut asks: Vec<(usize, &PodInfo)> = Vec::new();
        let mut timing = Vec::with_capacity(nodes.len());
        for node in nodes {
            plan.nodes.push(node.clone());
            let mut evict: Vec<&PodInfo> = Vec::new();
            for &pod in on_node.get(node.as_str()).into_iter().flatten() {
                match classify(pod, opts) {
                    Disposition::Skip(_) => {}
                    Disposition::Refuse(why) => plan.refusals.push(why),
                    Disposition::Evict => evict.push(pod),
                }
            }
            // How many of each budget's pods this node's drain evicts.
            let mut per_budget: HashMap<String, usize> = HashMap::new();
            let selected: Vec<Vec<&PdbInfo>> = evict.iter().map(|p| budgets.selecting(p)).collect();
            for b in selected.iter().flatten() {
                *per_budget.entry(b.id()).or_default() += 1;
            }
            timing.push(node_timing(&evict, &selected, opts));
            for (pod, sel) in evict.iter().zip(&selected) {
                if let Some(why) = held_for_good(pod, sel) {
                    plan.held.push(format!("{} ({why})", pod_id(pod)));
                }
            }
            for (pod, sel) in evict.into_iter().zip(&selected) {
                let blocked_by = match verdict(pod, sel, |b| per_budget[&b.id()]) {
                    Verdict::Allowed => None,
                    Verdict::Blocked(b) => Some(b),
                    Verdict::Ask => {
                        asks.push((plan.evictions.len(), pod));
                        None
                    }
                };
                plan.evictions.push(PlannedEviction {
                    node: node.clone(),
                    namespace: pod.namespace.clone(),
                    pod: pod.name.clone(),
                    blocked_by,
                });
            }
        }
        let answers: Vec<Result<Answer, CloudError>> = futures::stream::iter(asks.iter())
            .map(|&(_, pod)| self.ask(pod, &budgets))
            .buffered(opts.parallelism.max(1))
            .collect()
            .await;
        let mut gone = Vec::new();
        for (&(i, _), answer) in asks.iter().zip(answers) {
            match answer? {
                Answer::Allowed => {}
                Answer::Refused(by) => plan.evictions[i].blocked_by = Some(by),
                Answer::Gone => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            plan.evictions.remove(i);
        }
        let blocking: BTreeSet<&String> = plan
            .evictions
            .iter()
            .filter_map(|e| e.blocked_by.as_ref())
            .collect();
        plan.blocking_pdbs = blocking.into_iter().cloned().collect();
        Ok(timing)
    }

    /// The server's verdict on evicting `pod` (`dryRun=All`: nothing changes).
    async fn ask(&self, pod: &PodInfo, budgets: &Budgets<'_>) -> Result<Answer, CloudError> {
        let names = || {
            let names: Vec<String> = budgets.selecting(pod).iter().map(|b| b.id()).collect();
            if names.is_empty() {
                "(unknown)".to_string()
            } else {
                names.join(", ")
            }
        };
        match self.evict(pod, None, true).await {
            Ok(()) => Ok(Answer::Allowed),
            Err(e) if is_pdb_refusal(&e) => Ok(Answer::Refused(names())),
            Err(::kube::Error::Api(s)) if s.code == 404 => Ok(Answer::Gone),
            // The eviction API refuses a pod that more than one budget
            // selects (500); a real drain retries it until its deadline.
            Err(::kube::Error::Api(s)) if s.code == 500 && budgets.selecting(pod).len() > 1 => {
                Ok(Answer::Refused(names()))
            }
            Err(e) => Err(CloudError::kube(
                format!("dry-run evict {}", pod_id(pod)),
                e,
            )),
        }
    }
}

/// How long the plan expects one node's drain to take.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeTiming {
    /// Our drain (`Drainer::drain`): until every evicted pod is gone.
    pub drain: Duration,
    /// The slowest of its pods to stop once evicted (EKS's drain waits
    /// for them too).
    pub stop: Duration,
}

/// How often `wait_gone` looks at the node again.
const GONE_POLL: Duration = Duration::from_secs(5);

/// A node's drain: every eviction goes out at once, and each pod stops
/// within its preStop hook and grace period (`timing::pod_stop`). A budget
/// that lets fewer of the node's pods go than it selects paces the rest:
/// a refused eviction is retried with the drain's backoff once the pods
/// already evicted have stopped and their replacements are Ready.
fn node_timing(evict: &[&PodInfo], selected: &[Vec<&PdbInfo>], opts: &DrainOptions) -> NodeTiming {
    let stop = evict
        .iter()
        .map(|p| timing::pod_stop(p, opts.grace_period))
        .max()
        .unwrap_or_default();
    let mut here: HashMap<String, (i64, usize)> = HashMap::new();
    for b in selected.iter().flatten() {
        here.entry(b.id()).or_insert((b.disruptions_allowed, 0)).1 += 1;
    }
    let waves = here
        .values()
        .filter(|(allowed, _)| *allowed > 0)
        .map(|&(allowed, n)| n.div_ceil(allowed as usize))
        .max()
        .unwrap_or(1);
    // One wave: its pods stop and their replacements start; the refused
    // evictions are retried at 5 s, 15 s, 35 s, … after the first refusal.
    let wave = stop + timing::POD_START;
    let mut retried = Duration::ZERO;
    for _ in 1..waves {
        let mut backoff = Duration::from_secs(5);
        let mut waited = Duration::ZERO;
        while waited < wave {
            waited += backoff;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        retried += waited;
    }
    NodeTiming {
        drain: timing::polled(retried + stop, GONE_POLL),
        stop,
    }
}

/// Why no wait lets `pod`'s eviction through, if so: a budget that allows
/// no disruption while every pod it selects is healthy (only a change to
/// the workload or the budget frees it), or two budgets over the pod (the
/// eviction API refuses those).
fn held_for_good(pod: &PodInfo, selecting: &[&PdbInfo]) -> Option<String> {
    match selecting {
        [] => None,
        [b] if b.status_current
            && pod.ready
            && b.disruptions_allowed <= 0
            && b.expected_pods > 0
            && b.current_healthy >= b.expected_pods =>
        {
            Some(format!(
                "PodDisruptionBudget {} allows no disruption with all {} of its pod(s) healthy",
                b.id(),
                b.expected_pods
            ))
        }
        [_] => None,
        several => Some(format!(
            "selected by {} PodDisruptionBudgets ({}), which the eviction API refuses",
            several.len(),
            several
                .iter()
                .map(|b| b.id())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The server's answer to a dry-run eviction.
enum Answer {
    Allowed,
    /// Refused; the PDB(s) that select the pod.
    Refused(String),
    Gone,
}

/// What the eviction API would answer for one pod now.
#[derive(Debug, PartialEq)]
enum Verdict {
    Allowed,
    /// Refused by this budget (namespace/name).
    Blocked(String),
    /// The budgets' status cannot tell: ask the server.
    Ask,
}

/// The eviction API's decision, taken from the budgets that select the pod
/// (`evicted_here`: how many of a budget's pods this node's drain evicts).
/// Certain: no budget (allowed); one current budget allowing no disruption
/// and a Ready pod (refused); one allowing more than the drain takes
/// (allowed). Uncertain, so the server is asked: several budgets (the API
/// refuses those pods), a status the disruption controller has not caught
/// up with, an unready pod (the unhealthy-pod eviction policy decides), and
/// a budget the drain would use up or overrun (at the edge, the status may
/// be one eviction behind).
fn verdict(
    pod: &PodInfo,
    selecting: &[&PdbInfo],
    evicted_here: impl Fn(&PdbInfo) -> usize,
) -> Verdict {
    match selecting {
        [] => Verdict::Allowed,
        [b] if !b.status_current => Verdict::Ask,
        [b] if b.disruptions_allowed <= 0 => {
            if pod.ready {
                Verdict::Blocked(b.id())
            } else {
                Verdict::Ask
            }
        }
        [b] if (b.disruptions_allowed as usize) <= evicted_here(b) => Verdict::Ask,
        [_] => Verdict::Allowed,
        _ => Verdict::Ask,
    }
}

/// PDBs by namespace, selectors parsed once.
struct Budgets<'a> {
    by_namespace: HashMap<&'a str, Vec<(&'a PdbInfo, Selector)>>,
}

impl<'a> Budgets<'a> {
    fn new(pdbs: &'a [PdbInfo]) -> Self {
        let mut by_namespace: HashMap<&str, Vec<(&PdbInfo, Selector)>> = HashMap::new();
        for b in pdbs {
            if let Some(sel) = b.parsed_selector() {
                by_namespace.entry(&b.namespace).or_default().push((b, sel));
            }
        }
        Budgets { by_namespace }
    }

    fn selecting(&self, pod: &PodInfo) -> Vec<&'a PdbInfo> {
        self.by_namespace
            .get(pod.namespace.as_str())
            .into_iter()
            .flatten()
            .filter(|(_, sel)| sel.matches(&pod.labels))
            .map(|(b, _)| *b)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;

    fn pod(ready: bool) -> PodInfo {
        PodInfo {
            namespace: "shop".into(),
            name: "web-1".into(),
            uid: "u".into(),
            node: Some("n1".into()),
            phase: "Running".into(),
            ready,
            owner_kinds: vec!["ReplicaSet".into()],
            controller: Some("ReplicaSet".into()),
            owner_name: Some("web-5d9".into()),
            restarts: 0,
            labels: [("app".to_string(), "web".to_string())].into(),
            images: vec![],
            waiting_reasons: vec![],
            uses_empty_dir: false,
            mirror: false,
            terminating: false,
            grace_period: None,
            pre_stop_s: 0,
            owner: None,
            containers: vec![],
            init_containers: vec![],
            pvcs: vec![],
            deletion_timestamp: String::new(),
            finalizers: vec![],
            created: String::new(),
            age: None,
        }
    }

    fn budget(name: &str, allowed: i64, current: bool) -> PdbInfo {
        PdbInfo {
            namespace: "shop".into(),
            name: name.into(),
            min_available: None,
            max_unavailable: None,
            disruptions_allowed: allowed,
            expected_pods: 3,
            current_healthy: 3,
            desired_healthy: 3 - allowed,
            selector: Some(LabelSelector {
                match_labels: Some([("app".to_string(), "web".to_string())].into()),
                match_expressions: None,
            }),
            status_current: current,
        }
    }

    #[test]
    fn verdicts_come_from_the_status_and_only_uncertain_ones_ask() {
        let one = |b: &PdbInfo, ready: bool, here: usize| verdict(&pod(ready), &[b], |_| here);
        assert_eq!(verdict(&pod(true), &[], |_| 0), Verdict::Allowed);
        // Allows more than this drain takes: certain.
        assert_eq!(one(&budget("web", 3, true), true, 2), Verdict::Allowed);
        // Allows nothing, pod Ready: certain refusal.
        assert_eq!(
            one(&budget("web", 0, true), true, 1),
            Verdict::Blocked("shop/web".into())
        );
        // The unhealthy-pod policy decides for an unready pod.
        assert_eq!(one(&budget("web", 0, true), false, 1), Verdict::Ask);
        // A status not yet computed for the current spec.
        assert_eq!(one(&budget("web", 3, false), true, 1), Verdict::Ask);
        // The drain would use up or overrun the budget: at the edge.
        assert_eq!(one(&budget("web", 2, true), true, 2), Verdict::Ask);
        assert_eq!(one(&budget("web", 1, true), true, 3), Verdict::Ask);
        // Two budgets: the eviction API refuses; the server says how.
        let (a, b) = (budget("a", 3, true), budget("b", 3, true));
        assert_eq!(verdict(&pod(true), &[&a, &b], |_| 1), Verdict::Ask);
    }

    /// pdb-blocked's checkout: one replica under `minAvailable: 1`. No wait
    /// frees it, so a drain plans its failure; a budget at 0 only because
    /// one of its pods is unready may recover, and stays a note.
    #[test]
    fn only_a_budget_no_wait_can_free_holds_an_eviction_for_good() {
        let mut held = budget("checkout", 0, true);
        (held.expected_pods, held.current_healthy) = (1, 1);
        assert!(held_for_good(&pod(true), &[&held]).is_some());
        let mut recovering = budget("web", 0, true);
        (recovering.expected_pods, recovering.current_healthy) = (3, 2);
        assert_eq!(held_for_good(&pod(true), &[&recovering]), None);
        assert_eq!(held_for_good(&pod(true), &[&budget("web", 1, true)]), None);
        let (a, b) = (budget("a", 3, true), budget("b", 3, true));
        assert!(held_for_good(&pod(true), &[&a, &b]).is_some());
    }

    /// A drain takes as long as its slowest pod takes to stop (preStop,
    /// capped by the grace period), seen at the next look; a budget that
    /// lets one of two pods go paces the second behind the first's
    /// replacement turning Ready.
    #[test]
    fn a_drain_takes_its_slowest_pod_and_its_budgets_pacing() {
        let opts = DrainOptions::default();
        let quick = pod(true);
        let mut slow = pod(true);
        slow.pre_stop_s = 20;
        let t = node_timing(&[&quick, &slow], &[vec![], vec![]], &opts);
        assert_eq!(t.stop, Duration::from_secs(21));
        assert_eq!(t.drain, Duration::from_secs(25));
        let mut capped = slow.clone();
        capped.grace_period = Some(10);
        let t = node_timing(&[&capped], &[vec![]], &opts);
        assert_eq!(t.stop, Duration::from_secs(10));
        // Two pods, a budget allowing one: the second eviction is retried
        // at 5 s, 15 s and 35 s; the first pod's replacement is Ready at 21 s.
        let web = budget("web", 1, true);
        let t = node_timing(&[&quick, &quick], &[vec![&web], vec![&web]], &opts);
        assert_eq!(t.drain, Duration::from_secs(40));
    }

    #[test]
    fn budgets_select_by_namespace_and_labels() {
        let pdbs = vec![budget("web", 1, true), {
            let mut other = budget("web", 1, true);
            other.namespace = "data".into();
            other
        }];
        let budgets = Budgets::new(&pdbs);
        let found = budgets.selecting(&pod(true));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id(), "shop/web");
        let mut api = pod(true);
        api.labels = [("app".to_string(), "api".to_string())].into();
        assert!(budgets.selecting(&api).is_empty());
    }
}
