//! Watches: a plan taken under the world lock (backlog + live receiver), then
//! streamed as newline-delimited JSON events without holding the lock.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::selectors::{FieldSelector, LabelSelector};
use super::store::{EventType, WatchEvent};

pub struct WatchPlan {
    pub resource: &'static str,
    pub kind: &'static str,
    pub api_version: String,
    pub ns: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Events to send before live ones (initial ADDED state or history).
    pub initial: Vec<Value>,
    pub rx: broadcast::Receiver<Arc<WatchEvent>>,
    pub after_rv: u64,
    pub timeout: Duration,
    pub bookmarks: bool,
    pub current_rv: u64,
    /// `as=Table`: each object is sent as a one-row Table (Some(true) with
    /// `includeObject=Object`).
    pub table: Option<bool>,
}

impl WatchPlan {
    /// The event this watch sees, as the API server sends it: an object
    /// modified into the selector is ADDED, one modified out of it is
    /// DELETED (in its new state), and one outside it before and after is
    /// not sent.
    pub fn sees(&self, ev: &WatchEvent) -> Option<EventType> {
        if ev.resource != self.resource {
            return None;
        }
        let now = self.matches(&ev.object);
        let before = match (&ev.kind, &ev.previous) {
            (EventType::Modified, Some(previous)) => self.matches(previous),
            _ => now,
        };
        match (before, now) {
            (true, true) => Some(ev.kind),
            (false, true) => Some(EventType::Added),
            (true, false) => Some(EventType::Deleted),
            (false, false) => None,
        }
    }

    /// An event's object as this watch sends it.
    pub fn render(&self, object: &Value, at_unix_ms: i64) -> Value {
        match self.table {
            None => object.clone(),
            Some(full) => super::table::table(
                self.resource,
                std::iter::once(object),
                at_unix_ms,
                self.current_rv,
                None,
                full,
            ),
        }
    }

    /// A watch event line.
    pub fn line(&self, kind: &str, object: &Value, at_unix_ms: i64) -> Bytes {
        match self.table {
            None => event_line(kind, object),
            Some(_) => event_line(kind, &self.render(object, at_unix_ms)),
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.ns
            && obj["metadata"]["namespace"].as_str() != Some(ns.as_str())
        {
            return false;
        }
        self.labels.matches(&obj["metadata"]["labels"]) && self.fields.matches(obj)
    }
}

pub fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut s = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    s.push(b'\n');
    Bytes::from(s)
}

pub fn gone_line(rv: u64) -> Bytes {
    event_line(
        "ERROR",
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {rv}"), "reason": "Expired", "code": 410}),
    )
}

pub fn respond(plan: WatchPlan) -> Response {
    let deadline = tokio::time::Instant::now() + plan.timeout;
    let initial: Vec<Result<Bytes, std::io::Error>> = plan
        .initial
        .iter()
        .map(|ev| {
            let mut v = serde_json::to_vec(ev).unwrap_or_default();
            v.push(b'\n');
            Ok(Bytes::from(v))
        })
        .collect();
    let live = stream::unfold(
        (plan, deadline, tokio::time::Instant::now()),
        |(mut plan, deadline, mut last_bookmark)| async move {
            loop {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return None;
                }
                let wait = if plan.bookmarks {
                    (last_bookmark + Duration::from_secs(1)).min(deadline)
                } else {
                    deadline
                };
                match tokio::time::timeout_at(wait, plan.rx.recv()).await {
                    Ok(Ok(ev)) => {
                        if ev.rv > plan.current_rv {
                            plan.current_rv = ev.rv;
                        }
                        if let Some(kind) = plan.sees(&ev).filter(|_| ev.rv > plan.after_rv) {
                            let line = plan.line(kind.as_str(), &ev.object, ev.at_unix_ms);
                            return Some((
                                Ok::<Bytes, std::io::Error>(line),
                                (plan, deadline, last_bookmark),
                            ));
                        }
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        // Too far behind to be exact: end the watch, the
                        // client re-lists (as after an apiserver restart).
                        return Some((Ok(gone_line(plan.after_rv)), (plan, now, last_bookmark)));
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                    Err(_) if plan.bookmarks && tokio::time::Instant::now() < deadline => {
                        last_bookmark = tokio::time::Instant::now();
                        let obj = json!({"kind": plan.kind, "apiVersion": plan.api_version,
                                         "metadata": {"resourceVersion": plan.current_rv.to_string()}});
                        return Some((
                            Ok(event_line("BOOKMARK", &obj)),
                            (plan, deadline, last_bookmark),
                        ));
                    }
                    Err(_) => return None,
                }
            }
        },
    );
    let body = Body::from_stream(stream::iter(initial).chain(live));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The event type for initial state.
pub fn added(obj: &Value) -> Value {
    json!({"type": EventType::Added.as_str(), "object": obj})
}
