//! Kubernetes reads and node operations (through kube-rs).

use super::builtin::{
    Builtin, DAY, ONE_WAY, Op, Param, READ, REVERSIBLE, WEEK, def, one_of, opt, pos, req,
};
use super::records::{DAEMONSET, DEPLOYMENT, NODE, PDB, POD, STATEFULSET};
use super::types::Type;

static NODES: Type = Type::Record(&NODE);
static PODS: Type = Type::Record(&POD);
static DEPLOYMENTS: Type = Type::Record(&DEPLOYMENT);
static DAEMONSETS: Type = Type::Record(&DAEMONSET);
static STATEFULSETS: Type = Type::Record(&STATEFULSET);
static PDBS: Type = Type::Record(&PDB);

const NAMESPACE: super::builtin::Param = opt(
    "namespace",
    Type::String,
    "only this namespace; all namespaces if absent",
);
const SELECTOR: super::builtin::Param = opt(
    "selector",
    Type::String,
    "label selector, e.g. \"app=web,tier!=db\"",
);
const NODE_ARG: super::builtin::Param = pos("node", Type::String, "node name");

pub static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "k8s.nodes",
        op: Op::Nodes,
        doc: "Nodes of the cluster.",
        positional: &[],
        keyword: &[
            SELECTOR,
            opt(
                "nodegroup",
                Type::String,
                "only nodes of this EKS nodegroup",
            ),
        ],
        returns: Type::List(&NODES),
        effect: READ,
    },
    Builtin {
        name: "k8s.pods",
        op: Op::Pods,
        doc: "Pods of the cluster.",
        positional: &[],
        keyword: &[
            NAMESPACE,
            SELECTOR,
            opt("node", Type::String, "only pods on this node"),
        ],
        returns: Type::List(&PODS),
        effect: READ,
    },
    Builtin {
        name: "k8s.deployments",
        op: Op::Deployments,
        doc: "Deployments.",
        positional: &[],
        keyword: &[NAMESPACE],
        returns: Type::List(&DEPLOYMENTS),
        effect: READ,
    },
    Builtin {
        name: "k8s.daemonsets",
        op: Op::Daemonsets,
        doc: "DaemonSets.",
        positional: &[],
        keyword: &[NAMESPACE],
        returns: Type::List(&DAEMONSETS),
        effect: READ,
    },
    Builtin {
        name: "k8s.statefulsets",
        op: Op::Statefulsets,
        doc: "StatefulSets.",
        positional: &[],
        keyword: &[NAMESPACE],
        returns: Type::List(&STATEFULSETS),
        effect: READ,
    },
    Builtin {
        name: "k8s.pdbs",
        op: Op::Pdbs,
        doc: "PodDisruptionBudgets.",
        positional: &[],
        keyword: &[NAMESPACE],
        returns: Type::List(&PDBS),
        effect: READ,
    },
    Builtin {
        name: "k8s.cordon",
        op: Op::Cordon,
        doc: "Mark a node unschedulable.",
        positional: &[NODE_ARG],
        keyword: &[],
        returns: Type::Unit,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "k8s.uncordon",
        op: Op::Uncordon,
        doc: "Mark a node schedulable again.",
        positional: &[NODE_ARG],
        keyword: &[],
        returns: Type::Unit,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "k8s.drain",
        op: Op::Drain,
        doc: "Cordon a node and evict its pods through the Eviction API (PodDisruptionBudgets are honoured; never force-deletes).",
        positional: &[NODE_ARG],
        keyword: &[
            GRACE_PERIOD,
            def(
                "timeout",
                Type::Duration,
                "10m",
                "give up (and fail) after this long",
            )
            .within(1, WEEK),
            PARALLELISM,
            DELETE_EMPTYDIR_DATA,
            UNMANAGED_PODS,
        ],
        returns: Type::Unit,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "k8s.delete_pod",
        op: Op::DeletePod,
        doc: "Delete one pod (its controller, if any, recreates it elsewhere) and wait until it is gone. Refuses a pod that owns data (an emptyDir or a PersistentVolumeClaim volume) unless `data_loss_ok` is set, and a pod no controller recreates unless `unmanaged_ok` is set. Deletes only the pod it judged (UID precondition).",
        positional: &[
            pos("namespace", Type::String, "namespace of the pod"),
            pos("pod", Type::String, "pod name"),
        ],
        keyword: &[
            GRACE_PERIOD,
            def(
                "data_loss_ok",
                Type::Bool,
                "false",
                "also delete a pod with emptyDir (its data is lost) or PersistentVolumeClaim volumes",
            ),
            def(
                "unmanaged_ok",
                Type::Bool,
                "false",
                "also delete a pod without a controller (nothing recreates it)",
            ),
            def(
                "timeout",
                Type::Duration,
                "5m",
                "how long to wait for the pod to be gone",
            ),
        ],
        returns: Type::Unit,
        effect: ONE_WAY,
    },
    Builtin {
        name: "k8s.scale",
        op: Op::Scale,
        doc: "Set the replicas of a Deployment or StatefulSet and wait until that many are ready and updated. Returns the previous replica count, so a rollback block can scale back. Nothing is sent when it already has that many.",
        positional: &[
            pos("namespace", Type::String, "namespace of the workload"),
            pos("name", Type::String, "Deployment or StatefulSet name"),
        ],
        keyword: &[
            req("replicas", Type::Int, "desired replicas (0 or more)"),
            one_of(
                "kind",
                &["Deployment", "StatefulSet"],
                Some("\"Deployment\""),
                "kind of the workload",
            ),
            def(
                "timeout",
                Type::Duration,
                "10m",
                "how long to wait for the replicas to be ready",
            ),
        ],
        returns: Type::Int,
        effect: REVERSIBLE,
    },
];

// How a drain treats pods: shared by `k8s.drain` and the drains of a
// blue/green `nodegroup.rotate`, so both accept the same policy.
pub(super) const GRACE_PERIOD: Param = def(
    "grace_period",
    Type::Duration,
    "30s",
    "termination grace period given to each pod",
)
.within(0, DAY);
pub(super) const PARALLELISM: Param =
    def("parallelism", Type::Int, "1", "evictions in flight at once").within(1, 64);
pub(super) const DELETE_EMPTYDIR_DATA: Param = def(
    "delete_emptydir_data",
    Type::Bool,
    "false",
    "also evict pods using emptyDir (their data is lost)",
);
pub(super) const UNMANAGED_PODS: Param = one_of(
    "unmanaged_pods",
    &["fail", "skip", "delete"],
    Some("\"fail\""),
    "pods without a controller: fail the drain, leave them, or delete them",
);
