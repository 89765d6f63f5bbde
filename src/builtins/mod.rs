//! The one registry of built-in actions and queries, read by the checker, the
//! interpreter, dry-run and `docs/actions.md`. Each group lives in its own file
//! (`eks`, `k8s`, `objects`, `rotation`); record shapes in `records`; value methods in
//! `methods`.
//!
//! Public API:
//! - `all() -> &'static [&'static Builtin]`, `lookup(name) -> Option<&'static Builtin>`
//! - `namespaces()`: the dotted prefixes (`eks`, `k8s`, `nodegroup`)
//! - `methods::method(ty, name)`, `records::ALL`
//! - `markdown()`: the text of `docs/actions.md`

mod builtin;
pub mod eks;
pub mod k8s;
mod markdown;
pub mod methods;
pub mod objects;
pub mod records;
pub mod rotation;
pub mod types;

use std::collections::HashMap;
use std::sync::LazyLock;

pub use builtin::{Builtin, Effect, Op, Param};
pub use markdown::markdown;
pub use methods::{Method, MethodArg, MethodOp, MethodReturn, Receiver};
pub use types::{Field, RecordType, Type};

static ALL: LazyLock<Vec<&'static Builtin>> = LazyLock::new(|| {
    eks::BUILTINS
        .iter()
        .chain(k8s::BUILTINS)
        .chain(objects::BUILTINS)
        .chain(rotation::BUILTINS)
        .collect()
});

static BY_NAME: LazyLock<HashMap<&'static str, &'static Builtin>> =
    LazyLock::new(|| ALL.iter().map(|b| (b.name, *b)).collect());

/// Every built-in, in documentation order.
pub fn all() -> &'static [&'static Builtin] {
    &ALL
}

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    BY_NAME.get(name).copied()
}

/// The namespaces built-ins live in; `check.` is the namespace of custom checks.
pub fn namespaces() -> impl Iterator<Item = &'static str> {
    let mut seen: Vec<&'static str> = Vec::new();
    for b in all() {
        let ns = b.name.split('.').next().unwrap_or(b.name);
        if !seen.contains(&ns) {
            seen.push(ns);
        }
    }
    seen.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_dotted() {
        let mut seen = HashSet::new();
        for b in all() {
            assert!(seen.insert(b.name), "duplicate built-in {}", b.name);
            assert_eq!(b.name.matches('.').count(), 1, "{} must be ns.name", b.name);
            assert!(!b.doc.is_empty(), "{} has no doc", b.name);
        }
        assert!(lookup("eks.update_addon").is_some());
        assert!(lookup("eks.update_adon").is_none());
    }

    #[test]
    fn every_operation_implements_exactly_one_entry() {
        for op in Op::ALL {
            let entries: Vec<_> = all()
                .iter()
                .filter(|b| b.op == *op)
                .map(|b| b.name)
                .collect();
            assert_eq!(entries.len(), 1, "{op:?} implements {entries:?}");
        }
    }

    #[test]
    fn parameters_are_unique_typed_and_documented() {
        for b in all() {
            let mut names = HashSet::new();
            for p in b.positional.iter().chain(b.keyword) {
                assert!(
                    names.insert(p.name),
                    "{}: duplicate parameter {}",
                    b.name,
                    p.name
                );
                assert!(!p.doc.is_empty(), "{}: {} has no doc", b.name, p.name);
                assert_ne!(p.ty, Type::Unit, "{}: {} has no type", b.name, p.name);
                assert!(
                    !(p.required && p.default.is_some()),
                    "{}: {} is required and has a default",
                    b.name,
                    p.name
                );
                if !p.allowed.is_empty() {
                    assert_eq!(p.ty, Type::String, "{}: enumerated {}", b.name, p.name);
                    if let Some(d) = p.default {
                        let d = d.trim_matches('"');
                        assert!(
                            p.allowed.contains(&d),
                            "{}: default {d} not allowed",
                            b.name
                        );
                    }
                }
            }
            for p in b.positional {
                assert!(
                    p.required,
                    "{}: positional {} must be required",
                    b.name, p.name
                );
            }
        }
    }

    #[test]
    fn only_deletions_are_irreversible_and_control_plane_undo_is_bounded() {
        let irreversible: Vec<_> = all()
            .iter()
            .filter(|b| b.is_irreversible())
            .map(|b| b.name)
            .collect();
        assert_eq!(irreversible, ["eks.delete_nodegroup"]);
        // A control-plane change is undone by a VersionRollback, within
        // EKS's bounds, which the registry states.
        let cp = lookup("eks.update_cluster_version").unwrap();
        assert!(cp.undo_limit().is_some_and(|l| l.contains("7 days")));
        assert!(!lookup("eks.addons").unwrap().is_mutating());
        assert!(lookup("k8s.drain").unwrap().is_mutating());
    }

    #[test]
    fn enumerated_parameters_declare_their_values() {
        let rotate = lookup("nodegroup.rotate").unwrap();
        assert_eq!(
            rotate.keyword("strategy").unwrap().allowed,
            ["in_place", "blue_green"]
        );
        let addon = lookup("eks.update_addon").unwrap();
        assert!(
            addon
                .keyword("resolve_conflicts")
                .unwrap()
                .allowed
                .contains(&"OVERWRITE")
        );
    }

    #[test]
    fn record_fields_are_unique() {
        for r in records::ALL {
            let mut seen = HashSet::new();
            for f in r.fields {
                assert!(seen.insert(f.name), "{}.{} twice", r.name, f.name);
            }
        }
        assert_eq!(records::ADDON.field("version").unwrap().ty, Type::String);
        assert!(records::ADDON.field("verison").is_none());
    }

    #[test]
    fn methods_are_unique_per_receiver() {
        let mut seen = HashSet::new();
        for m in methods::METHODS {
            assert!(seen.insert((m.receiver.name(), m.name)), "{} twice", m.name);
        }
        let nodes = lookup("k8s.nodes").unwrap().returns;
        assert!(methods::method(nodes, "all").is_some());
        assert!(methods::method(Type::String, "all").is_none());
    }

    #[test]
    fn actions_doc_is_fresh() {
        crate::generated_doc::assert_fresh("actions.md", &markdown());
    }
}
