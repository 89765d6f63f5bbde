//! PodDisruptionBudget arithmetic and the eviction decision, exactly as the
//! API server's eviction subresource makes it. Shared by the `pods/eviction`
//! handler and the managed-nodegroup drain.

use serde_json::Value;

use super::store::meta_str;
use crate::sandbox::state::World;
use crate::sandbox::state::objects::{is_terminating, selector_matches};

pub const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

#[derive(Debug, Clone)]
pub struct Budget {
    pub name: String,
    pub expected: i64,
    pub current_healthy: i64,
    pub desired_healthy: i64,
}

impl Budget {
    pub fn disruptions_allowed(&self) -> i64 {
        (self.current_healthy - self.desired_healthy).max(0)
    }
}

/// Why an eviction was refused.
#[derive(Debug, Clone)]
pub enum Denial {
    /// 429 TooManyRequests with a DisruptionBudget cause.
    Budget(Budget),
    /// 500: more than one budget selects the pod.
    MultipleBudgets,
}

impl Denial {
    pub fn cause(&self) -> String {
        match self {
            Denial::Budget(b) => format!(
                "The disruption budget {} needs {} healthy pods and has {} currently",
                b.name, b.desired_healthy, b.current_healthy
            ),
            Denial::MultipleBudgets => {
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into()
            }
        }
    }
}

/// An int-or-string count: an integer, or a percentage of `total`.
pub fn int_or_percent(v: &Value, total: i64, round_up: bool) -> i64 {
    if let Some(i) = v.as_i64() {
        return i;
    }
    let Some(p) = v
        .as_str()
        .and_then(|s| s.strip_suffix('%'))
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return 0;
    };
    let scaled = p * total;
    if round_up {
        (scaled + 99) / 100
    } else {
        scaled / 100
    }
}

/// Compute a budget's status from the pods it selects.
pub fn budget(world: &World, pdb: &Value) -> Budget {
    let ns = meta_str(pdb, "namespace");
    let mut expected = 0;
    let mut healthy = 0;
    let mut count = |pod: &Value| {
        if is_terminating(pod) {
            return;
        }
        let (phase, ready) = world.pod_condition(pod);
        if phase == "Succeeded" || phase == "Failed" {
            return;
        }
        expected += 1;
        if ready {
            healthy += 1;
        }
    };
    // Every stored budget is indexed (the sim tests check it against a scan).
    world
        .budget_index
        .selected(ns, meta_str(pdb, "name"))
        .into_iter()
        .flatten()
        .filter_map(|name| world.kube.untyped("pods", ns, name))
        .for_each(&mut count);
    let desired = if !pdb["spec"]["minAvailable"].is_null() {
        int_or_percent(&pdb["spec"]["minAvailable"], expected, true)
    } else {
        let max = int_or_percent(&pdb["spec"]["maxUnavailable"], expected, true);
        (expected - max).max(0)
    };
    Budget {
        name: meta_str(pdb, "name").to_string(),
        expected,
        current_healthy: healthy,
        desired_healthy: desired,
    }
}

/// Whether evicting `pod` is allowed now.
pub fn check(world: &World, pod: &Value) -> Result<(), Denial> {
    if is_terminating(pod) {
        return Ok(());
    }
    let (phase, ready) = world.pod_condition(pod);
    if phase == "Succeeded"
        || phase == "Failed"
        || phase == "Pending" && pod["spec"]["nodeName"].is_null()
    {
        return Ok(());
    }
    let ns = meta_str(pod, "namespace");
    let labels = &pod["metadata"]["labels"];
    let matching: Vec<&Value> = world
        .kube
        .list_untyped("poddisruptionbudgets", Some(ns))
        .map(|(_, p)| p)
        .filter(|p| selector_matches(&p["spec"]["selector"], labels))
        .collect();
    match matching.len() {
        0 => Ok(()),
        1 => {
            let b = budget(world, matching[0]);
            let allowed = if ready {
                b.disruptions_allowed() > 0
            } else {
                // Unhealthy pods may go if the budget is met without them
                // (unhealthyPodEvictionPolicy IfHealthyBudget).
                b.current_healthy >= b.desired_healthy
            };
            if allowed {
                Ok(())
            } else {
                Err(Denial::Budget(b))
            }
        }
        _ => Err(Denial::MultipleBudgets),
    }
}
