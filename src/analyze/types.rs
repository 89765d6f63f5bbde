//! Declared types (`param x: list<string>`) and inferred element types as
//! registry `Type`s. List element types must be `'static`, so they come from a
//! fixed table rather than being allocated.

use crate::builtins::{RecordType, Type, records};
use crate::syntax::ast::{Type as AstType, TypeKind};

static STRING: Type = Type::String;
static INT: Type = Type::Int;
static BOOL: Type = Type::Bool;
static DURATION: Type = Type::Duration;
static VERSION: Type = Type::Version;
static MAP: Type = Type::Map;
static ANY: Type = Type::Any;
static RECORDS: [Type; 10] = [
    Type::Record(&records::CLUSTER),
    Type::Record(&records::NODEGROUP),
    Type::Record(&records::ADDON),
    Type::Record(&records::INSIGHT),
    Type::Record(&records::NODE),
    Type::Record(&records::POD),
    Type::Record(&records::DEPLOYMENT),
    Type::Record(&records::DAEMONSET),
    Type::Record(&records::STATEFULSET),
    Type::Record(&records::PDB),
];

/// `list<elem>`; nested lists lose their element type (checked as `any`).
pub fn list_of(elem: Type) -> Type {
    let elem: &'static Type = match elem {
        Type::String => &STRING,
        Type::Int => &INT,
        Type::Bool => &BOOL,
        Type::Duration => &DURATION,
        Type::Version => &VERSION,
        Type::Map => &MAP,
        Type::Record(r) => record(r),
        Type::List(_) | Type::Any | Type::Unit => &ANY,
    };
    Type::List(elem)
}

fn record(r: &'static RecordType) -> &'static Type {
    RECORDS
        .iter()
        .find(|t| matches!(t, Type::Record(x) if x.name == r.name))
        .unwrap_or(&ANY)
}

pub fn from_ast(ty: &AstType) -> Type {
    match &ty.kind {
        TypeKind::String | TypeKind::Secret => Type::String,
        TypeKind::Int => Type::Int,
        TypeKind::Bool => Type::Bool,
        TypeKind::Duration => Type::Duration,
        TypeKind::Version => Type::Version,
        TypeKind::List(None) => list_of(Type::Any),
        TypeKind::List(Some(elem)) => list_of(from_ast(elem)),
        TypeKind::Map(_) => Type::Map,
    }
}

/// The common type of list literal elements: the first concrete one if all
/// agree, else `any`.
pub fn unify(types: impl IntoIterator<Item = Type>) -> Type {
    let mut common: Option<Type> = None;
    for t in types {
        common = match common {
            None => Some(t),
            Some(Type::Any) => Some(t),
            Some(c) if t == Type::Any || Type::accepts(c, t) && Type::accepts(t, c) => Some(c),
            Some(_) => return Type::Any,
        };
    }
    common.unwrap_or(Type::Any)
}
