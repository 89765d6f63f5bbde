//! Builders for the Kubernetes objects the simulation creates, shaped as the
//! API server returns them, and small readers for the fields it consults.

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::quantity::{format_cpu, format_memory_ki, parse_cpu, parse_memory};
use super::typed::Condition;

pub fn timestamp(epoch_ms: i64, ms: u64) -> String {
    let secs = (epoch_ms + ms as i64) / 1000;
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

pub fn labels_json(labels: &IndexMap<String, String>) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Docker Hub images: no registry host, or docker.io / index.docker.io.
pub fn is_docker_hub(image: &str) -> bool {
    match image.split_once('/') {
        None => true,
        Some((host, _)) => {
            !(host.contains('.') || host.contains(':') || host == "localhost")
                || host == "docker.io"
                || host == "index.docker.io"
        }
    }
}

/// Summed container requests: (millicores, bytes).
pub fn pod_requests(pod: &Value) -> (u64, u64) {
    let mut cpu = 0;
    let mut mem = 0;
    if let Some(cs) = pod["spec"]["containers"].as_array() {
        for c in cs {
            let r = &c["resources"]["requests"];
            cpu += r["cpu"].as_str().and_then(parse_cpu).unwrap_or(0);
            mem += r["memory"].as_str().and_then(parse_memory).unwrap_or(0);
        }
    }
    (cpu, mem)
}

pub fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn is_terminating(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The controller owner reference: (kind, name, uid).
pub fn controller_of(obj: &Value) -> Option<(&str, &str, &str)> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
                r["uid"].as_str().unwrap_or(""),
            )
        })
}

pub fn owner_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!([{
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

/// `matchLabels` of a selector against an object's labels.
pub fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let Some(ml) = selector["matchLabels"].as_object() else {
        return selector["matchExpressions"].is_null() && selector.is_object();
    };
    ml.iter().all(|(k, v)| labels[k] == *v)
}

pub struct NodeParams<'a> {
    pub name: &'a str,
    pub nodegroup: &'a str,
    pub instance_type: &'a str,
    pub zone: &'a str,
    pub kubelet_version: String,
    pub release_version: &'a str,
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub max_pods: u32,
    pub labels: &'a IndexMap<String, String>,
    pub taints: Value,
    pub ip: &'a str,
    pub instance_id: &'a str,
    pub created: String,
}

pub fn node(p: NodeParams) -> Value {
    let mut labels = Map::new();
    for (k, v) in [
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/instance-type", p.instance_type),
        ("beta.kubernetes.io/os", "linux"),
        ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
        ("eks.amazonaws.com/nodegroup", p.nodegroup),
        ("eks.amazonaws.com/nodegroup-image", "ami-0c55b159cbfafe1f0"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", p.name),
        ("kubernetes.io/os", "linux"),
        ("node.kubernetes.io/instance-type", p.instance_type),
        ("topology.kubernetes.io/zone", p.zone),
    ] {
        labels.insert(k.into(), Value::String(v.into()));
    }
    for (k, v) in p.labels {
        labels.insert(k.clone(), Value::String(v.clone()));
    }
    let region = p.zone.trim_end_matches(char::is_alphabetic);
    // Kubelet reserves (roughly what the EKS AMI's bootstrap computes).
    let alloc_cpu = p.cpu_milli.saturating_sub(80);
    let alloc_mem = p.memory_bytes.saturating_sub(600 << 20);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": p.name,
            "labels": labels,
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": p.ip,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": p.created,
        },
        "spec": {
            "providerID": format!("aws:///{}/{}", p.zone, p.instance_id),
            "taints": p.taints,
        },
        "status": {
            "capacity": {
                "cpu": format_cpu(p.cpu_milli),
                "memory": format_memory_ki(p.memory_bytes),
                "pods": p.max_pods.to_string(),
                "ephemeral-storage": "83873772Ki",
            },
            "allocatable": {
                "cpu": format_cpu(alloc_cpu),
                "memory": format_memory_ki(alloc_mem),
                "pods": p.max_pods.to_string(),
                "ephemeral-storage": "76224326324",
            },
            "conditions": serde_json::to_value(node_conditions(false, &p.created, "kubelet is starting"))
                .unwrap_or_default(),
            "addresses": [
                {"type": "InternalIP", "address": p.ip},
                {"type": "InternalDNS", "address": p.name},
                {"type": "Hostname", "address": p.name},
            ],
            "nodeInfo": {
                "machineID": p.instance_id,
                "systemUUID": p.instance_id,
                "bootID": p.instance_id,
                "kernelVersion": "5.10.227-219.884.amzn2.x86_64",
                "osImage": "Amazon Linux 2",
                "containerRuntimeVersion": "containerd://1.7.23",
                "kubeletVersion": p.kubelet_version,
                "kubeProxyVersion": p.kubelet_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    })
    .tap_mut(|n| {
        n["metadata"]["annotations"]["eks.amazonaws.com/release-version"] =
            Value::String(p.release_version.to_string());
        n["metadata"]["labels"]["topology.kubernetes.io/region"] = Value::String(region.into());
    })
}

trait TapMut: Sized {
    fn tap_mut(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}
impl TapMut for Value {}

/// The conditions a kubelet reports for its node.
pub fn node_conditions(ready: bool, since: &str, message: &str) -> Vec<Condition> {
    let (status, reason) = if ready {
        ("True", "KubeletReady")
    } else {
        ("False", "KubeletNotReady")
    };
    let condition = |t: &str, status: &str, reason: &str, msg: &str| Condition {
        type_: t.into(),
        status: status.into(),
        last_heartbeat_time: Some(since.into()),
        last_transition_time: Some(since.into()),
        reason: Some(reason.into()),
        message: Some(msg.into()),
        other: Default::default(),
    };
    vec![
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        condition(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        condition("Ready", status, reason, message),
    ]
}

/// A pod template as stored in workload specs.
pub fn pod_template(
    labels: &IndexMap<String, String>,
    container: &str,
    image: &str,
    cpu: &str,
    memory: &str,
) -> Value {
    json!({
        "metadata": {"labels": labels_json(labels)},
        "spec": {
            "containers": [{
                "name": container,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
        },
    })
}

/// An object from fields in order. Unlike `json!`, values are moved in, not
/// re-serialized (which deep-copies every nested Value).
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A new Pending pod from a template.
pub fn pod_from_template(
    ns: &str,
    name: &str,
    template: &Value,
    owner: Value,
    created: &str,
) -> Value {
    let mut spec = template["spec"].clone();
    if spec["serviceAccountName"].is_null() {
        spec["serviceAccountName"] = json!("default");
    }
    let mut meta = object([
        ("name", json!(name)),
        ("namespace", json!(ns)),
        ("labels", template["metadata"]["labels"].clone()),
        ("creationTimestamp", json!(created)),
    ]);
    if !owner.is_null() {
        meta["ownerReferences"] = owner;
    }
    if let Some(a) = template["metadata"]["annotations"].as_object() {
        meta["annotations"] = Value::Object(a.clone());
    }
    object([
        ("apiVersion", json!("v1")),
        ("kind", json!("Pod")),
        ("metadata", meta),
        ("spec", spec),
        (
            "status",
            json!({
                "phase": "Pending",
                "qosClass": "Burstable",
                "conditions": [],
            }),
        ),
    ])
}

/// `spec.terminationGracePeriodSeconds` (30 when unset, as defaulted).
pub fn grace_period_s(pod: &Value) -> u64 {
    pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(30)
}

/// A container's exit after SIGTERM, once its preStop hook has run
/// (`cloud::timing`).
pub const SIGTERM_EXIT_MS: u64 = crate::cloud::timing::SIGTERM_EXIT.as_millis() as u64;

/// How long a pod's containers take to stop once deleted: the longest
/// preStop hook (a `sleep` action, or an exec of `sleep N`) plus the exit
/// after SIGTERM. The grace period caps it.
pub fn stop_ms(pod: &Value) -> u64 {
    let hook_s = |c: &Value| -> u64 {
        let pre = &c["lifecycle"]["preStop"];
        if let Some(s) = pre["sleep"]["seconds"].as_u64() {
            return s;
        }
        let command = pre["exec"]["command"].as_array();
        crate::cloud::timing::exec_sleep_s(command.into_iter().flatten().filter_map(Value::as_str))
    };
    let hook = pod["spec"]["containers"]
        .as_array()
        .map_or(0, |cs| cs.iter().map(hook_s).max().unwrap_or(0));
    hook * 1000 + SIGTERM_EXIT_MS
}

/// The image of a pod's first container.
pub fn first_image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or("")
}

pub fn container_names(pod: &Value) -> Vec<(String, String)> {
    pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or("main").to_string(),
                        c["image"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The waiting reason of a pod's first container, if any.
pub fn waiting_reason(pod: &Value) -> Option<&str> {
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str()
}

pub fn namespace(name: &str, created: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name},
            "creationTimestamp": created,
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_time_is_the_longest_pre_stop_hook_plus_the_exit() {
        let pod = |lifecycle: Value| json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "lifecycle": lifecycle}]}});
        assert_eq!(stop_ms(&pod(Value::Null)), SIGTERM_EXIT_MS);
        let exec = json!({"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 20"]}}});
        assert_eq!(stop_ms(&pod(exec)), 20_000 + SIGTERM_EXIT_MS);
        let argv = json!({"preStop": {"exec": {"command": ["sleep", "7"]}}});
        assert_eq!(stop_ms(&pod(argv)), 7_000 + SIGTERM_EXIT_MS);
        let sleep = json!({"preStop": {"sleep": {"seconds": 15}}});
        assert_eq!(stop_ms(&pod(sleep)), 15_000 + SIGTERM_EXIT_MS);
        assert_eq!(grace_period_s(&pod(Value::Null)), 30);
        assert_eq!(
            grace_period_s(&json!({"spec": {"terminationGracePeriodSeconds": 5}})),
            5
        );
    }
}
