//! The whole simulated world behind one lock: the EKS view (cluster,
//! nodegroups, add-ons, updates), the Kubernetes object store, and the
//! kubelet-side bookkeeping the simulation needs.

pub mod addons;
mod bootstrap;
pub use bootstrap::pdb_object as bootstrap_pdb;
pub mod catalog;
pub mod cluster;
pub mod instance_types;
pub mod nodegroups;
pub mod objects;
pub mod pod_index;
pub mod quantity;
pub mod rollout;

use std::collections::{BTreeSet, HashMap, HashSet};

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
use catalog::Catalog;
use cluster::{Cluster, Update};
use nodegroups::Nodegroup;
use pod_index::{PodIndex, PodMeta};

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
    /// When the containers are up (None while the image cannot be pulled).
    pub ready_at_ms: Option<u64>,
    pub pull_retry_at_ms: Option<u64>,
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
    uid: String,
    node: Option<String>,
    requests: (u64, u64),
}

impl NewPod {
    fn of(pod: &Value) -> NewPod {
        let (key, meta) = pod_meta(pod);
        NewPod {
            key,
            meta,
            uid: meta_str(pod, "uid").to_string(),
            node: pod["spec"]["nodeName"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            requests: objects::pod_requests(pod),
        }
    }
}

fn pod_meta(pod: &Value) -> ((String, String), PodMeta) {
    let key = (
        meta_str(pod, "namespace").to_string(),
        meta_str(pod, "name").to_string(),
    );
    let meta = PodMeta {
        owner: objects::controller_of(pod).map(|(_, _, uid)| uid.to_string()),
        ready: objects::pod_ready(pod),
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
    pub kube: Store,
    pub nodes: FastMap<String, NodeSim>,
    /// Bound pods by uid.
    pub pods: FastMap<String, PodSim>,
    /// Pods without a node, by (namespace, name).
    pub unscheduled: BTreeSet<(String, String)>,
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
    /// Deployment uid -> (generation, pod-template hash).
    pub template_hashes: HashMap<String, (u64, String)>,
    /// Simulated times at which something is due, in order.
    pub timers: BTreeSet<(u64, Timer)>,
    /// Bumped whenever an add-on version changes (nodes re-check networking).
    pub addons_changed: bool,
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

    /// The simple create path for objects the simulation makes: fills uid,
    /// creationTimestamp and runs the pod hooks.
    pub fn create(&mut self, resource: &'static str, mut obj: Value) {
        if meta_str(&obj, "uid").is_empty() {
            obj["metadata"]["uid"] = Value::String(self.uid());
        }
        if meta_str(&obj, "creationTimestamp").is_empty() {
            obj["metadata"]["creationTimestamp"] = Value::String(self.now_ts());
        }
        let pod = (resource == "pods").then(|| NewPod::of(&obj));
        self.kube.insert_quiet(resource, obj);
        self.created(resource, pod);
    }

    /// Record (or refresh) a pod's owner and readiness.
    pub fn index_pod(&mut self, pod: &Value) {
        let (key, meta) = pod_meta(pod);
        self.pod_index.set(key, meta);
    }

    /// Set a pod's readiness in the index (the kubelet just wrote it).
    pub fn set_pod_ready(&mut self, ns: &str, name: &str, ready: bool) {
        self.pod_index.set_ready(ns, name, ready);
    }

    /// Bookkeeping for an object an API client created.
    pub fn after_create(&mut self, resource: &str, obj: &Value) {
        let pod = (resource == "pods").then(|| NewPod::of(obj));
        self.created(resource, pod);
    }

    fn created(&mut self, resource: &str, pod: Option<NewPod>) {
        self.dirty = true;
        if matches!(resource, "nodes" | "daemonsets") {
            self.daemonsets_dirty = true;
        }
        if let Some(pod) = pod {
            let (ns, name) = pod.key.clone();
            self.pod_index.set(pod.key, pod.meta);
            match pod.node {
                Some(node) => self.account_bind(&pod.uid, &ns, &name, pod.requests, &node),
                None => {
                    self.unscheduled.insert((ns, name));
                }
            }
        }
    }

    /// Record a pod's resource use on its node and start its containers.
    pub fn account_bind(
        &mut self,
        uid: &str,
        ns: &str,
        name: &str,
        (cpu, memory): (u64, u64),
        node: &str,
    ) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.used_cpu += cpu;
            n.used_memory += memory;
            n.used_pods += 1;
            n.pods.insert(uid.to_string());
        }
        self.pods.insert(
            uid.to_string(),
            PodSim {
                ns: ns.to_string(),
                name: name.to_string(),
                node: node.to_string(),
                cpu,
                memory,
                ready_at_ms: None,
                pull_retry_at_ms: Some(self.now_ms),
            },
        );
        self.schedule(self.now_ms, Timer::Pod(uid.to_string()));
    }

    /// Remove an object and undo its bookkeeping. Objects with finalizers
    /// only get a deletionTimestamp (they stay Terminating).
    pub fn delete(&mut self, resource: &'static str, ns: &str, name: &str) -> Option<Value> {
        let obj = self.kube.get(resource, ns, name)?;
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
            self.dirty = true;
            let obj = self.kube.get(resource, ns, name).cloned();
            if resource == "pods"
                && let Some(o) = &obj
            {
                self.index_pod(o);
            }
            return obj;
        }
        let obj = self.kube.remove(resource, ns, name)?;
        self.dirty = true;
        if resource == "nodes"
            || resource == "daemonsets"
            || objects::controller_of(&obj).is_some_and(|(kind, _, _)| kind == "DaemonSet")
        {
            self.daemonsets_dirty = true;
        }
        if resource == "pods" {
            self.pod_index.remove(ns, name);
            self.unscheduled.remove(&(ns.to_string(), name.to_string()));
            if let Some(p) = self.pods.remove(meta_str(&obj, "uid"))
                && let Some(n) = self.nodes.get_mut(&p.node)
            {
                n.used_cpu = n.used_cpu.saturating_sub(p.cpu);
                n.used_memory = n.used_memory.saturating_sub(p.memory);
                n.used_pods = n.used_pods.saturating_sub(1);
                n.pods.remove(meta_str(&obj, "uid"));
            }
        }
        if resource == "nodes" {
            self.nodes.remove(name);
        }
        Some(obj)
    }

    /// Called after an API client replaced or patched an object.
    pub fn after_update(&mut self, resource: &'static str, ns: &str, name: &str) {
        self.dirty = true;
        if matches!(resource, "nodes" | "daemonsets") {
            self.daemonsets_dirty = true;
        }
        let Some(obj) = self.kube.get(resource, ns, name) else {
            return;
        };
        if resource == "pods" {
            let obj = obj.clone();
            self.index_pod(&obj);
        }
        let Some(obj) = self.kube.get(resource, ns, name) else {
            return;
        };
        // An object being deleted whose last finalizer was removed goes away.
        let terminating = !obj["metadata"]["deletionTimestamp"].is_null();
        let no_finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
        if terminating && no_finalizers {
            self.delete(resource, ns, name);
        }
    }

    /// Record a core/v1 Event about an object, as the kubelet, scheduler or
    /// node controller would.
    pub fn event(
        &mut self,
        about: &Value,
        type_: &str,
        reason: &str,
        message: String,
        component: &str,
    ) {
        let ns = match meta_str(about, "namespace") {
            "" => "default".to_string(),
            ns => ns.to_string(),
        };
        let name = format!(
            "{}.{}",
            meta_str(about, "name"),
            &self.uid().replace('-', "")[..16]
        );
        let now = self.now_ts();
        let obj = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {
                "kind": about["kind"].clone(),
                "apiVersion": about["apiVersion"].clone(),
                "namespace": about["metadata"]["namespace"].clone(),
                "name": about["metadata"]["name"].clone(),
                "uid": about["metadata"]["uid"].clone(),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        // Events change nothing the controllers look at.
        let dirty = self.dirty;
        self.create("events", obj);
        self.dirty = dirty;
    }

    pub fn addon_version(&self, name: &str) -> Option<&str> {
        self.addons.get(name).map(|a| a.version.as_str())
    }

    /// Whether the installed networking add-ons support a kubelet minor.
    pub fn network_supports(&self, minor: &str) -> bool {
        ["vpc-cni", "kube-proxy"].iter().all(|addon| {
            self.addon_version(addon)
                .is_none_or(|v| self.catalog.supports(addon, v, minor))
        })
    }
}
