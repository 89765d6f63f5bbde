//! The static types of the language as the registry and the checker see them.

use std::fmt;

/// A value type. `const`-constructible so the whole registry can be statics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Int,
    Bool,
    Duration,
    Version,
    List(&'static Type),
    Map,
    Record(&'static RecordType),
    /// Unknown statically (e.g. a map value): accepted everywhere.
    Any,
    /// What actions return when they return nothing useful.
    Unit,
}

/// The shape of a record returned by a query, so `a.verison` is caught.
#[derive(Debug, PartialEq, Eq)]
pub struct RecordType {
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
}

#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: Type,
    pub doc: &'static str,
}

impl RecordType {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        // Records are small (≤ 20 fields); a scan beats a map here.
        let fields: &'static [Field] = self.fields;
        fields.iter().find(|f| f.name == name)
    }
}

impl Type {
    /// Whether a value of type `self` may be used where `expected` is wanted.
    /// `Any` is compatible both ways; lists compare element-wise.
    pub fn accepts(expected: Type, actual: Type) -> bool {
        match (expected, actual) {
            (Type::Any, _) | (_, Type::Any) => true,
            (Type::List(a), Type::List(b)) => Type::accepts(*a, *b),
            (Type::Record(a), Type::Record(b)) => std::ptr::eq(a, b) || a.name == b.name,
            // A record is a map with known keys.
            (Type::Map, Type::Record(_)) => true,
            (a, b) => std::mem::discriminant(&a) == std::mem::discriminant(&b),
        }
    }

    /// The element type when this is a list.
    pub fn element(self) -> Option<Type> {
        match self {
            Type::List(t) => Some(*t),
            Type::Any => Some(Type::Any),
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Int => f.write_str("int"),
            Type::Bool => f.write_str("bool"),
            Type::Duration => f.write_str("duration"),
            Type::Version => f.write_str("version"),
            Type::List(t) if **t == Type::Any => f.write_str("list"),
            Type::List(t) => write!(f, "list<{t}>"),
            Type::Map => f.write_str("map"),
            Type::Record(r) => f.write_str(r.name),
            Type::Any => f.write_str("any"),
            Type::Unit => f.write_str("nothing"),
        }
    }
}

/// Handy statics for `Type::List(&...)` in const context.
pub mod list {
    use super::Type;
    pub static STRING: Type = Type::String;
    pub static VERSION: Type = Type::Version;
    pub static MAP: Type = Type::Map;
    pub static ANY: Type = Type::Any;
}
