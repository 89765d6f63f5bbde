//! Methods the language allows on values (`nodes.all(n => n.ready)`,
//! `name.starts_with("ip-")`), declared once so the checker can type them and
//! the interpreter implements exactly this list.

use super::types::{Type, list};

/// Which values a method applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    List,
    String,
    Map,
    Version,
    Duration,
}

impl Receiver {
    pub fn of(ty: Type) -> Option<Receiver> {
        match ty {
            Type::List(_) => Some(Receiver::List),
            Type::String => Some(Receiver::String),
            Type::Map | Type::Record(_) => Some(Receiver::Map),
            Type::Version => Some(Receiver::Version),
            Type::Duration => Some(Receiver::Duration),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Receiver::List => "list",
            Receiver::String => "string",
            Receiver::Map => "map",
            Receiver::Version => "version",
            Receiver::Duration => "duration",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodArg {
    /// `x => bool`, `x` bound to the list element.
    Predicate,
    /// `x => any`, `x` bound to the list element.
    Lambda,
    /// A value of the list's element type.
    Element,
    Value(Type),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodReturn {
    Fixed(Type),
    /// The receiver's own type (`filter`, `sorted`).
    Same,
    /// The receiver's element type (`first`).
    Element,
    /// A list of what the lambda returns (`map`).
    ListOfLambda,
}

/// A method's implementation: the evaluator matches on it exhaustively, so a
/// method listed here cannot lack one. Its name is written only here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodOp {
    Len,
    IsEmpty,
    All,
    Any,
    Count,
    Filter,
    Map,
    Contains,
    First,
    Last,
    Sorted,
    Join,
    StartsWith,
    EndsWith,
    Lower,
    Upper,
    Trim,
    Split,
    Keys,
    Values,
    Get,
    Major,
    Minor,
    Next,
    Seconds,
}

impl MethodOp {
    pub const fn name(self) -> &'static str {
        match self {
            MethodOp::Len => "len",
            MethodOp::IsEmpty => "is_empty",
            MethodOp::All => "all",
            MethodOp::Any => "any",
            MethodOp::Count => "count",
            MethodOp::Filter => "filter",
            MethodOp::Map => "map",
            MethodOp::Contains => "contains",
            MethodOp::First => "first",
            MethodOp::Last => "last",
            MethodOp::Sorted => "sorted",
            MethodOp::Join => "join",
            MethodOp::StartsWith => "starts_with",
            MethodOp::EndsWith => "ends_with",
            MethodOp::Lower => "lower",
            MethodOp::Upper => "upper",
            MethodOp::Trim => "trim",
            MethodOp::Split => "split",
            MethodOp::Keys => "keys",
            MethodOp::Values => "values",
            MethodOp::Get => "get",
            MethodOp::Major => "major",
            MethodOp::Minor => "minor",
            MethodOp::Next => "next",
            MethodOp::Seconds => "seconds",
        }
    }
}

#[derive(Debug)]
pub struct Method {
    pub receiver: Receiver,
    pub op: MethodOp,
    pub name: &'static str,
    pub doc: &'static str,
    pub args: &'static [MethodArg],
    pub returns: MethodReturn,
}

const fn m(
    receiver: Receiver,
    op: MethodOp,
    args: &'static [MethodArg],
    returns: MethodReturn,
    doc: &'static str,
) -> Method {
    Method {
        receiver,
        op,
        name: op.name(),
        doc,
        args,
        returns,
    }
}

use MethodArg::{Element, Lambda, Predicate, Value};
use MethodOp as Op;
use MethodReturn::{Fixed, ListOfLambda, Same};
use Receiver::{Duration, List, Map, String as Str, Version};

pub static METHODS: &[Method] = &[
    m(List, Op::Len, &[], Fixed(Type::Int), "number of elements"),
    m(List, Op::IsEmpty, &[], Fixed(Type::Bool), "no elements"),
    m(
        List,
        Op::All,
        &[Predicate],
        Fixed(Type::Bool),
        "every element satisfies the predicate (true when empty)",
    ),
    m(
        List,
        Op::Any,
        &[Predicate],
        Fixed(Type::Bool),
        "some element satisfies the predicate",
    ),
    m(
        List,
        Op::Count,
        &[Predicate],
        Fixed(Type::Int),
        "how many elements satisfy the predicate",
    ),
    m(
        List,
        Op::Filter,
        &[Predicate],
        Same,
        "the elements that satisfy the predicate",
    ),
    m(
        List,
        Op::Map,
        &[Lambda],
        ListOfLambda,
        "the lambda applied to each element",
    ),
    m(
        List,
        Op::Contains,
        &[Element],
        Fixed(Type::Bool),
        "the list holds this value",
    ),
    m(
        List,
        Op::First,
        &[],
        MethodReturn::Element,
        "the first element (fails when empty)",
    ),
    m(
        List,
        Op::Last,
        &[],
        MethodReturn::Element,
        "the last element (fails when empty)",
    ),
    m(
        List,
        Op::Sorted,
        &[],
        Same,
        "ascending order (versions compare numerically)",
    ),
    m(
        List,
        Op::Join,
        &[Value(Type::String)],
        Fixed(Type::String),
        "elements as strings joined by the separator",
    ),
    m(Str, Op::Len, &[], Fixed(Type::Int), "length in characters"),
    m(Str, Op::IsEmpty, &[], Fixed(Type::Bool), "the empty string"),
    m(
        Str,
        Op::Contains,
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "holds the substring",
    ),
    m(
        Str,
        Op::StartsWith,
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "begins with the prefix",
    ),
    m(
        Str,
        Op::EndsWith,
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "ends with the suffix",
    ),
    m(Str, Op::Lower, &[], Fixed(Type::String), "lower-cased"),
    m(Str, Op::Upper, &[], Fixed(Type::String), "upper-cased"),
    m(
        Str,
        Op::Trim,
        &[],
        Fixed(Type::String),
        "without leading and trailing whitespace",
    ),
    m(
        Str,
        Op::Split,
        &[Value(Type::String)],
        Fixed(Type::List(&list::STRING)),
        "pieces between separators",
    ),
    m(Map, Op::Len, &[], Fixed(Type::Int), "number of keys"),
    m(
        Map,
        Op::Keys,
        &[],
        Fixed(Type::List(&list::STRING)),
        "the keys, in insertion order",
    ),
    m(
        Map,
        Op::Values,
        &[],
        Fixed(Type::List(&list::ANY)),
        "the values, in insertion order",
    ),
    m(
        Map,
        Op::Contains,
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "has this key",
    ),
    m(
        Map,
        Op::Get,
        &[Value(Type::String)],
        Fixed(Type::Any),
        "the value at a key (fails when absent)",
    ),
    m(
        Version,
        Op::Major,
        &[],
        Fixed(Type::Int),
        "major number (1 for 1.30)",
    ),
    m(
        Version,
        Op::Minor,
        &[],
        Fixed(Type::Int),
        "minor number (30 for 1.30)",
    ),
    m(
        Version,
        Op::Next,
        &[],
        Fixed(Type::Version),
        "the next minor (1.31 for 1.30)",
    ),
    m(
        Duration,
        Op::Seconds,
        &[],
        Fixed(Type::Int),
        "whole seconds",
    ),
];

/// The method `name` on a value of type `ty`.
pub fn method(ty: Type, name: &str) -> Option<&'static Method> {
    let receiver = Receiver::of(ty)?;
    METHODS
        .iter()
        .find(|m| m.receiver == receiver && m.name == name)
}

/// Names of the methods on `ty`, for did-you-mean.
pub fn method_names(ty: Type) -> impl Iterator<Item = &'static str> {
    let receiver = Receiver::of(ty);
    METHODS
        .iter()
        .filter(move |m| Some(m.receiver) == receiver)
        .map(|m| m.name)
}
