//! The cluster lock: one `coordination.k8s.io/v1` Lease per cluster (by
//! default `kube-system/runbook-lock`), so two runs — or a run and any other
//! automation that honours the Lease — never mutate the same cluster at once.
//!
//! Protocol: `create` (409 Conflict → it exists, read it); a Lease held by
//! someone else whose `renewTime + leaseDurationSeconds` has not passed is
//! refused naming the holder; an expired or released one is taken with
//! `replace` carrying the `resourceVersion` read, so of two contenders exactly
//! one wins (the other gets 409 and re-reads). While held, a background task
//! renews every TTL/3; `release` clears the holder. A dry run never takes the
//! lock: the interpreter only calls `acquire` before the first mutation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::task::JoinHandle;

use super::clock::SharedClock;
use super::header::operator_identity;
use super::run_id::RunId;

const ANN_RUN_ID: &str = "runbook.dev/run-id";
const ANN_RUNBOOK: &str = "runbook.dev/runbook";
const ANN_STARTED: &str = "runbook.dev/started-at";
/// Conflicts to tolerate in one `acquire` before giving up: each means another
/// contender changed the Lease between our read and write.
const MAX_CONFLICTS: usize = 5;

#[derive(Clone, Debug)]
pub struct LockOptions {
    pub namespace: String,
    pub name: String,
    /// `leaseDurationSeconds`: how long the Lease stays valid unrenewed.
    pub ttl: Duration,
    /// Wall time between renewals; TTL/3 unless set (e.g. shorter under a
    /// sandbox running faster than wall time).
    pub renew_every: Option<Duration>,
    pub run_id: RunId,
    pub runbook: String,
    /// `user@host`.
    pub operator: String,
}

impl LockOptions {
    pub fn new(run_id: RunId, runbook: impl Into<String>) -> Self {
        LockOptions {
            namespace: "kube-system".to_string(),
            name: "runbook-lock".to_string(),
            ttl: Duration::from_secs(60),
            renew_every: None,
            run_id,
            runbook: runbook.into(),
            operator: operator_identity(),
        }
    }

    /// `holderIdentity`: who and which run.
    pub fn identity(&self) -> String {
        format!("{}/{}", self.operator, self.run_id)
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Who holds a Lease, as read from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Holder {
    pub identity: String,
    pub run_id: Option<String>,
    pub runbook: Option<String>,
    /// When the holder acquired it.
    pub since: Option<Timestamp>,
    pub renewed: Option<Timestamp>,
    pub ttl_seconds: Option<i32>,
}

impl Holder {
    fn of(lease: &Lease) -> Option<Holder> {
        let spec = lease.spec.as_ref()?;
        let identity = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
        let ann = lease.metadata.annotations.as_ref();
        let get = |k: &str| ann.and_then(|a| a.get(k)).cloned();
        Some(Holder {
            identity,
            run_id: get(ANN_RUN_ID),
            runbook: get(ANN_RUNBOOK),
            since: spec
                .acquire_time
                .as_ref()
                .map(|t| t.0)
                .or_else(|| get(ANN_STARTED).and_then(|s| s.parse().ok())),
            renewed: spec.renew_time.as_ref().map(|t| t.0),
            ttl_seconds: spec.lease_duration_seconds,
        })
    }

    /// When the Lease lapses unless renewed; `None` if it carries no renew
    /// time or duration (then it never lapses by itself).
    pub fn expires_at(&self) -> Option<Timestamp> {
        let renewed = self.renewed.or(self.since)?;
        let ttl = SignedDuration::from_secs(i64::from(self.ttl_seconds?));
        renewed.checked_add(ttl).ok()
    }

    fn expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_some_and(|at| now > at)
    }

    fn describe(&self) -> String {
        let mut s = self.identity.clone();
        if let Some(run) = &self.run_id {
            s += &format!(", run {run}");
        }
        if let Some(runbook) = &self.runbook {
            s += &format!(" of {runbook}");
        }
        if let Some(since) = self.since {
            s += &format!(", since {since}");
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cluster is locked by {} (Lease {lease}{})", holder.describe(), until(holder))]
    Held { lease: String, holder: Box<Holder> },
    #[error("lost the cluster lock (Lease {lease}): {reason}")]
    Lost { lease: String, reason: String },
    #[error("Lease {lease}: {source}")]
    Kube {
        lease: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "Lease {lease} kept changing under us ({MAX_CONFLICTS} conflicts); another process is contending for it"
    )]
    Contended { lease: String },
}

fn until(holder: &Holder) -> String {
    match holder.expires_at() {
        Some(at) => format!(", valid until {at} unless renewed"),
        None => String::new(),
    }
}

impl LockError {
    pub fn help(&self) -> &'static str {
        match self {
            LockError::Held { .. } => {
                "another run (or automation) is changing this cluster; wait for it to finish. If \
                 it died, its Lease lapses after leaseDurationSeconds and the next run takes over"
            }
            LockError::Lost { .. } => {
                "stop mutating: someone else may now be changing the cluster. Check who holds the \
                 Lease, then resume this run"
            }
            LockError::Kube { .. } => {
                "check access to coordination.k8s.io/v1 Leases in the lock's namespace (get, \
                 create, update)"
            }
            LockError::Contended { .. } => "retry in a moment",
        }
    }
}

#[derive(Debug)]
struct Shared {
    lost: Option<String>,
    last_renewed: Timestamp,
}

/// A held cluster lock. Renewed in the background until `release` or drop.
#[derive(Debug)]
pub struct ClusterLock {
    api: Api<Lease>,
    opts: LockOptions,
    clock: SharedClock,
    shared: Arc<Mutex<Shared>>,
    renewer: Option<JoinHandle<()>>,
    took_over: Option<Holder>,
    released: bool,
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Worth retrying: the API server was unavailable (5xx), throttled us (429)
/// or the connection failed. Any other answer is final.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

/// Retries of transient errors back off from this, doubling up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Run `op` until it returns something other than a transient error, or
/// until `budget` (wall time) is spent; then the last error.
async fn retrying<T, F, Fut>(budget: Duration, mut op: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let deadline = tokio::time::Instant::now() + budget;
    let mut backoff = FIRST_BACKOFF;
    loop {
        match op().await {
            Err(e) if transient(&e) && tokio::time::Instant::now() + backoff < deadline => {
                tracing::debug!("cluster lock: transient error, retrying: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            other => return other,
        }
    }
}

impl ClusterLock {
    /// Take the lock or say who holds it. Must run inside a tokio runtime (the
    /// renewal task is spawned on it).
    pub async fn acquire(
        client: kube::Client,
        opts: LockOptions,
        clock: SharedClock,
    ) -> Result<ClusterLock, LockError> {
        let api: Api<Lease> = Api::namespaced(client, &opts.namespace);
        let kube_err = |source| LockError::Kube {
            lease: opts.lease_ref(),
            source,
        };
        let mut took_over = None;
        let mut acquired = false;
        // Transient errors are retried within one lease duration: a flaky
        // API must not pass for another holder.
        let budget = opts.ttl;
        let pp = PostParams::default();
        for _ in 0..MAX_CONFLICTS {
            let now = clock.now();
            let lease = fresh_lease(&opts, now, 0);
            match retrying(budget, || api.create(&pp, &lease)).await {
                Ok(_) => {
                    acquired = true;
                    break;
                }
                Err(e) if conflict(&e) => {}
                Err(e) => return Err(kube_err(e)),
            }
            let Some(current) = retrying(budget, || api.get_opt(&opts.name))
                .await
                .map_err(kube_err)?
            else {
                continue; // released and deleted in between: create again
            };
            let now = clock.now();
            let holder = Holder::of(&current);
            match &holder {
                Some(h) if h.identity != opts.identity() && !h.expired(now) => {
                    return Err(LockError::Held {
                        lease: opts.lease_ref(),
                        holder: Box::new(h.clone()),
                    });
                }
                _ => {}
            }
            let transitions = current
                .spec
                .as_ref()
                .and_then(|s| s.lease_transitions)
                .unwrap_or(0);
            let mut next = fresh_lease(&opts, now, transitions + 1);
            next.metadata.resource_version = current.metadata.resource_version.clone();
            match retrying(budget, || api.replace(&opts.name, &pp, &next)).await {
                Ok(_) => {
                    took_over = holder.filter(|h| h.identity != opts.identity());
                    acquired = true;
                    break;
                }
                Err(e) if conflict(&e) => {}
                Err(e) => return Err(kube_err(e)),
            }
        }
        if !acquired {
            return Err(LockError::Contended {
                lease: opts.lease_ref(),
            });
        }
        if let Some(h) = &took_over {
            tracing::warn!(
                "took over the stale cluster lock {} from {} (not renewed within its TTL)",
                opts.lease_ref(),
                h.describe()
            );
        }
        let shared = Arc::new(Mutex::new(Shared {
            lost: None,
            last_renewed: clock.now(),
        }));
        let renewer = tokio::spawn(renew_loop(
            api.clone(),
            opts.clone(),
            clock.clone(),
            shared.clone(),
        ));
        Ok(ClusterLock {
            api,
            opts,
            clock,
            shared,
            renewer: Some(renewer),
            took_over,
            released: false,
        })
    }

    /// A handle that answers `ensure_held` for this lock from another task.
    pub fn monitor(&self) -> LockMonitor {
        LockMonitor {
            opts: self.opts.clone(),
            clock: self.clock.clone(),
            shared: self.shared.clone(),
        }
    }

    /// The previous holder whose stale Lease was taken over (worth a warning).
    pub fn took_over_from(&self) -> Option<&Holder> {
        self.took_over.as_ref()
    }

    /// Call before every mutation: fails once the lock was lost, or when it
    /// could not be renewed within its TTL (someone may have taken it).
    pub fn ensure_held(&self) -> Result<(), LockError> {
        held(&self.opts, &self.clock, &self.shared)
    }

    pub fn options(&self) -> &LockOptions {
        &self.opts
    }

    /// Stop renewing and clear the holder, if it is still us.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.released = true;
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        release(&self.api, &self.opts).await
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if self.released {
            return;
        }
        // Best effort: without a runtime the Lease simply lapses after its TTL.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (api, opts) = (self.api.clone(), self.opts.clone());
            handle.spawn(async move {
                if let Err(e) = release(&api, &opts).await {
                    tracing::warn!("could not release the cluster lock: {e}");
                }
            });
        }
    }
}

/// Watches a held lock from another task (see `ClusterLock::monitor`).
#[derive(Clone, Debug)]
pub struct LockMonitor {
    opts: LockOptions,
    clock: SharedClock,
    shared: Arc<Mutex<Shared>>,
}

impl LockMonitor {
    /// As `ClusterLock::ensure_held`.
    pub fn ensure_held(&self) -> Result<(), LockError> {
        held(&self.opts, &self.clock, &self.shared)
    }
}

fn held(opts: &LockOptions, clock: &SharedClock, shared: &Mutex<Shared>) -> Result<(), LockError> {
    let shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    let lost = |reason: String| LockError::Lost {
        lease: opts.lease_ref(),
        reason,
    };
    if let Some(reason) = &shared.lost {
        return Err(lost(reason.clone()));
    }
    let ttl = SignedDuration::try_from(opts.ttl).unwrap_or(SignedDuration::MAX);
    if clock.now()
        > shared
            .last_renewed
            .saturating_add(ttl)
            .unwrap_or(Timestamp::MAX)
    {
        return Err(lost(format!(
            "not renewed since {} (TTL {}s)",
            shared.last_renewed,
            opts.ttl.as_secs()
        )));
    }
    Ok(())
}

fn fresh_lease(opts: &LockOptions, now: Timestamp, transitions: i32) -> Lease {
    let annotations = BTreeMap::from([
        (ANN_RUN_ID.to_string(), opts.run_id.to_string()),
        (ANN_RUNBOOK.to_string(), opts.runbook.clone()),
        (ANN_STARTED.to_string(), now.to_string()),
    ]);
    Lease {
        metadata: ObjectMeta {
            name: Some(opts.name.clone()),
            namespace: Some(opts.namespace.clone()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(opts.identity()),
            lease_duration_seconds: Some(opts.ttl.as_secs().clamp(1, i32::MAX as u64) as i32),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

async fn renew_loop(
    api: Api<Lease>,
    opts: LockOptions,
    clock: SharedClock,
    shared: Arc<Mutex<Shared>>,
) {
    let every = opts.renew_every.unwrap_or(opts.ttl / 3);
    let mut wait = every;
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(wait).await;
        match renew(&api, &opts, &clock).await {
            Ok(at) => {
                shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .last_renewed = at;
                wait = every;
                backoff = FIRST_BACKOFF;
            }
            Err(Renewal::Lost(reason)) => {
                tracing::error!("lost the cluster lock {}: {reason}", opts.lease_ref());
                shared.lock().unwrap_or_else(|e| e.into_inner()).lost = Some(reason);
                return;
            }
            // Transient (5xx, 429, network, a conflict with a reader): try
            // again soon, backing off; `ensure_held` fails only once the TTL
            // passes without a successful renewal.
            Err(Renewal::Retry(e)) => {
                tracing::warn!("renewing the cluster lock {}: {e}", opts.lease_ref());
                wait = backoff.min(every);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

enum Renewal {
    Lost(String),
    Retry(String),
}

async fn renew(
    api: &Api<Lease>,
    opts: &LockOptions,
    clock: &SharedClock,
) -> Result<Timestamp, Renewal> {
    let current = api
        .get_opt(&opts.name)
        .await
        .map_err(|e| Renewal::Retry(e.to_string()))?
        .ok_or_else(|| Renewal::Lost("the Lease was deleted".to_string()))?;
    match Holder::of(&current) {
        Some(h) if h.identity == opts.identity() => {}
        Some(h) => return Err(Renewal::Lost(format!("now held by {}", h.describe()))),
        None => {
            return Err(Renewal::Lost(
                "the Lease was released by someone else".to_string(),
            ));
        }
    }
    let now = clock.now();
    let mut next = current;
    if let Some(spec) = next.spec.as_mut() {
        spec.renew_time = Some(MicroTime(now));
    }
    api.replace(&opts.name, &PostParams::default(), &next)
        .await
        .map_err(|e| Renewal::Retry(e.to_string()))?;
    Ok(now)
}

async fn release(api: &Api<Lease>, opts: &LockOptions) -> Result<(), LockError> {
    let kube_err = |source| LockError::Kube {
        lease: opts.lease_ref(),
        source,
    };
    let budget = opts.ttl;
    let Some(mut current) = retrying(budget, || api.get_opt(&opts.name))
        .await
        .map_err(kube_err)?
    else {
        return Ok(());
    };
    if Holder::of(&current).is_none_or(|h| h.identity != opts.identity()) {
        return Ok(()); // not ours any more: leave it alone
    }
    if let Some(spec) = current.spec.as_mut() {
        spec.holder_identity = None;
        spec.renew_time = None;
        spec.acquire_time = None;
    }
    if let Some(ann) = current.metadata.annotations.as_mut() {
        for k in [ANN_RUN_ID, ANN_RUNBOOK, ANN_STARTED] {
            ann.remove(k);
        }
    }
    let pp = PostParams::default();
    match retrying(budget, || api.replace(&opts.name, &pp, &current)).await {
        Ok(_) => Ok(()),
        // Changed since we read it: someone else's now, leave it.
        Err(e) if conflict(&e) => Ok(()),
        Err(e) => Err(kube_err(e)),
    }
}
