//! The two workload fixes incidents reach for (seed 004: a single replica
//! whose budget blocks every drain): delete one pod, and scale a Deployment
//! or StatefulSet. Both compare state before sending, so a rerun or a
//! resumed run sends nothing twice.

use std::time::Duration;

use ::kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions,
};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::CloudError;
use super::clock::human;
use super::kube::{Kube, PodInfo, pod_info};
use super::plan::{Change, Mutation, Plan};

#[derive(Clone, Debug)]
pub struct DeletePodOptions {
    pub grace_period: Option<Duration>,
    /// Delete even a pod with emptyDir or PersistentVolumeClaim volumes.
    pub data_loss_ok: bool,
    /// Delete even a pod no controller recreates.
    pub unmanaged_ok: bool,
    pub timeout: Duration,
}

/// Why deleting this pod is refused under `opts` (empty: go ahead).
pub fn delete_refusals(pod: &PodInfo, opts: &DeletePodOptions) -> Vec<String> {
    let id = format!("{}/{}", pod.namespace, pod.name);
    let mut out = Vec::new();
    if !opts.data_loss_ok {
        if pod.uses_empty_dir {
            out.push(format!(
                "{id} uses emptyDir storage that deleting it destroys (allow with data_loss_ok: true)"
            ));
        }
        if !pod.pvcs.is_empty() {
            out.push(format!(
                "{id} owns data on PersistentVolumeClaim {}; its replacement must reattach the volume (allow with data_loss_ok: true)",
                pod.pvcs.join(", ")
            ));
        }
    }
    if pod.controller.is_none() && !opts.unmanaged_ok {
        out.push(format!(
            "{id} has no controller: nothing would recreate it (allow with unmanaged_ok: true)"
        ));
    }
    out
}

/// Kinds `k8s.scale` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleKind {
    Deployment,
    StatefulSet,
}

impl std::str::FromStr for ScaleKind {
    type Err = CloudError;
    fn from_str(s: &str) -> Result<Self, CloudError> {
        match s {
            "Deployment" => Ok(ScaleKind::Deployment),
            "StatefulSet" => Ok(ScaleKind::StatefulSet),
            other => Err(CloudError::Invalid(format!(
                "cannot scale a {other} (expected Deployment or StatefulSet)"
            ))),
        }
    }
}

impl ScaleKind {
    fn resource(self) -> ApiResource {
        match self {
            ScaleKind::Deployment => ApiResource::erase::<Deployment>(&()),
            ScaleKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ScaleKind::Deployment => "Deployment",
            ScaleKind::StatefulSet => "StatefulSet",
        }
    }
}

/// A workload's replica counts as the controller reports them.
#[derive(Debug, PartialEq)]
struct Replicas {
    desired: i64,
    current: i64,
    ready: i64,
    updated: i64,
    settled: bool,
}

fn replicas(obj: &Value) -> Replicas {
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let st = &obj["status"];
    Replicas {
        desired: obj["spec"]["replicas"].as_i64().unwrap_or(1),
        current: int(&st["replicas"]),
        ready: int(&st["readyReplicas"]),
        updated: int(&st["updatedReplicas"]),
        settled: int(&st["observedGeneration"]) >= int(&obj["metadata"]["generation"]),
    }
}

impl Replicas {
    /// Exactly `want` pods, all ready and at the current template.
    fn reached(&self, want: i64) -> bool {
        self.settled
            && self.current == want
            && self.ready >= want
            && (want == 0 || self.updated >= want)
    }
}

impl Kube {
    /// Delete one pod (UID precondition) and wait until it is gone.
    pub async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        opts: &DeletePodOptions,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("pod {namespace}/{name}");
        let api: Api<Pod> = Api::namespaced(self.client().clone(), namespace);
        let Some(pod) = self
            .read(&format!("get {target}"), || api.get_opt(name))
            .await?
        else {
            return Ok(Change::unchanged(target, "already gone"));
        };
        let info = pod_info(&pod);
        let refusals = delete_refusals(&info, opts);
        let recreated = match (&info.controller, &info.owner_name) {
            (Some(kind), Some(owner)) => format!("{kind} {owner} recreates it"),
            _ => "nothing recreates it".to_string(),
        };
        if m.is_plan() {
            let mut plan = Plan::new("delete", target).predicted(Duration::from_secs(
                30 + info.grace_period.unwrap_or(30).max(0) as u64,
            ));
            plan.nodes.extend(info.node.clone());
            plan.refusals = refusals;
            plan.notes.push(recreated);
            return Ok(Change::Planned(plan));
        }
        if !refusals.is_empty() {
            return Err(CloudError::Invalid(format!(
                "refusing to delete {target}: {}",
                refusals.join("; ")
            )));
        }
        if !info.terminating {
            let dp = DeleteParams {
                grace_period_seconds: opts.grace_period.map(|g| {
                    let cap = g.as_secs();
                    info.grace_period
                        .map_or(cap, |own| (own.max(0) as u64).min(cap)) as u32
                }),
                preconditions: Some(Preconditions {
                    uid: Some(info.uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(name, &dp).await {
                Ok(_) => {}
                // Gone already, or replaced by a new pod of that name: the
                // one judged above no longer exists either way.
                Err(::kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => return Err(CloudError::kube(format!("delete {target}"), e)),
            }
        }
        self.wait_pod_gone(&api, name, &info.uid, opts.timeout, m)
            .await?;
        Ok(Change::Applied {
            target,
            from: None,
            to: None,
            detail: format!("deleted; {recreated}"),
        })
    }

    async fn wait_pod_gone(
        &self,
        api: &Api<Pod>,
        name: &str,
        uid: &str,
        timeout: Duration,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        let clock = self.clock();
        let deadline = clock.deadline(timeout);
        loop {
            let now = self.read("get pod", || api.get_opt(name)).await?;
            if now.is_none_or(|p| p.metadata.uid.as_deref() != Some(uid)) {
                return Ok(());
            }
            if deadline.passed(clock) {
                return Err(CloudError::Timeout {
                    what: format!("pod {name} to terminate"),
                    after: timeout,
                });
            }
            (m.progress)(&format!("pod {name}: waiting for it to terminate"));
            clock.sleep(Duration::from_secs(5)).await?;
        }
    }

    /// Set the replicas and wait until exactly that many are ready. Returns
    /// the change and the replica count before.
    pub async fn scale(
        &self,
        kind: ScaleKind,
        namespace: &str,
        name: &str,
        want: i64,
        timeout: Duration,
        m: &Mutation<'_>,
    ) -> Result<(Change, i64), CloudError> {
        if want < 0 {
            return Err(CloudError::Invalid(format!(
                "replicas must be 0 or more, got {want}"
            )));
        }
        let target = format!("{} {namespace}/{name}", kind.name());
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client().clone(), namespace, &kind.resource());
        let obj = self
            .read(&format!("get {target}"), || api.get_opt(name))
            .await?
            .ok_or_else(|| CloudError::NotFound(target.clone()))?;
        let before =
            replicas(&serde_json::to_value(obj).map_err(|e| CloudError::Invalid(e.to_string()))?)
                .desired;
        if m.is_plan() {
            if before == want {
                return Ok((
                    Change::unchanged(target, format!("already at {want} replica(s)")),
                    before,
                ));
            }
            let plan = Plan::new("scale", target)
                .from_to(Some(before.to_string()), want.to_string())
                .predicted(Duration::from_secs(
                    30 + 20 * (want - before).unsigned_abs(),
                ));
            return Ok((Change::Planned(plan), before));
        }
        if before != want {
            // Setting spec.replicas is idempotent: it retries like a read.
            let patch = Patch::Merge(json!({"spec": {"replicas": want}}));
            let params = PatchParams::default();
            self.read(&format!("scale {target}"), || {
                api.patch(name, &params, &patch)
            })
            .await?;
        }
        self.wait_replicas(&api, &target, name, want, timeout, m)
            .await?;
        let change = if before == want {
            Change::unchanged(target, format!("already at {want} replica(s)"))
        } else {
            Change::Applied {
                target,
                from: Some(before.to_string()),
                to: Some(want.to_string()),
                detail: "replica(s) ready".into(),
            }
        };
        Ok((change, before))
    }

    async fn wait_replicas(
        &self,
        api: &Api<DynamicObject>,
        target: &str,
        name: &str,
        want: i64,
        timeout: Duration,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        let clock = self.clock();
        let deadline = clock.deadline(timeout);
        let started = clock.now();
        loop {
            let obj = self
                .read(&format!("get {target}"), || api.get_opt(name))
                .await?
                .ok_or_else(|| CloudError::NotFound(target.to_string()))?;
            let r = replicas(
                &serde_json::to_value(obj).map_err(|e| CloudError::Invalid(e.to_string()))?,
            );
            if r.reached(want) {
                return Ok(());
            }
            if deadline.passed(clock) {
                return Err(CloudError::Timeout {
                    what: format!(
                        "{target} to run {want} ready replica(s) ({} running, {} ready)",
                        r.current, r.ready
                    ),
                    after: timeout,
                });
            }
            (m.progress)(&format!(
                "{target}: {}/{want} ready, {}",
                r.ready,
                human(clock.since(started))
            ));
            clock.sleep(Duration::from_secs(5)).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(emptydir: bool, pvcs: &[&str], controller: Option<&str>) -> PodInfo {
        PodInfo {
            namespace: "shop".into(),
            name: "web-1".into(),
            uid: "u".into(),
            node: None,
            phase: "Running".into(),
            ready: true,
            owner_kinds: vec![],
            controller: controller.map(str::to_string),
            owner_name: controller.map(|_| "web".to_string()),
            restarts: 0,
            labels: Default::default(),
            images: vec![],
            waiting_reasons: vec![],
            uses_empty_dir: emptydir,
            mirror: false,
            terminating: false,
            grace_period: None,
            pre_stop_s: 0,
            owner: None,
            containers: vec![],
            init_containers: vec![],
            pvcs: pvcs.iter().map(|s| s.to_string()).collect(),
            deletion_timestamp: String::new(),
            finalizers: vec![],
            created: String::new(),
            age: None,
        }
    }

    #[test]
    fn pods_owning_data_or_without_a_controller_are_refused_unless_allowed() {
        let strict = DeletePodOptions {
            grace_period: None,
            data_loss_ok: false,
            unmanaged_ok: false,
            timeout: Duration::from_secs(60),
        };
        assert!(delete_refusals(&pod(false, &[], Some("ReplicaSet")), &strict).is_empty());
        let r = delete_refusals(&pod(true, &["data-0"], None), &strict);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[1].contains("data-0"), "{r:?}");
        let lenient = DeletePodOptions {
            data_loss_ok: true,
            unmanaged_ok: true,
            ..strict
        };
        assert!(delete_refusals(&pod(true, &["data-0"], None), &lenient).is_empty());
    }

    #[test]
    fn a_scale_is_reached_when_exactly_that_many_are_ready() {
        let obj = |generation, observed, current, ready| {
            json!({"metadata": {"generation": generation}, "spec": {"replicas": 2},
                   "status": {"observedGeneration": observed, "replicas": current,
                              "readyReplicas": ready, "updatedReplicas": ready}})
        };
        assert!(replicas(&obj(2, 2, 2, 2)).reached(2));
        assert!(!replicas(&obj(2, 1, 2, 2)).reached(2), "not observed yet");
        assert!(
            !replicas(&obj(2, 2, 3, 2)).reached(2),
            "an old pod still runs"
        );
        assert!(!replicas(&obj(2, 2, 2, 1)).reached(2));
        assert!(replicas(&json!({"spec": {"replicas": 0}, "status": {}})).reached(0));
    }
}
