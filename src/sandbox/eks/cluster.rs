//! DescribeCluster, UpdateClusterVersion, ListUpdates, DescribeUpdate.

use serde_json::{Value, json};

use super::errors::EksError;
use super::paging::{page, with_token};
use super::tags::tags_json;
use super::{Call, epoch_seconds};
use crate::sandbox::sim::controlplane;
use crate::sandbox::state::World;
use crate::sandbox::state::cluster::{ACCOUNT, Update, UpdateTarget};

pub fn describe(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let c = &world.cluster;
    Ok(json!({"cluster": {
        "name": c.name,
        "arn": c.arn(),
        "createdAt": epoch_seconds(world, c.created_ms),
        "version": c.version,
        "endpoint": call.endpoint,
        "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster-role"),
        "resourcesVpcConfig": {
            "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"],
            "securityGroupIds": [],
            "clusterSecurityGroupId": "sg-0123456789abcdef0",
            "vpcId": "vpc-0123456789abcdef0",
            "endpointPublicAccess": true,
            "endpointPrivateAccess": true,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"},
        "logging": {"clusterLogging": [{"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": false}]},
        "identity": {"oidc": {"issuer": format!("https://oidc.eks.{}.amazonaws.com/id/SANDBOX0000000000000000000000000", c.region)}},
        "status": c.status,
        "certificateAuthority": {"data": "c2FuZGJveC1jZXJ0aWZpY2F0ZS1hdXRob3JpdHk="},
        "platformVersion": c.platform_version,
        "tags": tags_json(world, &c.arn()),
        "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"},
        "upgradePolicy": {"supportType": "STANDARD"},
        "health": {"issues": []},
    }}))
}

pub fn update_json(world: &World, u: &Update) -> Value {
    json!({
        "id": u.id,
        "status": u.status.as_str(),
        "type": u.kind,
        "params": u.params.iter().map(|(t, v)| json!({"type": t, "value": v})).collect::<Vec<_>>(),
        "createdAt": epoch_seconds(world, u.created_ms),
        "errors": u.errors.iter().map(|e| json!({
            "errorCode": e.code,
            "errorMessage": e.message,
            "resourceIds": e.resource_ids,
        })).collect::<Vec<_>>(),
    })
}

pub fn update_version(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let Some(version) = call.body_str("version") else {
        return Err(EksError::invalid_parameter("version is required"));
    };
    let u = controlplane::start_cluster_update(
        world,
        controlplane::ClusterVersionRequest {
            version,
            token: call.body_str("clientRequestToken"),
            force: call.body["force"].as_bool().unwrap_or(false),
            rollback_timeout_minutes: call.body["rollbackConfig"]["timeoutMinutes"].as_i64(),
        },
    )?;
    Ok(json!({"update": update_json(world, &u)}))
}

fn target_of(call: &Call) -> UpdateTarget {
    if let Some(ng) = call.query.get("nodegroupName") {
        UpdateTarget::Nodegroup(ng.clone())
    } else if let Some(a) = call.query.get("addonName") {
        UpdateTarget::Addon(a.clone())
    } else {
        UpdateTarget::Cluster
    }
}

pub fn list_updates(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let target = target_of(call);
    if let UpdateTarget::Nodegroup(ng) = &target
        && !world.nodegroups.contains_key(ng)
    {
        return Err(EksError::not_found(format!(
            "No node group found for name: {ng}."
        )));
    }
    let ids: Vec<&str> = world
        .updates
        .iter()
        .filter(|u| u.target == target)
        .map(|u| u.id.as_str())
        .collect();
    let (ids, next) = page(ids, call)?;
    Ok(with_token(json!({"updateIds": ids}), next))
}

pub fn describe_update(world: &mut World, call: &Call, id: &str) -> Result<Value, EksError> {
    let target = target_of(call);
    let Some(u) = world
        .updates
        .iter()
        .find(|u| u.id == id && u.target == target)
    else {
        return Err(EksError::not_found(format!("No update found for ID: {id}")));
    };
    Ok(json!({"update": update_json(world, u)}))
}
