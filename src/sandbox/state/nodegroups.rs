//! Managed nodegroups as EKS reports them, plus the in-flight rollout.

use indexmap::IndexMap;

use super::rollout::Rollout;

#[derive(Clone, Debug)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    /// Kubernetes spelling: NoSchedule, PreferNoSchedule, NoExecute.
    pub effect: String,
}

#[derive(Clone, Debug)]
pub struct Nodegroup {
    pub name: String,
    pub version: String,
    pub release_version: String,
    pub instance_type: String,
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub max_pods: u32,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_size: u32,
    pub max_unavailable: u32,
    /// maxUnavailablePercentage; when set, `max_unavailable` is unused.
    pub max_unavailable_percentage: Option<u32>,
    pub labels: IndexMap<String, String>,
    pub taints: Vec<Taint>,
    /// ACTIVE, UPDATING, CREATING, DELETING, DEGRADED.
    pub status: &'static str,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub rollout: Option<Rollout>,
}

impl Nodegroup {
    /// Nodes an update replaces at once: the count, or the percentage of
    /// the desired size rounded up; 1..=100 either way.
    pub fn unavailable_budget(&self) -> u32 {
        match self.max_unavailable_percentage {
            Some(p) => (self.desired_size * p).div_ceil(100),
            None => self.max_unavailable,
        }
        .clamp(1, 100)
    }

    /// DescribeNodegroup's `updateConfig`: one of the two keys.
    pub fn update_config_json(&self) -> serde_json::Value {
        match self.max_unavailable_percentage {
            Some(p) => serde_json::json!({"maxUnavailablePercentage": p}),
            None => serde_json::json!({"maxUnavailable": self.max_unavailable}),
        }
    }

    /// EKS's upper-case taint effect spelling.
    pub fn eks_effect(effect: &str) -> &'static str {
        match effect {
            "NoExecute" => "NO_EXECUTE",
            "PreferNoSchedule" => "PREFER_NO_SCHEDULE",
            _ => "NO_SCHEDULE",
        }
    }

    pub fn k8s_effect(effect: &str) -> &'static str {
        match effect {
            "NO_EXECUTE" => "NoExecute",
            "PREFER_NO_SCHEDULE" => "PreferNoSchedule",
            _ => "NoSchedule",
        }
    }
}
