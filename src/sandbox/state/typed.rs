//! One state model: what the object store holds, and where JSON is made.
//!
//! Every object is a [`Record`]: the fields the simulation reasons about and
//! writes, as typed values ([`Model`]), plus everything else verbatim as JSON
//! (`extra`: metadata, the rest of spec and status, fields of API versions
//! the sandbox does not know). The typed part is the truth. The simulation
//! reads and writes it without touching JSON; the object a client sees is
//! rendered from it at the API edge ([`Record::render`]: get, list, watch
//! events, tables, the input of a patch). A client write goes the other way:
//! the JSON it sends is split into the typed part and `extra`
//! ([`Record::parse`]), so a field the simulation does not model survives a
//! kubectl apply, patch or replace unchanged, and a modelled field of the
//! wrong shape is refused as the API server refuses it (422).
//!
//! Rendering does what the API server's encoding does: a false
//! `spec.unschedulable` and empty lists are omitted, so an object read and
//! written back unchanged renders the same.
//!
//! Kinds are typed hottest first. A kind without a model yet
//! ([`Model::Json`]) keeps its whole object in `extra`, and rendering only
//! borrows it. Typed so far: Nodes (`spec.unschedulable`, `spec.taints` and
//! `status.conditions`, which the kubelet, the nodegroup updater and cordons
//! write, and the scheduler reads). Pods, workloads, budgets and the other
//! kinds are still JSON.
//!
//! The bookkeeping that follows objects (pods by owner and by node, budget
//! selections, pending pods, the kubelet's view of each node and pod) is not
//! part of a record: `World::observe` keeps all of it, next to the store, in
//! step with every create, update and delete.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One stored object.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub model: Model,
    /// Everything the model does not hold, as the client sent it (the whole
    /// object for an untyped kind). Metadata is always here.
    pub extra: Value,
}

/// The typed part of a record, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// Not typed yet: the object is `extra`.
    Json,
    Node(NodeModel),
}

/// What the simulation models of a Node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeModel {
    /// `spec.unschedulable` (a cordon).
    pub unschedulable: bool,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// `status.conditions`, as the kubelet reports them.
    pub conditions: Vec<Condition>,
}

impl NodeModel {
    /// Whether the Ready condition is True.
    pub fn ready(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }
}

/// A core/v1 Taint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

impl Taint {
    /// The taint as the scheduler's toleration check reads it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A NodeCondition: the kubelet writes every field; fields of a newer API
/// version are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Take `obj[outer][field]` out of an object, if there.
fn take(obj: &mut Value, outer: &str, field: &str) -> Option<Value> {
    obj.get_mut(outer)?.as_object_mut()?.shift_remove(field)
}

/// Put a field back under `obj[outer]`.
fn put(obj: &mut Value, outer: &str, field: &str, value: Value) {
    if !obj[outer].is_object() {
        obj[outer] = Value::Object(Map::new());
    }
    obj[outer][field] = value;
}

/// A modelled list field: absent or null is empty.
fn list_of<T: for<'de> Deserialize<'de>>(v: Option<Value>, path: &str) -> Result<Vec<T>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v).map_err(|e| format!("{path}: Invalid value: {e}")),
    }
}

impl Record {
    /// Split an object of `resource` into its model and the rest. Err names
    /// the modelled field that has the wrong shape.
    pub fn parse(resource: &str, mut obj: Value) -> Result<Record, String> {
        let model = match resource {
            "nodes" => {
                let unschedulable = match take(&mut obj, "spec", "unschedulable") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => b,
                    Some(other) => {
                        return Err(format!(
                            "spec.unschedulable: Invalid value: {other}: must be a boolean"
                        ));
                    }
                };
                let taints = list_of(take(&mut obj, "spec", "taints"), "spec.taints")?;
                let conditions =
                    list_of(take(&mut obj, "status", "conditions"), "status.conditions")?;
                Model::Node(NodeModel {
                    unschedulable,
                    taints,
                    conditions,
                })
            }
            _ => Model::Json,
        };
        Ok(Record { model, extra: obj })
    }

    /// The object as the API serves it.
    pub fn render(&self) -> Cow<'_, Value> {
        match &self.model {
            Model::Json => Cow::Borrowed(&self.extra),
            Model::Node(n) => {
                let mut obj = self.extra.clone();
                if n.unschedulable {
                    put(&mut obj, "spec", "unschedulable", Value::Bool(true));
                }
                if !n.taints.is_empty() {
                    let taints = n.taints.iter().map(Taint::to_json).collect();
                    put(&mut obj, "spec", "taints", Value::Array(taints));
                }
                if !n.conditions.is_empty() {
                    let conditions = serde_json::to_value(&n.conditions).unwrap_or_default();
                    put(&mut obj, "status", "conditions", conditions);
                }
                Cow::Owned(obj)
            }
        }
    }

    /// The Node model, if this is a Node.
    pub fn node(&self) -> Option<&NodeModel> {
        match &self.model {
            Model::Node(n) => Some(n),
            Model::Json => None,
        }
    }

    pub fn node_mut(&mut self) -> Option<&mut NodeModel> {
        match &mut self.model {
            Model::Node(n) => Some(n),
            Model::Json => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "labels": {"a": "b"}, "annotations": {"x": "y"}},
            "spec": {"providerID": "aws:///z/i-1", "unschedulable": true,
                     "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
                     "someFutureField": {"keep": [1, 2]}},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                                       "lastHeartbeatTime": "t", "lastTransitionTime": "t",
                                       "reason": "KubeletReady", "message": "ok",
                                       "newField": 3}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
        })
    }

    #[test]
    fn a_node_round_trips_with_its_unmodelled_fields() {
        let rec = Record::parse("nodes", node()).unwrap();
        let n = rec.node().unwrap();
        assert!(n.unschedulable && n.ready());
        assert_eq!(n.taints[0].value.as_deref(), Some("v"));
        assert!(
            rec.extra["spec"].get("taints").is_none(),
            "the model holds it"
        );
        let out = rec.render().into_owned();
        assert_eq!(out, node(), "rendering restores every field");
        assert_eq!(Record::parse("nodes", out).unwrap(), rec);
    }

    #[test]
    fn defaults_are_omitted_as_the_api_server_encodes_them() {
        let mut obj = node();
        obj["spec"]["unschedulable"] = json!(false);
        obj["spec"]["taints"] = json!([]);
        let out = Record::parse("nodes", obj).unwrap().render().into_owned();
        assert!(out["spec"].get("unschedulable").is_none());
        assert!(out["spec"].get("taints").is_none());
        assert_eq!(out["spec"]["someFutureField"], json!({"keep": [1, 2]}));
    }

    #[test]
    fn a_modelled_field_of_the_wrong_shape_is_refused() {
        let mut obj = node();
        obj["spec"]["unschedulable"] = json!("yes");
        let err = Record::parse("nodes", obj).unwrap_err();
        assert!(
            err.starts_with("spec.unschedulable: Invalid value"),
            "{err}"
        );
        let mut obj = node();
        obj["spec"]["taints"] = json!([{"effect": "NoSchedule"}]);
        let err = Record::parse("nodes", obj).unwrap_err();
        assert!(err.starts_with("spec.taints: Invalid value"), "{err}");
    }

    #[test]
    fn untyped_kinds_are_kept_whole_and_rendered_by_borrowing() {
        let obj = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        let rec = Record::parse("configmaps", obj.clone()).unwrap();
        assert!(matches!(rec.render(), Cow::Borrowed(v) if *v == obj));
    }
}
