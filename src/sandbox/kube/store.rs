//! A generic in-memory object store: records (typed model plus JSON, see
//! `state::typed`) keyed by resource, namespace and name, one
//! resourceVersion counter, and a bounded event history that watches resume
//! from. JSON is rendered here, at the edge: `get` and `list` for clients,
//! and the objects of watch events, only while someone may watch.
//!
//! Objects sit in namespace → name maps so lookups borrow `&str` keys
//! (no key allocation per get) and hash names, while lists keep
//! (namespace, name) order.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::ordered_map::OrderedMap;
use crate::sandbox::state::typed::{Model, Record};

/// Events kept for watches that resume from an older resourceVersion.
const HISTORY: usize = 50_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct WatchEvent {
    pub rv: u64,
    pub resource: &'static str,
    pub kind: EventType,
    pub object: Value,
    /// For MODIFIED: the object before, so a filtered watch can tell an
    /// object entering its selector (ADDED) or leaving it (DELETED).
    pub previous: Option<Value>,
    /// Simulated Unix time of the change (a Table row's AGE is taken then).
    pub at_unix_ms: i64,
}

pub type Key = (String, String);

/// Objects of one resource: namespace → name → record.
type Objects = BTreeMap<String, OrderedMap<Record>>;

/// Events to replay plus a receiver for live ones.
pub type Subscription = (Vec<Arc<WatchEvent>>, broadcast::Receiver<Arc<WatchEvent>>);

pub struct Store {
    rv: u64,
    objects: HashMap<&'static str, Objects>,
    history: VecDeque<Arc<WatchEvent>>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
    /// While the world is built nobody can watch: skip event copies.
    quiet: bool,
    /// History is only kept once some client has listed or watched (a watch
    /// always follows a list): until then no event copies are made.
    watched: std::sync::atomic::AtomicBool,
    /// Serialized whole-collection list bodies, valid while the store's
    /// resourceVersion is the one they were built at (any write bumps it).
    list_bodies: HashMap<&'static str, (u64, axum::body::Bytes)>,
    /// Simulated Unix time, kept by the simulation as it advances.
    pub now_unix_ms: i64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or("")
}

fn key_of(obj: &Value) -> Key {
    (
        meta_str(obj, "namespace").to_string(),
        meta_str(obj, "name").to_string(),
    )
}

impl Store {
    pub fn new() -> Store {
        let (tx, _) = broadcast::channel(65_536);
        Store {
            rv: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            tx,
            quiet: false,
            watched: Default::default(),
            list_bodies: HashMap::new(),
            now_unix_ms: 0,
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// An object as clients see it (rendered from its record).
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Cow<'_, Value>> {
        self.record(resource, ns, name).map(Record::render)
    }

    /// An object's record: its typed model and the rest of its JSON.
    pub fn record(&self, resource: &str, ns: &str, name: &str) -> Option<&Record> {
        self.objects.get(resource)?.get(ns)?.get(name)
    }

    /// An object of a kind without a model yet, borrowed: the simulation's
    /// reads of kinds still kept as JSON. None for a typed kind (read its
    /// `record`), so no caller can miss the modelled fields.
    pub fn untyped(&self, resource: &str, ns: &str, name: &str) -> Option<&Value> {
        let rec = self.record(resource, ns, name)?;
        debug_assert!(matches!(rec.model, Model::Json), "{resource} is typed");
        matches!(rec.model, Model::Json).then_some(&rec.extra)
    }

    /// Objects of a kind without a model yet, borrowed, as `list` orders them.
    pub fn list_untyped<'a>(
        &'a self,
        resource: &str,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = ((&'a str, &'a str), &'a Value)> + 'a {
        self.records(resource, ns)
            .filter(|(_, r)| matches!(r.model, Model::Json))
            .map(|(k, r)| (k, &r.extra))
    }

    fn get_mut(&mut self, resource: &str, ns: &str, name: &str) -> Option<&mut Record> {
        self.objects.get_mut(resource)?.get_mut(ns)?.get_mut(name)
    }

    /// Objects of a resource as clients see them (all namespaces when `ns`
    /// is None), in (namespace, name) order.
    pub fn list<'a>(
        &'a self,
        resource: &str,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = ((&'a str, &'a str), Cow<'a, Value>)> + 'a {
        self.records(resource, ns).map(|(k, r)| (k, r.render()))
    }

    /// Records of a resource, in (namespace, name) order.
    pub fn records<'a>(
        &'a self,
        resource: &str,
        ns: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = ((&'a str, &'a str), &'a Record)> + 'a> {
        let Some(map) = self.objects.get(resource) else {
            return Box::new(std::iter::empty());
        };
        let in_ns = |(ns, objs): (&'a String, &'a OrderedMap<Record>)| {
            objs.iter().map(move |(name, v)| ((ns.as_str(), name), v))
        };
        match ns {
            None => Box::new(map.iter().flat_map(in_ns)),
            Some(ns) => Box::new(map.get_key_value(ns).into_iter().flat_map(in_ns)),
        }
    }

    /// The cached list body of a whole resource, if built at the current version.
    pub fn cached_list_body(&self, resource: &str) -> Option<axum::body::Bytes> {
        self.list_bodies
            .get(resource)
            .filter(|(rv, _)| *rv == self.rv)
            .map(|(_, b)| b.clone())
    }

    pub fn cache_list_body(&mut self, resource: &'static str, body: axum::body::Bytes) {
        self.list_bodies.insert(resource, (self.rv, body));
    }

    pub fn count(&self, resource: &str) -> usize {
        self.objects
            .get(resource)
            .map_or(0, |m| m.values().map(OrderedMap::len).sum())
    }

    pub fn contains(&self, resource: &str, ns: &str, name: &str) -> bool {
        self.record(resource, ns, name).is_some()
    }

    fn bump(&mut self, obj: &mut Value) -> u64 {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.rv
    }

    /// Record no watch events until `set_quiet(false)`; watches can only
    /// start after that point.
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    /// Whether the world is being built (nothing can observe it yet).
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether writes are recorded as watch events (some client has
    /// listed or watched since the world was built).
    pub fn recording(&self) -> bool {
        !self.quiet && self.watched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Record an event; callers check `recording()` first so objects are
    /// only copied when someone may watch.
    fn emit(
        &mut self,
        resource: &'static str,
        kind: EventType,
        object: Value,
        previous: Option<Value>,
        rv: u64,
    ) {
        let ev = Arc::new(WatchEvent {
            rv,
            resource,
            kind,
            object,
            previous,
            at_unix_ms: self.now_unix_ms,
        });
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(ev.clone());
        // No receivers is normal; lagging receivers re-list.
        let _ = self.tx.send(ev);
    }

    /// Insert a new object (the caller checked it does not exist). Err when
    /// a field the sandbox models has the wrong shape (the API server's 422).
    pub fn insert(&mut self, resource: &'static str, obj: Value) -> Result<Value, String> {
        let rec = Record::parse(resource, obj)?;
        Ok(self
            .put(resource, rec, EventType::Added)
            .render()
            .into_owned())
    }

    /// Insert without rendering a copy back (the simulation's bulk creates).
    pub fn insert_quiet(&mut self, resource: &'static str, obj: Value) -> Result<(), String> {
        let rec = Record::parse(resource, obj)?;
        self.put(resource, rec, EventType::Added);
        Ok(())
    }

    /// Replace an existing object wholesale.
    pub fn replace(&mut self, resource: &'static str, obj: Value) -> Result<Value, String> {
        let rec = Record::parse(resource, obj)?;
        Ok(self
            .put(resource, rec, EventType::Modified)
            .render()
            .into_owned())
    }

    fn put(&mut self, resource: &'static str, mut rec: Record, kind: EventType) -> &Record {
        let rv = self.bump(&mut rec.extra);
        let (ns, name) = key_of(&rec.extra);
        if self.recording() {
            let previous = match kind {
                EventType::Modified => self.get(resource, &ns, &name).map(Cow::into_owned),
                _ => None,
            };
            self.emit(resource, kind, rec.render().into_owned(), previous, rv);
        }
        self.objects
            .entry(resource)
            .or_default()
            .entry(ns)
            .or_default()
            .insert(name, rec)
    }

    /// Edit an object's JSON in place; `f` returns whether it changed
    /// anything, and only a change bumps the resourceVersion and notifies
    /// watchers. A typed record is rendered, edited and parsed back (a
    /// change that breaks its model is dropped): the simulation writes
    /// typed fields with `modify_record`.
    pub fn modify(
        &mut self,
        resource: &'static str,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value) -> bool,
    ) -> bool {
        let Some(rec) = self.record(resource, ns, name) else {
            return false;
        };
        if matches!(rec.model, Model::Json) {
            return self.modify_record(resource, ns, name, |r| f(&mut r.extra));
        }
        let mut obj = rec.render().into_owned();
        if !f(&mut obj) {
            return false;
        }
        let Ok(new) = Record::parse(resource, obj) else {
            return false;
        };
        self.modify_record(resource, ns, name, |r| {
            *r = new;
            true
        })
    }

    /// Edit an object's record in place; `f` returns whether it changed
    /// anything, as for `modify`.
    pub fn modify_record(
        &mut self,
        resource: &'static str,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Record) -> bool,
    ) -> bool {
        let rv = self.rv + 1;
        let recording = self.recording();
        let Some(rec) = self.get_mut(resource, ns, name) else {
            return false;
        };
        let previous = recording.then(|| rec.render().into_owned());
        if !f(rec) {
            return false;
        }
        rec.extra["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        self.rv = rv;
        if recording {
            let snapshot = self.get(resource, ns, name).map(Cow::into_owned);
            if let Some(snapshot) = snapshot {
                self.emit(resource, EventType::Modified, snapshot, previous, rv);
            }
        }
        true
    }

    /// Remove an object; it is returned as clients saw it last.
    pub fn remove(&mut self, resource: &'static str, ns: &str, name: &str) -> Option<Value> {
        let by_ns = self.objects.get_mut(resource)?;
        let names = by_ns.get_mut(ns)?;
        let rec = names.remove(name)?;
        if names.is_empty() {
            by_ns.remove(ns);
        }
        let mut obj = match rec.model {
            Model::Json => rec.extra,
            _ => rec.render().into_owned(),
        };
        let rv = self.bump(&mut obj);
        if self.recording() {
            self.emit(resource, EventType::Deleted, obj.clone(), None, rv);
        }
        Some(obj)
    }

    /// Events after `rv` plus a live receiver, taken atomically. `None` when
    /// `rv` is older than the kept history (the client must re-list: 410).
    pub fn subscribe_from(&self, rv: u64) -> Option<Subscription> {
        self.watched
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let rx = self.tx.subscribe();
        if rv + 1 < self.history.front().map_or(self.rv + 1, |e| e.rv) && rv < self.rv {
            return None;
        }
        let backlog = self.history.iter().filter(|e| e.rv > rv).cloned().collect();
        Some((backlog, rx))
    }

    /// A client listed: it may watch from this version next.
    pub fn keep_history(&self) {
        self.watched
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a watch is open now.
    pub fn has_watchers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.watched
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modify_bumps_version_only_on_change_and_history_resumes() {
        let mut s = Store::new();
        let _rx = s.subscribe();
        s.insert("pods", json!({"metadata": {"namespace": "a", "name": "p"}}))
            .unwrap();
        let rv = s.resource_version();
        assert!(!s.modify("pods", "a", "p", |_| false));
        assert_eq!(s.resource_version(), rv);
        assert!(s.modify("pods", "a", "p", |o| {
            o["spec"] = json!({"x": 1});
            true
        }));
        assert_eq!(s.resource_version(), rv + 1);
        let (backlog, _) = s.subscribe_from(rv).unwrap();
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].kind, EventType::Modified);
        assert_eq!(s.list("pods", Some("a")).count(), 1);
        assert_eq!(s.list("pods", Some("b")).count(), 0);
    }

    #[test]
    fn cached_list_body_is_dropped_by_any_write() {
        let mut s = Store::new();
        s.insert("nodes", json!({"metadata": {"name": "n1"}}))
            .unwrap();
        s.cache_list_body("nodes", "body".into());
        assert_eq!(s.cached_list_body("nodes").as_deref(), Some(&b"body"[..]));
        assert!(s.modify("nodes", "", "n1", |o| {
            o["spec"] = json!({"unschedulable": true});
            true
        }));
        assert!(s.cached_list_body("nodes").is_none());
    }

    #[test]
    fn a_typed_change_is_watched_as_the_rendered_object() {
        let mut s = Store::new();
        let _rx = s.subscribe();
        let node = json!({"metadata": {"name": "n1"}, "spec": {"providerID": "p"}});
        s.insert("nodes", node).unwrap();
        let rv = s.resource_version();
        assert!(s.modify_record("nodes", "", "n1", |r| {
            r.node_mut()
                .is_some_and(|n| !std::mem::replace(&mut n.unschedulable, true))
        }));
        let (backlog, _) = s.subscribe_from(rv).unwrap();
        let ev = &backlog[0];
        assert_eq!(
            ev.object["spec"],
            json!({"providerID": "p", "unschedulable": true})
        );
        assert_eq!(
            ev.object["metadata"]["resourceVersion"],
            (rv + 1).to_string()
        );
        let before = ev
            .previous
            .as_ref()
            .expect("a MODIFIED event carries the old object");
        assert!(before["spec"].get("unschedulable").is_none());
        assert_eq!(s.get("nodes", "", "n1").unwrap()["spec"], ev.object["spec"]);
    }
}
