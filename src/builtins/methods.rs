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

#[derive(Debug)]
pub struct Method {
    pub receiver: Receiver,
    pub name: &'static str,
    pub doc: &'static str,
    pub args: &'static [MethodArg],
    pub returns: MethodReturn,
}

const fn m(
    receiver: Receiver,
    name: &'static str,
    args: &'static [MethodArg],
    returns: MethodReturn,
    doc: &'static str,
) -> Method {
    Method {
        receiver,
        name,
        doc,
        args,
        returns,
    }
}

use MethodArg::{Element, Lambda, Predicate, Value};
use MethodReturn::{Fixed, ListOfLambda, Same};
use Receiver::{Duration, List, Map, String as Str, Version};

pub static METHODS: &[Method] = &[
    m(List, "len", &[], Fixed(Type::Int), "number of elements"),
    m(List, "is_empty", &[], Fixed(Type::Bool), "no elements"),
    m(
        List,
        "all",
        &[Predicate],
        Fixed(Type::Bool),
        "every element satisfies the predicate (true when empty)",
    ),
    m(
        List,
        "any",
        &[Predicate],
        Fixed(Type::Bool),
        "some element satisfies the predicate",
    ),
    m(
        List,
        "count",
        &[Predicate],
        Fixed(Type::Int),
        "how many elements satisfy the predicate",
    ),
    m(
        List,
        "filter",
        &[Predicate],
        Same,
        "the elements that satisfy the predicate",
    ),
    m(
        List,
        "map",
        &[Lambda],
        ListOfLambda,
        "the lambda applied to each element",
    ),
    m(
        List,
        "contains",
        &[Element],
        Fixed(Type::Bool),
        "the list holds this value",
    ),
    m(
        List,
        "first",
        &[],
        MethodReturn::Element,
        "the first element (fails when empty)",
    ),
    m(
        List,
        "last",
        &[],
        MethodReturn::Element,
        "the last element (fails when empty)",
    ),
    m(
        List,
        "sorted",
        &[],
        Same,
        "ascending order (versions compare numerically)",
    ),
    m(
        List,
        "join",
        &[Value(Type::String)],
        Fixed(Type::String),
        "elements as strings joined by the separator",
    ),
    m(Str, "len", &[], Fixed(Type::Int), "length in characters"),
    m(Str, "is_empty", &[], Fixed(Type::Bool), "the empty string"),
    m(
        Str,
        "contains",
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "holds the substring",
    ),
    m(
        Str,
        "starts_with",
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "begins with the prefix",
    ),
    m(
        Str,
        "ends_with",
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "ends with the suffix",
    ),
    m(Str, "lower", &[], Fixed(Type::String), "lower-cased"),
    m(Str, "upper", &[], Fixed(Type::String), "upper-cased"),
    m(
        Str,
        "trim",
        &[],
        Fixed(Type::String),
        "without leading and trailing whitespace",
    ),
    m(
        Str,
        "split",
        &[Value(Type::String)],
        Fixed(Type::List(&list::STRING)),
        "pieces between separators",
    ),
    m(Map, "len", &[], Fixed(Type::Int), "number of keys"),
    m(
        Map,
        "keys",
        &[],
        Fixed(Type::List(&list::STRING)),
        "the keys, in insertion order",
    ),
    m(
        Map,
        "values",
        &[],
        Fixed(Type::List(&list::ANY)),
        "the values, in insertion order",
    ),
    m(
        Map,
        "contains",
        &[Value(Type::String)],
        Fixed(Type::Bool),
        "has this key",
    ),
    m(
        Map,
        "get",
        &[Value(Type::String)],
        Fixed(Type::Any),
        "the value at a key (fails when absent)",
    ),
    m(
        Version,
        "major",
        &[],
        Fixed(Type::Int),
        "major number (1 for 1.30)",
    ),
    m(
        Version,
        "minor",
        &[],
        Fixed(Type::Int),
        "minor number (30 for 1.30)",
    ),
    m(
        Version,
        "next",
        &[],
        Fixed(Type::Version),
        "the next minor (1.31 for 1.30)",
    ),
    m(Duration, "seconds", &[], Fixed(Type::Int), "whole seconds"),
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
