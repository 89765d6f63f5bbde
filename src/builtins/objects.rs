//! Any Kubernetes object by `apiVersion` and `kind`, custom resources
//! included: read one, create one, merge-patch or annotate one, and wait for
//! one of its fields to reach a value (e.g. a Velero `Backup` to complete).

use super::builtin::{Builtin, ONE_WAY, Op, Param, READ, REVERSIBLE, def, opt, pos, req};
use super::types::{Type, list};

const API_VERSION: Param = pos(
    "api_version",
    Type::String,
    "group/version, e.g. \"velero.io/v1\", \"apps/v1\" or \"v1\"",
);
const KIND: Param = pos("kind", Type::String, "kind, e.g. \"Backup\"");
const NAME: Param = pos("name", Type::String, "object name");
const NAMESPACE: Param = opt(
    "namespace",
    Type::String,
    "namespace of a namespaced kind (required for those)",
);

pub static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "k8s.get",
        op: Op::Get,
        doc: "Read one object of any kind (custom resources included) as a map, as the API returns it. Fails if it does not exist.",
        positional: &[API_VERSION, KIND, NAME],
        keyword: &[NAMESPACE],
        returns: Type::Map,
        effect: READ,
    },
    Builtin {
        name: "k8s.create",
        op: Op::Create,
        doc: "Create an object from a manifest (`apiVersion`, `kind`, `metadata.name`, ...). Nothing is sent when an object of that name already exists. Not undone by a rollback block: delete it there if needed.",
        positional: &[pos(
            "manifest",
            Type::Map,
            "the object, e.g. {apiVersion: \"velero.io/v1\", kind: \"Backup\", metadata: {name: \"pre-upgrade\", namespace: \"velero\"}, spec: {...}}",
        )],
        keyword: &[],
        returns: Type::Unit,
        effect: ONE_WAY,
    },
    Builtin {
        name: "k8s.patch",
        op: Op::Patch,
        doc: "Apply a JSON merge patch (RFC 7386) to an object. Returns the patch that undoes it (the previous values; `null` where a field was absent), for the step's rollback block. Nothing is sent when the object already matches.",
        positional: &[API_VERSION, KIND, NAME],
        keyword: &[
            NAMESPACE,
            req(
                "patch",
                Type::Map,
                "merge patch; a `null` (as in the map a patch returns) removes the field",
            ),
        ],
        returns: Type::Map,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "k8s.annotate",
        op: Op::Annotate,
        doc: "Set annotations on an object. Returns the previous value of each key (`null` where absent); passing that map back, as a rollback block does, restores them (a `null` removes the key). Nothing is sent when they are already set.",
        positional: &[API_VERSION, KIND, NAME],
        keyword: &[
            NAMESPACE,
            req("annotations", Type::Map, "annotation key -> value"),
        ],
        returns: Type::Map,
        effect: REVERSIBLE,
    },
    Builtin {
        name: "k8s.wait",
        op: Op::Wait,
        doc: "Poll an object until a field reaches a value (e.g. a Velero Backup's `status.phase` is `Completed`) and return the object. Fails at once when the field takes a value listed in `fail_on`, and after `timeout`. A dry run looks once and does not wait.",
        positional: &[API_VERSION, KIND, NAME],
        keyword: &[
            NAMESPACE,
            req(
                "field",
                Type::String,
                "dotted path into the object, e.g. \"status.phase\"",
            ),
            req("equals", Type::String, "the value to wait for"),
            def(
                "fail_on",
                Type::List(&list::STRING),
                "[]",
                "values of the field that end the wait as a failure, e.g. [\"Failed\", \"PartiallyFailed\"]",
            ),
            def("timeout", Type::Duration, "10m", "give up after this long"),
            def("every", Type::Duration, "10s", "time between polls"),
        ],
        returns: Type::Map,
        effect: READ,
    },
];
