//! Building the initial world from a fixture: EKS resources, nodes, system
//! add-on workloads and the fixture's workloads, then one instant simulation
//! step so the cluster starts out settled (nodes Ready, pods Running).

use indexmap::IndexMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::addons::{self, Addon};
use super::catalog::previous_minor;
use super::catalog::{AddonVersion, Catalog, default_release_version};
use super::cluster::{Cluster, InPlaceUpgrade};
use super::instance_types;
use super::nodegroups::{Nodegroup, Taint};
use super::objects::{self, labels_json, pod_template};
use super::quantity::{parse_cpu, parse_memory};
use super::{Registry, World};
use crate::sandbox::fixture::{Fixture, IntOrPercent, PdbSpec, TolerationSpec};
use crate::sandbox::sim;

impl World {
    pub fn from_fixture(fixture: &Fixture, seed: u64, epoch_ms: i64) -> World {
        let spec = &fixture.spec;
        let mut catalog = Catalog::builtin();
        for e in &spec.catalog {
            catalog.upsert(
                &e.addon,
                AddonVersion {
                    version: e.version.clone(),
                    compatible: e.compatible.clone(),
                    default_for: e.default_for.clone(),
                },
            );
        }
        let c = &spec.cluster;
        let mut world = World {
            now_ms: 0,
            epoch_ms,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cluster: Cluster {
                name: c.name.clone(),
                region: c.region.clone(),
                version: c.version.clone(),
                platform_version: c.platform_version.clone(),
                status: "ACTIVE",
                created_ms: 0,
                created_version: c
                    .created_version
                    .clone()
                    .unwrap_or_else(|| c.version.clone()),
                upgraded: c
                    .created_version
                    .as_ref()
                    .filter(|v| **v != c.version)
                    .and_then(|_| previous_minor(&c.version))
                    .map(|from| InPlaceUpgrade {
                        from,
                        to: c.version.clone(),
                        completed_ms: 0,
                    }),
            },
            nodegroups: IndexMap::new(),
            addons: IndexMap::new(),
            catalog,
            updates: Vec::new(),
            tags: Default::default(),
            kube: Default::default(),
            nodes: Default::default(),
            pods: Default::default(),
            unpublished: Vec::new(),
            unscheduled: Default::default(),
            registry: Registry {
                docker_limit: spec.registry.docker_hub.as_ref().map(|d| d.pulls_per_6h),
                ..Default::default()
            },
            deprecated_apis: spec.deprecated_apis.clone(),
            pdb_specs: spec.workloads.pdbs.clone(),
            dirty: true,
            daemonsets_dirty: true,
            template_hashes: Default::default(),
            pod_index: Default::default(),
            budget_index: Default::default(),
            timers: Default::default(),
            addons_changed: false,
            events: Default::default(),
        };
        world.kube.set_quiet(true);
        let created = world.now_ts();
        let mut namespaces: Vec<String> =
            ["default", "kube-system", "kube-public", "kube-node-lease"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let w = &spec.workloads;
        let used = w
            .namespaces
            .iter()
            .chain(w.deployments.iter().map(|d| &d.namespace))
            .chain(w.daemon_sets.iter().map(|d| &d.namespace))
            .chain(w.stateful_sets.iter().map(|d| &d.namespace))
            .chain(w.pods.iter().map(|d| &d.namespace))
            .chain(w.pdbs.iter().map(|d| &d.namespace));
        for ns in used {
            if !namespaces.contains(ns) {
                namespaces.push(ns.clone());
            }
        }
        for ns in &namespaces {
            world.create("namespaces", objects::namespace(ns, &created));
        }

        for ng in &spec.nodegroups {
            let (cpu, mem, pods) = match &ng.capacity {
                Some(cap) => (
                    parse_cpu(&cap.cpu).unwrap_or(2000),
                    parse_memory(&cap.memory).unwrap_or(8 << 30),
                    cap.pods,
                ),
                None => {
                    let t = instance_types::lookup(&ng.instance_type)
                        .or_else(|| instance_types::lookup("m5.large"))
                        .expect("m5.large is in the table");
                    (t.cpu_milli, t.memory_bytes, t.pods)
                }
            };
            let version = ng.version.clone().unwrap_or_else(|| c.version.clone());
            let release = ng
                .release_version
                .clone()
                .unwrap_or_else(|| default_release_version(&version));
            world.nodegroups.insert(
                ng.name.clone(),
                Nodegroup {
                    name: ng.name.clone(),
                    version: version.clone(),
                    release_version: release.clone(),
                    instance_type: ng.instance_type.clone(),
                    cpu_milli: cpu,
                    memory_bytes: mem,
                    max_pods: pods,
                    min_size: ng.min_size,
                    max_size: ng.max_size,
                    desired_size: ng.desired_size,
                    max_unavailable: ng.max_unavailable,
                    max_unavailable_percentage: None,
                    labels: ng.labels.clone(),
                    taints: ng
                        .taints
                        .iter()
                        .map(|t| Taint {
                            key: t.key.clone(),
                            value: t.value.clone(),
                            effect: t.effect.clone(),
                        })
                        .collect(),
                    status: "ACTIVE",
                    created_ms: 0,
                    modified_ms: 0,
                    rollout: None,
                },
            );
            for _ in 0..ng.desired_size {
                sim::nodes::launch_node(&mut world, &ng.name, &version, &release);
            }
        }

        for (name, version) in &spec.addons {
            world.addons.insert(
                name.clone(),
                Addon {
                    name: name.clone(),
                    version: version.clone(),
                    status: "ACTIVE",
                    created_ms: 0,
                    modified_ms: 0,
                    pending: None,
                },
            );
            install_addon_workload(&mut world, name, version);
        }

        for d in &w.deployments {
            let labels = default_labels(&d.labels, &d.name);
            let mut t = pod_template(
                &labels,
                &d.name,
                &d.image,
                &d.requests.cpu,
                &d.requests.memory,
            );
            if !d.node_selector.is_empty() {
                t["spec"]["nodeSelector"] = labels_json(&d.node_selector);
            }
            if !d.tolerations.is_empty() {
                t["spec"]["tolerations"] = tolerations(&d.tolerations);
            }
            termination(
                &mut t,
                d.pre_stop_seconds,
                d.termination_grace_period_seconds,
            );
            if d.empty_dir {
                t["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
                t["spec"]["containers"][0]["volumeMounts"] =
                    json!([{"name": "scratch", "mountPath": "/scratch"}]);
            }
            create_deployment(&mut world, &d.namespace, &d.name, d.replicas, &labels, t);
            if let Some(port) = d.service_port {
                create_service(&mut world, &d.namespace, &d.name, &labels, port);
            }
        }
        for d in &w.daemon_sets {
            let labels = default_labels(&d.labels, &d.name);
            let t = pod_template(
                &labels,
                &d.name,
                &d.image,
                &d.requests.cpu,
                &d.requests.memory,
            );
            create_daemonset(&mut world, &d.namespace, &d.name, &labels, t);
        }
        for s in &w.stateful_sets {
            let labels = default_labels(&s.labels, &s.name);
            let t = pod_template(
                &labels,
                &s.name,
                &s.image,
                &s.requests.cpu,
                &s.requests.memory,
            );
            let mut t = t;
            termination(
                &mut t,
                s.pre_stop_seconds,
                s.termination_grace_period_seconds,
            );
            let mut obj = json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": s.name, "namespace": s.namespace, "labels": labels_json(&labels), "generation": 1},
                "spec": {
                    "replicas": s.replicas,
                    "serviceName": s.name,
                    "selector": {"matchLabels": labels_json(&labels)},
                    "template": t,
                    "podManagementPolicy": "OrderedReady",
                    "updateStrategy": {"type": "RollingUpdate"},
                    "volumeClaimTemplates": [{
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": "gp2",
                            "resources": {"requests": {"storage": s.volume_size}},
                        },
                    }],
                },
                "status": {"replicas": 0},
            });
            if s.stuck_pvc_finalizer {
                obj["metadata"]["annotations"] =
                    json!({"sandbox.runbook.dev/stuck-pvc-finalizer": "true"});
            }
            obj["spec"]["template"]["spec"]["volumes"] =
                json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]);
            world.create("statefulsets", obj);
            if let Some(port) = s.service_port {
                create_service(&mut world, &s.namespace, &s.name, &labels, port);
            }
        }
        for p in &w.pods {
            let labels = default_labels(&p.labels, &p.name);
            let mut t = pod_template(
                &labels,
                &p.name,
                &p.image,
                &p.requests.cpu,
                &p.requests.memory,
            );
            termination(
                &mut t,
                p.pre_stop_seconds,
                p.termination_grace_period_seconds,
            );
            if let Some(node) = &p.node {
                t["spec"]["nodeName"] = json!(node);
            }
            let pod = objects::pod_from_template(&p.namespace, &p.name, &t, Value::Null, &created);
            world.create("pods", pod);
        }
        for pdb in spec.workloads.pdbs.iter().filter(|p| p.enabled) {
            let obj = pdb_object(pdb);
            world.create("poddisruptionbudgets", obj);
        }
        sim::settle(&mut world);
        world.publish_pod_statuses();
        world.kube.set_quiet(false);
        world
    }
}

/// A fixture's preStop delay and grace period, written into a pod template.
fn termination(template: &mut Value, pre_stop_s: Option<u64>, grace_s: Option<u64>) {
    if let Some(s) = pre_stop_s {
        template["spec"]["containers"][0]["lifecycle"] =
            json!({"preStop": {"exec": {"command": ["/bin/sh", "-c", format!("sleep {s}")]}}});
    }
    if let Some(g) = grace_s {
        template["spec"]["terminationGracePeriodSeconds"] = json!(g);
    }
}

fn default_labels(labels: &IndexMap<String, String>, name: &str) -> IndexMap<String, String> {
    if labels.is_empty() {
        IndexMap::from([("app".to_string(), name.to_string())])
    } else {
        labels.clone()
    }
}

fn tolerations(ts: &[TolerationSpec]) -> Value {
    Value::Array(
        ts.iter()
            .map(|t| {
                let mut v = json!({});
                if let Some(k) = &t.key {
                    v["key"] = json!(k);
                }
                v["operator"] = json!(t.operator.clone().unwrap_or_else(|| "Equal".into()));
                if let Some(x) = &t.value {
                    v["value"] = json!(x);
                }
                if let Some(e) = &t.effect {
                    v["effect"] = json!(e);
                }
                v
            })
            .collect(),
    )
}

/// A ClusterIP Service selecting a workload's pods; the endpoints
/// controller keeps its Endpoints in step with pod readiness.
fn create_service(
    world: &mut World,
    ns: &str,
    name: &str,
    labels: &IndexMap<String, String>,
    port: u16,
) {
    let n = world.kube.count("services") as u32 + 10;
    let ip = format!("172.20.{}.{}", n / 250, n % 250 + 1);
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels_json(labels)},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "selector": labels_json(labels),
            "ports": [{"port": port, "targetPort": port, "protocol": "TCP"}],
            "sessionAffinity": "None",
        },
        "status": {"loadBalancer": {}},
    });
    world.create("services", obj);
}

pub fn pdb_object(p: &PdbSpec) -> Value {
    let to_json = |v: &IntOrPercent| match v {
        IntOrPercent::Int(i) => json!(i),
        IntOrPercent::Str(s) => json!(s),
    };
    let mut spec = json!({"selector": {"matchLabels": labels_json(&p.selector)}});
    if let Some(v) = &p.min_available {
        spec["minAvailable"] = to_json(v);
    }
    if let Some(v) = &p.max_unavailable {
        spec["maxUnavailable"] = to_json(v);
    }
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": p.name, "namespace": p.namespace, "generation": 1},
        "spec": spec,
        "status": {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0, "observedGeneration": 1},
    })
}

pub fn create_deployment(
    world: &mut World,
    ns: &str,
    name: &str,
    replicas: u32,
    labels: &IndexMap<String, String>,
    template: Value,
) {
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels_json(labels), "generation": 1,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels_json(labels)},
            "template": template,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {"replicas": 0},
    });
    world.create("deployments", obj);
}

pub fn create_daemonset(
    world: &mut World,
    ns: &str,
    name: &str,
    labels: &IndexMap<String, String>,
    mut template: Value,
) {
    // DaemonSet pods tolerate node conditions and cordons, as the controller
    // adds these tolerations itself.
    template["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": ns, "labels": labels_json(labels), "generation": 1},
        "spec": {
            "selector": {"matchLabels": labels_json(labels)},
            "template": template,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
        },
        "status": {"desiredNumberScheduled": 0, "currentNumberScheduled": 0, "numberReady": 0, "numberMisscheduled": 0},
    });
    world.create("daemonsets", obj);
}

/// The kube-system workload behind an installed add-on.
fn install_addon_workload(world: &mut World, addon: &str, version: &str) {
    let Some((kind, name, repo)) = addons::workload(addon) else {
        return;
    };
    let image = addons::image(&world.cluster.region, repo, version);
    let mut labels = IndexMap::new();
    labels.insert("k8s-app".to_string(), name.to_string());
    let t = pod_template(&labels, name, &image, "25m", "64Mi");
    if kind == "daemonsets" {
        create_daemonset(world, "kube-system", name, &labels, t);
    } else {
        create_deployment(world, "kube-system", name, 2, &labels, t);
        let pdb = PdbSpec {
            name: name.to_string(),
            namespace: "kube-system".into(),
            selector: labels.clone(),
            min_available: None,
            max_unavailable: Some(IntOrPercent::Int(1)),
            enabled: true,
        };
        world.create("poddisruptionbudgets", pdb_object(&pdb));
    }
}
