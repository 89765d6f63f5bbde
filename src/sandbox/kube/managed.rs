//! Field ownership as the API server keeps it for server-side apply:
//! `metadata.managedFields`, one entry per field manager and operation, each
//! holding the set of fields that manager last set (FieldsV1).
//!
//! An apply owns exactly the fields its configuration names. It conflicts
//! (409, reason Conflict, one `FieldManagerConflict` cause per field) when it
//! would change a field another manager owns, unless forced; forcing takes
//! the field over. A field the applier stops naming is removed when nobody
//! else owns it. Every other write (create, update, patch, scale) gives its
//! manager the fields it changed and takes them from everyone else.
//!
//! Only API writes are tracked: the simulated controllers and kubelet write
//! status, which no applier owns.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::patch;
use super::status::KubeError;

/// A field as FieldsV1 spells it: `f:spec`, `k:{"name":"web"}`, ... A set
/// holds leaves, and the keyed list items themselves (FieldsV1's `.`).
type Path = Vec<String>;
type FieldSet = BTreeSet<Path>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who writes: the field manager, the API version it wrote through, and the
/// subresource (`status`, `scale`) if any.
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: String,
    pub subresource: Option<&'a str>,
    /// RFC 3339 time of the write.
    pub time: &'a str,
}

#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    fn is(&self, w: &Writer, op: Operation) -> bool {
        self.manager == w.manager
            && self.operation == op
            && self.subresource.as_deref() == w.subresource
    }

    /// How a conflict message names this manager (as apimachinery's
    /// `printManager` does).
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn render(&self) -> Value {
        let mut e = json!({
            "manager": self.manager,
            "operation": self.operation.as_str(),
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": render_set(&self.fields),
        });
        if let Some(sub) = &self.subresource {
            e["subresource"] = json!(sub);
        }
        e
    }
}

fn entries_of(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj["metadata"]["managedFields"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let operation = match e["operation"].as_str()? {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                _ => return None,
            };
            let mut fields = FieldSet::new();
            parse_set(&e["fieldsV1"], &mut Vec::new(), &mut fields);
            Some(Entry {
                manager: e["manager"].as_str().unwrap_or("").to_string(),
                operation,
                api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                time: e["time"].as_str().unwrap_or("").to_string(),
                subresource: e["subresource"].as_str().map(str::to_string),
                fields,
            })
        })
        .collect()
}

/// Store `entries` (empty ones dropped) in the order the API server keeps:
/// appliers first, then by time and manager.
fn store_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (a.operation, &a.time, &a.manager).cmp(&(b.operation, &b.time, &b.manager))
    });
    if entries.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        return;
    }
    obj["metadata"]["managedFields"] = Value::Array(entries.iter().map(Entry::render).collect());
}

/// Metadata fields a manager can own; the rest is the server's.
const OWNED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// The fields an object sets. `status` is left out of an apply to the main
/// resource (the API server resets it there).
fn fields_of(obj: &Value, with_status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(top) = obj.as_object() else {
        return out;
    };
    for (k, v) in top {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if !with_status => {}
            "metadata" => {
                for f in OWNED_METADATA {
                    if let Some(v) = v.get(*f).filter(|v| !v.is_null()) {
                        let path = vec!["f:metadata".to_string(), format!("f:{f}")];
                        walk(v, f, path, &mut out);
                    }
                }
            }
            _ => walk(v, k, vec![format!("f:{k}")], &mut out),
        }
    }
    out
}

fn walk(v: &Value, field: &str, path: Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(format!("f:{k}"));
                walk(child, k, p, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let keyed = patch::merge_key(field).filter(|key| {
                items
                    .iter()
                    .all(|i| i.get(*key).is_some_and(|k| !k.is_null()))
            });
            match keyed {
                Some(key) => {
                    for item in items {
                        let mut p = path.clone();
                        p.push(item_key(key, &item[key]));
                        out.insert(p.clone());
                        if let Some(m) = item.as_object() {
                            for (k, child) in m {
                                let mut c = p.clone();
                                c.push(format!("f:{k}"));
                                walk(child, k, c, out);
                            }
                        }
                    }
                }
                // Lists without a merge key are atomic: one field.
                None => {
                    out.insert(path);
                }
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

fn item_key(key: &str, id: &Value) -> String {
    format!("k:{}", json!({ key: id }))
}

/// The value a path names in `obj` (a keyed list item, for an item path).
fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path {
        cur = if let Some(f) = seg.strip_prefix("f:") {
            cur.as_object()?.get(f)?
        } else if let Some(k) = seg.strip_prefix("k:") {
            let want: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur.as_array()?
                .iter()
                .find(|item| want.iter().all(|(k, v)| item.get(k) == Some(v)))?
        } else {
            return None;
        };
    }
    Some(cur)
}

/// Remove the field a path names (a whole item, for an item path).
fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parent {
        let next = if let Some(f) = seg.strip_prefix("f:") {
            cur.as_object_mut().and_then(|m| m.get_mut(f))
        } else if let Some(k) = seg.strip_prefix("k:") {
            let Ok(want) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut().and_then(|items| {
                items
                    .iter_mut()
                    .find(|item| want.iter().all(|(k, v)| item.get(k) == Some(v)))
            })
        } else {
            None
        };
        let Some(next) = next else {
            return;
        };
        cur = next;
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:")
        && let Ok(want) = serde_json::from_str::<Map<String, Value>>(k)
        && let Some(items) = cur.as_array_mut()
    {
        items.retain(|item| !want.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
}

/// A path as conflict messages print it: `.spec.containers[name="web"].image`.
fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = seg.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let inner: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", inner.join(",")));
        }
    }
    s
}

fn render_set(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            cur = cur
                .as_object_mut()
                .expect("fieldsV1 nodes are objects")
                .entry(seg.clone())
                .or_insert_with(|| json!({}));
        }
    }
    // A path that is both owned and has owned children is marked with ".".
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            cur = &mut cur[seg.as_str()];
        }
        if let Some(m) = cur.as_object_mut()
            && !m.is_empty()
        {
            m.insert(".".into(), json!({}));
        }
    }
    root
}

fn parse_set(v: &Value, path: &mut Path, out: &mut FieldSet) {
    let Some(m) = v.as_object() else {
        return;
    };
    if m.is_empty() && !path.is_empty() {
        out.insert(path.clone());
        return;
    }
    for (k, child) in m {
        if k == "." {
            out.insert(path.clone());
            continue;
        }
        path.push(k.clone());
        parse_set(child, path, out);
        path.pop();
    }
}

/// Whether a write's value at `path` differs from the live one. An item
/// path only counts when the item is new (its fields are compared one by one).
fn changes(live: &Value, new: &Value, path: &[String]) -> bool {
    let item = path.last().is_some_and(|s| s.starts_with("k:"));
    match (value_at(live, path), value_at(new, path)) {
        (Some(_), Some(_)) if item => false,
        (a, b) => a != b,
    }
}

/// Record a non-apply write (create, update, patch, scale): the writer owns
/// what it changed, others lose it, and fields that are gone are nobody's.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer) {
    let empty = Value::Null;
    let old = old.unwrap_or(&empty);
    let mut entries = entries_of(old);
    let before = fields_of(old, true);
    let after = fields_of(new, true);
    let changed: FieldSet = after
        .iter()
        .filter(|p| changes(old, new, p))
        .cloned()
        .collect();
    for e in &mut entries {
        e.fields.retain(|p| after.contains(p));
        if !e.is(w, Operation::Update) {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() || before != after {
        match entries.iter_mut().find(|e| e.is(w, Operation::Update)) {
            Some(e) => {
                e.fields.extend(changed);
                e.time = w.time.to_string();
                e.api_version = w.api_version.clone();
            }
            None => entries.push(Entry {
                manager: w.manager.to_string(),
                operation: Operation::Update,
                api_version: w.api_version.clone(),
                time: w.time.to_string(),
                subresource: w.subresource.map(str::to_string),
                fields: changed,
            }),
        }
    }
    store_entries(new, entries);
}

/// Server-side apply of `config` by `w` onto `live` (Null when the object
/// does not exist yet): the merged object with its new managedFields, or
/// the 409 naming every field another manager owns with another value.
pub fn apply(live: &Value, config: &Value, w: &Writer, force: bool) -> Result<Value, KubeError> {
    let mut entries = entries_of(live);
    let applied = fields_of(config, w.subresource == Some("status"));
    let mut merged = if live.is_null() {
        json!({})
    } else {
        live.clone()
    };
    patch::apply(&mut merged, patch::PatchKind::Strategic, config)
        .map_err(|e| KubeError::new(422, "Invalid", e))?;

    let mut conflicts: Vec<(usize, &Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.is(w, Operation::Apply) {
            continue;
        }
        for p in applied.intersection(&e.fields) {
            if changes(live, &merged, p) {
                conflicts.push((i, p));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&entries, &conflicts));
    }
    let taken: Vec<(usize, Path)> = conflicts.into_iter().map(|(i, p)| (i, p.clone())).collect();
    for (i, p) in taken {
        entries[i].fields.remove(&p);
    }

    // Fields this applier stopped naming go, unless someone else owns them.
    let previous = entries
        .iter()
        .find(|e| e.is(w, Operation::Apply))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let dropped: Vec<&Path> = previous.difference(&applied).collect();
    for p in dropped.into_iter().rev() {
        let shared = entries
            .iter()
            .any(|e| !e.is(w, Operation::Apply) && e.fields.contains(p));
        if !shared {
            remove_at(&mut merged, p);
        }
    }
    let entry = Entry {
        manager: w.manager.to_string(),
        operation: Operation::Apply,
        api_version: w.api_version.clone(),
        time: w.time.to_string(),
        subresource: w.subresource.map(str::to_string),
        fields: applied,
    };
    entries.retain(|e| !e.is(w, Operation::Apply));
    entries.push(entry);
    store_entries(&mut merged, entries);
    Ok(merged)
}

/// The Status the API server answers a conflicting apply with.
fn conflict_error(entries: &[Entry], conflicts: &[(usize, &Path)]) -> KubeError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(i, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", entries[*i].describe()),
                "field": path_string(p),
            })
        })
        .collect();
    let message = if let [(i, p)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            entries[*i].describe(),
            path_string(p)
        )
    } else {
        let mut by_manager: Vec<(String, Vec<String>)> = Vec::new();
        for (i, p) in conflicts {
            let who = entries[*i].describe();
            match by_manager.iter_mut().find(|(m, _)| *m == who) {
                Some((_, paths)) => paths.push(path_string(p)),
                None => by_manager.push((who, vec![path_string(p)])),
            }
        }
        by_manager.sort();
        let lines: Vec<String> = by_manager
            .iter()
            .flat_map(|(who, paths)| {
                std::iter::once(format!("conflicts with {who}:"))
                    .chain(paths.iter().map(|p| format!("- {p}")))
            })
            .collect();
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let mut e = KubeError::new(409, "Conflict", message);
    e.details = json!({ "causes": causes });
    e
}

/// The field manager of a write: `fieldManager`, else the client's
/// User-Agent up to its first `/`, as the API server defaults it.
pub fn manager_of<'a>(field_manager: Option<&'a str>, user_agent: &'a str) -> &'a str {
    match field_manager.filter(|m| !m.is_empty()) {
        Some(m) => m,
        None => user_agent.split('/').next().unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer<'a>(manager: &'a str) -> Writer<'a> {
        Writer {
            manager,
            api_version: "apps/v1".into(),
            subresource: None,
            time: "2026-01-01T00:00:00Z",
        }
    }

    fn deployment(replicas: u64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                   {"name": "web", "image": image}]}}}})
    }

    #[test]
    fn fields_v1_round_trips_with_dot_for_owned_items() {
        let set = fields_of(&deployment(3, "a"), false);
        let v = render_set(&set);
        assert_eq!(
            v["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"],
            json!({".": {}, "f:image": {}, "f:name": {}})
        );
        assert_eq!(v["f:metadata"], json!({"f:labels": {"f:app": {}}}));
        let mut back = FieldSet::new();
        parse_set(&v, &mut Vec::new(), &mut back);
        assert_eq!(back, set);
    }

    #[test]
    fn apply_conflicts_with_another_manager_then_force_takes_the_field() {
        let live = apply(&Value::Null, &deployment(3, "a"), &writer("ci"), false).unwrap();
        // The same values are no conflict: both own them.
        let same = apply(&live, &deployment(3, "a"), &writer("ops"), false).unwrap();
        assert_eq!(entries_of(&same).len(), 2);
        let err = apply(&live, &deployment(5, "b"), &writer("ops"), false).unwrap_err();
        assert_eq!((err.code, err.reason), (409, "Conflict"));
        assert_eq!(
            err.message,
            "Apply failed with 2 conflicts: conflicts with \"ci\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
        );
        assert_eq!(err.details["causes"][0]["field"], ".spec.replicas");
        assert_eq!(err.details["causes"][0]["message"], "conflict with \"ci\"");
        let forced = apply(&live, &deployment(5, "b"), &writer("ops"), true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
        let ci = entries_of(&forced)
            .into_iter()
            .find(|e| e.manager == "ci")
            .unwrap();
        assert!(
            !ci.fields
                .contains(&vec!["f:spec".into(), "f:replicas".into()])
        );
    }

    #[test]
    fn an_update_takes_what_it_changed_and_a_dropped_field_is_removed() {
        let live = apply(&Value::Null, &deployment(3, "a"), &writer("ci"), false).unwrap();
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(6);
        let w = Writer {
            subresource: Some("scale"),
            ..writer("kubectl-scale")
        };
        record_update(Some(&live), &mut scaled, &w);
        let err = apply(&scaled, &deployment(3, "a"), &writer("ci"), false).unwrap_err();
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" with subresource \"scale\" using apps/v1: .spec.replicas"
        );
        // ci stops naming its label: nobody else owns it, so it goes.
        let mut config = deployment(6, "a");
        config["metadata"].as_object_mut().unwrap().remove("labels");
        let after = apply(&scaled, &config, &writer("ci"), false).unwrap();
        assert!(after["metadata"]["labels"]["app"].is_null());
        assert_eq!(after["spec"]["replicas"], 6);
    }
}
