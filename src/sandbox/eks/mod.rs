//! The EKS REST API (restJson1, as aws-sdk-eks and `aws eks` call it):
//! routing by method and path, one file per operation group.

mod addons;
mod cluster;
pub mod errors;
pub mod insights;
mod nodegroups;
mod paging;
mod tags;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::state::World;
use errors::EksError;

/// One EKS request, already split up.
pub struct Call<'a> {
    pub method: &'a str,
    pub segments: Vec<&'a str>,
    pub query: HashMap<String, String>,
    /// Every query pair in order (`tagKeys` repeats).
    pub query_pairs: Vec<(String, String)>,
    pub body: Value,
    /// The sandbox endpoint, reported as the cluster's API endpoint.
    pub endpoint: &'a str,
}

impl Call<'_> {
    pub fn body_str(&self, key: &str) -> Option<String> {
        self.body[key].as_str().map(str::to_string)
    }
}

pub use nodegroups::lifecycle as nodegroup_lifecycle;

pub fn epoch_seconds(world: &World, ms: u64) -> f64 {
    (world.epoch_ms + ms as i64) as f64 / 1000.0
}

/// Whether a method+path is an EKS operation that changes state.
pub fn is_mutating(method: &str, path: &str) -> bool {
    match method {
        "GET" | "HEAD" => false,
        // ListInsights is a POST that only reads.
        "POST" => !path.ends_with("/insights"),
        _ => true,
    }
}

pub fn handle(world: &mut World, call: Call) -> Response {
    match route(world, &call) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Every EKS response carries `x-amzn-RequestId`, as support cases and SDK
/// error messages quote it. Ids are unique per process, not drawn from the
/// world's seeded RNG, so reads never change what the simulation does.
pub fn with_request_id(resp: &mut Response) {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let d = Sha256::digest(format!("sandbox-request-{n}").as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
}

fn check_cluster(world: &World, name: &str) -> Result<(), EksError> {
    if world.cluster.name == name {
        Ok(())
    } else {
        Err(EksError::not_found(format!(
            "No cluster found for name: {name}."
        )))
    }
}

fn route(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let s = &call.segments;
    match (call.method, s.as_slice()) {
        ("GET", ["clusters"]) => {
            let (names, next) = paging::page(vec![world.cluster.name.clone()], call)?;
            Ok(paging::with_token(
                serde_json::json!({"clusters": names}),
                next,
            ))
        }
        ("GET", ["addons", "supported-versions"]) => addons::describe_versions(world, call),
        ("GET", ["addons", "configuration-schemas"]) => addons::describe_configuration(world, call),
        (_, ["tags", arn]) => tags::handle(world, call, arn),
        (_, ["clusters", name, rest @ ..]) => {
            check_cluster(world, name)?;
            match (call.method, rest) {
                ("GET", []) => cluster::describe(world, call),
                ("POST", ["updates"]) => cluster::update_version(world, call),
                ("GET", ["updates"]) => cluster::list_updates(world, call),
                ("GET", ["updates", id]) => cluster::describe_update(world, call, id),
                ("GET", ["node-groups"]) => nodegroups::list(world, call),
                ("POST", ["node-groups"]) => nodegroups::create(world, call),
                ("GET", ["node-groups", ng]) => nodegroups::describe(world, ng),
                ("DELETE", ["node-groups", ng]) => nodegroups::delete(world, ng),
                ("POST", ["node-groups", ng, "update-version"]) => {
                    nodegroups::update_version(world, call, ng)
                }
                ("POST", ["node-groups", ng, "update-config"]) => {
                    nodegroups::update_config(world, call, ng)
                }
                ("GET", ["addons"]) => addons::list(world, call),
                ("GET", ["addons", addon]) => addons::describe(world, addon),
                ("POST", ["addons", addon, "update"]) => addons::update(world, call, addon),
                ("POST", ["insights"]) => insights::list(world, call),
                ("GET", ["insights", id]) => insights::describe(world, id),
                _ => Err(unknown(call)),
            }
        }
        _ => Err(unknown(call)),
    }
}

fn unknown(call: &Call) -> EksError {
    EksError {
        kind: "UnknownOperationException",
        status: 404,
        message: format!(
            "The sandbox does not implement {} /{}",
            call.method,
            call.segments.join("/")
        ),
        cluster_name: None,
    }
}
