//! The one place where the world's indexes and dirty flags follow its
//! objects: every create, update, delete, graceful termination and readiness
//! change, from an API client or the simulation, is reported here once,
//! after the store holds the new state. Nothing else writes `pod_index`,
//! `budget_index`, `unscheduled`, the kubelet bookkeeping of bound pods, or
//! the `dirty`/`daemonsets_dirty` flags for an object change.

use serde_json::Value;

use super::events;
use super::{NewPod, World, objects, pod_meta};
use crate::sandbox::kube::store::meta_str;

/// What happened to an object (already applied to the store).
pub enum Change<'a> {
    Created,
    /// Replaced or patched; anything may have changed.
    Updated,
    /// A pod's graceful deletion began (its deletionTimestamp is set).
    Terminating,
    /// The kubelet reports a pod's readiness (its JSON may lag).
    Ready(bool),
    /// Removed from the store; the object as it was.
    Deleted(&'a Value),
}

impl World {
    pub fn observe(&mut self, resource: &str, ns: &str, name: &str, change: Change) {
        // Controllers must run; the DaemonSet controller looks at every node
        // when nodes or DaemonSets change.
        let mut dirty = true;
        if matches!(resource, "nodes" | "daemonsets") && !matches!(change, Change::Ready(_)) {
            self.daemonsets_dirty = true;
        }
        match (resource, change) {
            ("pods", Change::Created) => {
                let Some(obj) = self.kube.untyped("pods", ns, name) else {
                    return;
                };
                self.budget_index
                    .pod_labels(ns, name, &obj["metadata"]["labels"]);
                let pod = NewPod::of(obj);
                if pod.run.node.is_empty() {
                    self.unscheduled.insert(pod.key.clone(), pod.run);
                } else {
                    self.account_bind(pod.run);
                }
                self.pod_index.set(pod.key, pod.meta);
            }
            ("pods", Change::Updated) => {
                let Some(obj) = self.kube.untyped("pods", ns, name) else {
                    return;
                };
                self.budget_index
                    .pod_labels(ns, name, &obj["metadata"]["labels"]);
                let sim = self.pods.get_mut(meta_str(obj, "uid"));
                let (key, meta) = pod_meta(obj, sim.as_ref().and_then(|s| s.status.as_ref()));
                if let Some(sim) = sim {
                    sim.terminating = meta.terminating;
                }
                self.pod_index.set(key, meta);
            }
            ("pods", Change::Terminating) => {
                let uid = self
                    .kube
                    .untyped("pods", ns, name)
                    .map(|p| meta_str(p, "uid"));
                if let Some(sim) = uid.and_then(|u| self.pods.get_mut(u)) {
                    sim.terminating = true;
                }
                self.pod_index.set_terminating(ns, name);
            }
            ("pods", Change::Ready(ready)) => {
                // Workload and budget status depend on readiness.
                dirty = self.pod_index.set_ready(ns, name, ready);
            }
            ("pods", Change::Deleted(obj)) => {
                self.budget_index.pod_removed(ns, name);
                self.pod_index.remove(ns, name);
                match self.pods.remove(meta_str(obj, "uid")) {
                    Some(p) => {
                        self.daemonsets_dirty |= p.daemon;
                        if let Some(n) = self.nodes.get_mut(&p.node) {
                            n.used_cpu = n.used_cpu.saturating_sub(p.cpu);
                            n.used_memory = n.used_memory.saturating_sub(p.memory);
                            n.used_pods = n.used_pods.saturating_sub(1);
                            n.pods.remove(meta_str(obj, "uid"));
                        }
                    }
                    // Only pods not bound yet wait for the scheduler.
                    None => {
                        self.daemonsets_dirty |= objects::controller_of(obj)
                            .is_some_and(|(kind, _, _)| kind == "DaemonSet");
                        self.unscheduled.remove(&(ns.to_string(), name.to_string()));
                    }
                }
            }
            ("poddisruptionbudgets", Change::Created | Change::Updated) => {
                if let Some(obj) = self.kube.untyped("poddisruptionbudgets", ns, name) {
                    let pods = self
                        .kube
                        .list_untyped("pods", Some(ns))
                        .map(|((_, pod), p)| (pod, &p["metadata"]["labels"]));
                    self.budget_index
                        .set_budget(ns, name, &obj["spec"]["selector"], pods);
                }
            }
            ("poddisruptionbudgets", Change::Deleted(_)) => {
                self.budget_index.remove_budget(ns, name);
            }
            ("namespaces", Change::Created) => self.default_service_account(name),
            ("nodes", Change::Updated) => self.cordon_changed(name),
            ("nodes", Change::Deleted(_)) => {
                self.nodes.remove(name);
            }
            _ => {}
        }
        self.dirty |= dirty;
    }

    /// The service account controller: every namespace has `default`.
    fn default_service_account(&mut self, ns: &str) {
        if self.kube.contains("serviceaccounts", ns, "default") {
            return;
        }
        let sa = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns},
        });
        self.create("serviceaccounts", sa);
    }

    /// After a node's `spec.unschedulable` may have changed (a cordon or
    /// uncordon): its kubelet records NodeNotSchedulable or NodeSchedulable.
    pub fn cordon_changed(&mut self, name: &str) {
        let Some(node) = self.kube.record("nodes", "", name) else {
            return;
        };
        let cordoned = node.node().is_some_and(|n| n.unschedulable);
        let subject = events::Subject::of(&node.extra, "Node", "v1");
        let Some(sim) = self.nodes.get_mut(name) else {
            return;
        };
        if std::mem::replace(&mut sim.cordoned, cordoned) == cordoned {
            return;
        }
        let status = if cordoned {
            "NodeNotSchedulable"
        } else {
            "NodeSchedulable"
        };
        let message = format!("Node {name} status is now: {status}");
        self.event(subject, false, status, message, "kubelet");
    }
}
