//! The sandbox: a deterministic simulation of an EKS cluster that serves the
//! real EKS REST API and the Kubernetes REST API on 127.0.0.1, so the engine
//! is tested through its real clients (aws-sdk-eks, kube-rs) and through
//! `aws` and `kubectl`.
//!
//! Stages: `fixture` (YAML → validated spec) → `state` (the world: EKS
//! resources, Kubernetes objects) → `sim` (controllers, scheduler, kubelet,
//! control-plane and nodegroup updates on a virtual clock) → `server`
//! (`eks` and `kube` handlers, faults, request log).

mod clock;
mod eks;
mod faults;
mod fixture;
pub(crate) mod kube;
mod request_log;
mod server;
mod sim;
pub(crate) mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{FaultSpec, FaultSpecError};
pub use fixture::{Fixture, FixtureError, FixtureSpec, GenerateOptions};
pub use request_log::{Api, RequestRecord};

use clock::SimClock;
use server::Shared;
use state::World;
use state::objects;

/// Simulated time since the sandbox started.
pub type SimTime = Duration;

#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Simulated seconds per wall second; 0 freezes the clock (tests then
    /// step it with `Sandbox::advance`).
    pub time_scale: f64,
    pub seed: u64,
    pub faults: FaultSpec,
    /// 0 picks a free port.
    pub port: u16,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            time_scale: 1.0,
            seed: 0,
            faults: FaultSpec::none(),
            port: 0,
        }
    }
}

/// A node as a test sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub nodegroup: String,
    /// Kubelet minor, e.g. "1.29".
    pub version: String,
    pub ready: bool,
    pub unschedulable: bool,
}

/// A managed nodegroup as a test sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodegroupView {
    pub name: String,
    pub version: String,
    pub release_version: String,
    pub status: String,
    pub desired_size: u32,
}

/// A pod as a test sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub phase: String,
    pub ready: bool,
    /// e.g. ImagePullBackOff, CrashLoopBackOff, ContainerCreating.
    pub waiting_reason: Option<String>,
}

pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    ticker: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Build the world from `fixture` and serve it on 127.0.0.1.
    pub async fn start(fixture: Fixture, opts: SandboxOptions) -> anyhow::Result<Sandbox> {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let world = World::from_fixture(&fixture, opts.seed, epoch_ms);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", opts.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            clock: SimClock::new(opts.time_scale),
            log: Default::default(),
            faults: faults::Faults::new(opts.faults.clone(), opts.seed),
            endpoint: format!("http://{addr}"),
        });
        let app = server::router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("sandbox server stopped: {e}");
            }
        });
        let ticker = (opts.time_scale > 0.0).then(|| tokio::spawn(server::ticker(shared.clone())));
        Ok(Sandbox {
            shared,
            addr,
            stop: Some(tx),
            server,
            ticker,
        })
    }

    /// `http://127.0.0.1:PORT`: both the EKS and the Kubernetes API.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cluster_name(&self) -> String {
        self.world().cluster.name.clone()
    }

    pub fn region(&self) -> String {
        self.world().cluster.region.clone()
    }

    /// A kubeconfig whose context (named after the cluster) points at the
    /// sandbox with a dummy bearer token.
    pub fn kubeconfig_yaml(&self) -> String {
        let name = self.cluster_name();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {endpoint}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: sandbox\n    namespace: default\ncurrent-context: {name}\nusers:\n- name: sandbox\n  user:\n    token: sandbox-dummy-token\npreferences: {{}}\n",
            endpoint = self.endpoint()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// Every request served so far (also `GET /_sandbox/requests`).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// Requests that would have changed state.
    pub fn mutations(&self) -> Vec<RequestRecord> {
        self.requests().into_iter().filter(|r| r.mutating).collect()
    }

    pub fn time_scale(&self) -> f64 {
        self.shared.clock.scale()
    }

    /// When the simulated clock started, and the wall time its zero stands
    /// for: every timestamp the sandbox writes is that plus the simulated
    /// time, so an engine clock with this origin (`Clock::with_origin`)
    /// reads the same "now" (explicit `advance`s aside).
    pub fn origin(&self) -> (std::time::Instant, SystemTime) {
        let epoch = UNIX_EPOCH + Duration::from_millis(self.world().epoch_ms.max(0) as u64);
        (self.shared.clock.started(), epoch)
    }

    /// Simulated time since start.
    pub fn now(&self) -> SimTime {
        Duration::from_millis(self.world().now_ms)
    }

    /// Step simulated time forward explicitly (on top of the scaled clock).
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        drop(self.world());
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.shared.world()
    }

    pub fn cluster_version(&self) -> String {
        self.world().cluster.version.clone()
    }

    pub fn nodes(&self) -> Vec<NodeView> {
        let w = self.world();
        let mut v: Vec<NodeView> = w
            .nodes
            .iter()
            .map(|(name, n)| {
                let node = w.kube.record("nodes", "", name).and_then(|r| r.node());
                NodeView {
                    name: name.clone(),
                    nodegroup: n.nodegroup.clone(),
                    version: n.minor.clone(),
                    ready: node.is_some_and(|n| n.ready()),
                    unschedulable: node.is_some_and(|n| n.unschedulable),
                }
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn nodegroups(&self) -> Vec<NodegroupView> {
        self.world()
            .nodegroups
            .values()
            .map(|n| NodegroupView {
                name: n.name.clone(),
                version: n.version.clone(),
                release_version: n.release_version.clone(),
                status: n.status.to_string(),
                desired_size: n.desired_size,
            })
            .collect()
    }

    /// Installed add-on versions by name.
    pub fn addon_versions(&self) -> BTreeMap<String, String> {
        self.world()
            .addons
            .values()
            .map(|a| (a.name.clone(), a.version.clone()))
            .collect()
    }

    pub fn pods(&self) -> Vec<PodView> {
        let w = self.shared.observed_world();
        w.kube
            .list_untyped("pods", None)
            .map(|(_, p)| PodView {
                namespace: p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                name: p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                node: p["spec"]["nodeName"].as_str().map(str::to_string),
                phase: p["status"]["phase"].as_str().unwrap_or("").to_string(),
                ready: objects::pod_ready(p),
                waiting_reason: objects::waiting_reason(p).map(str::to_string),
            })
            .collect()
    }

    /// Any stored Kubernetes object, by resource plural (e.g. "pods").
    pub fn kube_object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let w = self.shared.observed_world();
        w.kube
            .get(resource, namespace, name)
            .map(std::borrow::Cow::into_owned)
    }

    /// Turn a fixture PodDisruptionBudget on (creating it in the API) or off
    /// (deleting it). Returns false if the fixture has no such budget.
    pub fn set_pdb_enabled(&self, namespace: &str, name: &str, enabled: bool) -> bool {
        let mut w = self.world();
        let Some(spec) = w
            .pdb_specs
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
            .cloned()
        else {
            return false;
        };
        let exists = w.kube.contains("poddisruptionbudgets", namespace, name);
        if enabled && !exists {
            let obj = state::bootstrap_pdb(&spec);
            w.create("poddisruptionbudgets", obj);
        } else if !enabled && exists {
            w.delete("poddisruptionbudgets", namespace, name);
        }
        true
    }

    /// Simulate other automation rolling `nodegroup` to `version` (e.g. back
    /// to the previous one) concurrently. Returns the EKS update id.
    pub fn trigger_external_rollback(&self, nodegroup: &str, version: &str) -> Option<String> {
        let mut w = self.world();
        sim::nodegroup_update::start_external_rollout(&mut w, nodegroup, version).map(|u| u.id)
    }

    /// Stop serving; open watches are cut after a short grace period.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if tokio::time::timeout(Duration::from_millis(500), &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        self.server.abort();
    }
}
