//! The HTTP server: one listener for both APIs. Every request is faulted (if
//! configured), advances the simulation to the current simulated time, is
//! dispatched to the EKS or Kubernetes handlers under the world lock, and is
//! recorded in the request log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::clock::SimClock;
use super::eks;
use super::faults::{Fault, Faults};
use super::kube::{KubeRequest, handlers, status::KubeError, watch};
use super::request_log::{Api, RequestLog, RequestRecord};
use super::sim;
use super::state::World;

/// Largest request body accepted (a big apply is well under this).
const MAX_BODY: usize = 32 << 20;

pub struct Shared {
    pub world: Mutex<World>,
    pub clock: SimClock,
    pub log: RequestLog,
    pub faults: Faults,
    pub endpoint: String,
}

impl Shared {
    /// Lock the world, advanced to the current simulated time.
    pub fn world(&self) -> MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now_ms();
        if now > w.now_ms || !w.timers.is_empty() || w.dirty {
            sim::advance_to(&mut w, now);
        }
        w
    }

    /// The world as a client may read it: advanced, with every pod status the
    /// kubelet reported written into its pod, and every event recorded.
    pub fn observed_world(&self) -> MutexGuard<'_, World> {
        let mut w = self.world();
        w.publish();
        w
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sandbox/requests", get(requests))
        .route("/_sandbox/state", get(state))
        .fallback(handle)
        .with_state(shared)
}

async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    let records = shared.log.snapshot();
    let resp = axum::Json(&records).into_response();
    record(
        &shared,
        Api::Sandbox,
        "GET",
        "/_sandbox/requests",
        "",
        false,
        200,
    );
    resp
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let body = {
        let w = shared.world();
        json!({
            "simTimeMs": w.now_ms,
            "cluster": {"name": w.cluster.name, "version": w.cluster.version, "status": w.cluster.status},
            "nodegroups": w.nodegroups.values().map(|n| json!({"name": n.name, "version": n.version, "releaseVersion": n.release_version, "status": n.status})).collect::<Vec<_>>(),
            "addons": w.addons.values().map(|a| json!({"name": a.name, "version": a.version, "status": a.status})).collect::<Vec<_>>(),
            "nodes": w.kube.count("nodes"),
            "pods": w.kube.count("pods"),
        })
    };
    record(
        &shared,
        Api::Sandbox,
        "GET",
        "/_sandbox/state",
        "",
        false,
        200,
    );
    axum::Json(body).into_response()
}

fn record(
    shared: &Shared,
    api: Api,
    method: &str,
    path: &str,
    query: &str,
    mutating: bool,
    status: u16,
) {
    record_error(shared, api, method, path, query, mutating, status, None);
}

/// `record` with the EKS error type of a rejected request.
#[allow(clippy::too_many_arguments)]
fn record_error(
    shared: &Shared,
    api: Api,
    method: &str,
    path: &str,
    query: &str,
    mutating: bool,
    status: u16,
    error: Option<String>,
) {
    let sim_time_ms = shared.clock.now_ms();
    shared.log.push(RequestRecord {
        seq: 0,
        api,
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        mutating,
        status,
        error,
        sim_time_ms,
    });
}

fn query_map(q: &str) -> HashMap<String, String> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn fault_response(api: Api, fault: Fault) -> Response {
    match (api, fault) {
        (_, Fault::Drop) => {
            // A body that fails mid-stream: the client sees the connection
            // break, as when a load balancer drops it.
            let stream = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other(
                    "sandbox fault: connection dropped",
                ))
            });
            Response::new(Body::from_stream(stream))
        }
        (Api::Eks, Fault::ServerError) => {
            let mut r = (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "sandbox fault: internal error"})),
            )
                .into_response();
            r.headers_mut().insert(
                "x-amzn-errortype",
                HeaderValue::from_static("ServerException"),
            );
            r
        }
        (Api::Eks, Fault::Throttle) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"message": "Rate exceeded"})),
            )
                .into_response();
            r.headers_mut().insert(
                "x-amzn-errortype",
                HeaderValue::from_static("ThrottlingException"),
            );
            r
        }
        (_, Fault::ServerError) => KubeError::new(
            500,
            "InternalError",
            "sandbox fault: an error on the server has prevented the request from succeeding",
        )
        .into_response(),
        (_, Fault::Throttle) => {
            let mut r = KubeError::new(429, "TooManyRequests", "sandbox fault: the server has received too many requests and has asked us to try again later").into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

/// Every API response advertises the time scale and the simulated time, so
/// a client's clock can follow the simulation (`cloud::clock::Clock::of_target`).
async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let scale = shared.clock.scale();
    let (api, mut resp) = dispatch(&shared, req).await;
    if api == Api::Eks {
        eks::with_request_id(&mut resp);
    }
    if let Ok(v) = HeaderValue::from_str(&scale.to_string()) {
        resp.headers_mut()
            .insert(crate::cloud::clock::TIME_SCALE_HEADER, v);
    }
    // And its time now, which explicit `advance`s move too.
    let epoch_ms = shared
        .world
        .lock()
        .map_or_else(|e| e.into_inner().epoch_ms, |w| w.epoch_ms);
    let now_ms = epoch_ms.max(0) as u64 + shared.clock.now_ms();
    resp.headers_mut()
        .insert(crate::cloud::clock::NOW_HEADER, HeaderValue::from(now_ms));
    resp
}

async fn dispatch(shared: &Arc<Shared>, req: Request) -> (Api, Response) {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let api = if ["/clusters", "/addons", "/tags/"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        Api::Eks
    } else if path.starts_with("/_sandbox") {
        Api::Sandbox
    } else {
        Api::Kube
    };
    let query = query_map(&raw_query);
    let query_pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let query_dry_run = query.get("dryRun").is_some_and(|v| v == "All");
    let mut mutating = match api {
        Api::Eks => eks::is_mutating(&method, &path),
        Api::Kube => !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") && !query_dry_run,
        Api::Sandbox => false,
    };
    if api != Api::Sandbox {
        let (latency, fault) = shared.faults.roll();
        if let Some(d) = latency {
            tokio::time::sleep(d).await;
        }
        if let Some(f) = fault {
            let resp = fault_response(api, f);
            // A faulted request never reached the handlers: nothing changed.
            record(
                shared,
                api,
                &method,
                &path,
                &raw_query,
                false,
                resp.status().as_u16(),
            );
            return (api, resp);
        }
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let resp =
                KubeError::bad_request(format!("cannot read request body: {e}")).into_response();
            // A body that never fully arrived (the client died while
            // sending it) reached no handler: nothing changed.
            record(shared, api, &method, &path, &raw_query, false, 400);
            return (api, resp);
        }
    };
    if api == Api::Kube && mutating && body_dry_run(&bytes) {
        mutating = false;
    }
    let resp = match api {
        Api::Eks => {
            let body = if bytes.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
            };
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            let segments: Vec<String> = segments.iter().map(|s| percent_decode(s)).collect();
            let call = eks::Call {
                method: &method,
                segments: segments.iter().map(String::as_str).collect(),
                query,
                query_pairs,
                body,
                endpoint: &shared.endpoint,
            };
            let mut w = shared.world();
            eks::handle(&mut w, call)
        }
        Api::Kube | Api::Sandbox => {
            let kreq = KubeRequest {
                method: &method,
                path: &path,
                query,
                accept: header_str(&parts.headers, header::ACCEPT),
                content_type: header_str(&parts.headers, header::CONTENT_TYPE),
                body: &bytes,
                host: header_str(&parts.headers, header::HOST),
                user_agent: header_str(&parts.headers, header::USER_AGENT),
            };
            let reply = {
                let mut w = shared.observed_world();
                handlers::handle(&mut w, &kreq)
            };
            match reply {
                handlers::KubeReply::Response(r) => r,
                handlers::KubeReply::Watch(plan) => watch::respond(plan),
            }
        }
    };
    let status = resp.status().as_u16();
    let error = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    record_error(
        shared, api, &method, &path, &raw_query, mutating, status, error,
    );
    if api == Api::Eks
        && mutating
        && status >= 400
        && let Some(d) = shared.faults.reject_latency()
    {
        tokio::time::sleep(d).await;
    }
    (api, resp)
}

/// DeleteOptions (and an Eviction's deleteOptions) may ask for a dry run in
/// the body instead of the query.
fn body_dry_run(bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return false;
    };
    let all = |d: &serde_json::Value| d.as_array().is_some_and(|a| a.iter().any(|x| x == "All"));
    (v["kind"] == "DeleteOptions" || v["kind"] == "Eviction" || v["kind"].is_null())
        && (all(&v["dryRun"]) || all(&v["deleteOptions"]["dryRun"]))
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Keep watches flowing when nobody sends requests: step the simulation to
/// "now" a few times a second.
pub async fn ticker(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    loop {
        interval.tick().await;
        drop(shared.world());
    }
}
