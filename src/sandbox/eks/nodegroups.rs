//! ListNodegroups, DescribeNodegroup, CreateNodegroup, DeleteNodegroup,
//! UpdateNodegroupVersion, UpdateNodegroupConfig.

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::cluster::update_json;
use super::errors::EksError;
use super::paging::{page, with_token};
use super::tags::{self, nodegroup_arn, tags_json};
use super::{Call, epoch_seconds};
use crate::sandbox::sim::controlplane::{by_token, minor_index, new_update};
use crate::sandbox::sim::nodegroup_update::{self, VersionRequest, validate_release};
use crate::sandbox::sim::nodes::{launch_node, terminate_node};
use crate::sandbox::state::catalog::default_release_version;
use crate::sandbox::state::cluster::{ACCOUNT, UpdateStatus, UpdateTarget};
use crate::sandbox::state::instance_types;
use crate::sandbox::state::nodegroups::{Nodegroup, Taint};
use crate::sandbox::state::{Timer, World};

pub fn nodegroup_json(world: &World, ng: &Nodegroup) -> Value {
    let c = &world.cluster;
    let mut labels = serde_json::Map::new();
    for (k, v) in &ng.labels {
        labels.insert(k.clone(), json!(v));
    }
    json!({
        "nodegroupName": ng.name,
        "nodegroupArn": nodegroup_arn(world, &ng.name),
        "clusterName": c.name,
        "version": ng.version,
        "releaseVersion": ng.release_version,
        "createdAt": epoch_seconds(world, ng.created_ms),
        "modifiedAt": epoch_seconds(world, ng.modified_ms),
        "status": ng.status,
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": ng.min_size, "maxSize": ng.max_size, "desiredSize": ng.desired_size},
        "instanceTypes": [ng.instance_type],
        "subnets": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"],
        "amiType": "AL2_x86_64",
        "nodeRole": format!("arn:aws:iam::{ACCOUNT}:role/eks-node-role"),
        "labels": labels,
        "taints": ng.taints.iter().map(|t| {
            let mut v = json!({"key": t.key, "effect": Nodegroup::eks_effect(&t.effect)});
            if let Some(val) = &t.value { v["value"] = json!(val); }
            v
        }).collect::<Vec<_>>(),
        "resources": {"autoScalingGroups": [{"name": format!("eks-{}-sandbox", ng.name)}]},
        "diskSize": 20,
        "health": {"issues": []},
        "updateConfig": ng.update_config_json(),
        "tags": tags_json(world, &nodegroup_arn(world, &ng.name)),
    })
}

fn get<'a>(world: &'a World, name: &str) -> Result<&'a Nodegroup, EksError> {
    world
        .nodegroups
        .get(name)
        .ok_or_else(|| EksError::not_found(format!("No node group found for name: {name}.")))
}

pub fn list(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let names: Vec<&String> = world.nodegroups.keys().collect();
    let (names, next) = page(names, call)?;
    Ok(with_token(json!({"nodegroups": names}), next))
}

pub fn describe(world: &mut World, name: &str) -> Result<Value, EksError> {
    let ng = get(world, name)?;
    Ok(json!({"nodegroup": nodegroup_json(world, ng)}))
}

fn parse_taints(v: &Value) -> Vec<Taint> {
    v.as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| Taint {
                    key: t["key"].as_str().unwrap_or("").to_string(),
                    value: t["value"].as_str().map(str::to_string),
                    effect: Nodegroup::k8s_effect(t["effect"].as_str().unwrap_or("")).to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn create(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let Some(name) = call.body_str("nodegroupName") else {
        return Err(EksError::invalid_parameter("nodegroupName is required"));
    };
    if world.nodegroups.contains_key(&name) {
        return Err(EksError::in_use(format!(
            "NodeGroup already exists with name {name} and cluster name {}",
            world.cluster.name
        )));
    }
    let b = &call.body;
    let sc = &b["scalingConfig"];
    let desired = sc["desiredSize"].as_u64().unwrap_or(2) as u32;
    let min = sc["minSize"].as_u64().unwrap_or(1) as u32;
    let max = sc["maxSize"].as_u64().unwrap_or(desired.max(2) as u64) as u32;
    if !(min <= desired && desired <= max) {
        return Err(EksError::invalid_parameter(
            "scalingConfig must satisfy minSize <= desiredSize <= maxSize",
        ));
    }
    let version = call
        .body_str("version")
        .unwrap_or_else(|| world.cluster.version.clone());
    if minor_index(&version).is_none()
        || minor_index(&version) > minor_index(&world.cluster.version)
    {
        return Err(EksError::invalid_parameter(format!(
            "Requested Nodegroup version {version} is not valid for cluster version {}",
            world.cluster.version
        )));
    }
    let instance_type = b["instanceTypes"][0]
        .as_str()
        .unwrap_or("t3.medium")
        .to_string();
    let Some(it) = instance_types::lookup(&instance_type) else {
        return Err(EksError::invalid_parameter(format!(
            "Instance type {instance_type} is not supported by the sandbox; use one of {}",
            instance_types::known().join(", ")
        )));
    };
    let mut labels = IndexMap::new();
    if let Some(l) = b["labels"].as_object() {
        for (k, v) in l {
            labels.insert(k.clone(), v.as_str().unwrap_or("").to_string());
        }
    }
    let release = call
        .body_str("releaseVersion")
        .unwrap_or_else(|| default_release_version(&version));
    validate_release(&version, &release)?;
    let tags = match &b["tags"] {
        Value::Null => Default::default(),
        t => tags::parse(t).map_err(|e| EksError::invalid_parameter(e.message))?,
    };
    let now = world.now_ms;
    world.nodegroups.insert(
        name.clone(),
        Nodegroup {
            name: name.clone(),
            version: version.clone(),
            release_version: release.clone(),
            instance_type,
            cpu_milli: it.cpu_milli,
            memory_bytes: it.memory_bytes,
            max_pods: it.pods,
            min_size: min,
            max_size: max,
            desired_size: desired,
            max_unavailable: b["updateConfig"]["maxUnavailable"].as_u64().unwrap_or(1) as u32,
            max_unavailable_percentage: b["updateConfig"]["maxUnavailablePercentage"]
                .as_u64()
                .map(|p| p as u32),
            labels,
            taints: parse_taints(&b["taints"]),
            status: "CREATING",
            created_ms: now,
            modified_ms: now,
            rollout: None,
        },
    );
    if !tags.is_empty() {
        let arn = nodegroup_arn(world, &name);
        tags::merge(world, &arn, tags).map_err(|e| EksError::invalid_parameter(e.message))?;
    }
    for _ in 0..desired {
        launch_node(world, &name, &version, &release);
    }
    world.schedule(
        now + crate::sandbox::sim::NODE_BOOT_MS,
        Timer::Rollout(name.clone()),
    );
    let ng = get(world, &name)?;
    Ok(json!({"nodegroup": nodegroup_json(world, ng)}))
}

pub fn delete(world: &mut World, name: &str) -> Result<Value, EksError> {
    get(world, name)?;
    let now = world.now_ms;
    if let Some(ng) = world.nodegroups.get_mut(name) {
        ng.status = "DELETING";
        ng.rollout = None;
        ng.modified_ms = now;
    }
    world.schedule(
        now + 2 * crate::sandbox::sim::MINUTE_MS,
        Timer::Rollout(name.to_string()),
    );
    let ng = get(world, name)?;
    Ok(json!({"nodegroup": nodegroup_json(world, ng)}))
}

/// CREATING and DELETING nodegroups settle when their timer fires.
pub fn lifecycle(world: &mut World, name: &str) {
    let Some(status) = world.nodegroups.get(name).map(|n| n.status) else {
        return;
    };
    match status {
        "CREATING" => {
            if let Some(ng) = world.nodegroups.get_mut(name) {
                ng.status = "ACTIVE";
            }
        }
        // A configuration update completes.
        "UPDATING" => {
            if let Some(ng) = world.nodegroups.get_mut(name) {
                ng.status = "ACTIVE";
                ng.modified_ms = world.now_ms;
            }
            let target = UpdateTarget::Nodegroup(name.to_string());
            for up in world.updates.iter_mut().filter(|u| {
                u.target == target
                    && u.kind == "ConfigUpdate"
                    && u.status == UpdateStatus::InProgress
            }) {
                up.status = UpdateStatus::Successful;
            }
        }
        "DELETING" => {
            let nodes: Vec<String> = world
                .nodes
                .iter()
                .filter(|(_, n)| n.nodegroup == name)
                .map(|(k, _)| k.clone())
                .collect();
            for n in nodes {
                terminate_node(world, &n);
            }
            let arn = nodegroup_arn(world, name);
            world.tags.remove(&arn);
            world.nodegroups.shift_remove(name);
        }
        _ => {}
    }
}

pub fn update_version(world: &mut World, call: &Call, name: &str) -> Result<Value, EksError> {
    let version = call.body_str("version");
    let release = call.body_str("releaseVersion");
    let u = nodegroup_update::start_version_update(
        world,
        VersionRequest {
            nodegroup: name,
            version: version.as_deref(),
            release_version: release.as_deref(),
            force: call.body["force"].as_bool().unwrap_or(false),
            token: call.body_str("clientRequestToken"),
        },
    )?;
    Ok(json!({"update": update_json(world, &u)}))
}

pub fn update_config(world: &mut World, call: &Call, name: &str) -> Result<Value, EksError> {
    let target = UpdateTarget::Nodegroup(name.to_string());
    if let Some(u) = by_token(
        world,
        &target,
        call.body_str("clientRequestToken").as_deref(),
    ) {
        return Ok(json!({"update": update_json(world, &u)}));
    }
    let ng = get(world, name)?.clone();
    let b = &call.body;
    let mut params = Vec::new();
    let sc = &b["scalingConfig"];
    let min = sc["minSize"].as_u64().map_or(ng.min_size, |v| v as u32);
    let max = sc["maxSize"].as_u64().map_or(ng.max_size, |v| v as u32);
    let desired = sc["desiredSize"]
        .as_u64()
        .map_or(ng.desired_size, |v| v as u32);
    if !(min <= desired && desired <= max) {
        return Err(EksError::invalid_parameter(
            "scalingConfig must satisfy minSize <= desiredSize <= maxSize",
        ));
    }
    for (k, v) in [
        ("MinSize", sc["minSize"].clone()),
        ("MaxSize", sc["maxSize"].clone()),
        ("DesiredSize", sc["desiredSize"].clone()),
    ] {
        if let Some(n) = v.as_u64() {
            params.push((k.to_string(), n.to_string()));
        }
    }
    // Any number out of 1..=100 is refused, negative ones included.
    let bounded = |key: &str| -> Result<Option<u32>, EksError> {
        match &b["updateConfig"][key] {
            Value::Null => Ok(None),
            v => match v.as_i64().filter(|m| (1..=100).contains(m)) {
                Some(m) => Ok(Some(m as u32)),
                None => Err(EksError::invalid_parameter(format!(
                    "{key} must be between 1 and 100"
                ))),
            },
        }
    };
    let mu = bounded("maxUnavailable")?;
    let mup = bounded("maxUnavailablePercentage")?;
    if mu.is_some() && mup.is_some() {
        return Err(EksError::invalid_parameter(
            "Only one of maxUnavailable and maxUnavailablePercentage may be set",
        ));
    }
    if let Some(m) = mu {
        params.push(("MaxUnavailable".into(), m.to_string()));
    }
    if let Some(p) = mup {
        params.push(("MaxUnavailablePercentage".into(), p.to_string()));
    }
    let mut labels = ng.labels.clone();
    if let Some(add) = b["labels"]["addOrUpdateLabels"].as_object() {
        for (k, v) in add {
            labels.insert(k.clone(), v.as_str().unwrap_or("").to_string());
        }
        params.push(("LabelsToAdd".into(), Value::Object(add.clone()).to_string()));
    }
    if let Some(rm) = b["labels"]["removeLabels"].as_array() {
        for k in rm {
            labels.shift_remove(k.as_str().unwrap_or(""));
        }
        params.push((
            "LabelsToRemove".into(),
            Value::Array(rm.clone()).to_string(),
        ));
    }
    // Parameters are checked first, as EKS answers a bad request with 400
    // whatever the nodegroup is doing.
    if ng.status != "ACTIVE" {
        return Err(EksError::in_use(format!(
            "Nodegroup {name} is currently {} and cannot be updated",
            ng.status
        )));
    }
    let u = new_update(
        world,
        target,
        "ConfigUpdate",
        params,
        call.body_str("clientRequestToken"),
    );
    let now = world.now_ms;
    if let Some(n) = world.nodegroups.get_mut(name) {
        n.min_size = min;
        n.max_size = max;
        n.desired_size = desired;
        if let Some(m) = mu {
            n.max_unavailable = m;
            n.max_unavailable_percentage = None;
        }
        if mup.is_some() {
            n.max_unavailable_percentage = mup;
        }
        n.labels = labels;
        n.modified_ms = now;
    }
    // The Auto Scaling group follows the new desired size.
    let mut current: Vec<String> = world
        .nodes
        .iter()
        .filter(|(_, n)| n.nodegroup == name)
        .map(|(k, _)| k.clone())
        .collect();
    current.sort();
    for _ in current.len()..desired as usize {
        launch_node(world, name, &ng.version, &ng.release_version);
    }
    for n in current.iter().skip(desired as usize) {
        terminate_node(world, n);
    }
    // As in EKS the update is asynchronous: the nodegroup is UPDATING (so
    // another update is refused) until it completes.
    if let Some(n) = world.nodegroups.get_mut(name) {
        n.status = "UPDATING";
    }
    world.schedule(
        now + crate::sandbox::sim::CONFIG_UPDATE_MS,
        Timer::Rollout(name.to_string()),
    );
    Ok(json!({"update": update_json(world, &u)}))
}
