//! Runtime values of the language.

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

use indexmap::IndexMap;

use crate::cloud::clock::human;

pub use crate::literal::Version;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    Int(i64),
    Bool(bool),
    Duration(Duration),
    Version(Version),
    List(Vec<Value>),
    Map(IndexMap<String, Value>),
    /// A record returned by a query; `kind` is the registry's record name.
    Record {
        kind: &'static str,
        fields: IndexMap<String, Value>,
    },
    /// Dry run: a value only known when the run is real (`why` says which).
    Unknown(String),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::Duration(_) => "duration",
            Value::Version(_) => "version",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Record { kind, .. } => kind,
            Value::Unknown(_) => "unknown",
        }
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// Parse `1.29`, `v1.29.3-eks-abc` or `1.29.0` as a version (minor kept;
    /// kubelet build suffixes dropped).
    pub fn version_of(text: &str) -> Option<Value> {
        Version::of_reported(text).map(Value::Version)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Field of a record or map (`null` when absent).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Map(m) | Value::Record { fields: m, .. } => m.get(name),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown(_))
    }

    /// The text a value interpolates to and an argument passes as.
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// Ordering for comparisons and `sorted`; `None` when not comparable.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
            (Value::Version(a), Value::Version(b)) => {
                Some((a.major, a.minor, a.patch.unwrap_or(0)).cmp(&(
                    b.major,
                    b.minor,
                    b.patch.unwrap_or(0),
                )))
            }
            // "1.29" from the cloud compares with a version literal.
            (Value::Version(_), Value::Str(s)) => Value::version_of(s)?
                .compare_versions(self)
                .map(Ordering::reverse),
            (Value::Str(s), Value::Version(_)) => Value::version_of(s)?.compare_versions(other),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    fn compare_versions(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Version(a), Value::Version(b)) => {
                Some((a.major, a.minor).cmp(&(b.major, b.minor)))
            }
            _ => None,
        }
    }

    /// Equality as the language sees it (a version equals its text form).
    pub fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Version(_), Value::Str(_)) | (Value::Str(_), Value::Version(_)) => {
                self.compare(other) == Some(Ordering::Equal)
            }
            (Value::Record { fields: a, .. }, Value::Map(b))
            | (Value::Map(a), Value::Record { fields: b, .. }) => a == b,
            _ => self == other,
        }
    }

    /// JSON for the event stream.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Str(s) => J::String(s.clone()),
            Value::Int(i) => J::from(*i),
            Value::Bool(b) => J::Bool(*b),
            Value::Duration(d) => J::String(human(*d)),
            Value::Version(v) => J::String(v.to_string()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) | Value::Record { fields: m, .. } => {
                J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Unknown(why) => J::String(format!("<known at run time: {why}>")),
        }
    }

    /// From JSON (adapter records go through serde): numbers become ints,
    /// objects maps.
    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Int(n.as_i64().unwrap_or_default()),
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// The journal's encoding of values: unlike `to_json`, it keeps every
/// distinction the language makes (a version is not a string, a record keeps
/// its kind), so a replayed result is the value the live call returned.
pub mod recorded {
    use std::time::Duration;

    use serde_json::{Value as J, json};

    use super::{Value, Version};
    use crate::builtins::records;

    pub fn encode(v: &Value) -> J {
        match v {
            Value::Null => J::Null,
            Value::Str(s) => J::String(s.clone()),
            Value::Int(i) => J::from(*i),
            Value::Bool(b) => J::Bool(*b),
            Value::Duration(d) => json!({"$dur_ms": d.as_millis() as u64}),
            Value::Version(v) => json!({"$ver": [v.major, v.minor, v.patch]}),
            Value::List(l) => J::Array(l.iter().map(encode).collect()),
            Value::Map(m) => json!({"$map": fields(m)}),
            Value::Record { kind, fields: m } => json!({"$rec": kind, "fields": fields(m)}),
            Value::Unknown(why) => json!({"$unknown": why}),
        }
    }

    fn fields(m: &indexmap::IndexMap<String, Value>) -> J {
        J::Object(m.iter().map(|(k, v)| (k.clone(), encode(v))).collect())
    }

    /// `None` for JSON this encoding never produces.
    pub fn decode(j: &J) -> Option<Value> {
        Some(match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Int(n.as_i64()?),
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::List(a.iter().map(decode).collect::<Option<_>>()?),
            J::Object(o) => {
                if let Some(ms) = o.get("$dur_ms") {
                    Value::Duration(Duration::from_millis(ms.as_u64()?))
                } else if let Some(J::Array(v)) = o.get("$ver") {
                    Value::Version(Version {
                        major: v.first()?.as_u64()?,
                        minor: v.get(1)?.as_u64()?,
                        patch: v.get(2).and_then(J::as_u64),
                    })
                } else if let Some(m) = o.get("$map") {
                    Value::Map(decode_fields(m)?)
                } else if let Some(J::String(kind)) = o.get("$rec") {
                    let kind = records::ALL.iter().find(|r| r.name == kind)?.name;
                    Value::Record {
                        kind,
                        fields: decode_fields(o.get("fields")?)?,
                    }
                } else if let Some(J::String(why)) = o.get("$unknown") {
                    Value::Unknown(why.clone())
                } else {
                    return None;
                }
            }
        })
    }

    fn decode_fields(j: &J) -> Option<indexmap::IndexMap<String, Value>> {
        j.as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), decode(v)?)))
            .collect()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Duration(d) => f.write_str(&human(*d)),
            Value::Version(v) => write!(f, "{v}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) | Value::Record { fields: m, .. } => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Unknown(why) => write!(f, "<known at run time: {why}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_encoding_round_trips_every_kind_of_value() {
        let v = Value::List(vec![
            Value::Null,
            Value::str("1.29"),
            Value::Int(-3),
            Value::Bool(true),
            Value::Duration(std::time::Duration::from_millis(1500)),
            Value::Version(Version {
                major: 1,
                minor: 29,
                patch: Some(3),
            }),
            Value::Map([("a".to_string(), Value::version_of("1.30").unwrap())].into()),
            Value::Record {
                kind: crate::builtins::records::ADDON.name,
                fields: [("version".to_string(), Value::str("v1.18.3-eksbuild.1"))].into(),
            },
            Value::Unknown("later".into()),
        ]);
        let json = recorded::encode(&v);
        assert_eq!(recorded::decode(&json), Some(v));
        assert_eq!(recorded::decode(&serde_json::json!({"$nope": 1})), None);
    }

    #[test]
    fn versions_compare_numerically_and_with_their_text() {
        let v = |s| Value::version_of(s).unwrap();
        assert_eq!(v("1.9").compare(&v("1.10")), Some(Ordering::Less));
        assert!(v("1.29").equals(&Value::str("1.29")));
        assert!(v("v1.29.3-eks-1").equals(&v("1.29")));
        assert_eq!(v("1.30").to_string(), "1.30");
    }
}
