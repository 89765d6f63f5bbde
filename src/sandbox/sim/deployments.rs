//! The Deployment controller: one ReplicaSet per pod template, numbered by
//! revision. A template change rolls pods from the old ReplicaSets to the new
//! one within `maxSurge` and `maxUnavailable`, waiting for new pods to be
//! Ready (RollingUpdate), or stops every old pod first (Recreate). An undo
//! makes the old ReplicaSet whose template matches the new one again. Events
//! and status are what `kubectl rollout status` and `rollout history` read.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::sandbox::kube::eviction::int_or_percent;
use crate::sandbox::kube::store::meta_str;
use crate::sandbox::state::World;
use crate::sandbox::state::events::Subject;
use crate::sandbox::state::objects::{controller_of, is_terminating, owner_ref};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
const HASH_LABEL: &str = "pod-template-hash";
/// Deployment annotations a ReplicaSet does not inherit.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
];

pub fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = Sha256::digest(template.to_string().as_bytes());
    digest[..10]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A ReplicaSet the Deployment owns.
struct Set {
    name: String,
    uid: String,
    /// spec.replicas.
    replicas: i64,
    revision: u64,
    /// Live (not terminating) and Ready pods.
    live: i64,
    ready: i64,
    /// Pods of any state, terminating ones included.
    pods: i64,
}

struct Deployment {
    ns: String,
    name: String,
    uid: String,
    replicas: i64,
    generation: u64,
    recreate: bool,
    paused: bool,
    max_surge: i64,
    max_unavailable: i64,
    history_limit: usize,
}

impl Deployment {
    fn of(d: &Value) -> Deployment {
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let ru = &d["spec"]["strategy"]["rollingUpdate"];
        let pct = |v: &Value, default: &str, up: bool| {
            let v = if v.is_null() {
                json!(default)
            } else {
                v.clone()
            };
            int_or_percent(&v, replicas, up)
        };
        let max_surge = pct(&ru["maxSurge"], "25%", true);
        let mut max_unavailable = pct(&ru["maxUnavailable"], "25%", false);
        if max_surge == 0 && max_unavailable == 0 {
            // The API server rejects both being 0; the controller uses 1.
            max_unavailable = 1;
        }
        Deployment {
            ns: meta_str(d, "namespace").to_string(),
            name: meta_str(d, "name").to_string(),
            uid: meta_str(d, "uid").to_string(),
            replicas,
            generation: d["metadata"]["generation"].as_u64().unwrap_or(1),
            recreate: d["spec"]["strategy"]["type"] == "Recreate",
            paused: d["spec"]["paused"] == true,
            max_surge,
            max_unavailable: max_unavailable.min(replicas),
            history_limit: d["spec"]["revisionHistoryLimit"].as_u64().unwrap_or(10) as usize,
        }
    }
}

fn revision_of(rs: &Value) -> u64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// A template as the API server would compare it: without the hash label
/// the controller adds to its ReplicaSet, and without null fields (a client
/// that sends a typed template sends `creationTimestamp: null`).
fn comparable(template: &Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    strip(&mut t);
    t
}

/// A Deployment after its sync: its sets and the current one's name.
pub struct Synced {
    deployment: Deployment,
    sets: Vec<Set>,
    current: String,
}

/// Roll every Deployment one step; `statuses` writes their status once the
/// ReplicaSet controller has made or removed pods.
pub fn run(world: &mut World) -> Vec<Synced> {
    let deps: Vec<Deployment> = world
        .kube
        .list_untyped("deployments", None)
        .filter(|(_, d)| !is_terminating(d))
        .map(|(_, d)| Deployment::of(d))
        .collect();
    deps.into_iter().map(|d| sync(world, d)).collect()
}

pub fn statuses(world: &mut World, synced: Vec<Synced>) {
    let now = world.now_ts();
    for mut s in synced {
        for set in &mut s.sets {
            let (live, ready) = world.pod_index.counts(&set.uid);
            (set.live, set.ready) = (live as i64, ready as i64);
        }
        status(world, &s.deployment, &s.sets, &s.current, &now);
    }
}

fn owned_sets(world: &World, d: &Deployment) -> Vec<Set> {
    let mut sets: Vec<Set> = world
        .kube
        .list_untyped("replicasets", Some(&d.ns))
        .filter(|(_, rs)| controller_of(rs).is_some_and(|(_, _, u)| u == d.uid))
        .map(|(_, rs)| {
            let uid = meta_str(rs, "uid").to_string();
            let (live, ready) = world.pod_index.counts(&uid);
            Set {
                name: meta_str(rs, "name").to_string(),
                replicas: rs["spec"]["replicas"].as_i64().unwrap_or(0),
                revision: revision_of(rs),
                live: live as i64,
                ready: ready as i64,
                pods: world.pod_index.owned_count(&uid) as i64,
                uid,
            }
        })
        .collect();
    // Oldest revision first: the order old sets are scaled down in.
    sets.sort_by_key(|s| s.revision);
    sets
}

/// The name of the ReplicaSet for the Deployment's current template, if it
/// exists (made for this template, or an old one an undo brings back).
fn current_set(world: &mut World, d: &Deployment, sets: &[Set]) -> (String, bool) {
    let hash = match world.template_hashes.get(&d.uid) {
        Some((g, h)) if *g == d.generation => h.clone(),
        _ => {
            let dep = world
                .kube
                .untyped("deployments", &d.ns, &d.name)
                .expect("listed");
            let template = &dep["spec"]["template"];
            let wanted = comparable(template);
            // An old ReplicaSet with the same template is reused (undo).
            let reused = sets.iter().find_map(|s| {
                let rs = world.kube.untyped("replicasets", &d.ns, &s.name)?;
                (comparable(&rs["spec"]["template"]) == wanted)
                    .then(|| rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL].as_str())
                    .flatten()
                    .map(str::to_string)
            });
            let h = reused.unwrap_or_else(|| template_hash(template));
            world
                .template_hashes
                .insert(d.uid.clone(), (d.generation, h.clone()));
            h
        }
    };
    let name = format!("{}-{hash}", d.name);
    let exists = sets.iter().any(|s| s.name == name);
    (name, exists)
}

fn sync(world: &mut World, d: Deployment) -> Synced {
    let sets = owned_sets(world, &d);
    let (current, exists) = current_set(world, &d, &sets);
    if !roll(world, &d, &sets, &current, exists) {
        return Synced {
            deployment: d,
            sets,
            current,
        };
    }
    cleanup(world, &d, &current);
    Synced {
        sets: owned_sets(world, &d),
        deployment: d,
        current,
    }
}

/// One step of a rollout; false when there was nothing to do.
fn roll(world: &mut World, d: &Deployment, sets: &[Set], new_name: &str, exists: bool) -> bool {
    let max_revision = sets.iter().map(|s| s.revision).max().unwrap_or(0);
    // Nothing to roll: the current set has every replica, old ones none.
    let steady = exists
        && sets.iter().all(|s| {
            if s.name == new_name {
                s.replicas == d.replicas && s.revision == max_revision
            } else {
                s.replicas == 0
            }
        });
    if steady || d.paused {
        return false;
    }
    if !exists {
        create_set(world, d, new_name, max_revision + 1);
    } else if let Some(s) = sets.iter().find(|s| s.name == new_name)
        && s.revision != max_revision
    {
        // An undo: the old set becomes the newest revision.
        let old = s.revision.to_string();
        let revision = (max_revision + 1).to_string();
        world.kube.modify("replicasets", &d.ns, new_name, |rs| {
            let history = rs["metadata"]["annotations"][REVISION_HISTORY]
                .as_str()
                .map_or(old.clone(), |h| format!("{h},{old}"));
            rs["metadata"]["annotations"][REVISION] = json!(revision);
            rs["metadata"]["annotations"][REVISION_HISTORY] = json!(history);
            true
        });
    }
    let sets = owned_sets(world, d);
    let Some(new) = sets.iter().find(|s| s.name == new_name) else {
        return true;
    };
    let old: Vec<&Set> = sets.iter().filter(|s| s.name != new_name).collect();
    let spec_total: i64 = sets.iter().map(|s| s.replicas).sum();
    if d.recreate {
        for s in old.iter().filter(|s| s.replicas > 0) {
            scale(world, d, &s.name, s.replicas, 0);
        }
        // New pods start only once every old pod is gone.
        if old.iter().all(|s| s.pods == 0) && new.replicas != d.replicas {
            scale(world, d, &new.name, new.replicas, d.replicas);
        }
    } else {
        // Scale up within maxSurge (spec counts, as the controller does).
        let max_total = d.replicas + d.max_surge;
        let mut new_replicas = new.replicas;
        if new.replicas > d.replicas {
            new_replicas = d.replicas;
        } else if spec_total < max_total {
            new_replicas += (max_total - spec_total).min(d.replicas - new.replicas);
        }
        if new_replicas != new.replicas {
            scale(world, d, &new.name, new.replicas, new_replicas);
        }
        // Scale down old sets while enough pods stay available.
        let min_available = d.replicas - d.max_unavailable;
        let all_spec = spec_total - new.replicas + new_replicas;
        let new_unavailable = new_replicas - new.ready;
        let mut budget = all_spec - min_available - new_unavailable;
        let mut targets: Vec<(String, i64, i64)> = old
            .iter()
            .map(|s| (s.name.clone(), s.replicas, s.replicas))
            .collect();
        // Unhealthy old pods go first: they serve nothing.
        for (i, s) in old.iter().enumerate() {
            if budget <= 0 {
                break;
            }
            let unhealthy = (s.replicas - s.ready).max(0).min(budget);
            targets[i].2 -= unhealthy;
            budget -= unhealthy;
        }
        let available: i64 = sets.iter().map(|s| s.ready).sum();
        let mut down = available - min_available;
        for t in targets.iter_mut() {
            if down <= 0 {
                break;
            }
            let n = t.2.min(down);
            t.2 -= n;
            down -= n;
        }
        for (name, from, to) in targets {
            if to != from {
                scale(world, d, &name, from, to);
            }
        }
    }
    true
}

fn create_set(world: &mut World, d: &Deployment, name: &str, revision: u64) {
    let dep = world
        .kube
        .untyped("deployments", &d.ns, &d.name)
        .expect("listed");
    let hash = name.rsplit('-').next().unwrap_or("").to_string();
    let mut template = dep["spec"]["template"].clone();
    let mut selector = dep["spec"]["selector"].clone();
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let mut annotations = serde_json::Map::new();
    if let Some(a) = dep["metadata"]["annotations"].as_object() {
        for (k, v) in a.iter().filter(|(k, _)| !NOT_COPIED.contains(&k.as_str())) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    annotations.insert(DESIRED.into(), json!(d.replicas.to_string()));
    annotations.insert(MAX.into(), json!((d.replicas + d.max_surge).to_string()));
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": d.ns,
            "labels": template["metadata"]["labels"].clone(),
            "ownerReferences": owner_ref("apps/v1", "Deployment", &d.name, &d.uid),
            "annotations": annotations,
            "generation": 1,
        },
        "spec": {"replicas": 0, "minReadySeconds": 0, "selector": selector, "template": template},
        "status": {"replicas": 0},
    });
    world.create("replicasets", rs);
}

/// Set a ReplicaSet's replicas and record the ScalingReplicaSet event.
fn scale(world: &mut World, d: &Deployment, rs: &str, from: i64, to: i64) {
    let desired = d.replicas.to_string();
    let max = (d.replicas + d.max_surge).to_string();
    world.kube.modify("replicasets", &d.ns, rs, |o| {
        o["spec"]["replicas"] = json!(to);
        o["metadata"]["annotations"][DESIRED] = json!(desired);
        o["metadata"]["annotations"][MAX] = json!(max);
        true
    });
    world.dirty = true;
    let Some(dep) = world.kube.untyped("deployments", &d.ns, &d.name) else {
        return;
    };
    let subject = Subject::of(dep, "Deployment", "apps/v1");
    let how = if to > from { "up" } else { "down" };
    world.event(
        subject,
        false,
        "ScalingReplicaSet",
        format!("Scaled {how} replica set {rs} to {to} from {from}"),
        "deployment-controller",
    );
}

/// Old ReplicaSets beyond `revisionHistoryLimit` that have no pods left go.
fn cleanup(world: &mut World, d: &Deployment, new_name: &str) {
    let sets = owned_sets(world, d);
    let idle: Vec<&Set> = sets
        .iter()
        .filter(|s| s.name != new_name && s.replicas == 0 && s.pods == 0)
        .collect();
    let extra = idle.len().saturating_sub(d.history_limit);
    let doomed: Vec<String> = idle.iter().take(extra).map(|s| s.name.clone()).collect();
    for name in doomed {
        world.delete("replicasets", &d.ns, &name);
    }
}

/// Deployment status and conditions from its ReplicaSets.
fn status(world: &mut World, d: &Deployment, sets: &[Set], new_name: &str, now: &str) {
    let total: i64 = sets.iter().map(|s| s.live).sum();
    let ready: i64 = sets.iter().map(|s| s.ready).sum();
    let spec_total: i64 = sets.iter().map(|s| s.replicas).sum();
    let new = sets.iter().find(|s| s.name == new_name);
    let updated = new.map_or(0, |s| s.live);
    let revision = new.map(|s| s.revision);
    let available = ready >= d.replicas - d.max_unavailable;
    let complete = updated == d.replicas && total == updated && ready >= updated;
    let generation = d.generation;
    // Most passes change nothing: compare the numbers before building JSON.
    let unchanged = world
        .kube
        .untyped("deployments", &d.ns, &d.name)
        .is_some_and(|dep| {
            let s = &dep["status"];
            let n = |k: &str| s[k].as_i64().unwrap_or(0);
            s["observedGeneration"].as_u64() == Some(generation)
                && n("replicas") == total
                && n("updatedReplicas") == updated
                && n("readyReplicas") == ready
                && n("unavailableReplicas") == (spec_total - ready).max(0)
                && (s["conditions"][0]["status"] == "True") == available
                && (s["conditions"][1]["reason"] == "NewReplicaSetAvailable") == complete
                && s["conditions"][1]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(new_name))
                && revision.is_none_or(|r| revision_of(dep) == r)
        });
    if unchanged {
        return;
    }
    world.kube.modify("deployments", &d.ns, &d.name, |dep| {
        let old = &dep["status"];
        let when = |t: &str, status: &str, reason: &str| {
            let prev = old["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == t));
            let same = prev.is_some_and(|c| c["status"] == status && c["reason"] == reason);
            let transition = prev
                .filter(|c| c["status"] == status)
                .map_or(json!(now), |c| c["lastTransitionTime"].clone());
            let update = prev
                .filter(|_| same)
                .map_or(json!(now), |c| c["lastUpdateTime"].clone());
            (transition, update)
        };
        let (a_status, a_reason, a_message) = if available {
            (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        let (p_reason, p_message) = if complete {
            (
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            )
        } else {
            (
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{new_name}\" is progressing."),
            )
        };
        let (at, au) = when("Available", a_status, a_reason);
        let (pt, pu) = when("Progressing", "True", p_reason);
        let mut s = json!({
            "observedGeneration": generation,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": a_status, "reason": a_reason, "message": a_message,
                 "lastUpdateTime": au, "lastTransitionTime": at},
                {"type": "Progressing", "status": "True", "reason": p_reason, "message": p_message,
                 "lastUpdateTime": pu, "lastTransitionTime": pt},
            ],
        });
        if spec_total > ready {
            s["unavailableReplicas"] = json!(spec_total - ready);
        }
        let revision_changed = revision.is_some_and(|r| {
            dep["metadata"]["annotations"][REVISION].as_str() != Some(r.to_string().as_str())
        });
        if dep["status"] == s && !revision_changed {
            return false;
        }
        if let Some(r) = revision {
            dep["metadata"]["annotations"][REVISION] = json!(r.to_string());
        }
        dep["status"] = s;
        true
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::sandbox::Fixture;
    use crate::sandbox::sim::advance_to;
    use crate::sandbox::state::World;

    const FIXTURE: &str = r#"
cluster: {name: demo, version: "1.29"}
addons: {vpc-cni: v1.19.2-eksbuild.1, kube-proxy: v1.29.15-eksbuild.16}
nodegroups:
  - {name: general, minSize: 3, maxSize: 3, desiredSize: 3}
workloads:
  deployments:
    - {name: web, namespace: shop, replicas: 4, image: "public.ecr.aws/nginx/nginx:1.27"}
"#;

    /// Change web's strategy and image as a client would; returns the world.
    fn roll(strategy: serde_json::Value) -> World {
        let fixture = Fixture::from_yaml("t.yaml", FIXTURE).unwrap();
        let mut w = World::from_fixture(&fixture, 1, 0);
        w.kube.modify("deployments", "shop", "web", |d| {
            d["spec"]["strategy"] = strategy;
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
            d["metadata"]["generation"] = json!(2);
            true
        });
        w.after_update("deployments", "shop", "web");
        w
    }

    /// (old live, new live, old pods of any state, ready) for web's pods.
    fn census(w: &World) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for (_, p) in w.kube.list_untyped("pods", Some("shop")) {
            let new = p["spec"]["containers"][0]["image"] == "nginx:1.28";
            let live = p["metadata"]["deletionTimestamp"].is_null();
            if new && live {
                c.1 += 1;
            } else if !new {
                c.2 += 1;
                c.0 += live as usize;
            }
            c.3 += (live && w.pod_condition(p).1) as usize;
        }
        c
    }

    #[test]
    fn recreate_starts_new_pods_only_once_every_old_one_is_gone() {
        let mut w = roll(json!({"type": "Recreate"}));
        let mut saw_wait = false;
        for s in 0..=40 {
            advance_to(&mut w, s * 1_000);
            let (old, new, old_pods, _) = census(&w);
            assert!(new == 0 || old_pods == 0, "new pods beside old ones at {s}");
            // Every old pod is stopping and none is new yet.
            saw_wait |= old == 0 && old_pods > 0 && new == 0;
        }
        assert!(saw_wait, "the new pods waited for the old ones to stop");
        assert_eq!(census(&w), (0, 4, 0, 4));
    }

    #[test]
    fn rolling_without_surge_never_exceeds_the_replicas() {
        let strategy = json!({"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}});
        let mut w = roll(strategy);
        for s in 1..=60 {
            advance_to(&mut w, s * 5_000);
            let (old, new, _, ready) = census(&w);
            assert!(old + new <= 4, "surged at {s}: {old} old, {new} new");
            assert!(ready >= 3, "more than one unavailable at {s}");
        }
        assert_eq!(census(&w), (0, 4, 0, 4));
        let d = w.kube.untyped("deployments", "shop", "web").unwrap();
        assert_eq!(d["metadata"]["annotations"][super::REVISION], "2");
        assert_eq!(d["status"]["updatedReplicas"], 4);
        assert_eq!(
            d["status"]["conditions"][1]["reason"],
            "NewReplicaSetAvailable"
        );
    }
}
