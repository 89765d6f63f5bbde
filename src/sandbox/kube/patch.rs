//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386), and the
//! strategic merge patch kubectl sends (merge patch, except lists of objects
//! with a known merge key are merged element-wise and `$patch: delete`
//! removes an element).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Merge keys of the lists the strategic merge patch merges element-wise.
pub fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "volumes" | "env" | "volumeMounts" | "ports" => {
            Some("name")
        }
        "conditions" => Some("type"),
        "taints" => Some("key"),
        "tolerations" => None,
        _ => None,
    }
}

pub fn apply(target: &mut Value, kind: PatchKind, patch: &Value) -> Result<(), String> {
    match kind {
        PatchKind::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| format!("invalid JSON patch: {e}"))?;
            json_patch::patch(target, &p).map_err(|e| e.to_string())
        }
        PatchKind::Merge | PatchKind::Apply => {
            if !patch.is_object() {
                return Err("a merge patch must be a JSON object".into());
            }
            json_patch::merge(target, patch);
            Ok(())
        }
        PatchKind::Strategic => {
            if !patch.is_object() {
                return Err("a strategic merge patch must be a JSON object".into());
            }
            strategic(target, patch, "");
            Ok(())
        }
    }
}

fn strategic(target: &mut Value, patch: &Value, field: &str) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().expect("made an object");
            for (k, v) in p {
                if k.starts_with("$setElementOrder") || k == "$retainKeys" {
                    continue;
                }
                if v.is_null() {
                    t.remove(k);
                } else {
                    strategic(t.entry(k.clone()).or_insert(Value::Null), v, k);
                }
            }
        }
        Value::Array(items) => match (merge_key(field), target.as_array_mut()) {
            (Some(key), Some(existing)) => {
                for item in items {
                    let id = &item[key];
                    let delete = item["$patch"] == "delete";
                    match existing.iter().position(|e| e[key] == *id) {
                        Some(i) if delete => {
                            existing.remove(i);
                        }
                        Some(i) => strategic(&mut existing[i], item, ""),
                        None if !delete => existing.push(item.clone()),
                        None => {}
                    }
                }
            }
            _ => *target = patch.clone(),
        },
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cordon_patch_and_container_merge() {
        let mut node = json!({"spec": {"providerID": "x"}});
        apply(
            &mut node,
            PatchKind::Strategic,
            &json!({"spec": {"unschedulable": true}}),
        )
        .unwrap();
        assert_eq!(
            node,
            json!({"spec": {"providerID": "x", "unschedulable": true}})
        );
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}});
        apply(
            &mut pod,
            PatchKind::Strategic,
            &json!({"spec": {"containers": [{"name": "b", "image": "3"}]}}),
        )
        .unwrap();
        assert_eq!(pod["spec"]["containers"][1]["image"], "3");
        assert_eq!(pod["spec"]["containers"][0]["image"], "1");
        apply(
            &mut pod,
            PatchKind::Merge,
            &json!({"spec": {"containers": [{"name": "c"}]}}),
        )
        .unwrap();
        assert_eq!(pod["spec"]["containers"].as_array().unwrap().len(), 1);
        apply(
            &mut pod,
            PatchKind::Json,
            &json!([{"op": "replace", "path": "/spec/containers/0/name", "value": "d"}]),
        )
        .unwrap();
        assert_eq!(pod["spec"]["containers"][0]["name"], "d");
    }
}
