//! The simulation: advances the world along the virtual clock. Work happens
//! at timers (a control-plane update finishing, a node booting, a pod
//! starting, a rollout tick) and whenever objects changed (controllers and
//! the scheduler run), so time can jump straight to the next event.

pub mod controllers;
pub mod controlplane;
pub mod kubelet;
pub mod nodegroup_update;
pub mod nodes;
pub mod scheduler;

use super::state::{Timer, World};

pub const MINUTE_MS: u64 = 60_000;
pub const CONTROL_PLANE_UPDATE_MS: u64 = 25 * MINUTE_MS;
pub const ADDON_UPDATE_MS: u64 = 2 * MINUTE_MS;
pub const NODE_BOOT_MS: u64 = 3 * MINUTE_MS;
pub const POD_START_MS: u64 = 20_000;
pub const IMAGE_BACKOFF_MS: u64 = 5 * MINUTE_MS;
pub const ROLLOUT_TICK_MS: u64 = 10_000;
pub const ROLLOUT_SETUP_MS: u64 = MINUTE_MS;
/// EKS gives up draining a node after 15 minutes of PDB-blocked evictions.
pub const EVICTION_TIMEOUT_MS: u64 = 15 * MINUTE_MS;

/// Advance the world to simulated time `target` (never backwards).
pub fn advance_to(world: &mut World, target: u64) {
    loop {
        step(world, false);
        match world.timers.first() {
            Some((at, _)) if *at <= target => world.now_ms = world.now_ms.max(*at),
            _ => break,
        }
    }
    world.now_ms = world.now_ms.max(target);
    step(world, false);
}

/// Bring a freshly built world to a steady state at time zero: nodes boot
/// and pods start instantly.
pub fn settle(world: &mut World) {
    for _ in 0..8 {
        step(world, true);
        if !world.dirty
            && world
                .timers
                .first()
                .is_none_or(|(at, _)| *at > world.now_ms)
        {
            break;
        }
    }
}

/// Process every due timer, then run controllers and the scheduler if
/// anything changed, until nothing more is due now.
fn step(world: &mut World, instant: bool) {
    for _ in 0..16 {
        let mut progressed = false;
        while let Some((at, _)) = world.timers.first() {
            if *at > world.now_ms {
                break;
            }
            let (_, timer) = world.timers.pop_first().expect("checked non-empty");
            progressed = true;
            match timer {
                Timer::Cluster => controlplane::finish_cluster_update(world),
                Timer::Addon(name) => controlplane::finish_addon_update(world, &name),
                Timer::Rollout(ng) => nodegroup_update::tick(world, &ng),
                Timer::Node(name) => kubelet::node(world, &name, instant),
                Timer::Pod(uid) => kubelet::pod(world, &uid, instant),
            }
        }
        if world.addons_changed {
            world.addons_changed = false;
            kubelet::recheck_all_nodes(world, instant);
            progressed = true;
        }
        if world.dirty {
            world.dirty = false;
            controllers::run(world);
            // The pass accounted for what it created itself.
            world.dirty = false;
            scheduler::run(world);
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
}
