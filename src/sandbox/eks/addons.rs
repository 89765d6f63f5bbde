//! ListAddons, DescribeAddon, UpdateAddon, DescribeAddonVersions,
//! DescribeAddonConfiguration.

use serde_json::{Value, json};

use super::cluster::update_json;
use super::errors::EksError;
use super::paging::{page, with_token};
use super::tags::{addon_arn, tags_json};
use super::{Call, epoch_seconds};
use crate::sandbox::sim::controlplane;
use crate::sandbox::state::World;
use crate::sandbox::state::addons::Addon;

fn addon_json(world: &World, a: &Addon) -> Value {
    let c = &world.cluster;
    json!({
        "addonName": a.name,
        "clusterName": c.name,
        "status": a.status,
        "addonVersion": a.version,
        "health": {"issues": []},
        "addonArn": addon_arn(world, &a.name),
        "createdAt": epoch_seconds(world, a.created_ms),
        "modifiedAt": epoch_seconds(world, a.modified_ms),
        "tags": tags_json(world, &addon_arn(world, &a.name)),
    })
}

pub fn list(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let names: Vec<&String> = world.addons.keys().collect();
    let (names, next) = page(names, call)?;
    Ok(with_token(json!({"addons": names}), next))
}

pub fn describe(world: &mut World, name: &str) -> Result<Value, EksError> {
    let Some(a) = world.addons.get(name) else {
        return Err(EksError::not_found(format!(
            "No addon: {name} found in cluster: {}",
            world.cluster.name
        )));
    };
    Ok(json!({"addon": addon_json(world, a)}))
}

pub fn update(world: &mut World, call: &Call, name: &str) -> Result<Value, EksError> {
    let version = call.body_str("addonVersion");
    let u = controlplane::start_addon_update(
        world,
        name,
        version.as_deref(),
        call.body_str("clientRequestToken"),
    )?;
    Ok(json!({"update": update_json(world, &u)}))
}

pub fn describe_versions(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let name_filter = call.query.get("addonName");
    let minor_filter = call.query.get("kubernetesVersion");
    let mut addons = Vec::new();
    for (name, versions) in &world.catalog.addons {
        if name_filter.is_some_and(|f| f != name) {
            continue;
        }
        let vs: Vec<Value> = versions
            .iter()
            .filter(|v| minor_filter.is_none_or(|m| v.compatible.contains(m)))
            .map(|v| {
                let compat: Vec<Value> = v
                    .compatible
                    .iter()
                    .filter(|m| minor_filter.is_none_or(|f| f == *m))
                    .map(|m| {
                        json!({
                            "clusterVersion": m,
                            "platformVersions": ["*"],
                            "defaultVersion": v.default_for.contains(m),
                        })
                    })
                    .collect();
                json!({
                    "addonVersion": v.version,
                    "architecture": ["amd64", "arm64"],
                    "computeTypes": ["ec2"],
                    "compatibilities": compat,
                    "requiresConfiguration": false,
                    "requiresIamPermissions": name == "vpc-cni" || name == "aws-ebs-csi-driver",
                })
            })
            .collect();
        if vs.is_empty() && minor_filter.is_some() {
            continue;
        }
        let kind = match name.as_str() {
            "vpc-cni" | "kube-proxy" | "coredns" => "networking",
            "aws-ebs-csi-driver" => "storage",
            _ => "other",
        };
        addons.push(json!({
            "addonName": name,
            "type": kind,
            "addonVersions": vs,
            "publisher": "eks",
            "owner": "aws",
        }));
    }
    if let Some(name) = name_filter
        && addons.is_empty()
        && !world.catalog.addons.contains_key(name)
    {
        return Err(EksError::not_found(format!("Addon {name} not found")));
    }
    let (addons, next) = page(addons, call)?;
    Ok(with_token(json!({"addons": addons}), next))
}

/// The JSON schema of an add-on's configuration values, as
/// DescribeAddonConfiguration returns it (a JSON document in a string).
pub fn describe_configuration(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let (Some(name), Some(version)) = (call.query.get("addonName"), call.query.get("addonVersion"))
    else {
        return Err(EksError::invalid_parameter(
            "addonName and addonVersion are required",
        ));
    };
    if !world.catalog.addons.contains_key(name) {
        return Err(EksError::not_found(format!("Addon {name} not found")));
    }
    if world.catalog.find(name, version).is_none() {
        return Err(EksError::invalid_parameter(format!(
            "Addon version {version} is not a valid version of {name}; see DescribeAddonVersions"
        )));
    }
    let schema = crate::sandbox::state::addons::configuration_schema(name);
    let mut out = json!({
        "addonName": name,
        "addonVersion": version,
        "configurationSchema": schema.to_string(),
    });
    if let Some((service_account, policy)) = crate::sandbox::state::addons::pod_identity(name) {
        out["podIdentityConfiguration"] =
            json!([{"serviceAccount": service_account, "recommendedManagedPolicies": [policy]}]);
    }
    Ok(out)
}
