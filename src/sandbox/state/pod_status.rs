//! A bound pod's status as its kubelet last set it, kept typed.
//!
//! The kubelet visits each pod several times as it pulls, starts and
//! (un)readies it, and the simulation reads that status on every visit,
//! eviction and controller pass. Building pod JSON for each of those changes
//! cost more than the rest of a rotation together, so the JSON `status` is
//! only written from this record when a client may look (see
//! `World::publish_pod_statuses`); until then the record is the truth.

use serde_json::{Value, json};

use super::objects::{container_names, timestamp};

/// How long a crash-looping container ran before it last exited.
pub const CRASH_RUN_MS: u64 = 30_000;

/// What the kubelet last reported for a pod's containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodStatus {
    /// Why the containers are waiting (ContainerCreating, ErrImagePull,
    /// ImagePullBackOff, CrashLoopBackOff); None while they run.
    pub waiting: Option<&'static str>,
    pub ready: bool,
    /// When the state or readiness last changed (lastTransitionTime).
    pub changed_ms: u64,
    /// When the kubelet first reported the pod (status.startTime).
    pub start_ms: u64,
    /// When the running containers started (valid while running).
    pub started_ms: u64,
    /// The pod has run and so has an IP (kept once assigned).
    pub has_ip: bool,
}

impl PodStatus {
    pub fn running(&self) -> bool {
        self.waiting.is_none()
    }

    pub fn phase(&self) -> &'static str {
        if self.running() { "Running" } else { "Pending" }
    }

    /// The status after the kubelet observes `waiting`/`ready` at `now`, or
    /// None when that is what it already reports.
    pub fn next(
        current: Option<&PodStatus>,
        waiting: Option<&'static str>,
        ready: bool,
        now: u64,
    ) -> Option<PodStatus> {
        if let Some(c) = current
            && c.waiting == waiting
            && c.ready == ready
        {
            return None;
        }
        let was_running = current.is_some_and(PodStatus::running);
        Some(PodStatus {
            waiting,
            ready,
            changed_ms: now,
            start_ms: current.map_or(now, |c| c.start_ms),
            started_ms: match current {
                Some(c) if was_running => c.started_ms,
                _ => now,
            },
            has_ip: waiting.is_none() || current.is_some_and(|c| c.has_ip),
        })
    }

    /// Write this status into a pod's JSON as the kubelet reports it.
    pub fn render(&self, pod: &mut Value, host_ip: &str, pod_ip: &str, epoch_ms: i64) {
        let now = timestamp(epoch_ms, self.changed_ms);
        let running = self.running();
        let ready = self.ready;
        let started = timestamp(epoch_ms, self.started_ms);
        let statuses: Vec<Value> = container_names(pod)
            .iter()
            .map(|(name, image)| {
                let st = match self.waiting {
                    None => json!({"running": {"startedAt": started}}),
                    Some(reason) => {
                        json!({"waiting": {"reason": reason, "message": waiting_message(reason, name, image)}})
                    }
                };
                let mut last = json!({});
                if self.waiting == Some("CrashLoopBackOff") {
                    // The run that just failed: what `logs --previous` reads.
                    last = json!({"terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": timestamp(epoch_ms - CRASH_RUN_MS as i64, self.changed_ms),
                        "finishedAt": now,
                        "containerID": format!("containerd://{:064x}", self.changed_ms),
                    }});
                }
                json!({
                    "name": name,
                    "image": image,
                    "lastState": last,
                    "imageID": if running { format!("{image}@sha256:{}", "0".repeat(64)) } else { String::new() },
                    "ready": ready,
                    "started": running,
                    "restartCount": if self.waiting == Some("CrashLoopBackOff") { 5 } else { 0 },
                    "state": st,
                })
            })
            .collect();
        let b = |v: bool| if v { "True" } else { "False" };
        let status = &mut pod["status"];
        status["phase"] = json!(self.phase());
        status["hostIP"] = json!(host_ip);
        if self.has_ip {
            status["podIP"] = json!(pod_ip);
            status["podIPs"] = json!([{"ip": pod_ip}]);
        }
        status["startTime"] = json!(timestamp(epoch_ms, self.start_ms));
        status["containerStatuses"] = Value::Array(statuses);
        let mut conditions = vec![
            json!({"type": "PodReadyToStartContainers", "status": b(running), "lastTransitionTime": now}),
            json!({"type": "Initialized", "status": "True", "lastTransitionTime": now}),
            json!({"type": "Ready", "status": b(ready), "lastTransitionTime": now}),
            json!({"type": "ContainersReady", "status": b(ready), "lastTransitionTime": now}),
            json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now}),
        ];
        if !ready && running {
            conditions[2]["reason"] = json!("ContainersNotReady");
        }
        // Set by the eviction API, not the kubelet: kept.
        if let Some(c) = status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "DisruptionTarget"))
        {
            conditions.push(c.clone());
        }
        status["conditions"] = Value::Array(conditions);
    }
}

fn waiting_message(reason: &str, container: &str, image: &str) -> String {
    match reason {
        "ImagePullBackOff" => format!("Back-off pulling image \"{image}\""),
        "ErrImagePull" => format!(
            "failed to pull and unpack image \"{image}\": 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."
        ),
        "CrashLoopBackOff" => format!("back-off 5m0s restarting failed container={container}"),
        _ => String::new(),
    }
}

/// A stable pod IP derived from the pod's name.
pub fn pod_ip(name: &str, ns: &str) -> String {
    let h = name
        .bytes()
        .chain(ns.bytes())
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    format!("10.0.{}.{}", (h >> 8) % 250 + 1, h % 250 + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_reports_only_changes_and_keeps_start_times() {
        let creating = PodStatus::next(None, Some("ContainerCreating"), false, 1_000).unwrap();
        assert_eq!((creating.start_ms, creating.has_ip), (1_000, false));
        assert!(
            PodStatus::next(Some(&creating), Some("ContainerCreating"), false, 2_000).is_none()
        );
        let running = PodStatus::next(Some(&creating), None, true, 21_000).unwrap();
        assert_eq!(
            (running.start_ms, running.started_ms, running.changed_ms),
            (1_000, 21_000, 21_000)
        );
        assert!(running.has_ip);
        // Readiness lost on a NotReady node: still running since 21 s.
        let unready = PodStatus::next(Some(&running), None, false, 90_000).unwrap();
        assert_eq!((unready.started_ms, unready.changed_ms), (21_000, 90_000));
        // A crash keeps the IP; running again starts anew.
        let crashed =
            PodStatus::next(Some(&unready), Some("CrashLoopBackOff"), false, 95_000).unwrap();
        assert!(crashed.has_ip);
        let again = PodStatus::next(Some(&crashed), None, true, 99_000).unwrap();
        assert_eq!(again.started_ms, 99_000);
    }

    #[test]
    fn render_writes_the_kubelet_view() {
        let mut pod = json!({
            "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {"phase": "Pending"},
        });
        let s = PodStatus::next(None, Some("ImagePullBackOff"), false, 0).unwrap();
        s.render(&mut pod, "10.0.1.5", "10.0.9.9", 0);
        let cs = &pod["status"]["containerStatuses"][0];
        assert_eq!(cs["state"]["waiting"]["reason"], "ImagePullBackOff");
        assert_eq!(
            cs["state"]["waiting"]["message"],
            "Back-off pulling image \"nginx:1.27\""
        );
        assert!(pod["status"]["podIP"].is_null());
        let s = PodStatus::next(Some(&s), None, true, 60_000).unwrap();
        s.render(&mut pod, "10.0.1.5", "10.0.9.9", 0);
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(pod["status"]["podIP"], "10.0.9.9");
        assert_eq!(pod["status"]["startTime"], "1970-01-01T00:00:00Z");
        assert_eq!(
            pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"],
            "1970-01-01T00:01:00Z"
        );
        assert_eq!(pod["status"]["conditions"][2]["status"], "True");
    }
}
