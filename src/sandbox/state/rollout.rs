//! The state of a managed nodegroup version update, which moves through the
//! phases EKS documents: setup, scale up, upgrade, scale down.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Setup,
    ScaleUp,
    Upgrade,
    ScaleDown,
}

#[derive(Clone, Debug)]
pub struct Rollout {
    pub update_id: String,
    pub target_version: String,
    pub target_release: String,
    pub force: bool,
    pub phase: Phase,
    pub phase_started_ms: u64,
    /// Extra nodes launched in scale-up (removed again in scale-down).
    pub surge: u32,
    /// Old nodes being drained, with the time draining started.
    pub draining: Vec<(String, u64)>,
    /// The old nodes carry the `eks.amazonaws.com/nodegroup=unschedulable`
    /// taint, so pods drained from one do not land on the next.
    pub old_tainted: bool,
}
