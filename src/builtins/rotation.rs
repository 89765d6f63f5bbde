//! Nodegroup rotation: the composite action that moves a nodegroup's nodes to
//! a new version, in place (EKS rolling update) or blue/green (new nodegroup,
//! drain the old one, delete it).

use super::builtin::{Builtin, MAX_NODES, Op, REVERSIBLE, WEEK, def, one_of, opt, pos};
use super::k8s::{DELETE_EMPTYDIR_DATA, GRACE_PERIOD, PARALLELISM, UNMANAGED_PODS};
use super::types::Type;

pub static BUILTINS: &[Builtin] = &[Builtin {
    name: "nodegroup.rotate",
    op: Op::Rotate,
    doc: "Move every node of a nodegroup to a version or AMI release, in place or blue/green, draining old nodes through the Eviction API, and wait.",
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
        opt(
            "release_version",
            Type::String,
            "AMI release to pin, e.g. \"1.30.14-20250920\", or \"latest\" for the newest; at the nodegroup's own version this is an AMI refresh (in_place only)",
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
            "in place: nodes replaced at once; unset or 0 keeps the nodegroup's own update config",
        )
        .within(0, 100),
        opt(
            "max_unavailable_percentage",
            Type::Int,
            "in place: the same as a percentage of the nodegroup; unset or 0 keeps the nodegroup's own",
        )
        .within(0, 100),
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
        )
        .within(0, MAX_NODES),
        def(
            "boot_timeout",
            Type::Duration,
            "30m",
            "blue_green: how long the replacement nodes may take to become Ready",
        ),
        def(
            "drain_timeout",
            Type::Duration,
            "10m",
            "per-node drain timeout",
        )
        .within(1, WEEK),
        GRACE_PERIOD,
        PARALLELISM,
        DELETE_EMPTYDIR_DATA,
        UNMANAGED_PODS,
    ],
    returns: Type::Unit,
    effect: REVERSIBLE,
},
Builtin {
    name: "nodegroup.undo_rotation",
    op: Op::UndoRotation,
    doc: "Undo a rotation of a nodegroup to `version`, however far it got, judged from the cluster's state: an update still running is waited out; a canary group is deleted; while the old group exists its blue/green replacement is deleted and its nodes uncordoned; a group at `version` (in place, or a finished replacement) goes back to `back_to` with UpdateNodegroupVersion (EKS allows one minor back).",
    positional: &[
        pos("cluster", Type::String, "EKS cluster name"),
        pos("nodegroup", Type::String, "the nodegroup as it was named before the rotation"),
    ],
    keyword: &[
        super::builtin::req("version", Type::Version, "the minor the rotation moved to"),
        opt(
            "back_to",
            Type::Version,
            "the minor to return to; defaults to the one before `version`",
        ),
    ],
    returns: Type::Unit,
    effect: REVERSIBLE,
}];
