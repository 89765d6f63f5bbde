//! Discovery documents: /version, /api, /apis, /api/v1 and /apis/G/V, as
//! kubectl and kube-rs read them (the legacy, non-aggregated form), and an
//! empty OpenAPI v2 document.

use serde_json::{Value, json};

use super::resources::{SUBRESOURCES, all, groups};
use crate::sandbox::state::World;
use crate::sandbox::state::catalog::k8s_patch;

pub fn version(world: &World) -> Value {
    let minor = world.cluster.version.split('.').nth(1).unwrap_or("0");
    json!({
        "major": "1",
        "minor": format!("{minor}+"),
        "gitVersion": format!("v{}-eks-2f07ad8", k8s_patch(&world.cluster.version)),
        "gitCommit": "2f07ad8f5a30e8d5ab7bd07dbfb3a8b8f3ba0a7c",
        "gitTreeState": "clean",
        "buildDate": "2025-09-12T10:00:00Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn api_versions(host: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    })
}

pub fn api_groups() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(group: &str) -> Option<Value> {
    if !groups().contains(&group) {
        return None;
    }
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv.clone()], "preferredVersion": gv}),
    )
}

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in all().filter(|r| r.group == group && r.version == version) {
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
            "storageVersionHash": "",
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        resources.push(v);
        for (parent, sub, kind, g, ver, verbs) in SUBRESOURCES.iter().filter(|s| s.0 == r.plural) {
            let mut s = json!({
                "name": format!("{parent}/{sub}"),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if *g != group {
                s["group"] = json!(g);
                s["version"] = json!(ver);
            }
            resources.push(s);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// The media type of `/openapi/v2` in protobuf. kubectl asks for
/// `...spec.v2@v1.0+protobuf`, but Go's MIME parser rejects `@` in a reply,
/// so the API server answers with a dot.
pub const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// An OpenAPI v2 document describing no kinds, protobuf-encoded as gnostic's
/// `openapi_v2.Document` (swagger = 1, info = 2 with title = 1, version = 2).
/// kubectl `create -f` and `apply` refuse to run without a document, and
/// validate client-side only the kinds it describes; apply's patches fall
/// back to kubectl's built-in types.
pub fn openapi_v2() -> Vec<u8> {
    // Length-delimited fields; every length here is below 128 (one byte).
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        [&[number << 3 | 2, bytes.len() as u8][..], bytes].concat()
    }
    let info = [field(1, b"Kubernetes"), field(2, b"v1")].concat();
    [field(1, b"2.0"), field(2, &info)].concat()
}
