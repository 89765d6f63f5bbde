//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`)
//! so `kubectl get` shows the same columns as against a real cluster.

use serde_json::{Value, json};

use crate::sandbox::state::objects::{is_terminating, node_ready};

/// Kubernetes' HumanDuration (what the AGE column shows).
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    let m = s / 60;
    let h = m / 60;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s.is_multiple_of(60) {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m.is_multiple_of(60) {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h.is_multiple_of(24) {
            format!("{}d", h / 24)
        } else {
            format!("{}d{}h", h / 24, h % 24)
        }
    } else if h < 24 * 365 * 2 {
        format!("{}d", h / 24)
    } else {
        format!("{}y", h / 24 / 365)
    }
}

fn age(obj: &Value, now_unix_ms: i64) -> String {
    let created = obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map_or(now_unix_ms, |t| t.as_millisecond());
    human_duration((now_unix_ms - created).max(0) as u64)
}

fn col(name: &str, ty: &str, format: &str, priority: u8, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn node_row(n: &Value, now: i64) -> Vec<Value> {
    let mut status = if node_ready(n) {
        "Ready".to_string()
    } else {
        "NotReady".to_string()
    };
    if n["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    let info = &n["status"]["nodeInfo"];
    let ip = n["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|x| x["address"].as_str())
        .unwrap_or("<none>");
    vec![
        n["metadata"]["name"].clone(),
        json!(status),
        json!("<none>"),
        json!(age(n, now)),
        info["kubeletVersion"].clone(),
        json!(ip),
        json!("<none>"),
        info["osImage"].clone(),
        info["kernelVersion"].clone(),
        info["containerRuntimeVersion"].clone(),
    ]
}

fn pod_row(p: &Value, now: i64) -> Vec<Value> {
    let statuses = p["status"]["containerStatuses"].as_array();
    let total = p["spec"]["containers"].as_array().map_or(0, |c| c.len());
    let ready = statuses.map_or(0, |s| s.iter().filter(|c| c["ready"] == true).count());
    let restarts: i64 = statuses.map_or(0, |s| {
        s.iter()
            .map(|c| c["restartCount"].as_i64().unwrap_or(0))
            .sum()
    });
    let mut reason = p["status"]["phase"]
        .as_str()
        .unwrap_or("Pending")
        .to_string();
    if let Some(w) = statuses.and_then(|s| {
        s.iter()
            .find_map(|c| c["state"]["waiting"]["reason"].as_str())
    }) {
        reason = w.to_string();
    }
    if is_terminating(p) {
        reason = "Terminating".into();
    }
    vec![
        p["metadata"]["name"].clone(),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        json!(age(p, now)),
        json!(p["status"]["podIP"].as_str().unwrap_or("<none>")),
        json!(p["spec"]["nodeName"].as_str().unwrap_or("<none>")),
        json!("<none>"),
        json!("<none>"),
    ]
}

fn generic_row(o: &Value, _now: i64) -> Vec<Value> {
    vec![
        o["metadata"]["name"].clone(),
        o["metadata"]["creationTimestamp"].clone(),
    ]
}

fn deployment_row(d: &Value, now: i64) -> Vec<Value> {
    let s = &d["status"];
    vec![
        d["metadata"]["name"].clone(),
        json!(format!(
            "{}/{}",
            s["readyReplicas"].as_u64().unwrap_or(0),
            d["spec"]["replicas"].as_u64().unwrap_or(0)
        )),
        json!(s["updatedReplicas"].as_u64().unwrap_or(0)),
        json!(s["availableReplicas"].as_u64().unwrap_or(0)),
        json!(age(d, now)),
    ]
}

fn pdb_row(p: &Value, now: i64) -> Vec<Value> {
    let show = |v: &Value| match v {
        Value::Null => "N/A".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    vec![
        p["metadata"]["name"].clone(),
        json!(show(&p["spec"]["minAvailable"])),
        json!(show(&p["spec"]["maxUnavailable"])),
        json!(p["status"]["disruptionsAllowed"].as_i64().unwrap_or(0)),
        json!(age(p, now)),
    ]
}

fn event_row(e: &Value, now: i64) -> Vec<Value> {
    let last = e["lastTimestamp"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map_or(now, |t| t.as_millisecond());
    let obj = &e["involvedObject"];
    vec![
        json!(human_duration((now - last).max(0) as u64)),
        e["type"].clone(),
        e["reason"].clone(),
        json!(format!(
            "{}/{}",
            obj["kind"].as_str().unwrap_or("").to_lowercase(),
            obj["name"].as_str().unwrap_or("")
        )),
        e["message"].clone(),
        e["metadata"]["name"].clone(),
    ]
}

fn count(v: &Value) -> Value {
    json!(v.as_i64().unwrap_or(0))
}

/// CONTAINERS, IMAGES and SELECTOR of a workload (the wide columns).
fn workload_wide(o: &Value) -> [Value; 3] {
    let containers = o["spec"]["template"]["spec"]["containers"].as_array();
    let join = |field: &str| {
        containers.map_or(String::new(), |cs| {
            cs.iter()
                .filter_map(|c| c[field].as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    [
        json!(join("name")),
        json!(join("image")),
        json!(selector(&o["spec"]["selector"]["matchLabels"])),
    ]
}

fn selector(labels: &Value) -> String {
    labels.as_object().map_or("<none>".into(), |m| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn service_row(s: &Value, now: i64) -> Vec<Value> {
    let spec = &s["spec"];
    let ports = spec["ports"].as_array().map_or("<none>".into(), |ps| {
        ps.iter()
            .map(|p| {
                let proto = p["protocol"].as_str().unwrap_or("TCP");
                match p["nodePort"].as_i64() {
                    Some(n) => format!("{}:{n}/{proto}", p["port"]),
                    None => format!("{}/{proto}", p["port"]),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    });
    vec![
        s["metadata"]["name"].clone(),
        json!(spec["type"].as_str().unwrap_or("ClusterIP")),
        json!(spec["clusterIP"].as_str().unwrap_or("<none>")),
        json!("<none>"),
        json!(ports),
        json!(age(s, now)),
        json!(selector(&spec["selector"])),
    ]
}

fn replicaset_row(r: &Value, now: i64) -> Vec<Value> {
    let [containers, images, sel] = workload_wide(r);
    vec![
        r["metadata"]["name"].clone(),
        count(&r["spec"]["replicas"]),
        count(&r["status"]["replicas"]),
        count(&r["status"]["readyReplicas"]),
        json!(age(r, now)),
        containers,
        images,
        sel,
    ]
}

fn daemonset_row(d: &Value, now: i64) -> Vec<Value> {
    let [containers, images, sel] = workload_wide(d);
    let s = &d["status"];
    vec![
        d["metadata"]["name"].clone(),
        count(&s["desiredNumberScheduled"]),
        count(&s["currentNumberScheduled"]),
        count(&s["numberReady"]),
        count(&s["updatedNumberScheduled"]),
        count(&s["numberAvailable"]),
        json!(selector(&d["spec"]["template"]["spec"]["nodeSelector"])),
        json!(age(d, now)),
        containers,
        images,
        sel,
    ]
}

fn statefulset_row(d: &Value, now: i64) -> Vec<Value> {
    let [containers, images, _] = workload_wide(d);
    vec![
        d["metadata"]["name"].clone(),
        json!(format!(
            "{}/{}",
            d["status"]["readyReplicas"].as_u64().unwrap_or(0),
            d["spec"]["replicas"].as_u64().unwrap_or(1)
        )),
        json!(age(d, now)),
        containers,
        images,
    ]
}

fn service_account_row(s: &Value, now: i64) -> Vec<Value> {
    vec![
        s["metadata"]["name"].clone(),
        json!(s["secrets"].as_array().map_or(0, Vec::len)),
        json!(age(s, now)),
    ]
}

fn namespace_row(n: &Value, now: i64) -> Vec<Value> {
    vec![
        n["metadata"]["name"].clone(),
        json!(n["status"]["phase"].as_str().unwrap_or("Active")),
        json!(age(n, now)),
    ]
}

type RowFn = fn(&Value, i64) -> Vec<Value>;

fn layout(resource: &str) -> (Vec<Value>, RowFn) {
    let name = col(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    );
    let age = col(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match resource {
        "nodes" => (
            vec![
                name,
                col("Status", "string", "", 0, "The status of the node"),
                col("Roles", "string", "", 0, "The roles of the node"),
                age,
                col(
                    "Version",
                    "string",
                    "",
                    0,
                    "Kubelet Version reported by the node.",
                ),
                col(
                    "Internal-IP",
                    "string",
                    "",
                    1,
                    "List of addresses reachable to the node.",
                ),
                col(
                    "External-IP",
                    "string",
                    "",
                    1,
                    "List of addresses reachable to the node.",
                ),
                col(
                    "OS-Image",
                    "string",
                    "",
                    1,
                    "OS Image reported by the node.",
                ),
                col(
                    "Kernel-Version",
                    "string",
                    "",
                    1,
                    "Kernel Version reported by the node.",
                ),
                col(
                    "Container-Runtime",
                    "string",
                    "",
                    1,
                    "Container Runtime Version reported by the node.",
                ),
            ],
            node_row,
        ),
        "pods" => (
            vec![
                name,
                col(
                    "Ready",
                    "string",
                    "",
                    0,
                    "The aggregate readiness state of this pod for accepting traffic.",
                ),
                col(
                    "Status",
                    "string",
                    "",
                    0,
                    "The aggregate status of the containers in this pod.",
                ),
                col(
                    "Restarts",
                    "string",
                    "",
                    0,
                    "The number of times the containers in this pod have been restarted.",
                ),
                age,
                col("IP", "string", "", 1, "IP address allocated to the pod."),
                col(
                    "Node",
                    "string",
                    "",
                    1,
                    "Name of the Node this pod is scheduled on.",
                ),
                col(
                    "Nominated Node",
                    "string",
                    "",
                    1,
                    "Name of the Node this pod is nominated on.",
                ),
                col("Readiness Gates", "string", "", 1, "Pod readiness gates."),
            ],
            pod_row,
        ),
        "deployments" => (
            vec![
                name,
                col(
                    "Ready",
                    "string",
                    "",
                    0,
                    "Number of the pod with ready state",
                ),
                col(
                    "Up-to-date",
                    "string",
                    "",
                    0,
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                col(
                    "Available",
                    "string",
                    "",
                    0,
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age,
            ],
            deployment_row,
        ),
        "poddisruptionbudgets" => (
            vec![
                name,
                col(
                    "Min Available",
                    "string",
                    "",
                    0,
                    "The minimum number of pods that must be available.",
                ),
                col(
                    "Max Unavailable",
                    "string",
                    "",
                    0,
                    "The maximum number of pods that may be unavailable.",
                ),
                col(
                    "Allowed Disruptions",
                    "integer",
                    "",
                    0,
                    "Calculated number of pods that may be disrupted at this time.",
                ),
                age,
            ],
            pdb_row,
        ),
        "events" => (
            vec![
                col(
                    "Last Seen",
                    "string",
                    "",
                    0,
                    "Time since the event was last seen.",
                ),
                col(
                    "Type",
                    "string",
                    "",
                    0,
                    "Type of this event (Normal, Warning).",
                ),
                col("Reason", "string", "", 0, "Why the action was taken."),
                col("Object", "string", "", 0, "The object this event is about."),
                col("Message", "string", "", 0, "A human-readable description."),
                col("Name", "string", "name", 1, "Name of the event."),
            ],
            event_row,
        ),
        "services" => (
            vec![
                name,
                col("Type", "string", "", 0, "The type of the service."),
                col(
                    "Cluster-IP",
                    "string",
                    "",
                    0,
                    "The IP address of the service.",
                ),
                col(
                    "External-IP",
                    "string",
                    "",
                    0,
                    "The external IP address of the service.",
                ),
                col("Port(s)", "string", "", 0, "The ports the service exposes."),
                age,
                col(
                    "Selector",
                    "string",
                    "",
                    1,
                    "The labels the service selects pods by.",
                ),
            ],
            service_row,
        ),
        "replicasets" => (
            vec![
                name,
                col("Desired", "integer", "", 0, "Number of desired pods."),
                col("Current", "integer", "", 0, "Number of actual pods."),
                col("Ready", "integer", "", 0, "Number of pods ready."),
                age,
                col(
                    "Containers",
                    "string",
                    "",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    "",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col("Selector", "string", "", 1, "Label selector for pods."),
            ],
            replicaset_row,
        ),
        "daemonsets" => (
            vec![
                name,
                col(
                    "Desired",
                    "integer",
                    "",
                    0,
                    "The total number of nodes that should be running the daemon pod.",
                ),
                col(
                    "Current",
                    "integer",
                    "",
                    0,
                    "The number of nodes running at least one daemon pod.",
                ),
                col(
                    "Ready",
                    "integer",
                    "",
                    0,
                    "The number of nodes running a Ready daemon pod.",
                ),
                col(
                    "Up-to-date",
                    "integer",
                    "",
                    0,
                    "The number of nodes running the updated daemon pod.",
                ),
                col(
                    "Available",
                    "integer",
                    "",
                    0,
                    "The number of nodes running an available daemon pod.",
                ),
                col(
                    "Node Selector",
                    "string",
                    "",
                    0,
                    "The node selector of the daemon pods.",
                ),
                age,
                col(
                    "Containers",
                    "string",
                    "",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    "",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col("Selector", "string", "", 1, "Label selector for pods."),
            ],
            daemonset_row,
        ),
        "statefulsets" => (
            vec![
                name,
                col(
                    "Ready",
                    "string",
                    "",
                    0,
                    "Number of the pod with ready state",
                ),
                age,
                col(
                    "Containers",
                    "string",
                    "",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    "",
                    1,
                    "Images referenced by each container in the template.",
                ),
            ],
            statefulset_row,
        ),
        "serviceaccounts" => (
            vec![
                name,
                col(
                    "Secrets",
                    "string",
                    "",
                    0,
                    "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                ),
                age,
            ],
            service_account_row,
        ),
        "namespaces" => (
            vec![
                name,
                col("Status", "string", "", 0, "The status of the namespace"),
                age,
            ],
            namespace_row,
        ),
        _ => (
            vec![
                name,
                col(
                    "Created At",
                    "date",
                    "",
                    0,
                    "CreationTimestamp is a timestamp representing the server time when this object was created.",
                ),
            ],
            generic_row,
        ),
    }
}

/// Build a Table from objects. `full_object` follows `includeObject=Object`.
pub fn table<'a>(
    resource: &str,
    objects: impl Iterator<Item = &'a Value>,
    now_unix_ms: i64,
    resource_version: u64,
    continue_token: Option<String>,
    full_object: bool,
) -> Value {
    let (columns, row) = layout(resource);
    let rows: Vec<Value> = objects
        .map(|o| {
            let object = if full_object {
                o.clone()
            } else {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"].clone()})
            };
            json!({"cells": row(o, now_unix_ms), "object": object})
        })
        .collect();
    let mut meta = json!({"resourceVersion": resource_version.to_string()});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages_print_like_kubectl() {
        assert_eq!(human_duration(45_000), "45s");
        assert_eq!(human_duration(150_000), "2m30s");
        assert_eq!(human_duration(25 * 60_000), "25m");
        assert_eq!(human_duration(5 * 3_600_000 + 60_000), "5h1m");
        assert_eq!(human_duration(3 * 86_400_000), "3d");
    }
}
