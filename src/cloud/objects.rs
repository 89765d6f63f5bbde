//! Any Kubernetes object by apiVersion and kind, custom resources included:
//! read, create, merge-patch, annotate, and wait for a field to reach a
//! value. Discovery resolves the kind to its resource first, so a misspelt
//! kind fails before anything is sent (also in a dry run).
//!
//! Idempotent by comparing state: a create of an existing name, or a patch
//! the object already satisfies, sends nothing. A patch hands back the merge
//! patch that undoes it (RFC 7386: the previous values, `null` where a field
//! was absent), so a rollback block can restore exactly what it changed.

use std::time::Duration;

use ::kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use ::kube::core::GroupVersionKind;
use ::kube::discovery::{Scope, pinned_kind};
use serde_json::{Map, Value, json};

use super::CloudError;
use super::clock::human;
use super::kube::Kube;
use super::plan::{Change, Mutation, Plan};

/// Which object: `apiVersion`, `kind`, name and (for namespaced kinds) namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

impl ObjectRef {
    /// From a manifest's `apiVersion`, `kind` and `metadata`.
    pub fn of(manifest: &Value) -> Result<ObjectRef, CloudError> {
        let text = |v: &Value, what: &str| {
            v.as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| CloudError::Invalid(format!("the manifest has no {what}")))
        };
        Ok(ObjectRef {
            api_version: text(&manifest["apiVersion"], "`apiVersion`")?,
            kind: text(&manifest["kind"], "`kind`")?,
            name: text(&manifest["metadata"]["name"], "`metadata.name`")?,
            namespace: manifest["metadata"]["namespace"]
                .as_str()
                .map(str::to_string),
        })
    }

    /// `Backup velero/pre-upgrade`, as plans and messages name it.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    fn gvk(&self) -> GroupVersionKind {
        let (group, version) = match self.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version.as_str()),
        };
        GroupVersionKind::gvk(group, version, &self.kind)
    }
}

/// How a wait for a field ends.
#[derive(Clone, Debug)]
pub struct WaitFor {
    /// Dotted path, e.g. `status.phase`.
    pub field: String,
    pub equals: String,
    /// Values that end the wait as a failure (e.g. `Failed`).
    pub fail_on: Vec<String>,
    pub timeout: Duration,
    pub every: Duration,
}

/// The value at a dotted path, rendered as text (`""` when absent).
pub fn field_text(obj: &Value, path: &str) -> String {
    let v = path
        .split('.')
        .filter(|p| !p.is_empty())
        .try_fold(obj, |v, key| v.get(key));
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The merge patch that undoes `patch` on `before`: for every key the patch
/// touches, the value it had (`null` where it was absent).
pub fn inverse_patch(before: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = Map::new();
            for (k, pv) in p {
                let old = before.get(k).cloned().unwrap_or(Value::Null);
                let undo = if pv.is_object() && old.is_object() {
                    inverse_patch(&old, pv)
                } else {
                    old
                };
                out.insert(k.clone(), undo);
            }
            Value::Object(out)
        }
        _ => before.clone(),
    }
}

/// The fields a merge patch changes, as `path: old → new` lines.
fn changed_fields(before: &Value, after: &Value, prefix: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let null = Value::Null;
                changed_fields(
                    b.get(k).unwrap_or(&null),
                    a.get(k).unwrap_or(&null),
                    &path,
                    out,
                );
            }
        }
        (b, a) if b != a => out.push(format!("{prefix}: {} → {}", short(b), short(a))),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "(absent)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

impl Kube {
    /// The API resource serving `r`'s kind, and the namespace to address it
    /// in (`None` for cluster-scoped kinds).
    async fn resolve(&self, r: &ObjectRef) -> Result<(ApiResource, Option<String>), CloudError> {
        let gvk = r.gvk();
        let (ar, caps) = match pinned_kind(self.client(), &gvk).await {
            Ok(found) => found,
            Err(e)
                if matches!(&e, ::kube::Error::Discovery(_))
                    || matches!(&e, ::kube::Error::Api(s) if s.code == 404) =>
            {
                return Err(CloudError::Invalid(format!(
                    "the cluster serves no kind {} in {} (is its CRD installed?)",
                    r.kind, r.api_version
                )));
            }
            Err(e) => {
                return Err(CloudError::kube(
                    format!("discover {} {}", r.api_version, r.kind),
                    e,
                ));
            }
        };
        let ns = match caps.scope {
            Scope::Cluster => None,
            Scope::Namespaced => Some(r.namespace.clone().ok_or_else(|| {
                CloudError::Invalid(format!(
                    "{} is namespaced: give the namespace of {}",
                    r.kind, r.name
                ))
            })?),
        };
        Ok((ar, ns))
    }

    fn dynamic(&self, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client().clone(), ns, ar),
            None => Api::all_with(self.client().clone(), ar),
        }
    }

    /// The object as JSON, or `None` when it does not exist.
    pub async fn get_object(&self, r: &ObjectRef) -> Result<Option<Value>, CloudError> {
        let (ar, ns) = self.resolve(r).await?;
        let api = self.dynamic(&ar, ns.as_deref());
        let obj = self
            .read(&format!("get {}", r.describe()), || api.get_opt(&r.name))
            .await?;
        obj.map(|o| serde_json::to_value(o).map_err(|e| CloudError::Invalid(e.to_string())))
            .transpose()
    }

    /// Create the object unless one of that name exists.
    pub async fn create_object(
        &self,
        manifest: &Value,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let r = ObjectRef::of(manifest)?;
        let target = r.describe();
        let (ar, ns) = self.resolve(&r).await?;
        let api = self.dynamic(&ar, ns.as_deref());
        let existing = self
            .read(&format!("get {target}"), || api.get_opt(&r.name))
            .await?;
        if existing.is_some() {
            return Ok(Change::unchanged(target, "already exists"));
        }
        if m.is_plan() {
            return Ok(Change::Planned(
                Plan::new("create", target).predicted(Duration::from_secs(1)),
            ));
        }
        let obj: DynamicObject = serde_json::from_value(manifest.clone())
            .map_err(|e| CloudError::Invalid(format!("the manifest is not an object: {e}")))?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {}
            // Sent by an earlier attempt whose answer was lost.
            Err(::kube::Error::Api(s)) if s.code == 409 => {
                return Ok(Change::unchanged(target, "already exists"));
            }
            Err(e) => return Err(CloudError::kube(format!("create {target}"), e)),
        }
        Ok(Change::Applied {
            target,
            from: None,
            to: None,
            detail: "created".into(),
        })
    }

    /// Merge-patch the object; returns the change and the patch undoing it.
    pub async fn patch_object(
        &self,
        r: &ObjectRef,
        patch: &Value,
        m: &Mutation<'_>,
    ) -> Result<(Change, Value), CloudError> {
        if !patch.is_object() {
            return Err(CloudError::Invalid("a merge patch must be a map".into()));
        }
        let target = r.describe();
        let (ar, ns) = self.resolve(r).await?;
        let api = self.dynamic(&ar, ns.as_deref());
        let before = self
            .read(&format!("get {target}"), || api.get_opt(&r.name))
            .await?
            .ok_or_else(|| CloudError::NotFound(target.clone()))?;
        let before =
            serde_json::to_value(before).map_err(|e| CloudError::Invalid(e.to_string()))?;
        let mut after = before.clone();
        json_patch::merge(&mut after, patch);
        let undo = inverse_patch(&before, patch);
        let mut fields = Vec::new();
        changed_fields(&before, &after, "", &mut fields);
        if fields.is_empty() {
            return Ok((Change::unchanged(target, "already as patched"), undo));
        }
        if m.is_plan() {
            let mut plan = Plan::new("patch", target).predicted(Duration::from_secs(1));
            plan.notes = fields;
            return Ok((Change::Planned(plan), undo));
        }
        // A merge patch is idempotent, so it retries like a read.
        let (params, body) = (PatchParams::default(), Patch::Merge(patch));
        self.read(&format!("patch {target}"), || {
            api.patch(&r.name, &params, &body)
        })
        .await?;
        Ok((
            Change::Applied {
                target,
                from: None,
                to: None,
                detail: format!("patched {}", fields.join(", ")),
            },
            undo,
        ))
    }

    /// Poll until `w.field` equals `w.equals`; a value in `w.fail_on`, or
    /// the deadline, ends it as an error. Returns the object.
    pub async fn wait_object(
        &self,
        r: &ObjectRef,
        w: &WaitFor,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Value, CloudError> {
        let clock = self.clock();
        let deadline = clock.deadline(w.timeout);
        let started = clock.now();
        let target = r.describe();
        loop {
            let obj = self.get_object(r).await?;
            let now = obj.as_ref().map(|o| field_text(o, &w.field));
            match (&obj, &now) {
                (Some(o), Some(v)) if *v == w.equals => return Ok(o.clone()),
                (Some(o), Some(v)) if w.fail_on.contains(v) => {
                    let why = ["status.failureReason", "status.message", "status.reason"]
                        .iter()
                        .map(|p| field_text(o, p))
                        .find(|s| !s.is_empty())
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default();
                    return Err(CloudError::Invalid(format!(
                        "{target}: {} is {v}{why}, waiting for {}",
                        w.field, w.equals
                    )));
                }
                _ => {}
            }
            if deadline.passed(clock) {
                let seen = match &now {
                    None => "it does not exist".to_string(),
                    Some(v) if v.is_empty() => format!("{} is not set", w.field),
                    Some(v) => format!("{} is {v}", w.field),
                };
                return Err(CloudError::Timeout {
                    what: format!("{target} {} = {} ({seen})", w.field, w.equals),
                    after: w.timeout,
                });
            }
            progress(&format!(
                "{target}: {} is {}, waiting for {} ({})",
                w.field,
                match &now {
                    None => "absent (no object)".to_string(),
                    Some(v) if v.is_empty() => "unset".to_string(),
                    Some(v) => v.clone(),
                },
                w.equals,
                human(clock.since(started))
            ));
            clock.sleep(w.every).await?;
        }
    }
}

/// `{"metadata": {"annotations": {...}}}`: annotations as a merge patch.
pub fn annotations_patch(annotations: &Value) -> Value {
    json!({"metadata": {"annotations": annotations}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inverse_patch_restores_what_a_patch_changed() {
        let before = json!({
            "metadata": {"annotations": {"a": "1"}},
            "spec": {"replicas": 1, "paused": false, "template": {"x": 1}}
        });
        let patch = json!({
            "metadata": {"annotations": {"a": "2", "b": "new"}},
            "spec": {"replicas": 3, "strategy": {"type": "Recreate"}}
        });
        let undo = inverse_patch(&before, &patch);
        assert_eq!(
            undo,
            json!({
                "metadata": {"annotations": {"a": "1", "b": null}},
                "spec": {"replicas": 1, "strategy": null}
            })
        );
        let mut after = before.clone();
        json_patch::merge(&mut after, &patch);
        json_patch::merge(&mut after, &undo);
        assert_eq!(after, before);
    }

    #[test]
    fn changed_fields_name_each_path() {
        let mut out = Vec::new();
        changed_fields(
            &json!({"spec": {"replicas": 1, "same": 2}}),
            &json!({"spec": {"replicas": 3, "same": 2}, "x": "y"}),
            "",
            &mut out,
        );
        assert_eq!(out, ["spec.replicas: 1 → 3", "x: (absent) → y"]);
    }

    #[test]
    fn field_text_follows_a_dotted_path() {
        let o = json!({"status": {"phase": "Completed", "progress": {"items": 3}}});
        assert_eq!(field_text(&o, "status.phase"), "Completed");
        assert_eq!(field_text(&o, "status.progress.items"), "3");
        assert_eq!(field_text(&o, "status.missing"), "");
        let r = ObjectRef {
            api_version: "velero.io/v1".into(),
            kind: "Backup".into(),
            name: "b".into(),
            namespace: Some("velero".into()),
        };
        assert_eq!(r.gvk().group, "velero.io");
        assert_eq!(r.describe(), "Backup velero/b");
        assert!(ObjectRef::of(&json!({"kind": "Backup"})).is_err());
    }
}
