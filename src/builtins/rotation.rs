//! Nodegroup rotation: the composite action that moves a nodegroup's nodes to
//! a new version, in place (EKS rolling update) or blue/green (new nodegroup,
//! drain the old one, delete it).

use super::builtin::{Builtin, REVERSIBLE, def, one_of, opt, pos};
use super::k8s::{DELETE_EMPTYDIR_DATA, GRACE_PERIOD, PARALLELISM, UNMANAGED_PODS};
use super::types::Type;

pub static BUILTINS: &[Builtin] = &[Builtin {
    name: "nodegroup.rotate",
    doc: "Move every node of a nodegroup to a version, in place or blue/green, draining old nodes through the Eviction API, and wait.",
    positional: &[
        pos("cluster", Type::String, "EKS cluster name"),
        pos("nodegroup", Type::String, "managed nodegroup name"),
    ],
    keyword: &[
        opt(
            "version",
            Type::Version,
            "target minor; defaults to the control plane's",
        ),
        one_of(
            "strategy",
            &["in_place", "blue_green"],
            Some("\"in_place\""),
            "in_place: EKS rolling update; blue_green: new nodegroup, drain and delete the old",
        ),
        opt(
            "max_unavailable",
            Type::Int,
            "in place: nodes replaced at once (1-100); unset or 0 keeps the nodegroup's own update config",
        ),
        opt(
            "max_unavailable_percentage",
            Type::Int,
            "in place: the same as a percentage of the nodegroup (1-100); unset or 0 keeps the nodegroup's own",
        ),
        def(
            "force",
            Type::Bool,
            "false",
            "evict even when a PodDisruptionBudget blocks it",
        ),
        def(
            "canary",
            Type::Int,
            "0",
            "first prove the target on this many nodes and check the step's gates: blue_green drains them first; in_place creates a canary copy of the group with them (tainted, DaemonSets only), then deletes it",
        ),
        def(
            "drain_timeout",
            Type::Duration,
            "10m",
            "per-node drain timeout",
        ),
        GRACE_PERIOD,
        PARALLELISM,
        DELETE_EMPTYDIR_DATA,
        UNMANAGED_PODS,
    ],
    returns: Type::Unit,
    effect: REVERSIBLE,
}];
