//! EKS control-plane, nodegroup and add-on built-ins (through aws-sdk-eks).

use super::builtin::{
    Builtin, IRREVERSIBLE, MAX_NODES, Op, READ, REVERSIBLE, UNDOABLE_ONE_MINOR, WEEK, def, one_of,
    opt, pos,
};
use super::records::{ADDON, CLUSTER, INSIGHT, NODEGROUP, UPDATE};
use super::types::{Type, list};

static ADDON_LIST: Type = Type::Record(&ADDON);
static INSIGHT_LIST: Type = Type::Record(&INSIGHT);
static UPDATE_LIST: Type = Type::Record(&UPDATE);

const CLUSTER_ARG: super::builtin::Param = pos("cluster", Type::String, "EKS cluster name");
const NODEGROUP_ARG: super::builtin::Param =
    pos("nodegroup", Type::String, "managed nodegroup name");

pub static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "eks.cluster",
        op: Op::Cluster,
        doc: "Describe the cluster: version, platform version, status.",
        positional: &[CLUSTER_ARG],
        keyword: &[],
        returns: Type::Record(&CLUSTER),
        effect: READ,
    },
    Builtin {
        name: "eks.update_cluster_version",
        op: Op::UpdateClusterVersion,
        doc: "Move the control plane one minor and wait until the cluster is ACTIVE again: up (an upgrade), or down within 7 days of the in-place upgrade that reached the current minor (a `VersionRollback`; managed nodegroups must be rolled back first and add-ons must support the older minor, or EKS refuses unless `force`).",
        positional: &[
            CLUSTER_ARG,
            pos(
                "version",
                Type::Version,
                "the next minor (upgrade) or the previous one (rollback)",
            ),
        ],
        keyword: &[
            def(
                "timeout",
                Type::Duration,
                "60m",
                "how long to wait for the update to finish",
            )
            .within(1, WEEK),
            def(
                "force",
                Type::Bool,
                "false",
                "let EKS proceed over upgrade or rollback readiness insights at ERROR",
            ),
        ],
        returns: Type::Unit,
        effect: UNDOABLE_ONE_MINOR,
    },
    Builtin {
        name: "eks.nodegroups",
        op: Op::Nodegroups,
        doc: "Names of the cluster's managed nodegroups.",
        positional: &[CLUSTER_ARG],
        keyword: &[],
        returns: Type::List(&list::STRING),
        effect: READ,
    },
    Builtin {
        name: "eks.nodegroup",
        op: Op::Nodegroup,
        doc: "Describe one managed nodegroup.",
        positional: &[CLUSTER_ARG, pos("name", Type::String, "nodegroup name")],
        keyword: &[],
        returns: Type::Record(&NODEGROUP),
        effect: READ,
    },
    Builtin {
        name: "eks.update_nodegroup_version",
        op: Op::UpdateNodegroupVersion,
        doc: "Roll a managed nodegroup to a Kubernetes version or AMI release (EKS replaces nodes in place) and wait.",
        positional: &[CLUSTER_ARG, NODEGROUP_ARG],
        keyword: &[
            opt(
                "version",
                Type::Version,
                "target minor; defaults to the control plane's",
            ),
            opt(
                "release_version",
                Type::String,
                "AMI release version; defaults to the latest for the version",
            ),
            def(
                "force",
                Type::Bool,
                "false",
                "evict pods even when a PodDisruptionBudget blocks it",
            ),
            def(
                "timeout",
                Type::Duration,
                "90m",
                "how long to wait for the update to finish",
            )
            .within(1, WEEK),
        ],
        returns: Type::Unit,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "eks.update_nodegroup_config",
        op: Op::UpdateNodegroupConfig,
        doc: "Change a managed nodegroup's scaling, update or label/taint configuration and wait.",
        positional: &[CLUSTER_ARG, NODEGROUP_ARG],
        keyword: &[
            // EKS: at most 450 nodes per managed nodegroup; maxUnavailable 1-100.
            opt("min_size", Type::Int, "minimum nodes").within(0, MAX_NODES),
            opt("max_size", Type::Int, "maximum nodes").within(1, MAX_NODES),
            opt("desired_size", Type::Int, "desired nodes").within(0, MAX_NODES),
            opt(
                "max_unavailable",
                Type::Int,
                "nodes replaced at once during updates",
            )
            .within(1, 100),
            opt(
                "max_unavailable_percentage",
                Type::Int,
                "percentage of nodes replaced at once during updates; not with max_unavailable",
            )
            .within(1, 100),
            opt("labels", Type::Map, "labels to set on the nodes"),
        ],
        returns: Type::Unit,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "eks.create_nodegroup",
        op: Op::CreateNodegroup,
        doc: "Create a managed nodegroup, copying the configuration of an existing one, and wait until ACTIVE.",
        positional: &[CLUSTER_ARG, NODEGROUP_ARG],
        keyword: &[
            super::builtin::req(
                "from",
                Type::String,
                "existing nodegroup whose configuration is copied",
            ),
            opt(
                "version",
                Type::Version,
                "Kubernetes minor; defaults to the control plane's",
            ),
        ],
        returns: Type::Unit,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "eks.delete_nodegroup",
        op: Op::DeleteNodegroup,
        doc: "Delete a managed nodegroup (its nodes are drained by EKS) and wait until it is gone.",
        positional: &[CLUSTER_ARG, NODEGROUP_ARG],
        keyword: &[],
        returns: Type::Unit,
        // A deleted nodegroup's nodes and their local state are gone; a new
        // nodegroup of the same name is a different one.
        effect: IRREVERSIBLE,
    },
    Builtin {
        name: "eks.addons",
        op: Op::Addons,
        doc: "The add-ons installed in the cluster.",
        positional: &[CLUSTER_ARG],
        keyword: &[],
        returns: Type::List(&ADDON_LIST),
        effect: READ,
    },
    Builtin {
        name: "eks.addon",
        op: Op::Addon,
        doc: "Describe one installed add-on.",
        positional: &[
            CLUSTER_ARG,
            pos("name", Type::String, "add-on name, e.g. vpc-cni"),
        ],
        keyword: &[],
        returns: Type::Record(&ADDON),
        effect: READ,
    },
    Builtin {
        name: "eks.update_addon",
        op: Op::UpdateAddon,
        doc: "Update an add-on to a version and wait until it is ACTIVE.",
        positional: &[
            CLUSTER_ARG,
            pos("addon", Type::String, "add-on name, e.g. vpc-cni"),
        ],
        keyword: &[
            super::builtin::req(
                "version",
                Type::String,
                "add-on version, e.g. v1.18.3-eksbuild.1",
            ),
            one_of(
                "resolve_conflicts",
                &["NONE", "OVERWRITE", "PRESERVE"],
                Some("\"PRESERVE\""),
                "what to do with fields changed outside EKS",
            ),
            opt("configuration_values", Type::String, "JSON configuration"),
        ],
        returns: Type::Unit,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "eks.default_addon_version",
        op: Op::DefaultAddonVersion,
        doc: "The default add-on version EKS offers for a Kubernetes minor (DescribeAddonVersions).",
        positional: &[
            pos("addon", Type::String, "add-on name"),
            pos("k8s_version", Type::Version, "Kubernetes minor"),
        ],
        keyword: &[],
        returns: Type::String,
        effect: READ,
    },
    Builtin {
        name: "eks.addon_versions",
        op: Op::AddonVersions,
        doc: "The versions of an add-on EKS accepts for a Kubernetes minor (DescribeAddonVersions), newest first: what an update, or a rollback's restore, may use while the cluster runs that minor.",
        positional: &[
            pos("addon", Type::String, "add-on name"),
            pos("k8s_version", Type::Version, "Kubernetes minor"),
        ],
        keyword: &[],
        returns: Type::List(&list::STRING),
        effect: READ,
    },
    Builtin {
        name: "eks.version_path",
        op: Op::VersionPath,
        doc: "The minors to step through from the current control-plane version to target (EKS upgrades one minor at a time); empty if already there.",
        positional: &[CLUSTER_ARG, pos("target", Type::Version, "final minor")],
        keyword: &[],
        returns: Type::List(&list::VERSION),
        effect: READ,
    },
    Builtin {
        name: "eks.foreign_updates",
        op: Op::ForeignUpdates,
        doc: "The drift guard: EKS updates on the cluster, its nodegroups and its add-ons that this run did not start and that are in progress, or began after this run first asked (ListUpdates, DescribeUpdate). Other automation changing what the run changes (seed 000's \"radar\" rolling a nodegroup back) shows up here.",
        positional: &[CLUSTER_ARG],
        keyword: &[],
        returns: Type::List(&UPDATE_LIST),
        effect: READ,
    },
    Builtin {
        name: "eks.insights",
        op: Op::Insights,
        doc: "EKS upgrade insights, optionally filtered.",
        positional: &[CLUSTER_ARG],
        keyword: &[
            one_of(
                "status",
                &["PASSING", "WARNING", "ERROR", "UNKNOWN"],
                None,
                "only insights with this status",
            ),
            one_of(
                "category",
                &[
                    "UPGRADE_READINESS",
                    "ROLLBACK_READINESS",
                    "MISCONFIGURATION",
                ],
                None,
                "only insights of this category",
            ),
        ],
        returns: Type::List(&INSIGHT_LIST),
        effect: READ,
    },
];
