//! Nodegroup rotation to a new Kubernetes version.
//!
//! `in_place`: EKS's managed update (UpdateNodegroupVersion), with the
//! group's own update config unless maxUnavailable (or its percentage) is
//! given, and an explicit `force` policy; a PodEvictionFailure is reported
//! with the PDBs that block. A canary first creates a small copy of the
//! group at the target (tainted so only DaemonSets land on it), waits for
//! its nodes to be Ready, runs the canary gate and deletes it again.
//! `blue_green`: a replacement group at the target version copying the old
//! one's configuration; once its nodes are Ready the old nodes are cordoned
//! and drained with our drain, then the old group is deleted. A failure
//! before the delete undoes it (old nodes uncordoned, new group deleted).

use std::str::FromStr;
use std::time::Duration;

use futures::future::LocalBoxFuture;

use super::CloudError;
use super::clock::human;
use super::drain::{DrainOptions, Drainer, NodeTiming, Unmanaged};
use super::eks::{
    CopyOverrides, Eks, NodegroupConfig, NodegroupInfo, check_update_config, parse_minor,
    unavailable_nodes,
};
use super::kube::Kube;
use super::plan::{Change, Mutation, Plan};
use super::timing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    InPlace,
    BlueGreen,
}

impl FromStr for Strategy {
    type Err = CloudError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in_place" => Ok(Strategy::InPlace),
            "blue_green" => Ok(Strategy::BlueGreen),
            other => Err(CloudError::Invalid(format!(
                "unknown rotation strategy `{other}` (expected in_place or blue_green)"
            ))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RotateOptions {
    pub version: String,
    pub strategy: Strategy,
    /// In place: nodes replaced at once; None keeps the group's setting.
    pub max_unavailable: Option<i64>,
    /// In place: the same as a percentage of the group.
    pub max_unavailable_percentage: Option<i64>,
    /// In place: let EKS delete pods a PDB protects. Never the default.
    pub force: bool,
    /// Blue/green: drain this many old nodes first, then run the canary
    /// gate. In place: a canary group of this many nodes at the target.
    pub canary: usize,
    pub drain: DrainOptions,
    /// AMI release (`eks::LATEST_RELEASE` for the newest): in place only. At
    /// the nodegroup's own minor this is an AMI refresh.
    pub release_version: Option<String>,
    /// Blue/green: how long the replacement group's nodes may take to be Ready.
    pub boot_timeout: Duration,
}

/// A check run after the canary; an error stops the rotation.
pub type CanaryGate<'a> = &'a dyn Fn() -> LocalBoxFuture<'a, Result<(), CloudError>>;

/// Name of the group replacing `nodegroup` at `version`: `workers` →
/// `workers-1-29`, and `workers-1-29` → `workers-1-30` on the next hop.
pub fn replacement_name(nodegroup: &str, version: &str) -> String {
    let suffix = version.replace('.', "-");
    let base = match nodegroup.rsplitn(3, '-').collect::<Vec<_>>().as_slice() {
        [minor, major, base]
            if minor.chars().all(|c| c.is_ascii_digit())
                && major.chars().all(|c| c.is_ascii_digit())
                && !minor.is_empty()
                && !major.is_empty() =>
        {
            base.to_string()
        }
        _ => nodegroup.to_string(),
    };
    format!("{base}-{suffix}")
}

/// Label and taint key of an in-place canary group (value: the group).
pub const CANARY_KEY: &str = "runbook.dev/canary-of";

/// `workers` → `workers-canary` (EKS allows 63 characters).
pub fn canary_name(nodegroup: &str) -> String {
    let base: String = nodegroup.chars().take(63 - "-canary".len()).collect();
    format!("{base}-canary")
}

pub struct Rotator<'a> {
    pub eks: &'a Eks,
    pub kube: &'a Kube,
}

const POLL: Duration = Duration::from_secs(15);

impl<'a> Rotator<'a> {
    pub async fn rotate(
        &self,
        cluster: &str,
        nodegroup: &str,
        opts: &RotateOptions,
        m: &Mutation<'_>,
        canary_gate: Option<CanaryGate<'_>>,
    ) -> Result<Change, CloudError> {
        check_update_config(opts.max_unavailable, opts.max_unavailable_percentage)?;
        let current = self.eks.nodegroup(cluster, nodegroup).await?;
        if opts.release_version.is_some() && opts.strategy == Strategy::BlueGreen {
            return Err(CloudError::Invalid(
                "release_version needs strategy in_place: a blue/green replacement group gets the newest AMI for its version".into(),
            ));
        }
        if parse_minor(&current.version) == parse_minor(&opts.version)
            && opts.release_version.is_none()
        {
            return Ok(Change::unchanged(
                format!("nodegroup {nodegroup}"),
                format!("already at {}", opts.version),
            ));
        }
        match opts.strategy {
            Strategy::InPlace => {
                self.in_place(cluster, nodegroup, opts, m, canary_gate)
                    .await
            }
            Strategy::BlueGreen => {
                self.blue_green(cluster, nodegroup, opts, m, canary_gate)
                    .await
            }
        }
    }

    async fn in_place(
        &self,
        cluster: &str,
        nodegroup: &str,
        opts: &RotateOptions,
        m: &Mutation<'_>,
        canary_gate: Option<CanaryGate<'_>>,
    ) -> Result<Change, CloudError> {
        let fresh = self.eks.planned_new_nodes(cluster, nodegroup);
        // Unset: the group's own update config stays (no request at all).
        let config = NodegroupConfig {
            max_unavailable: opts.max_unavailable,
            max_unavailable_percentage: opts.max_unavailable_percentage,
            ..NodegroupConfig::default()
        };
        let config_change =
            if config.max_unavailable.is_some() || config.max_unavailable_percentage.is_some() {
                self.eks
                    .update_nodegroup_config(cluster, nodegroup, &config, &m.part("config"))
                    .await?
            } else {
                Change::unchanged(format!("nodegroup {nodegroup} config"), "kept")
            };
        let canary_plan = if opts.canary > 0 {
            self.in_place_canary(cluster, nodegroup, opts, m, canary_gate)
                .await?
        } else {
            None
        };
        // The same request either way; in a plan it only projects.
        let version_change = self
            .eks
            .update_nodegroup_version(
                cluster,
                nodegroup,
                &opts.version,
                opts.release_version.as_deref(),
                opts.force,
                &m.part("version"),
            )
            .await;
        if m.is_plan() {
            let mut plan = match version_change? {
                Change::Planned(p) => p,
                other => return Ok(other),
            };
            plan.action = "roll in place".into();
            // EKS's own drain evicts every pod but DaemonSets' (emptyDir
            // and unmanaged ones too), honouring PodDisruptionBudgets.
            let eks_drain = DrainOptions {
                delete_emptydir_data: true,
                unmanaged: Unmanaged::Evict,
                grace_period: None,
                ..opts.drain.clone()
            };
            let group = self.eks.nodegroup(cluster, nodegroup).await?;
            let nodes = self
                .add_drain_plans(&mut plan, &group, fresh, &eks_drain)
                .await?;
            let at_once = if config.max_unavailable.is_some()
                || config.max_unavailable_percentage.is_some()
            {
                unavailable_nodes(
                    config.max_unavailable,
                    config.max_unavailable_percentage,
                    group.desired_size,
                )
            } else {
                group.max_unavailable_nodes
            };
            let stop = nodes.iter().map(|t| t.stop).max().unwrap_or_default();
            plan.predicted = timing::managed_update(group.desired_size, at_once, stop);
            if let Change::Planned(c) = config_change {
                plan.notes.extend(c.notes);
                plan.predicted += c.predicted;
            }
            if let Some(c) = canary_plan {
                plan.notes.extend(c.notes);
                plan.predicted += c.predicted;
            }
            if !plan.held.is_empty() && !opts.force {
                return Err(CloudError::Invalid(format!(
                    "EKS would fail the update of nodegroup {nodegroup} with PodEvictionFailure after 15 minutes: no wait lets {} through (force deletes them)",
                    plan.held.join("; ")
                )));
            }
            if !plan.blocking_pdbs.is_empty() && !opts.force {
                plan.notes.push(format!(
                    "EKS would fail with PodEvictionFailure after 15 minutes unless {} allow(s) eviction",
                    plan.blocking_pdbs.join(", ")
                ));
            }
            return Ok(Change::Planned(plan));
        }
        match version_change {
            Err(CloudError::UpdateFailed {
                what,
                update_id,
                status,
                mut errors,
            }) => {
                if errors.iter().any(|e| e.contains("PodEvictionFailure")) {
                    let pdbs = self.blocking_pdbs(nodegroup).await.unwrap_or_default();
                    if !pdbs.is_empty() {
                        errors.push(format!(
                            "blocked by PodDisruptionBudget {}",
                            pdbs.join(", ")
                        ));
                    }
                }
                Err(CloudError::UpdateFailed {
                    what,
                    update_id,
                    status,
                    errors,
                })
            }
            other => other,
        }
    }

    /// The canary of an in-place rotation: `<group>-canary`, a copy of the
    /// group at the target with `canary` nodes, tainted NoSchedule so that
    /// only DaemonSets (vpc-cni, kube-proxy: what decides whether a new
    /// kubelet works) run there and no workload is disrupted when it goes.
    /// Its nodes must turn Ready and the canary gate hold; the group is
    /// deleted either way. In a plan: what would happen, as notes.
    async fn in_place_canary(
        &self,
        cluster: &str,
        nodegroup: &str,
        opts: &RotateOptions,
        m: &Mutation<'_>,
        canary_gate: Option<CanaryGate<'_>>,
    ) -> Result<Option<Plan>, CloudError> {
        let name = canary_name(nodegroup);
        if m.is_plan() {
            let mut plan = Plan::new("canary", format!("nodegroup {name}"));
            plan.notes.push(format!(
                "canary: create {name} ({} node(s) at {}, tainted NoSchedule), wait for Ready{}, then delete it",
                opts.canary,
                opts.version,
                if canary_gate.is_some() {
                    " and the step's gates"
                } else {
                    ""
                }
            ));
            // Create (its nodes boot meanwhile) and delete.
            plan.predicted = timing::NODEGROUP_CREATE + timing::NODEGROUP_DELETE;
            return Ok(Some(plan));
        }
        let overrides = CopyOverrides {
            size: Some(opts.canary as i64),
            labels: [(CANARY_KEY.to_string(), nodegroup.to_string())].into(),
            no_schedule: vec![(CANARY_KEY.to_string(), nodegroup.to_string())],
        };
        (m.progress)(&format!(
            "canary: {name} with {} node(s) at {}",
            opts.canary, opts.version
        ));
        let checked = async {
            self.eks
                .create_nodegroup_with(
                    cluster,
                    &name,
                    nodegroup,
                    &opts.version,
                    &overrides,
                    &m.part("canary-create"),
                )
                .await?;
            self.wait_ready(&name, opts.canary, opts.boot_timeout, m)
                .await?;
            if let Some(gate) = canary_gate {
                (m.progress)("canary nodes Ready; checking the canary gate");
                gate().await?;
            }
            Ok::<(), CloudError>(())
        }
        .await;
        let deleted = self
            .eks
            .delete_nodegroup(cluster, &name, &m.part("canary-delete"))
            .await;
        checked.map_err(|e| CloudError::Invalid(format!("canary {name} failed: {e}")))?;
        deleted?;
        Ok(None)
    }

    /// PDBs that allow no disruption and cover pods on the group's nodes.
    async fn blocking_pdbs(&self, nodegroup: &str) -> Result<Vec<String>, CloudError> {
        let nodes = self.kube.nodes(Some(nodegroup)).await?;
        let pdbs = self.kube.pdbs(None).await?;
        let pods = self.kube.pods(None, None, None).await?;
        let mut out: Vec<String> = pdbs
            .iter()
            .filter(|b| b.disruptions_allowed == 0)
            .filter(|b| {
                pods.iter().any(|p| {
                    p.node
                        .as_ref()
                        .is_some_and(|n| nodes.iter().any(|x| &x.name == n))
                        && b.selects(p)
                })
            })
            .map(|b| b.id())
            .collect();
        out.sort();
        Ok(out)
    }

    /// The drains of every node of the group: one LIST of nodes, pods and
    /// PDBs each, however many nodes (see `Drainer::plan_nodes`); how long
    /// each node's takes.
    /// A group whose nodes an earlier step of the plan replaces (`fresh`)
    /// has nodes and pods only known at run time: counted, not named.
    async fn add_drain_plans(
        &self,
        plan: &mut Plan,
        group: &NodegroupInfo,
        fresh: bool,
        drain: &DrainOptions,
    ) -> Result<Vec<NodeTiming>, CloudError> {
        if fresh {
            let n = group.desired_size.max(0) as usize;
            plan.notes.push(format!(
                "{n} node(s) of {} that an earlier step brings up: they and the pods then on them are named only at run time",
                group.name
            ));
            let stop = timing::SIGTERM_EXIT;
            let drain = timing::polled(stop, Duration::from_secs(5));
            return Ok(vec![NodeTiming { drain, stop }; n]);
        }
        let nodegroup = &group.name;
        let quiet = |_: &str| {};
        let nodes: Vec<String> = self
            .kube
            .nodes(Some(nodegroup))
            .await?
            .into_iter()
            .map(|n| n.name)
            .collect();
        let (p, timing) = Drainer::new(self.kube, &quiet)
            .plan_nodes(&nodes, drain)
            .await?;
        plan.nodes.extend(p.nodes);
        plan.evictions.extend(p.evictions);
        plan.refusals.extend(p.refusals);
        plan.held.extend(p.held);
        for b in p.blocking_pdbs {
            if !plan.blocking_pdbs.contains(&b) {
                plan.blocking_pdbs.push(b);
            }
        }
        Ok(timing)
    }

    async fn blue_green(
        &self,
        cluster: &str,
        nodegroup: &str,
        opts: &RotateOptions,
        m: &Mutation<'_>,
        canary_gate: Option<CanaryGate<'_>>,
    ) -> Result<Change, CloudError> {
        let new = replacement_name(nodegroup, &opts.version);
        let current = self.eks.nodegroup(cluster, nodegroup).await?;
        if m.is_plan() {
            let fresh = self.eks.planned_new_nodes(cluster, nodegroup);
            let create = self
                .eks
                .create_nodegroup(cluster, &new, nodegroup, &opts.version, &m.part("create"))
                .await?;
            let mut plan = Plan::new("replace (blue/green)", format!("nodegroup {nodegroup}"))
                .from_to(Some(current.version.clone()), opts.version.clone());
            plan.notes.push(format!("create {new} at {}", opts.version));
            if let Change::Planned(c) = create {
                plan.notes.extend(c.notes);
                plan.predicted += c.predicted;
            }
            // Our drain, one old node after another; what it would stop
            // at, the rotation stops at (and undoes itself).
            let nodes = self
                .add_drain_plans(&mut plan, &current, fresh, &opts.drain)
                .await?;
            if !plan.refusals.is_empty() {
                return Err(CloudError::Invalid(format!(
                    "draining nodegroup {nodegroup} would be refused: {}",
                    plan.refusals.join("; ")
                )));
            }
            if !plan.held.is_empty() {
                return Err(CloudError::Invalid(format!(
                    "draining nodegroup {nodegroup} would give up after {}: no wait lets {} through",
                    human(opts.drain.timeout),
                    plan.held.join("; ")
                )));
            }
            plan.predicted += nodes.iter().map(|t| t.drain).sum::<Duration>();
            if opts.canary > 0 {
                plan.notes.push(format!(
                    "canary: {} old node(s) drained first, then the health gates",
                    opts.canary
                ));
            }
            if let Change::Planned(d) = self
                .eks
                .delete_nodegroup(cluster, nodegroup, &m.part("delete"))
                .await?
            {
                plan.predicted += d.predicted;
            }
            plan.notes.push(format!("then delete {nodegroup}"));
            return Ok(Change::Planned(plan));
        }
        let old_nodes: Vec<String> = self
            .kube
            .nodes(Some(nodegroup))
            .await?
            .into_iter()
            .map(|n| n.name)
            .collect();
        let result = self
            .replace(cluster, nodegroup, &new, &old_nodes, opts, m, canary_gate)
            .await;
        match result {
            Ok(()) => {
                self.eks
                    .delete_nodegroup(cluster, nodegroup, &m.part("delete"))
                    .await?;
                Ok(Change::Applied {
                    target: format!("nodegroup {nodegroup}"),
                    from: Some(current.version),
                    to: Some(opts.version.clone()),
                    detail: format!("replaced by {new} ({} node(s) drained)", old_nodes.len()),
                })
            }
            Err(e) => {
                (m.progress)(&format!("{e}; undoing: uncordon {nodegroup}, delete {new}"));
                let undo = self.rollback_blue_green(cluster, nodegroup, &new, m).await;
                if let Err(u) = undo {
                    (m.progress)(&format!("undo incomplete: {u}"));
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn replace(
        &self,
        cluster: &str,
        old: &str,
        new: &str,
        old_nodes: &[String],
        opts: &RotateOptions,
        m: &Mutation<'_>,
        canary_gate: Option<CanaryGate<'_>>,
    ) -> Result<(), CloudError> {
        self.eks
            .create_nodegroup(cluster, new, old, &opts.version, &m.part("create"))
            .await?;
        let want = self.eks.nodegroup(cluster, new).await?.desired_size.max(1) as usize;
        self.wait_ready(new, want, opts.boot_timeout, m).await?;
        for node in old_nodes {
            self.kube.cordon(node).await?;
        }
        let drainer = Drainer::new(self.kube, m.progress);
        for (i, node) in old_nodes.iter().enumerate() {
            (m.progress)(&format!("draining {node} ({}/{})", i + 1, old_nodes.len()));
            drainer.drain(node, &opts.drain).await?;
            if i + 1 == opts.canary
                && let Some(gate) = canary_gate
            {
                (m.progress)("canary node drained; checking the canary gate");
                gate().await?;
            }
        }
        Ok(())
    }

    async fn wait_ready(
        &self,
        nodegroup: &str,
        want: usize,
        boot_timeout: Duration,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        let clock = self.kube.clock();
        let started = clock.now();
        let deadline = clock.deadline(m.timeout.min(boot_timeout));
        loop {
            let nodes = self.kube.nodes(Some(nodegroup)).await?;
            let ready = nodes.iter().filter(|n| n.ready).count();
            if ready >= want {
                return Ok(());
            }
            if deadline.passed(clock) {
                return Err(CloudError::Timeout {
                    what: format!(
                        "nodes of {nodegroup} to become Ready ({ready}/{want} Ready; check add-on compatibility)"
                    ),
                    after: deadline.budget(),
                });
            }
            (m.progress)(&format!(
                "{nodegroup}: {ready}/{want} node(s) Ready, {}",
                human(clock.since(started))
            ));
            clock.sleep(POLL).await?;
        }
    }

    /// Undo a blue/green replacement: old nodes schedulable again, the new
    /// group deleted. Safe to call when either half is already undone.
    pub async fn rollback_blue_green(
        &self,
        cluster: &str,
        old: &str,
        new: &str,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let mut uncordoned = 0;
        for node in self.kube.nodes(Some(old)).await? {
            if self.kube.uncordon(&node.name).await? {
                uncordoned += 1;
            }
        }
        let deleted = self
            .eks
            .delete_nodegroup(cluster, new, &m.part("undo-delete"))
            .await?;
        Ok(Change::Applied {
            target: format!("nodegroup {old}"),
            from: None,
            to: None,
            detail: format!("{uncordoned} node(s) uncordoned; {}", deleted.summary()),
        })
    }
}

impl Rotator<'_> {
    /// Undo a rotation of `nodegroup` to `version`, however far it got, from
    /// the state alone (a `during` gate, a timeout or Ctrl-C may have cut it
    /// short): an update left running is waited out; a canary group is
    /// deleted; while the old group exists, its blue/green replacement is
    /// deleted and its nodes uncordoned; a group at `version` (in place, or
    /// a finished replacement whose old group is gone) is rolled back to
    /// `back_to` with UpdateNodegroupVersion.
    /// If EKS is deleting `group` (a rotation stopped mid-way deletes the
    /// group it was creating), wait until it is gone.
    async fn wait_deleted(
        &self,
        cluster: &str,
        group: &str,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        let clock = self.kube.clock();
        let started = clock.now();
        let deadline = clock.deadline(m.timeout);
        loop {
            let status = match self.eks.nodegroup(cluster, group).await {
                Err(e) if e.is_not_found() => return Ok(()),
                other => other?.status,
            };
            if status != "DELETING" || deadline.passed(clock) {
                return Ok(());
            }
            (m.progress)(&format!(
                "nodegroup {group}: DELETING, {}",
                human(clock.since(started))
            ));
            clock.sleep(POLL).await?;
        }
    }

    pub async fn undo_rotation(
        &self,
        cluster: &str,
        nodegroup: &str,
        version: &str,
        back_to: &str,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let replacement = replacement_name(nodegroup, version);
        let canary = canary_name(nodegroup);
        let before = self.eks.nodegroup_names(cluster).await?;
        for group in [nodegroup, &replacement, &canary] {
            if before.iter().any(|x| x == group) {
                // A group being deleted may be gone before it is idle.
                match self.eks.wait_nodegroup_idle(cluster, group, m).await {
                    Err(e) if e.is_not_found() => {}
                    r => r?,
                }
                if !m.is_plan() {
                    self.wait_deleted(cluster, group, m).await?;
                }
            }
        }
        // Read again once idle: a rotation stopped while EKS deleted the old
        // group (a sibling branch failed, Ctrl-C) leaves it gone by now.
        let names = self.eks.nodegroup_names(cluster).await?;
        let exists = |n: &str| names.iter().any(|x| x == n);
        let mut done = Vec::new();
        let mut plan = Plan::new("undo the rotation of", format!("nodegroup {nodegroup}"));
        let note = |c: Change, plan: &mut Plan, done: &mut Vec<String>| match c {
            Change::Planned(p) => {
                plan.notes.extend(p.lines());
                plan.predicted += p.predicted;
            }
            c if !c.is_unchanged() => done.push(c.summary()),
            _ => {}
        };
        if exists(&canary) {
            let c = self
                .eks
                .delete_nodegroup(cluster, &canary, &m.part("undo-canary"))
                .await?;
            note(c, &mut plan, &mut done);
        }
        // The group that carries the nodegroup's workloads now.
        let carrier = if exists(nodegroup) {
            if exists(&replacement) && replacement != nodegroup {
                if m.is_plan() {
                    plan.notes.push(format!(
                        "uncordon {nodegroup}'s nodes, delete {replacement}"
                    ));
                } else {
                    let c = self
                        .rollback_blue_green(cluster, nodegroup, &replacement, m)
                        .await?;
                    note(c, &mut plan, &mut done);
                }
            } else if !m.is_plan() {
                // A drain cut short leaves cordons behind.
                let mut uncordoned = 0;
                for node in self.kube.nodes(Some(nodegroup)).await? {
                    if node.unschedulable && self.kube.uncordon(&node.name).await? {
                        uncordoned += 1;
                    }
                }
                if uncordoned > 0 {
                    done.push(format!("{uncordoned} node(s) of {nodegroup} uncordoned"));
                }
            }
            Some(nodegroup.to_string())
        } else {
            exists(&replacement).then(|| replacement.clone())
        };
        if let Some(group) = carrier {
            let current = self.eks.nodegroup(cluster, &group).await?;
            // A failed in-place update keeps the group's version but leaves
            // the nodes it launched: a refresh at the older minor (the
            // newest AMI) replaces them, or EKS refuses the control
            // plane's rollback while a kubelet is newer.
            let newer_nodes: Vec<String> =
                if !m.is_plan() && parse_minor(&current.version) == parse_minor(back_to) {
                    self.kube
                        .nodes(Some(&group))
                        .await?
                        .into_iter()
                        .filter(|n| parse_minor(&n.version) > parse_minor(back_to))
                        .map(|n| n.name)
                        .collect()
                } else {
                    vec![]
                };
            if !newer_nodes.is_empty() {
                let c = self
                    .eks
                    .update_nodegroup_version(
                        cluster,
                        &group,
                        back_to,
                        Some(super::eks::LATEST_RELEASE),
                        false,
                        &m.part("undo-nodes"),
                    )
                    .await?;
                if c.is_unchanged() {
                    // EKS will not refresh a group already on the newest AMI
                    // of its minor, and nothing else here replaces a node.
                    return Err(CloudError::Invalid(format!(
                        "nodegroup {group} is back on {back_to} but keeps {} node(s) on {version} that EKS will not replace (the group already runs the newest {back_to} AMI): {}; drain and terminate them, then rerun",
                        newer_nodes.len(),
                        newer_nodes.join(", ")
                    )));
                }
                note(c, &mut plan, &mut done);
            } else if parse_minor(&current.version) == parse_minor(version)
                && parse_minor(back_to) != parse_minor(version)
            {
                let c = self
                    .eks
                    .update_nodegroup_version(
                        cluster,
                        &group,
                        back_to,
                        None,
                        false,
                        &m.part("undo-version"),
                    )
                    .await?;
                note(c, &mut plan, &mut done);
            }
        }
        if m.is_plan() {
            return Ok(if plan.notes.is_empty() {
                Change::unchanged(format!("nodegroup {nodegroup}"), "nothing to undo")
            } else {
                Change::Planned(plan)
            });
        }
        Ok(if done.is_empty() {
            Change::unchanged(format!("nodegroup {nodegroup}"), "nothing to undo")
        } else {
            Change::Applied {
                target: format!("nodegroup {nodegroup}"),
                from: Some(version.to_string()),
                to: Some(back_to.to_string()),
                detail: done.join("; "),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_names_do_not_grow_per_hop() {
        assert_eq!(replacement_name("workers", "1.29"), "workers-1-29");
        assert_eq!(replacement_name("workers-1-29", "1.30"), "workers-1-30");
        assert_eq!(replacement_name("gpu-a", "1.30"), "gpu-a-1-30");
        assert_eq!(replacement_name("ng-2", "1.30"), "ng-2-1-30");
    }

    #[test]
    fn strategies_parse() {
        assert_eq!("in_place".parse::<Strategy>().unwrap(), Strategy::InPlace);
        assert!("inplace".parse::<Strategy>().is_err());
    }
}
