//! The EKS control plane and the update records EKS keeps for clusters,
//! nodegroups and add-ons.

pub const ACCOUNT: &str = "123456789012";

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub region: String,
    pub version: String,
    pub platform_version: String,
    /// ACTIVE or UPDATING.
    pub status: &'static str,
    pub created_ms: u64,
    /// The minor the cluster was created at: it cannot be rolled back past
    /// (or at) it.
    pub created_version: String,
    /// The last in-place upgrade, which a version rollback may undo within
    /// seven days; cleared by the rollback itself.
    pub upgraded: Option<InPlaceUpgrade>,
}

/// A completed in-place control-plane upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InPlaceUpgrade {
    pub from: String,
    pub to: String,
    /// Simulated time the upgrade completed (0 for one that predates the
    /// fixture).
    pub completed_ms: u64,
}

impl Cluster {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:eks:{}:{ACCOUNT}:cluster/{}",
            self.region, self.name
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateTarget {
    Cluster,
    Nodegroup(String),
    Addon(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStatus {
    InProgress,
    Failed,
    Successful,
}

impl UpdateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::InProgress => "InProgress",
            UpdateStatus::Failed => "Failed",
            UpdateStatus::Successful => "Successful",
        }
    }
}

#[derive(Clone, Debug)]
pub struct UpdateError {
    /// An EKS ErrorCode, e.g. `PodEvictionFailure`.
    pub code: String,
    pub message: String,
    pub resource_ids: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Update {
    pub id: String,
    pub target: UpdateTarget,
    /// VersionUpdate, VersionRollback, ConfigUpdate or AddonUpdate.
    pub kind: &'static str,
    pub status: UpdateStatus,
    pub params: Vec<(String, String)>,
    pub created_ms: u64,
    pub errors: Vec<UpdateError>,
    pub client_request_token: Option<String>,
}
