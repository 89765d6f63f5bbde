//! core/v1 Events as the scheduler, kubelet and controllers record them.
//!
//! A rotation starts and stops tens of thousands of pods, each with several
//! events. Building Event JSON for each would cost more than the rotation
//! itself, so events are kept as small records and only written into the
//! store when a client may look (`World::publish_events`), as pod statuses
//! are. Events expire after an hour (the API server's default `--event-ttl`),
//! and a repeat of the same event about the same object only bumps its count.

use std::collections::VecDeque;

use foldhash::HashMap;
use serde_json::{Value, json};

use super::objects::timestamp;
use crate::sandbox::kube::store::{Store, meta_str};

/// How long an event lives (kube-apiserver `--event-ttl`).
pub const EVENT_TTL_MS: u64 = 3600 * 1000;

/// The object an event is about.
#[derive(Clone, Debug)]
pub struct Subject {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Subject {
    /// The subject from an object's JSON.
    pub fn of(obj: &Value, kind: &'static str, api_version: &'static str) -> Subject {
        Subject {
            kind,
            api_version,
            namespace: meta_str(obj, "namespace").to_string(),
            name: meta_str(obj, "name").to_string(),
            uid: meta_str(obj, "uid").to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Event {
    pub at_ms: u64,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
    pub component: &'static str,
    pub subject: Subject,
}

/// What makes two events the same: (subject uid, reason, message).
type Key = (String, &'static str, String);

#[derive(Debug, Default)]
pub struct Events {
    /// Recorded, not yet in the store.
    pending: VecDeque<Event>,
    /// Stored events by creation time.
    stored: VecDeque<(u64, Key)>,
    /// Stored events by what a repeat must match, with their (namespace, name).
    by_key: HashMap<Key, (String, String)>,
    /// Makes names unique when several events share a millisecond.
    seq: u64,
}

impl Events {
    pub fn record(&mut self, event: Event) {
        // Nobody may ever read them: keep at most an hour's worth.
        while self
            .pending
            .front()
            .is_some_and(|e| e.at_ms + EVENT_TTL_MS < event.at_ms)
        {
            self.pending.pop_front();
        }
        self.pending.push_back(event);
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Write pending events into the store and expire old ones.
    pub fn publish(&mut self, store: &mut Store, epoch_ms: i64, now_ms: u64) {
        while let Some((at, _)) = self.stored.front() {
            if at + EVENT_TTL_MS > now_ms {
                break;
            }
            let (_, key) = self.stored.pop_front().expect("checked");
            if let Some((ns, name)) = self.by_key.remove(&key) {
                store.remove("events", &ns, &name);
            }
        }
        for e in std::mem::take(&mut self.pending) {
            if e.at_ms + EVENT_TTL_MS <= now_ms {
                continue;
            }
            let at = timestamp(epoch_ms, e.at_ms);
            let key = (e.subject.uid.clone(), e.reason, e.message.clone());
            if let Some((ns, name)) = self.by_key.get(&key) {
                let bumped = store.modify("events", ns, name, |ev| {
                    ev["count"] = json!(ev["count"].as_u64().unwrap_or(1) + 1);
                    ev["lastTimestamp"] = json!(at);
                    true
                });
                if bumped {
                    continue;
                }
            }
            let ns = match e.subject.namespace.as_str() {
                "" => "default".to_string(),
                ns => ns.to_string(),
            };
            // As client-go names them: the object's name and the time in hex.
            self.seq += 1;
            let nanos =
                (epoch_ms + e.at_ms as i64).max(0) as u64 * 1_000_000 + self.seq % 1_000_000;
            let name = format!("{}.{nanos:x}", e.subject.name);
            let involved = if e.subject.namespace.is_empty() {
                json!({"kind": e.subject.kind, "apiVersion": e.subject.api_version,
                       "name": e.subject.name, "uid": e.subject.uid})
            } else {
                json!({"kind": e.subject.kind, "apiVersion": e.subject.api_version,
                       "namespace": e.subject.namespace, "name": e.subject.name,
                       "uid": e.subject.uid})
            };
            let obj = json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": at},
                "involvedObject": involved,
                "reason": e.reason,
                "message": e.message,
                "type": if e.warning { "Warning" } else { "Normal" },
                "source": {"component": e.component},
                "reportingComponent": e.component,
                "reportingInstance": "",
                "firstTimestamp": at,
                "lastTimestamp": at,
                "eventTime": null,
                "count": 1,
            });
            // Events have no model: nothing to refuse.
            let _ = store.insert_quiet("events", obj);
            self.stored.push_back((e.at_ms, key.clone()));
            self.by_key.insert(key, (ns, name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: u64, reason: &'static str, message: &str) -> Event {
        Event {
            at_ms,
            warning: false,
            reason,
            message: message.to_string(),
            component: "kubelet",
            subject: Subject {
                kind: "Pod",
                api_version: "v1",
                namespace: "shop".into(),
                name: "web-1".into(),
                uid: "u1".into(),
            },
        }
    }

    #[test]
    fn repeats_bump_the_count_and_old_events_expire() {
        let mut store = Store::new();
        let mut events = Events::default();
        events.record(event(1_000, "BackOff", "Back-off pulling image \"x\""));
        events.record(event(2_000, "BackOff", "Back-off pulling image \"x\""));
        events.record(event(2_000, "Killing", "Stopping container web"));
        events.publish(&mut store, 0, 2_000);
        assert!(!events.has_pending());
        let stored: Vec<&Value> = store
            .list_untyped("events", Some("shop"))
            .map(|(_, e)| e)
            .collect();
        assert_eq!(stored.len(), 2);
        let backoff = stored.iter().find(|e| e["reason"] == "BackOff").unwrap();
        assert_eq!(backoff["count"], 2);
        assert_eq!(backoff["firstTimestamp"], "1970-01-01T00:00:01Z");
        assert_eq!(backoff["lastTimestamp"], "1970-01-01T00:00:02Z");
        assert_eq!(backoff["involvedObject"]["uid"], "u1");
        // An hour on, each expires in turn; events recorded meanwhile stay.
        events.record(event(
            EVENT_TTL_MS + 1_500,
            "Started",
            "Started container web",
        ));
        events.publish(&mut store, 0, EVENT_TTL_MS + 1_500);
        let left: Vec<&Value> = store
            .list_untyped("events", Some("shop"))
            .map(|(_, e)| e)
            .collect();
        assert_eq!(left.len(), 2, "the Killing event of 2 s is not expired yet");
        events.publish(&mut store, 0, EVENT_TTL_MS + 2_000);
        let left: Vec<&Value> = store
            .list_untyped("events", Some("shop"))
            .map(|(_, e)| e)
            .collect();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["reason"], "Started");
    }
}
