//! Routing and the verbs: get, list, watch, create, replace, patch, delete,
//! deletecollection, and the pods/eviction subresource.

use std::borrow::Cow;
use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::KubeRequest;
use super::discovery;
use super::eviction::{self, Denial, VIOLATION};
use super::logs;
use super::managed::{self, Writer};
use super::patch::{self, PatchKind};
use super::resources::{self, ResourceDef};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{KubeError, success};
use super::store::meta_str;
use super::table;
use super::watch::{self, WatchPlan};
use crate::sandbox::state::World;
use crate::sandbox::state::objects::{controller_of, is_terminating};
use crate::sandbox::state::typed::Record;

pub enum KubeReply {
    Response(Response),
    Watch(WatchPlan),
}

impl From<Result<Response, KubeError>> for KubeReply {
    fn from(r: Result<Response, KubeError>) -> Self {
        KubeReply::Response(r.unwrap_or_else(|e| e.into_response()))
    }
}

/// A modelled field of the wrong shape, refused as the API server words it.
fn invalid(t: &Target, name: &str) -> impl FnOnce(String) -> KubeError {
    let kind = t.def.kind;
    let name = name.to_string();
    move |detail| {
        KubeError::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {detail}"),
        )
    }
}

fn ok(v: Value) -> Result<Response, KubeError> {
    Ok(Json(v).into_response())
}

fn created(v: Value) -> Result<Response, KubeError> {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

struct Target<'a> {
    def: &'static ResourceDef,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

pub fn handle(world: &mut World, req: &KubeRequest) -> KubeReply {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let found = |v: Option<Value>| match v {
        Some(v) => ok(v),
        None => Err(KubeError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    };
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return ok(discovery::version(world)).into(),
        ["openapi", "v2"] => {
            let body = discovery::openapi_v2();
            let kind = [(header::CONTENT_TYPE, discovery::OPENAPI_V2_PROTOBUF)];
            return KubeReply::Response((kind, body).into_response());
        }
        ["api"] => return ok(discovery::api_versions(req.host)).into(),
        ["apis"] => return ok(discovery::api_groups()).into(),
        ["api", "v1"] => return found(discovery::resource_list("", "v1")).into(),
        ["apis", g] => return found(discovery::api_group(g)).into(),
        ["apis", g, v] => return found(discovery::resource_list(g, v)).into(),
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return found(None).into(),
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        _ => (None, rest),
    };
    let Some(def) = rest
        .first()
        .and_then(|p| resources::find(group, version, p))
    else {
        return found(None).into();
    };
    if ns.is_some() && !def.namespaced {
        return found(None).into();
    }
    let t = Target {
        def,
        ns,
        name: rest.get(1).copied(),
        sub: rest.get(2).copied(),
    };
    if rest.len() > 3 {
        return found(None).into();
    }
    match (req.method, t.name, t.sub) {
        ("GET", None, _) if req.is_watch() => watch_plan(world, req, &t),
        ("GET", None, _) => list(world, req, &t).into(),
        ("GET", Some(name), None | Some("status")) => get(world, req, &t, name).into(),
        ("GET", Some(name), Some("log")) if def.plural == "pods" => {
            logs::pod_log(world, req, ns_key(&t), name).into()
        }
        (_, Some(name), Some("scale")) if SCALABLE.contains(&def.plural) => {
            scale(world, req, &t, name).into()
        }
        ("POST", None, _) if def.is_review() => review(req, def).into(),
        (_, _, _) if def.is_review() => KubeReply::Response(
            KubeError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({} {})",
                    req.method, req.path
                ),
            )
            .into_response(),
        ),
        ("POST", None, _) => create(world, req, &t).into(),
        ("POST", Some(name), Some("eviction")) if def.plural == "pods" => {
            evict(world, req, &t, name).into()
        }
        ("PUT", Some(name), None | Some("status")) => replace(world, req, &t, name).into(),
        ("PATCH", Some(name), None | Some("status")) => patch_object(world, req, &t, name).into(),
        ("DELETE", Some(name), None) => delete(world, req, &t, name).into(),
        ("DELETE", None, _) => delete_collection(world, req, &t).into(),
        _ => KubeReply::Response(
            KubeError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({} {})",
                    req.method, req.path
                ),
            )
            .into_response(),
        ),
    }
}

/// The workloads with a `scale` subresource.
const SCALABLE: &[&str] = &["deployments", "statefulsets", "replicasets"];

/// An autoscaling/v1 Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                     "resourceVersion": meta["resourceVersion"],
                     "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_u64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_u64().unwrap_or(0), "selector": selector},
    })
}

/// GET, PUT or PATCH `…/{name}/scale`: reads and sets spec.replicas.
fn scale(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
) -> Result<Response, KubeError> {
    let ns = ns_key(t).to_string();
    let current = world
        .kube
        .get(t.def.plural, &ns, name)
        .ok_or_else(|| KubeError::not_found(&t.def.qualified(), name))?
        .into_owned();
    let view = scale_of(&current);
    let wanted = match req.method {
        "GET" => return ok(view),
        "PUT" => parse_body(req)?,
        "PATCH" => {
            let kind = PatchKind::from_content_type(req.content_type).ok_or_else(|| {
                KubeError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("unsupported patch type {}", req.content_type),
                )
            })?;
            let mut v = view.clone();
            patch::apply(&mut v, kind, &parse_body(req)?)
                .map_err(|e| KubeError::new(422, "Invalid", e))?;
            v
        }
        _ => {
            return Err(KubeError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({} {})",
                    req.method, req.path
                ),
            ));
        }
    };
    let want_rv = meta_str(&wanted, "resourceVersion");
    if !want_rv.is_empty() && want_rv != meta_str(&current, "resourceVersion") {
        return Err(KubeError::conflict(&t.def.qualified(), name));
    }
    let Some(replicas) = wanted["spec"]["replicas"].as_i64().filter(|r| *r >= 0) else {
        return Err(KubeError::new(
            422,
            "Invalid",
            format!(
                "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                wanted["spec"]["replicas"]
            ),
        ));
    };
    let mut obj = current.clone();
    obj["spec"]["replicas"] = json!(replicas);
    bump_generation(&current, &mut obj);
    if req.method != "GET" {
        let now = world.now_ts();
        managed::record_update(Some(&current), &mut obj, &writer(req, t, &now));
    }
    if req.dry_run() {
        return ok(scale_of(&obj));
    }
    let stored = world
        .kube
        .replace(t.def.plural, obj)
        .map_err(invalid(t, name))?;
    world.after_update(t.def.plural, &ns, name);
    ok(scale_of(&stored))
}

/// The sandbox's user: the cluster creator, whom EKS maps to
/// system:masters, so every access review is allowed.
fn review(req: &KubeRequest, def: &ResourceDef) -> Result<Response, KubeError> {
    let mut obj = parse_body(req)?;
    if !obj.is_object() {
        return Err(KubeError::bad_request("the request body must be an object"));
    }
    obj["kind"] = json!(def.kind);
    obj["apiVersion"] = json!(def.api_version());
    obj["metadata"]["creationTimestamp"] = Value::Null;
    obj["status"] = match def.plural {
        "selfsubjectaccessreviews" => json!({
            "allowed": true,
            "reason": "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"",
        }),
        "selfsubjectrulesreviews" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        _ => json!({"userInfo": {
            "username": "kubernetes-admin",
            "uid": "aws-iam-authenticator:123456789012:AROASANDBOXADMIN0000",
            "groups": ["system:masters", "system:authenticated"],
            "extra": {
                "arn": ["arn:aws:sts::123456789012:assumed-role/sandbox-admin/runbook"],
                "canonicalArn": ["arn:aws:iam::123456789012:role/sandbox-admin"],
                "sessionName": ["runbook"],
            },
        }}),
    };
    created(obj)
}

fn ns_key<'a>(t: &Target<'a>) -> &'a str {
    if t.def.namespaced {
        t.ns.unwrap_or("default")
    } else {
        ""
    }
}

/// Who a write is by: its field manager (`fieldManager`, else the
/// User-Agent) writing through this resource's API version.
fn writer<'a>(req: &'a KubeRequest, t: &Target<'a>, now: &'a str) -> Writer<'a> {
    Writer {
        manager: managed::manager_of(
            req.query.get("fieldManager").map(String::as_str),
            req.user_agent,
        ),
        api_version: t.def.api_version(),
        subresource: t.sub,
        time: now,
    }
}

fn get(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
) -> Result<Response, KubeError> {
    let obj = world
        .kube
        .get(t.def.plural, ns_key(t), name)
        .ok_or_else(|| KubeError::not_found(&t.def.qualified(), name))?;
    if wants_table(req) {
        let now = world.epoch_ms + world.now_ms as i64;
        let full = req
            .query
            .get("includeObject")
            .is_some_and(|v| v == "Object");
        return ok(table::table(
            t.def.plural,
            std::iter::once(&*obj),
            now,
            world.kube.resource_version(),
            None,
            full,
        ));
    }
    ok(obj.into_owned())
}

fn wants_table(req: &KubeRequest) -> bool {
    req.accept.contains("as=Table")
}

fn selectors(req: &KubeRequest) -> Result<(LabelSelector, FieldSelector), KubeError> {
    let labels = match req.query.get("labelSelector") {
        Some(s) => LabelSelector::parse(s).map_err(KubeError::bad_request)?,
        None => LabelSelector::default(),
    };
    let fields = match req.query.get("fieldSelector") {
        Some(s) => FieldSelector::parse(s).map_err(KubeError::bad_request)?,
        None => FieldSelector::default(),
    };
    Ok((labels, fields))
}

fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Result<(String, String), KubeError> {
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let text = bytes
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| KubeError::bad_request("invalid continue token"))?;
    let (ns, name) = text
        .split_once('/')
        .ok_or_else(|| KubeError::bad_request("invalid continue token"))?;
    Ok((ns.to_string(), name.to_string()))
}

fn list(world: &mut World, req: &KubeRequest, t: &Target) -> Result<Response, KubeError> {
    world.kube.keep_history();
    let (labels, fields) = selectors(req)?;
    let limit: usize = req
        .query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let after = match req.query.get("continue") {
        Some(c) if !c.is_empty() => Some(decode_continue(c)?),
        _ => None,
    };
    let ns = if t.def.namespaced { t.ns } else { None };
    // Unfiltered whole-collection lists (kube-rs `list` of all nodes, say)
    // are the same bytes until something changes: serialize them once.
    let whole = ns.is_none()
        && after.is_none()
        && limit == usize::MAX
        && !req.query.contains_key("labelSelector")
        && !req.query.contains_key("fieldSelector")
        && !wants_table(req);
    if whole && let Some(body) = world.kube.cached_list_body(t.def.plural) {
        return Ok(json_bytes(body));
    }
    let mut items: Vec<Cow<Value>> = Vec::new();
    let mut next = None;
    for (key, obj) in world.kube.list(t.def.plural, ns) {
        if after
            .as_ref()
            .is_some_and(|a| key <= (a.0.as_str(), a.1.as_str()))
        {
            continue;
        }
        if !labels.matches(&obj["metadata"]["labels"]) || !fields.matches(&obj) {
            continue;
        }
        if items.len() == limit {
            let last = items.last().expect("limit > 0");
            next = Some(encode_continue(
                meta_str(last, "namespace"),
                meta_str(last, "name"),
            ));
            break;
        }
        items.push(obj);
    }
    let rv = world.kube.resource_version();
    if wants_table(req) {
        let now = world.epoch_ms + world.now_ms as i64;
        let full = req
            .query
            .get("includeObject")
            .is_some_and(|v| v == "Object");
        return ok(table::table(
            t.def.plural,
            items.iter().map(|o| &**o),
            now,
            rv,
            next,
            full,
        ));
    }
    // Serialize straight from the store: no per-request copy of the objects.
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = &next {
        meta["continue"] = json!(c);
    }
    let mut out = Vec::with_capacity(items.len() * 2048 + 128);
    out.extend_from_slice(b"{\"kind\":\"");
    out.extend_from_slice(t.def.kind.as_bytes());
    out.extend_from_slice(b"List\",\"apiVersion\":\"");
    out.extend_from_slice(t.def.api_version().as_bytes());
    out.extend_from_slice(b"\",\"metadata\":");
    serde_json::to_writer(&mut out, &meta)
        .map_err(|e| KubeError::new(500, "InternalError", e.to_string()))?;
    out.extend_from_slice(b",\"items\":[");
    for (i, obj) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &**obj)
            .map_err(|e| KubeError::new(500, "InternalError", e.to_string()))?;
    }
    out.extend_from_slice(b"]}");
    let body = axum::body::Bytes::from(out);
    if whole {
        world.kube.cache_list_body(t.def.plural, body.clone());
    }
    Ok(json_bytes(body))
}

fn json_bytes(body: axum::body::Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn watch_plan(world: &mut World, req: &KubeRequest, t: &Target) -> KubeReply {
    let (labels, fields) = match selectors(req) {
        Ok(s) => s,
        Err(e) => return KubeReply::Response(e.into_response()),
    };
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let bookmarks = req
        .query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let send_initial = req
        .query
        .get("sendInitialEvents")
        .is_some_and(|v| v == "true");
    let rv_param = req
        .query
        .get("resourceVersion")
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<u64>());
    let ns = if t.def.namespaced {
        t.ns.map(str::to_string)
    } else {
        None
    };
    let current = world.kube.resource_version();
    let mut plan = WatchPlan {
        resource: t.def.plural,
        kind: t.def.kind,
        api_version: t.def.api_version(),
        ns,
        labels,
        fields,
        initial: Vec::new(),
        rx: world.kube.subscribe(),
        after_rv: current,
        timeout,
        bookmarks,
        current_rv: current,
        table: wants_table(req).then(|| {
            req.query
                .get("includeObject")
                .is_some_and(|v| v == "Object")
        }),
    };
    let now = world.epoch_ms + world.now_ms as i64;
    match rv_param {
        Some(Err(_)) => {
            return KubeReply::Response(
                KubeError::bad_request("invalid resourceVersion").into_response(),
            );
        }
        Some(Ok(rv)) if rv != 0 && !send_initial => match world.kube.subscribe_from(rv) {
            Some((backlog, rx)) => {
                plan.rx = rx;
                plan.initial = backlog
                    .iter()
                    .filter_map(|e| {
                        let kind = plan.sees(e)?;
                        Some(json!({"type": kind.as_str(), "object": plan.render(&e.object, e.at_unix_ms)}))
                    })
                    .collect();
            }
            None => {
                let mut resp = Response::new(axum::body::Body::from(watch::gone_line(rv)));
                resp.headers_mut().insert(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                );
                return KubeReply::Response(resp);
            }
        },
        _ => {
            // No resourceVersion (or 0): start with the current state.
            plan.initial = world
                .kube
                .list(t.def.plural, plan.ns.as_deref())
                .filter(|(_, o)| plan.matches(o))
                .map(|(_, o)| watch::added(&plan.render(&o, now)))
                .collect();
            if send_initial {
                plan.initial.push(json!({"type": "BOOKMARK", "object": {
                    "kind": t.def.kind, "apiVersion": t.def.api_version(),
                    "metadata": {"resourceVersion": current.to_string(),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}));
            }
        }
    }
    KubeReply::Watch(plan)
}

fn parse_body(req: &KubeRequest) -> Result<Value, KubeError> {
    if req.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(req.body).or_else(|e| {
        // kubectl sends JSON; a YAML body is accepted as the API server does.
        std::str::from_utf8(req.body)
            .ok()
            .and_then(|text| serde_saphyr::from_str::<Value>(text).ok())
            .ok_or_else(|| {
                KubeError::bad_request(format!("the request body is not valid JSON: {e}"))
            })
    })
}

fn create(world: &mut World, req: &KubeRequest, t: &Target) -> Result<Response, KubeError> {
    let mut obj = parse_body(req)?;
    if !obj.is_object() {
        return Err(KubeError::bad_request("the request body must be an object"));
    }
    let ns = ns_key(t).to_string();
    if t.def.namespaced {
        let body_ns = meta_str(&obj, "namespace");
        if !body_ns.is_empty() && body_ns != ns {
            return Err(KubeError::bad_request(format!(
                "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
            )));
        }
        match world.kube.untyped("namespaces", "", &ns) {
            None => return Err(KubeError::not_found("namespaces", &ns)),
            Some(n) if is_terminating(n) => {
                return Err(KubeError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        t.def.plural,
                        meta_str(&obj, "name")
                    ),
                ));
            }
            Some(_) => {}
        }
        obj["metadata"]["namespace"] = json!(ns);
    }
    let dry = req.dry_run();
    let mut name = meta_str(&obj, "name").to_string();
    if name.is_empty() {
        let prefix = meta_str(&obj, "generateName").to_string();
        if prefix.is_empty() {
            return Err(KubeError::new(
                422,
                "Invalid",
                format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    t.def.kind
                ),
            ));
        }
        // A dry run must not move the world's RNG (it would rename what
        // later real requests create).
        let suffix = if dry {
            "dryrn".to_string()
        } else {
            world.suffix(5)
        };
        name = format!("{prefix}{suffix}");
        obj["metadata"]["name"] = json!(name);
    }
    if world.kube.contains(t.def.plural, &ns, &name) {
        return Err(KubeError::already_exists(&t.def.qualified(), &name));
    }
    obj["kind"] = json!(t.def.kind);
    obj["apiVersion"] = json!(t.def.api_version());
    obj["metadata"]["uid"] = json!(if dry {
        "00000000-0000-4000-8000-000000000000".to_string()
    } else {
        world.uid()
    });
    obj["metadata"]["creationTimestamp"] = json!(world.now_ts());
    if !obj["spec"].is_null() && t.def.group == "apps" {
        obj["metadata"]["generation"] = json!(1);
    }
    // An apply that creates brings its own entry; a client may also set
    // managedFields explicitly, as the API server allows.
    let has_owners = obj["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|m| !m.is_empty());
    if !has_owners {
        let now = world.now_ts();
        managed::record_update(None, &mut obj, &writer(req, t, &now));
    }
    if t.def.plural == "pods" && obj["status"]["phase"].is_null() {
        obj["status"] = json!({"phase": "Pending", "qosClass": "Burstable"});
    }
    if dry {
        obj["metadata"]["resourceVersion"] = json!(world.kube.resource_version().to_string());
        let checked = Record::parse(t.def.plural, obj).map_err(invalid(t, &name))?;
        return created(checked.render().into_owned());
    }
    let stored = world
        .kube
        .insert(t.def.plural, obj)
        .map_err(invalid(t, &name))?;
    world.after_create(t.def.plural, &stored);
    super::custom::created(world, t.def.plural, &stored);
    created(stored)
}

fn bump_generation(old: &Value, new: &mut Value) {
    if old["spec"] != new["spec"] {
        let g = old["metadata"]["generation"].as_u64().unwrap_or(0);
        if g > 0 {
            new["metadata"]["generation"] = json!(g + 1);
        }
    }
}

fn keep_identity(old: &Value, new: &mut Value, def: &ResourceDef) {
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "name",
        "namespace",
    ] {
        if !old["metadata"][f].is_null() {
            new["metadata"][f] = old["metadata"][f].clone();
        }
    }
    new["kind"] = json!(def.kind);
    new["apiVersion"] = json!(def.api_version());
}

fn store_update(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
    new: Value,
) -> Result<Response, KubeError> {
    if req.dry_run() {
        let checked = Record::parse(t.def.plural, new).map_err(invalid(t, name))?;
        return ok(checked.render().into_owned());
    }
    let ns = ns_key(t).to_string();
    let stored = world
        .kube
        .replace(t.def.plural, new)
        .map_err(invalid(t, name))?;
    world.after_update(t.def.plural, &ns, name);
    ok(stored)
}

fn replace(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
) -> Result<Response, KubeError> {
    let mut obj = parse_body(req)?;
    if !obj.is_object() {
        return Err(KubeError::bad_request("the request body must be an object"));
    }
    let ns = ns_key(t);
    let body_name = meta_str(&obj, "name");
    if !body_name.is_empty() && body_name != name {
        return Err(KubeError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let current = world
        .kube
        .get(t.def.plural, ns, name)
        .ok_or_else(|| KubeError::not_found(&t.def.qualified(), name))?
        .into_owned();
    let want_rv = meta_str(&obj, "resourceVersion");
    if !want_rv.is_empty() && want_rv != meta_str(&current, "resourceVersion") {
        return Err(KubeError::conflict(&t.def.qualified(), name));
    }
    if t.sub == Some("status") {
        let status = obj["status"].clone();
        obj = current.clone();
        obj["status"] = status;
    } else if t.def.plural != "leases" && !current["status"].is_null() && obj["status"].is_null() {
        // The main resource ignores status changes (status is a subresource).
        obj["status"] = current["status"].clone();
    }
    if t.def.namespaced {
        obj["metadata"]["namespace"] = json!(ns);
    }
    keep_identity(&current, &mut obj, t.def);
    bump_generation(&current, &mut obj);
    let now = world.now_ts();
    managed::record_update(Some(&current), &mut obj, &writer(req, t, &now));
    store_update(world, req, t, name, obj)
}

fn patch_object(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
) -> Result<Response, KubeError> {
    let Some(kind) = PatchKind::from_content_type(req.content_type) else {
        return Err(KubeError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {})",
                req.content_type
            ),
        ));
    };
    let force = match req.query.get("force").map(String::as_str) {
        None | Some("false") => false,
        Some(_) if kind != PatchKind::Apply => {
            return Err(patch_options_invalid(
                "force: Forbidden: may not be specified for non-apply patch",
            ));
        }
        Some(_) => true,
    };
    if kind == PatchKind::Apply && req.query.get("fieldManager").is_none_or(|m| m.is_empty()) {
        return Err(patch_options_invalid(
            "fieldManager: Required value: is required for apply patch",
        ));
    }
    let body = parse_body(req)?;
    let ns = ns_key(t).to_string();
    let now = world.now_ts();
    let current = match world.kube.get(t.def.plural, &ns, name) {
        Some(c) => c.into_owned(),
        None if kind == PatchKind::Apply => {
            // Server-side apply creates what does not exist yet.
            let obj = managed::apply(&Value::Null, &body, &writer(req, t, &now), force)?;
            return create_from_apply(world, req, t, name, obj);
        }
        None => return Err(KubeError::not_found(&t.def.qualified(), name)),
    };
    let want_rv = meta_str(&body, "resourceVersion");
    if !want_rv.is_empty() && want_rv != meta_str(&current, "resourceVersion") {
        return Err(KubeError::conflict(&t.def.qualified(), name));
    }
    let mut obj = if kind == PatchKind::Apply {
        managed::apply(&current, &body, &writer(req, t, &now), force)?
    } else {
        let mut obj = current.clone();
        patch::apply(&mut obj, kind, &body).map_err(|e| KubeError::new(422, "Invalid", e))?;
        managed::record_update(Some(&current), &mut obj, &writer(req, t, &now));
        obj
    };
    keep_identity(&current, &mut obj, t.def);
    bump_generation(&current, &mut obj);
    store_update(world, req, t, name, obj)
}

/// A 422 about the request's PatchOptions, as the API server words it.
fn patch_options_invalid(detail: &str) -> KubeError {
    KubeError::new(
        422,
        "Invalid",
        format!("PatchOptions.meta.k8s.io \"\" is invalid: {detail}"),
    )
}

fn create_from_apply(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
    mut body: Value,
) -> Result<Response, KubeError> {
    body["metadata"]["name"] = json!(name);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let inner = KubeRequest {
        method: "POST",
        path: req.path,
        query: req.query.clone(),
        accept: req.accept,
        content_type: "application/json",
        body: &bytes,
        host: req.host,
        user_agent: req.user_agent,
    };
    create(world, &inner, t)
}

fn delete(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
) -> Result<Response, KubeError> {
    let ns = ns_key(t).to_string();
    let current = world
        .kube
        .get(t.def.plural, &ns, name)
        .ok_or_else(|| KubeError::not_found(&t.def.qualified(), name))?
        .into_owned();
    let opts = parse_body(req)?;
    let pre = &opts["preconditions"];
    if let Some(uid) = pre["uid"].as_str()
        && uid != meta_str(&current, "uid")
    {
        return Err(KubeError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                t.def.qualified(),
                meta_str(&current, "uid")
            ),
        ));
    }
    if let Some(rv) = pre["resourceVersion"].as_str()
        && rv != meta_str(&current, "resourceVersion")
    {
        return Err(KubeError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                t.def.qualified(),
                meta_str(&current, "resourceVersion")
            ),
        ));
    }
    if req.dry_run()
        || opts["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"))
    {
        return ok(current);
    }
    let last = if t.def.plural == "pods" {
        world.delete_pod(&ns, name, grace_period(req, &opts))
    } else {
        world.delete(t.def.plural, &ns, name)
    }
    .unwrap_or(current);
    collect_garbage(world, meta_str(&last, "uid"));
    ok(last)
}

/// DeleteOptions' `gracePeriodSeconds`, in the body or the query.
fn grace_period(req: &KubeRequest, opts: &Value) -> Option<u64> {
    opts["gracePeriodSeconds"].as_u64().or_else(|| {
        req.query
            .get("gracePeriodSeconds")
            .and_then(|g| g.parse().ok())
    })
}

/// Background cascading deletion: dependents of a deleted owner go too.
fn collect_garbage(world: &mut World, owner_uid: &str) {
    if owner_uid.is_empty() {
        return;
    }
    for resource in ["replicasets", "pods", "persistentvolumeclaims"] {
        let dependents: Vec<(String, String, String)> = world
            .kube
            .records(resource, None)
            .filter(|(_, o)| controller_of(&o.extra).is_some_and(|(_, _, u)| u == owner_uid))
            .map(|(k, o)| {
                (
                    k.0.to_string(),
                    k.1.to_string(),
                    meta_str(&o.extra, "uid").to_string(),
                )
            })
            .collect();
        for (ns, name, uid) in dependents {
            world.delete(resource, &ns, &name);
            collect_garbage(world, &uid);
        }
    }
}

fn delete_collection(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
) -> Result<Response, KubeError> {
    let (labels, fields) = selectors(req)?;
    let ns = if t.def.namespaced { t.ns } else { None };
    let victims: Vec<(String, String)> = world
        .kube
        .list(t.def.plural, ns)
        .filter(|(_, o)| labels.matches(&o["metadata"]["labels"]) && fields.matches(o))
        .map(|(k, _)| (k.0.to_string(), k.1.to_string()))
        .collect();
    let mut items = Vec::new();
    for (ns, name) in victims {
        if req.dry_run() {
            if let Some(o) = world.kube.get(t.def.plural, &ns, &name) {
                items.push(o.into_owned());
            }
        } else if let Some(o) = world.delete(t.def.plural, &ns, &name) {
            collect_garbage(world, meta_str(&o, "uid"));
            items.push(o);
        }
    }
    ok(
        json!({"kind": format!("{}List", t.def.kind), "apiVersion": t.def.api_version(),
              "metadata": {"resourceVersion": world.kube.resource_version().to_string()}, "items": items}),
    )
}

fn evict(
    world: &mut World,
    req: &KubeRequest,
    t: &Target,
    name: &str,
) -> Result<Response, KubeError> {
    let ns = ns_key(t).to_string();
    let body = parse_body(req)?;
    let pod = world
        .kube
        .get("pods", &ns, name)
        .ok_or_else(|| KubeError::not_found("pods", name))?
        .into_owned();
    let dry = req.dry_run()
        || body["deleteOptions"]["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    match eviction::check(world, &pod) {
        Ok(()) => {
            if !dry {
                let now = world.now_ts();
                world.kube.modify("pods", &ns, name, |p| {
                    disruption_target(p, &now);
                    true
                });
                world.delete_pod(&ns, name, grace_period(req, &body["deleteOptions"]));
            }
            created(success(201))
        }
        Err(denial @ Denial::Budget(_)) => Err(KubeError {
            code: 429,
            reason: "TooManyRequests",
            message: VIOLATION.to_string(),
            details: json!({"causes": [{"reason": "DisruptionBudget", "message": denial.cause()}]}),
        }),
        Err(denial @ Denial::MultipleBudgets) => {
            Err(KubeError::new(500, "InternalError", denial.cause()))
        }
    }
}

/// The condition the eviction API adds before deleting a pod (Kubernetes
/// 1.26+), kept when the kubelet next writes the pod's status.
fn disruption_target(pod: &mut Value, now: &str) {
    let condition = json!({"type": "DisruptionTarget", "status": "True",
        "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting",
        "lastTransitionTime": now});
    match pod["status"]["conditions"].as_array_mut() {
        Some(cs) => {
            cs.retain(|c| c["type"] != "DisruptionTarget");
            cs.push(condition);
        }
        None => pod["status"]["conditions"] = json!([condition]),
    }
}
