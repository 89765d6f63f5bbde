//! TagResource, UntagResource and ListTagsForResource on the cluster, its
//! nodegroups and its add-ons, addressed by ARN (`/tags/{resourceArn}`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Call;
use super::errors::EksError;
use crate::sandbox::state::World;
use crate::sandbox::state::cluster::ACCOUNT;

/// EKS allows 50 user tags per resource.
const MAX_TAGS: usize = 50;

pub fn nodegroup_arn(world: &World, nodegroup: &str) -> String {
    let c = &world.cluster;
    format!(
        "arn:aws:eks:{}:{ACCOUNT}:nodegroup/{}/{nodegroup}/sandbox",
        c.region, c.name
    )
}

pub fn addon_arn(world: &World, addon: &str) -> String {
    let c = &world.cluster;
    format!(
        "arn:aws:eks:{}:{ACCOUNT}:addon/{}/{addon}/sandbox",
        c.region, c.name
    )
}

/// A resource's tags as its Describe call reports them.
pub fn tags_json(world: &World, arn: &str) -> Value {
    json!(world.tags.get(arn).cloned().unwrap_or_default())
}

fn exists(world: &World, arn: &str) -> bool {
    arn == world.cluster.arn()
        || world
            .nodegroups
            .keys()
            .any(|n| nodegroup_arn(world, n) == arn)
        || world.addons.keys().any(|a| addon_arn(world, a) == arn)
}

/// Check and collect a `tags` map from a request body.
pub fn parse(v: &Value) -> Result<BTreeMap<String, String>, EksError> {
    let Some(map) = v.as_object() else {
        return Err(EksError::bad_request("tags must be a map of strings"));
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if k.is_empty() || k.len() > 128 || k.to_ascii_lowercase().starts_with("aws:") {
            return Err(EksError::bad_request(format!(
                "Tag key {k:?} is invalid: keys are 1 to 128 characters and may not start with aws:"
            )));
        }
        let Some(v) = v.as_str().filter(|v| v.len() <= 256) else {
            return Err(EksError::bad_request(format!(
                "Tag value for {k:?} must be a string of at most 256 characters"
            )));
        };
        out.insert(k.clone(), v.to_string());
    }
    Ok(out)
}

/// Merge `add` into a resource's tags, within the per-resource limit.
pub fn merge(world: &mut World, arn: &str, add: BTreeMap<String, String>) -> Result<(), EksError> {
    let mut tags = world.tags.get(arn).cloned().unwrap_or_default();
    tags.extend(add);
    if tags.len() > MAX_TAGS {
        return Err(EksError::bad_request(format!(
            "A resource can have at most {MAX_TAGS} tags; this request would leave {}",
            tags.len()
        )));
    }
    world.tags.insert(arn.to_string(), tags);
    Ok(())
}

pub fn handle(world: &mut World, call: &Call, arn: &str) -> Result<Value, EksError> {
    if !arn.starts_with("arn:aws:eks:") {
        return Err(EksError::bad_request(format!("{arn} is not a valid ARN")));
    }
    if !exists(world, arn) {
        return Err(EksError::tag_not_found(format!("Resource {arn} not found")));
    }
    match call.method {
        "GET" => Ok(json!({"tags": tags_json(world, arn)})),
        "POST" => {
            let add = parse(&call.body["tags"])?;
            if add.is_empty() {
                return Err(EksError::bad_request("tags must not be empty"));
            }
            merge(world, arn, add)?;
            Ok(json!({}))
        }
        "DELETE" => {
            let keys: Vec<&str> = call
                .query_pairs
                .iter()
                .filter(|(k, _)| k == "tagKeys")
                .map(|(_, v)| v.as_str())
                .collect();
            if keys.is_empty() {
                return Err(EksError::bad_request("tagKeys is required"));
            }
            if let Some(tags) = world.tags.get_mut(arn) {
                tags.retain(|k, _| !keys.contains(&k.as_str()));
            }
            Ok(json!({}))
        }
        _ => Err(super::unknown(call)),
    }
}
