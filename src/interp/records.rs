//! Adapter results as language records: the registry (`builtins::records`)
//! declares each record's fields; every declared field is present (null when
//! the cloud did not say), nothing undeclared is added.

use indexmap::IndexMap;
use serde::Serialize;

use super::value::Value;
use crate::builtins::{RecordType, Type};

/// Build a record of `ty` from any serializable adapter struct plus extra
/// fields computed here.
pub fn record<T: Serialize>(ty: &'static RecordType, source: &T, extra: &[(&str, Value)]) -> Value {
    let json = serde_json::to_value(source).unwrap_or(serde_json::Value::Null);
    let mut fields = IndexMap::new();
    for f in ty.fields {
        let v = extra
            .iter()
            .find(|(k, _)| *k == f.name)
            .map(|(_, v)| v.clone())
            .or_else(|| json.get(f.name).map(Value::from_json))
            .unwrap_or(Value::Null);
        fields.insert(f.name.to_string(), typed(f.ty, v));
    }
    Value::Record {
        kind: ty.name,
        fields,
    }
}

/// Versions arrive from the cloud as text ("1.29", "v1.29.3-eks-..."),
/// durations as whole seconds.
fn typed(ty: Type, v: Value) -> Value {
    match (ty, &v) {
        (Type::Version, Value::Str(s)) => Value::version_of(s).unwrap_or(v),
        (Type::Duration, Value::Int(s)) => {
            Value::Duration(std::time::Duration::from_secs((*s).max(0) as u64))
        }
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::records;
    use crate::cloud::kube::NodeInfo;

    #[test]
    fn records_have_exactly_the_declared_fields() {
        let node = NodeInfo {
            name: "ip-1".into(),
            ready: true,
            version: "v1.29.3-eks-1".into(),
            nodegroup: Some("workers".into()),
            unschedulable: false,
            labels: Default::default(),
            taints: vec![],
            replacing: false,
            instance_id: None,
            kube_proxy_version: "v1.29.3".into(),
            created: String::new(),
            age: Some(240),
        };
        let v = record(
            &records::NODE,
            &node,
            &[("kubelet_version", Value::str("v1.29.3-eks-1"))],
        );
        let Value::Record { fields, .. } = &v else {
            panic!()
        };
        let names: Vec<_> = fields.keys().map(String::as_str).collect();
        let declared: Vec<_> = records::NODE.fields.iter().map(|f| f.name).collect();
        assert_eq!(names, declared);
        assert!(
            v.field("version")
                .unwrap()
                .equals(&Value::version_of("1.29").unwrap())
        );
        assert_eq!(v.field("ready"), Some(&Value::Bool(true)));
        assert_eq!(
            v.field("age"),
            Some(&Value::Duration(std::time::Duration::from_secs(240)))
        );
    }
}
