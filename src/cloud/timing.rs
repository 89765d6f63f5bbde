//! How long EKS and Kubernetes take to do what a plan predicts, written
//! once: the sandbox twin's simulation (`src/sandbox/sim/mod.rs`) reads
//! the same figures, and docs/sandbox.md names the EKS documentation
//! behind them. tests/plan_agreement.rs holds plans to the runs.

use std::time::Duration;

use super::kube::PodInfo;

/// UpdateClusterVersion, to ACTIVE at the new minor.
pub const CONTROL_PLANE_UPDATE: Duration = Duration::from_secs(25 * 60);
/// UpdateClusterVersion to the previous minor (a `VersionRollback`).
pub const CONTROL_PLANE_ROLLBACK: Duration = Duration::from_secs(15 * 60);
/// UpdateAddon, to ACTIVE at the new version.
pub const ADDON_UPDATE: Duration = Duration::from_secs(2 * 60);
/// UpdateNodegroupConfig, to ACTIVE.
pub const CONFIG_UPDATE: Duration = Duration::from_secs(60);
/// An instance launched to Ready.
pub const NODE_BOOT: Duration = Duration::from_secs(3 * 60);
/// A managed update's setup phase, before its first new node launches.
pub const ROLLOUT_SETUP: Duration = Duration::from_secs(60);
/// How often a managed update looks at its nodes again.
pub const ROLLOUT_TICK: Duration = Duration::from_secs(10);
/// A scheduled pod's containers start and it turns Ready.
pub const POD_START: Duration = Duration::from_secs(20);
/// A pod's containers stop this long after SIGTERM (past any preStop hook).
pub const SIGTERM_EXIT: Duration = Duration::from_secs(1);
/// A pod's grace period when its spec sets none.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// CreateNodegroup, to ACTIVE: its instances boot.
pub const NODEGROUP_CREATE: Duration = NODE_BOOT;
/// DeleteNodegroup, until the group and its instances are gone.
pub const NODEGROUP_DELETE: Duration = Duration::from_secs(2 * 60);

/// How long a deleted (or evicted) pod takes to go: its preStop hook, then
/// its exit after SIGTERM, capped by its grace period (and by `cap`, the
/// grace period a drain asks for).
pub fn pod_stop(pod: &PodInfo, cap: Option<Duration>) -> Duration {
    let grace = pod
        .grace_period
        .map_or(DEFAULT_GRACE, |g| Duration::from_secs(g.max(0) as u64));
    let grace = cap.map_or(grace, |c| grace.min(c));
    (Duration::from_secs(pod.pre_stop_s) + SIGTERM_EXIT).min(grace)
}

/// `d` rounded up to a multiple of `every` (the next poll that sees it).
pub fn polled(d: Duration, every: Duration) -> Duration {
    let every = every.as_secs().max(1);
    Duration::from_secs(d.as_secs().div_ceil(every) * every)
}

/// EKS's managed update (UpdateNodegroupVersion) of `nodes` nodes,
/// `at_once` at a time (the group's maxUnavailable), as EKS documents its
/// phases and the sandbox runs them: setup, then per batch new nodes boot,
/// and the old ones are drained (their pods take up to `stop` to go, seen
/// at the next look) and terminated.
pub fn managed_update(nodes: i64, at_once: i64, stop: Duration) -> Duration {
    let batches = (nodes.max(1) as u64).div_ceil(at_once.max(1) as u64) as u32;
    let batch = NODE_BOOT + ROLLOUT_TICK + polled(stop.max(SIGTERM_EXIT), ROLLOUT_TICK);
    ROLLOUT_SETUP + ROLLOUT_TICK + batch * batches
}

/// The seconds an exec preStop hook sleeps: its command, split into words,
/// runs `sleep N` (`["sleep", "20"]` or `["/bin/sh", "-c", "sleep 20"]`);
/// 0 for any other command. The engine and the sandbox both read it.
pub fn exec_sleep_s<'a>(command: impl IntoIterator<Item = &'a str>) -> u64 {
    let words: Vec<&str> = command
        .into_iter()
        .flat_map(str::split_whitespace)
        .collect();
    words
        .windows(2)
        .find(|w| w[0].ends_with("sleep"))
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo's 3-node group, one at a time: measured 10m50s in the
    /// sandbox (2026-11-28, `--time-scale 60`).
    #[test]
    fn a_managed_update_is_setup_then_a_boot_and_a_drain_per_batch() {
        let stop = SIGTERM_EXIT;
        assert_eq!(managed_update(3, 1, stop), Duration::from_secs(670));
        assert_eq!(managed_update(3, 3, stop), Duration::from_secs(270));
        // A 20 s preStop hook keeps each batch's old node two looks longer.
        assert_eq!(
            managed_update(1, 1, Duration::from_secs(21)),
            Duration::from_secs(70 + 180 + 10 + 30)
        );
    }

    #[test]
    fn polls_round_up() {
        assert_eq!(
            polled(Duration::from_secs(1), Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(
            polled(Duration::from_secs(10), Duration::from_secs(5)),
            Duration::from_secs(10)
        );
        assert_eq!(
            polled(Duration::ZERO, Duration::from_secs(5)),
            Duration::ZERO
        );
    }
}
