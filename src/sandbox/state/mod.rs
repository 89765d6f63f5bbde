//! The whole simulated world behind one lock: the EKS view (cluster,
//! nodegroups, add-ons, updates), the Kubernetes object store, and the
//! kubelet-side bookkeeping the simulation needs.

pub mod addons;
mod bootstrap;
pub mod budget_index;
pub use bootstrap::pdb_object as bootstrap_pdb;
pub mod catalog;
pub mod cluster;
pub mod events;
pub mod instance_types;
pub mod nodegroups;
pub mod objects;
mod observe;
pub use observe::Change;
pub mod pod_index;
pub mod pod_status;
pub mod quantity;
pub mod rollout;
pub mod typed;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Maps the simulation hits on every pod or node step: hashed with foldhash,
/// which is several times cheaper than SipHash on short keys.
type FastMap<K, V> = foldhash::HashMap<K, V>;

use indexmap::IndexMap;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::fixture::{DeprecatedApiSpec, PdbSpec};
use super::kube::store::{Store, meta_str};
use addons::Addon;
use budget_index::BudgetIndex;
use catalog::Catalog;
use cluster::{Cluster, Update};
use nodegroups::Nodegroup;
use pod_index::{PodIndex, PodMeta};
use pod_status::PodStatus;

/// Granularity of simulated time steps.
pub const TICK_MS: u64 = 5_000;

/// Something the simulation must look at again at a given time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    Cluster,
    Addon(String),
    Rollout(String),
    Node(String),
    Pod(String),
    /// A custom resource's controller (`kube::custom`), by `plural/ns/name`.
    Custom(String),
}

/// Kubelet-side state of a node.
#[derive(Clone, Debug)]
pub struct NodeSim {
    pub nodegroup: String,
    pub minor: String,
    pub release: String,
    pub boot_at_ms: u64,
    /// Readiness last written to the Node object.
    pub reported_ready: Option<bool>,
    /// `spec.unschedulable` as its kubelet last saw it.
    pub cordoned: bool,
    pub used_cpu: u64,
    pub used_memory: u64,
    pub used_pods: u32,
    pub cpu: u64,
    pub memory: u64,
    pub max_pods: u32,
    pub pulled: HashSet<String>,
    /// Uids of the pods bound here.
    pub pods: BTreeSet<String>,
}

/// Kubelet-side state of a bound pod.
#[derive(Clone, Debug)]
pub struct PodSim {
    pub ns: String,
    pub name: String,
    pub node: String,
    pub cpu: u64,
    pub memory: u64,
    /// The first container's image.
    pub image: String,
    pub role: PodRole,
    /// Owned by a DaemonSet (drains leave it; its loss wakes the controller).
    pub daemon: bool,
    /// When the scheduler (or its creator) bound it.
    pub bound_ms: u64,
    /// Deleted (in its grace period, or held by a finalizer).
    pub terminating: bool,
    /// When its containers will have stopped after a graceful delete; the
    /// kubelet then removes the pod.
    pub stop_at_ms: Option<u64>,
    /// When the containers are up (None while the image cannot be pulled).
    pub ready_at_ms: Option<u64>,
    pub pull_retry_at_ms: Option<u64>,
    /// What the kubelet reports (None before its first visit).
    pub status: Option<PodStatus>,
    /// Whether the pod's JSON shows `status` yet.
    pub published: bool,
}

/// What a pod is to its node's kubelet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodRole {
    App,
    /// A networking add-on (aws-node of vpc-cni, kube-proxy): it runs in the
    /// host network and crash-loops on a kubelet its version does not support.
    Network(&'static str),
    /// Another host-network add-on (the EBS CSI node plugin).
    HostNetwork,
}

impl PodRole {
    fn of(pod: &Value) -> PodRole {
        if pod["metadata"]["namespace"] != "kube-system" {
            return PodRole::App;
        }
        match pod["metadata"]["labels"]["k8s-app"].as_str() {
            Some("aws-node") => PodRole::Network("vpc-cni"),
            Some("kube-proxy") => PodRole::Network("kube-proxy"),
            Some("ebs-csi-node") => PodRole::HostNetwork,
            _ => PodRole::App,
        }
    }

    pub fn host_network(self) -> bool {
        self != PodRole::App
    }
}

/// What the kubelet needs to know about a pod it starts.
#[derive(Clone, Debug)]
pub struct BoundPod {
    pub uid: String,
    pub ns: String,
    pub name: String,
    pub node: String,
    pub requests: (u64, u64),
    pub image: String,
    pub role: PodRole,
    pub daemon: bool,
}

impl BoundPod {
    /// A pod about to run on `node`, read from its JSON.
    pub fn of(pod: &Value, node: &str) -> BoundPod {
        BoundPod {
            uid: meta_str(pod, "uid").to_string(),
            ns: meta_str(pod, "namespace").to_string(),
            name: meta_str(pod, "name").to_string(),
            node: node.to_string(),
            requests: objects::pod_requests(pod),
            image: objects::first_image(pod).to_string(),
            role: PodRole::of(pod),
            daemon: objects::controller_of(pod).is_some_and(|(kind, _, _)| kind == "DaemonSet"),
        }
    }
}

/// Docker Hub's anonymous pull limit, per simulated 6-hour window.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub docker_limit: Option<u32>,
    pub window_start_ms: u64,
    pub pulls: u32,
}

pub const SIX_HOURS_MS: u64 = 6 * 3600 * 1000;

impl Registry {
    /// Count a pull of `image`; false when Docker Hub would answer 429.
    pub fn pull(&mut self, image: &str, now: u64) -> bool {
        let Some(limit) = self.docker_limit else {
            return true;
        };
        if !objects::is_docker_hub(image) {
            return true;
        }
        if now >= self.window_start_ms + SIX_HOURS_MS {
            self.window_start_ms = now - (now - self.window_start_ms) % SIX_HOURS_MS;
            self.pulls = 0;
        }
        if self.pulls >= limit {
            return false;
        }
        self.pulls += 1;
        true
    }
}

/// What the world records about a pod as it is created.
struct NewPod {
    key: (String, String),
    meta: PodMeta,
    /// Its node is empty until the scheduler binds it.
    run: BoundPod,
}

impl NewPod {
    fn of(pod: &Value) -> NewPod {
        let (key, meta) = pod_meta(pod, None);
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
        NewPod {
            key,
            meta,
            run: BoundPod::of(pod, node),
        }
    }
}

/// A pod's key and what the controllers index about it; `status` is the
/// kubelet's typed report when there is one (the JSON may lag behind it).
fn pod_meta(pod: &Value, status: Option<&PodStatus>) -> ((String, String), PodMeta) {
    let key = (
        meta_str(pod, "namespace").to_string(),
        meta_str(pod, "name").to_string(),
    );
    let meta = PodMeta {
        uid: meta_str(pod, "uid").to_string(),
        owner: objects::controller_of(pod).map(|(_, _, uid)| uid.to_string()),
        ready: status.map_or_else(|| objects::pod_ready(pod), |s| s.ready),
        terminating: objects::is_terminating(pod),
    };
    (key, meta)
}

pub struct World {
    pub now_ms: u64,
    /// Unix milliseconds at simulated time zero (for timestamps only).
    pub epoch_ms: i64,
    pub rng: ChaCha8Rng,
    pub cluster: Cluster,
    pub nodegroups: IndexMap<String, Nodegroup>,
    pub addons: IndexMap<String, Addon>,
    pub catalog: Catalog,
    pub updates: Vec<Update>,
    /// EKS resource tags by ARN (cluster, nodegroups, add-ons).
    pub tags: BTreeMap<String, BTreeMap<String, String>>,
    pub kube: Store,
    pub nodes: FastMap<String, NodeSim>,
    /// Bound pods by uid.
    pub pods: FastMap<String, PodSim>,
    /// Uids of bound pods whose kubelet status is not in their JSON yet.
    pub unpublished: Vec<String>,
    /// Pods without a node by (namespace, name), with what binding needs.
    pub unscheduled: BTreeMap<(String, String), BoundPod>,
    pub registry: Registry,
    pub deprecated_apis: Vec<DeprecatedApiSpec>,
    pub pdb_specs: Vec<PdbSpec>,
    /// Set when pods, nodes or workloads changed: controllers must run.
    pub dirty: bool,
    /// Set when nodes come or go or a DaemonSet (or one of its pods)
    /// changed: the DaemonSet controller must look at every node.
    pub daemonsets_dirty: bool,
    /// Every pod's owner and readiness, and pods and counts by owner.
    pub pod_index: PodIndex,
    /// The pods each PodDisruptionBudget selects.
    pub budget_index: BudgetIndex,
    /// Deployment uid -> (generation, pod-template hash).
    pub template_hashes: HashMap<String, (u64, String)>,
    /// Simulated times at which something is due, in order.
    pub timers: BTreeSet<(u64, Timer)>,
    /// Bumped whenever an add-on version changes (nodes re-check networking).
    pub addons_changed: bool,
    /// Events recorded by the simulated components.
    pub events: events::Events,
}

impl World {
    pub fn ts(&self, ms: u64) -> String {
        objects::timestamp(self.epoch_ms, ms)
    }

    pub fn now_ts(&self) -> String {
        self.ts(self.now_ms)
    }

    pub fn uid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
            (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
            u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
        )
    }

    /// Kubernetes-style random suffix (no vowels, as the apiserver does).
    pub fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// Run `timer` at `at_ms`: now if already due, else rounded up to the
    /// simulation's tick grid so many pods starting together are handled in
    /// one step.
    pub fn schedule(&mut self, at_ms: u64, timer: Timer) {
        let at = if at_ms <= self.now_ms {
            self.now_ms
        } else {
            at_ms.div_ceil(TICK_MS) * TICK_MS
        };
        self.timers.insert((at, timer));
    }

    /// The simple create path for objects the simulation makes: fills uid
    /// and creationTimestamp, stores it and reports it to `observe`.
    pub fn create(&mut self, resource: &'static str, mut obj: Value) {
        if meta_str(&obj, "uid").is_empty() {
            obj["metadata"]["uid"] = Value::String(self.uid());
        }
        if meta_str(&obj, "creationTimestamp").is_empty() {
            obj["metadata"]["creationTimestamp"] = Value::String(self.now_ts());
        }
        let (ns, name) = (
            meta_str(&obj, "namespace").to_string(),
            meta_str(&obj, "name").to_string(),
        );
        // What the simulation builds has the shape the model expects.
        if self.kube.insert_quiet(resource, obj).is_ok() {
            self.observe(resource, &ns, &name, Change::Created);
        }
    }

    /// Record a pod's resource use on its node and start its containers.
    pub fn account_bind(&mut self, pod: BoundPod) {
        let (cpu, memory) = pod.requests;
        if let Some(n) = self.nodes.get_mut(&pod.node) {
            n.used_cpu += cpu;
            n.used_memory += memory;
            n.used_pods += 1;
            n.pods.insert(pod.uid.clone());
        }
        self.schedule(self.now_ms, Timer::Pod(pod.uid.clone()));
        self.unpublished.push(pod.uid.clone());
        self.pods.insert(
            pod.uid,
            PodSim {
                ns: pod.ns,
                name: pod.name,
                node: pod.node,
                cpu,
                memory,
                image: pod.image,
                role: pod.role,
                daemon: pod.daemon,
                bound_ms: self.now_ms,
                terminating: false,
                stop_at_ms: None,
                ready_at_ms: None,
                pull_retry_at_ms: Some(self.now_ms),
                status: None,
                published: false,
            },
        );
    }

    /// The kubelet reports a new status for a bound pod: the simulation
    /// sees it at once, clients once it is published.
    pub fn report_pod_status(&mut self, uid: &str, status: PodStatus) {
        let Some(sim) = self.pods.get_mut(uid) else {
            return;
        };
        let ready_may_change = sim.status.is_none_or(|s| s.ready != status.ready);
        sim.status = Some(status);
        if std::mem::replace(&mut sim.published, false) {
            self.unpublished.push(uid.to_string());
        }
        if ready_may_change {
            let (ns, name) = (sim.ns.clone(), sim.name.clone());
            self.observe("pods", &ns, &name, Change::Ready(status.ready));
        }
    }

    /// Bring what clients read up to date: pod statuses and events.
    pub fn publish(&mut self) {
        self.publish_pod_statuses();
        self.publish_events();
    }

    /// Write every kubelet status not yet in its pod's JSON. Called before
    /// anything outside the simulation reads pods, and after every advance
    /// while a watch is open, so no client can tell statuses were deferred.
    pub fn publish_pod_statuses(&mut self) {
        for uid in std::mem::take(&mut self.unpublished) {
            self.publish_pod_status(&uid);
        }
    }

    fn publish_pod_status(&mut self, uid: &str) {
        let Some(sim) = self.pods.get_mut(uid) else {
            return;
        };
        if std::mem::replace(&mut sim.published, true) {
            return;
        }
        let Some(status) = sim.status else {
            // Bound, not yet seen by its kubelet.
            let since = objects::timestamp(self.epoch_ms, sim.bound_ms);
            self.kube.modify("pods", &sim.ns, &sim.name, |p| {
                p["status"]["conditions"] = serde_json::json!([
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": since}
                ]);
                true
            });
            return;
        };
        let host_ip = self
            .kube
            .record("nodes", "", &sim.node)
            .and_then(|n| n.extra["status"]["addresses"][0]["address"].as_str())
            .unwrap_or("10.0.0.1")
            .to_string();
        let pod_ip = pod_status::pod_ip(&sim.name, &sim.ns);
        let epoch = self.epoch_ms;
        self.kube.modify("pods", &sim.ns, &sim.name, |p| {
            status.render(p, &host_ip, &pod_ip, epoch);
            true
        });
    }

    /// A pod's phase and readiness as the kubelet last reported them.
    pub fn pod_condition<'a>(&'a self, pod: &'a Value) -> (&'a str, bool) {
        match self.pods.get(meta_str(pod, "uid")).and_then(|s| s.status) {
            Some(s) => (s.phase(), s.ready),
            None => (
                pod["status"]["phase"].as_str().unwrap_or(""),
                objects::pod_ready(pod),
            ),
        }
    }

    /// A pod's IP, once it has one.
    pub fn pod_ip<'a>(&self, pod: &'a Value) -> Option<std::borrow::Cow<'a, str>> {
        match self.pods.get(meta_str(pod, "uid")).and_then(|s| s.status) {
            Some(s) => s.has_ip.then(|| {
                pod_status::pod_ip(meta_str(pod, "name"), meta_str(pod, "namespace")).into()
            }),
            None => pod["status"]["podIP"].as_str().map(Into::into),
        }
    }

    /// Delete an object as the API server does: a pod on a node gets its
    /// grace period (`spec.terminationGracePeriodSeconds`), others go now.
    pub fn delete(&mut self, resource: &'static str, ns: &str, name: &str) -> Option<Value> {
        if resource == "pods" {
            return self.delete_pod(ns, name, None);
        }
        self.delete_now(resource, ns, name)
    }

    /// Delete a pod with `grace` seconds (None: the pod's own period). A pod
    /// its kubelet runs gets a deletionTimestamp at the end of the period and
    /// stays, Terminating, until its containers stop (preStop hook, then
    /// SIGTERM); the kubelet then removes it. A pod on no node, or a grace of
    /// 0 (`--force`), goes at once. A second delete may only shorten the wait.
    pub fn delete_pod(&mut self, ns: &str, name: &str, grace: Option<u64>) -> Option<Value> {
        let pod = self.kube.untyped("pods", ns, name)?;
        let uid = meta_str(pod, "uid").to_string();
        let grace_s = grace.unwrap_or_else(|| objects::grace_period_s(pod));
        let Some(sim) = self.pods.get(&uid).filter(|_| grace_s > 0) else {
            return self.delete_now("pods", ns, name);
        };
        let now = self.now_ms;
        let stop_at = now + objects::stop_ms(pod).min(grace_s * 1000);
        if sim.stop_at_ms.is_some_and(|t| t <= stop_at) {
            return Some(pod.clone());
        }
        let first = sim.stop_at_ms.is_none();
        let deadline = self.ts(now + grace_s * 1000);
        self.kube.modify("pods", ns, name, |p| {
            p["metadata"]["deletionTimestamp"] = Value::String(deadline);
            p["metadata"]["deletionGracePeriodSeconds"] = Value::from(grace_s);
            true
        });
        if let Some(sim) = self.pods.get_mut(&uid) {
            sim.stop_at_ms = Some(stop_at);
        }
        self.observe("pods", ns, name, Change::Terminating);
        self.timers.insert((stop_at, Timer::Pod(uid)));
        let pod = self.kube.untyped("pods", ns, name)?;
        if first {
            let subject = events::Subject::of(pod, "Pod", "v1");
            for (container, _) in objects::container_names(pod) {
                self.event(
                    subject.clone(),
                    false,
                    "Killing",
                    format!("Stopping container {container}"),
                    "kubelet",
                );
            }
        }
        self.kube.untyped("pods", ns, name).cloned()
    }

    /// Remove an object now and undo its bookkeeping. Objects with
    /// finalizers only get a deletionTimestamp (they stay Terminating).
    pub fn delete_now(&mut self, resource: &'static str, ns: &str, name: &str) -> Option<Value> {
        if resource == "namespaces" {
            return self.terminate_namespace(name);
        }
        let obj = self.kube.record(resource, ns, name)?;
        let obj = &obj.extra;
        let has_finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            let now = self.now_ts();
            self.kube.modify(resource, ns, name, |o| {
                if o["metadata"]["deletionTimestamp"].is_null() {
                    o["metadata"]["deletionTimestamp"] = Value::String(now);
                    true
                } else {
                    false
                }
            });
            self.observe(resource, ns, name, Change::Updated);
            return self.kube.get(resource, ns, name).map(Cow::into_owned);
        }
        if resource == "pods" && self.kube.recording() {
            // The DELETED event carries the pod as the kubelet last saw it.
            let uid = meta_str(obj, "uid").to_string();
            self.publish_pod_status(&uid);
        }
        let obj = self.kube.remove(resource, ns, name)?;
        self.observe(resource, ns, name, Change::Deleted(&obj));
        Some(obj)
    }

    /// Whether a deleted pod's containers are still stopping.
    fn stopping(&self, pod: &Value) -> bool {
        self.pods
            .get(meta_str(pod, "uid"))
            .and_then(|s| s.stop_at_ms)
            .is_some_and(|t| t > self.now_ms)
    }

    /// A namespace is only marked Terminating: the namespace controller
    /// (`sim::deletion`) empties it, then removes it.
    fn terminate_namespace(&mut self, name: &str) -> Option<Value> {
        let now = self.now_ts();
        self.kube.modify("namespaces", "", name, |ns| {
            if !ns["metadata"]["deletionTimestamp"].is_null() {
                return false;
            }
            ns["metadata"]["deletionTimestamp"] = Value::String(now);
            ns["status"]["phase"] = Value::String("Terminating".into());
            true
        });
        self.observe("namespaces", "", name, Change::Updated);
        self.kube.untyped("namespaces", "", name).cloned()
    }

    /// Called after an API client created an object.
    pub fn after_create(&mut self, resource: &str, obj: &Value) {
        let (ns, name) = (meta_str(obj, "namespace"), meta_str(obj, "name"));
        self.observe(resource, ns, name, Change::Created);
    }

    /// Called after an API client replaced or patched an object.
    pub fn after_update(&mut self, resource: &'static str, ns: &str, name: &str) {
        self.observe(resource, ns, name, Change::Updated);
        let Some(obj) = self.kube.record(resource, ns, name) else {
            return;
        };
        let obj = &obj.extra;
        // An object being deleted whose last finalizer was removed goes away
        // (a pod once its containers have stopped).
        let terminating = !obj["metadata"]["deletionTimestamp"].is_null();
        let no_finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
        if terminating && no_finalizers && !(resource == "pods" && self.stopping(obj)) {
            self.delete_now(resource, ns, name);
        }
    }

    /// Record a core/v1 Event, as the kubelet, scheduler or a controller
    /// would. Events about the world being built are not kept: on a real
    /// cluster they would have expired long ago.
    pub fn event(
        &mut self,
        subject: events::Subject,
        warning: bool,
        reason: &'static str,
        message: String,
        component: &'static str,
    ) {
        if self.kube.is_quiet() {
            return;
        }
        self.events.record(events::Event {
            at_ms: self.now_ms,
            warning,
            reason,
            message,
            component,
            subject,
        });
    }

    /// Write recorded events into the store (before clients read).
    pub fn publish_events(&mut self) {
        if self.events.has_pending() {
            self.events
                .publish(&mut self.kube, self.epoch_ms, self.now_ms);
        }
    }

    pub fn addon_version(&self, name: &str) -> Option<&str> {
        self.addons.get(name).map(|a| a.version.as_str())
    }

    /// Whether pod networking comes up on a kubelet `minor`: the installed
    /// VPC CNI must support it, or aws-node crash-loops and the node stays
    /// NotReady (seed 001). kube-proxy does not decide readiness.
    pub fn network_supports(&self, minor: &str) -> bool {
        self.addon_version("vpc-cni")
            .is_none_or(|v| self.catalog.supports("vpc-cni", v, minor))
    }

    /// Whether the installed kube-proxy is within the version-skew policy on
    /// a kubelet `minor`: no newer than the API server, at most three minors
    /// older than it, and within three minors of the kubelet. Outside it,
    /// Service traffic from that node breaks while the node stays Ready.
    pub fn kube_proxy_in_skew(&self, kubelet_minor: &str) -> bool {
        let Some(kp) = self.addon_version("kube-proxy") else {
            return true;
        };
        let (Some(proxy), Some(api), Some(kubelet)) = (
            catalog::minor_number(kp),
            catalog::minor_number(&self.cluster.version),
            catalog::minor_number(kubelet_minor),
        ) else {
            return true;
        };
        (0..=3).contains(&(api - proxy)) && (proxy - kubelet).abs() <= 3
    }
}
