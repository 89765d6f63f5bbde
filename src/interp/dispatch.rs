//! The implementations of the registry's built-ins (`crate::builtins`): each
//! entry names its `Op`, and `call` matches on it exhaustively, so an entry
//! without an implementation does not compile.

use std::time::Duration;

use indexmap::IndexMap;

use super::records::record;
use super::value::Value;
use crate::builtins::{Builtin, Op, Type, records};
use crate::cloud::drain::{DrainOptions, Drainer, Unmanaged};
use crate::cloud::eks::{Eks, NodegroupConfig};
use crate::cloud::kube::Kube;
use crate::cloud::objects::{ObjectRef, WaitFor, annotations_patch};
use crate::cloud::plan::{Change, Mode, Mutation};
use crate::cloud::rotate::{CanaryGate, RotateOptions, Rotator, Strategy};
use crate::cloud::workloads::DeletePodOptions;
use crate::cloud::{Clock, CloudError};
use crate::literal;

/// The clients an operation runs against.
#[derive(Clone)]
pub struct Cloud {
    pub eks: Eks,
    pub kube: Kube,
    pub clock: Clock,
}

impl Cloud {
    pub fn new(clients: crate::cloud::Clients, clock: Clock) -> Self {
        Cloud {
            eks: Eks::new(clients.eks, clock.clone()),
            kube: Kube::new(clients.kube, clock.clone()),
            clock,
        }
    }

    /// The same clients with fresh per-run state (the dry run's projection,
    /// the drift guard's ledger), so runs sharing clients do not share it.
    pub fn for_run(&self) -> Cloud {
        Cloud {
            eks: self.eks.for_run(),
            ..self.clone()
        }
    }
}

/// Arguments bound to the registry's parameter names, defaults applied.
#[derive(Debug, Default)]
pub struct CallArgs {
    values: IndexMap<&'static str, Value>,
}

impl CallArgs {
    /// The resolved arguments, for the journal (and the action's key).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect(),
        )
    }

    /// Bind positional and keyword arguments to `b`'s parameters. The
    /// checker has already validated names and arity; this still refuses
    /// what it cannot bind rather than guess.
    pub fn bind(
        b: &Builtin,
        positional: Vec<Value>,
        keyword: Vec<(String, Value)>,
    ) -> Result<CallArgs, String> {
        let mut values = IndexMap::new();
        if positional.len() > b.positional.len() {
            return Err(format!(
                "{} takes {} positional argument(s), got {}",
                b.name,
                b.positional.len(),
                positional.len()
            ));
        }
        for (p, v) in b.positional.iter().zip(positional) {
            values.insert(p.name, v);
        }
        for (name, v) in keyword {
            let p = b
                .keyword
                .iter()
                .chain(b.positional)
                .find(|p| p.name == name)
                .ok_or_else(|| format!("{} has no parameter `{name}`", b.name))?;
            if !p.allowed.is_empty() && !v.as_str().is_some_and(|s| p.allowed.contains(&s)) {
                return Err(format!(
                    "{}: `{name}` must be one of {}, got {v}",
                    b.name,
                    p.allowed.join(", ")
                ));
            }
            values.insert(p.name, v);
        }
        for p in b.positional.iter().chain(b.keyword) {
            if values.contains_key(p.name) {
                continue;
            }
            if let Some(d) = p.default {
                values.insert(p.name, default_value(p.ty, d)?);
            } else if p.required {
                return Err(format!(
                    "{}: missing required argument `{}`",
                    b.name, p.name
                ));
            }
        }
        Ok(CallArgs { values })
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| !matches!(v, Value::Null))
    }

    fn text(&self, name: &str) -> Result<String, CloudError> {
        self.opt_text(name)?
            .ok_or_else(|| CloudError::Invalid(format!("missing argument `{name}`")))
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, CloudError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Unknown(why)) => Err(CloudError::Invalid(format!(
                "`{name}` is only known at run time ({why})"
            ))),
            Some(v) => Ok(Some(v.to_text())),
        }
    }

    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    fn duration(&self, name: &str) -> Option<Duration> {
        match self.get(name) {
            Some(Value::Duration(d)) => Some(*d),
            _ => None,
        }
    }

    /// A map or list argument as JSON (manifests, patches).
    fn json(&self, name: &str) -> Result<serde_json::Value, CloudError> {
        match self.get(name) {
            None => Err(CloudError::Invalid(format!("missing argument `{name}`"))),
            Some(Value::Unknown(why)) => Err(CloudError::Invalid(format!(
                "`{name}` is only known at run time ({why})"
            ))),
            Some(v) => Ok(v.to_json()),
        }
    }

    fn texts(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Value::List(items)) => items.iter().map(Value::to_text).collect(),
            _ => Vec::new(),
        }
    }

    /// The object addressed by `api_version`, `kind`, `name`, `namespace`.
    fn object(&self) -> Result<ObjectRef, CloudError> {
        Ok(ObjectRef {
            api_version: self.text("api_version")?,
            kind: self.text("kind")?,
            name: self.text("name")?,
            namespace: self.opt_text("namespace")?,
        })
    }

    fn labels(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        match self.get(name) {
            Some(Value::Map(m)) => m.iter().map(|(k, v)| (k.clone(), v.to_text())).collect(),
            _ => Default::default(),
        }
    }
}

/// A registry default (`"60m"`, `"false"`, `"\"PRESERVE\""`) as a value.
fn default_value(ty: Type, text: &str) -> Result<Value, String> {
    let bad = || format!("registry default `{text}` is not a {ty}");
    Ok(match ty {
        Type::Bool => Value::Bool(literal::parse_bool(text).map_err(|_| bad())?),
        Type::Int => Value::Int(literal::parse_int(text).map_err(|_| bad())?),
        Type::Duration => Value::Duration(literal::parse_duration(text).map_err(|_| bad())?),
        Type::Version => Value::Version(literal::parse_version(text).map_err(|_| bad())?),
        Type::List(_) if text == "[]" => Value::List(Vec::new()),
        _ => Value::Str(text.trim_matches('"').to_string()),
    })
}

/// Per-call context: plan or apply, the idempotency token, progress lines,
/// and the canary gate of a rotation.
pub struct CallCtx<'a> {
    pub mode: Mode,
    pub token: String,
    /// An earlier attempt may have sent this mutation (see `Mutation::probe`).
    pub probe: bool,
    pub progress: &'a (dyn Fn(&str) + Send + Sync),
    pub canary_gate: Option<CanaryGate<'a>>,
}

/// What a call produced: a value (reads) and, for mutations, the change.
#[derive(Debug)]
pub struct Called {
    pub value: Value,
    pub change: Option<Change>,
}

fn read(value: Value) -> Result<Called, CloudError> {
    Ok(Called {
        value,
        change: None,
    })
}

fn changed(change: Change) -> Result<Called, CloudError> {
    Ok(Called {
        value: Value::Null,
        change: Some(change),
    })
}

fn list<T>(items: Vec<T>, f: impl Fn(&T) -> Value) -> Value {
    Value::List(items.iter().map(f).collect())
}

pub async fn call(
    cloud: &Cloud,
    builtin: &Builtin,
    args: &CallArgs,
    ctx: &CallCtx<'_>,
) -> Result<Called, CloudError> {
    let mut m = Mutation::new(ctx.mode, ctx.token.clone(), ctx.progress);
    m.probe = ctx.probe;
    if let Some(t) = args.duration("timeout") {
        m.timeout = t;
    }
    let (eks, kube) = (&cloud.eks, &cloud.kube);
    let opt = |n: &str| args.opt_text(n);
    let op = builtin.op;
    match op {
        Op::Cluster => {
            let c = eks.cluster(&args.text("cluster")?).await?;
            read(record(&records::CLUSTER, &c, &[]))
        }
        Op::Nodegroups => {
            let names = eks.nodegroup_names(&args.text("cluster")?).await?;
            read(list(names, |n| Value::Str(n.clone())))
        }
        Op::Nodegroup => {
            let cluster = args.text("cluster")?;
            let ng = eks.nodegroup(&cluster, &args.text("name")?).await?;
            read(record(
                &records::NODEGROUP,
                &ng,
                &[("cluster", Value::Str(cluster))],
            ))
        }
        Op::Addons => {
            let addons = eks.addons(&args.text("cluster")?).await?;
            read(list(addons, |a| record(&records::ADDON, a, &[])))
        }
        Op::Addon => {
            let a = eks
                .addon(&args.text("cluster")?, &args.text("name")?)
                .await?;
            read(record(&records::ADDON, &a, &[]))
        }
        Op::DefaultAddonVersion => {
            let v = eks
                .default_addon_version(&args.text("addon")?, &args.text("k8s_version")?)
                .await?;
            read(Value::Str(v))
        }
        Op::AddonVersions => {
            let v = eks
                .addon_versions(&args.text("addon")?, &args.text("k8s_version")?)
                .await?;
            read(Value::List(v.into_iter().map(Value::Str).collect()))
        }
        Op::VersionPath => {
            let path = eks
                .version_path(&args.text("cluster")?, &args.text("target")?)
                .await?;
            read(list(path, |v| {
                Value::version_of(v).unwrap_or(Value::Str(v.clone()))
            }))
        }
        Op::Insights => {
            let status = opt("status")?;
            let category = opt("category")?;
            let insights = eks
                .insights_after_plan(
                    &args.text("cluster")?,
                    status.as_deref(),
                    category.as_deref(),
                    kube,
                )
                .await?;
            read(list(insights, |i| record(&records::INSIGHT, i, &[])))
        }
        Op::ForeignUpdates => {
            let updates = eks.foreign_updates(&args.text("cluster")?).await?;
            read(list(updates, |u| record(&records::UPDATE, u, &[])))
        }
        Op::Nodes => {
            let (nodegroup, selector) = (opt("nodegroup")?, opt("selector")?);
            let nodes = kube
                .nodes_matching(nodegroup.as_deref(), selector.as_deref())
                .await?;
            read(list(nodes, |n| {
                record(
                    &records::NODE,
                    n,
                    &[("kubelet_version", Value::Str(n.version.clone()))],
                )
            }))
        }
        Op::Pods => {
            let (ns, node, sel) = (opt("namespace")?, opt("node")?, opt("selector")?);
            let pods = kube
                .pods(ns.as_deref(), node.as_deref(), sel.as_deref())
                .await?;
            read(list(pods, |p| {
                record(
                    &records::POD,
                    p,
                    &[
                        (
                            "reason",
                            p.waiting_reasons
                                .first()
                                .cloned()
                                .map_or(Value::Null, Value::Str),
                        ),
                        (
                            "owner_kind",
                            p.controller.clone().map_or(Value::Null, Value::Str),
                        ),
                        ("uses_emptydir", Value::Bool(p.uses_empty_dir)),
                    ],
                )
            }))
        }
        Op::Deployments | Op::Statefulsets => {
            let ns = opt("namespace")?;
            let (items, ty) = if op == Op::Deployments {
                (kube.deployments(ns.as_deref()).await?, &records::DEPLOYMENT)
            } else {
                (
                    kube.statefulsets(ns.as_deref()).await?,
                    &records::STATEFULSET,
                )
            };
            read(list(items, |w| {
                record(
                    ty,
                    w,
                    &[
                        ("replicas", Value::Int(w.desired)),
                        ("ready_replicas", Value::Int(w.ready)),
                        ("available_replicas", Value::Int(w.available)),
                        ("updated_replicas", Value::Int(w.updated)),
                    ],
                )
            }))
        }
        Op::Daemonsets => {
            let items = kube.daemonsets(opt("namespace")?.as_deref()).await?;
            read(list(items, |w| record(&records::DAEMONSET, w, &[])))
        }
        Op::Pdbs => {
            let items = kube.pdbs(opt("namespace")?.as_deref()).await?;
            read(list(items, |p| {
                let selector = p
                    .selector
                    .as_ref()
                    .and_then(|s| s.match_labels.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, Value::Str(v)))
                    .collect();
                record(&records::PDB, p, &[("selector", Value::Map(selector))])
            }))
        }
        Op::UpdateClusterVersion => changed(
            eks.update_cluster_version(
                &args.text("cluster")?,
                &args.text("version")?,
                args.bool("force"),
                &m,
            )
            .await?,
        ),
        Op::UpdateAddon => changed(
            eks.update_addon(
                &args.text("cluster")?,
                &args.text("addon")?,
                &args.text("version")?,
                opt("resolve_conflicts")?.as_deref(),
                &m,
            )
            .await?,
        ),
        Op::UpdateNodegroupVersion => {
            let cluster = args.text("cluster")?;
            let version = match opt("version")? {
                Some(v) => v,
                None => eks.cluster(&cluster).await?.version,
            };
            changed(
                eks.update_nodegroup_version(
                    &cluster,
                    &args.text("nodegroup")?,
                    &version,
                    opt("release_version")?.as_deref(),
                    args.bool("force"),
                    &m,
                )
                .await?,
            )
        }
        Op::UpdateNodegroupConfig => {
            let want = NodegroupConfig {
                min_size: args.int("min_size"),
                max_size: args.int("max_size"),
                desired_size: args.int("desired_size"),
                max_unavailable: args.int("max_unavailable"),
                max_unavailable_percentage: args.int("max_unavailable_percentage"),
                labels: args.labels("labels"),
            };
            changed(
                eks.update_nodegroup_config(
                    &args.text("cluster")?,
                    &args.text("nodegroup")?,
                    &want,
                    &m,
                )
                .await?,
            )
        }
        Op::CreateNodegroup => {
            let cluster = args.text("cluster")?;
            let version = match opt("version")? {
                Some(v) => v,
                None => eks.cluster(&cluster).await?.version,
            };
            changed(
                eks.create_nodegroup(
                    &cluster,
                    &args.text("nodegroup")?,
                    &args.text("from")?,
                    &version,
                    &m,
                )
                .await?,
            )
        }
        Op::DeleteNodegroup => changed(
            eks.delete_nodegroup(&args.text("cluster")?, &args.text("nodegroup")?, &m)
                .await?,
        ),
        Op::Cordon | Op::Uncordon => {
            let node = args.text("node")?;
            let on = op == Op::Cordon;
            let target = format!("node {node}");
            if ctx.mode == Mode::Plan {
                let p = crate::cloud::Plan::new(if on { "cordon" } else { "uncordon" }, target);
                return changed(Change::Planned(p));
            }
            let did = if on {
                kube.cordon(&node).await?
            } else {
                kube.uncordon(&node).await?
            };
            changed(if did {
                Change::Applied {
                    target,
                    from: None,
                    to: None,
                    detail: if on { "cordoned" } else { "uncordoned" }.into(),
                }
            } else {
                Change::unchanged(
                    target,
                    if on {
                        "already cordoned"
                    } else {
                        "already schedulable"
                    },
                )
            })
        }
        Op::Drain => {
            let node = args.text("node")?;
            let opts = drain_options(args, args.duration("timeout"))?;
            let drainer = Drainer::new(kube, ctx.progress);
            if ctx.mode == Mode::Plan {
                // What the run's drain would stop at, it stops at here.
                let plan = drainer.plan(&node, &opts).await?;
                if !plan.refusals.is_empty() {
                    return Err(CloudError::DrainRefused {
                        node,
                        reasons: plan.refusals,
                    });
                }
                if !plan.held.is_empty() {
                    return Err(CloudError::Invalid(format!(
                        "a drain of node {node} would give up after {}: no wait lets {} through",
                        crate::cloud::clock::human(opts.timeout),
                        plan.held.join("; ")
                    )));
                }
                return changed(Change::Planned(plan));
            }
            let report = drainer.drain(&node, &opts).await?;
            changed(Change::Applied {
                target: format!("node {node}"),
                from: None,
                to: None,
                detail: format!("drained: {} pod(s) evicted", report.evicted.len()),
            })
        }
        Op::DeletePod => {
            let opts = DeletePodOptions {
                grace_period: args.duration("grace_period"),
                data_loss_ok: args.bool("data_loss_ok"),
                unmanaged_ok: args.bool("unmanaged_ok"),
                timeout: args.duration("timeout").unwrap_or(Duration::from_secs(300)),
            };
            changed(
                kube.delete_pod(&args.text("namespace")?, &args.text("pod")?, &opts, &m)
                    .await?,
            )
        }
        Op::Scale => {
            let want = args
                .int("replicas")
                .ok_or_else(|| CloudError::Invalid("`replicas` must be an int".into()))?;
            let (change, before) = kube
                .scale(
                    args.text("kind")?.parse()?,
                    &args.text("namespace")?,
                    &args.text("name")?,
                    want,
                    args.duration("timeout").unwrap_or(Duration::from_secs(600)),
                    &m,
                )
                .await?;
            Ok(Called {
                value: Value::Int(before),
                change: Some(change),
            })
        }
        Op::Get => {
            let r = args.object()?;
            planned_read(ctx, r.describe(), kube.get_object(&r).await?)
        }
        Op::Wait => {
            let r = args.object()?;
            let w = WaitFor {
                field: args.text("field")?,
                equals: args.text("equals")?,
                fail_on: args.texts("fail_on"),
                timeout: args.duration("timeout").unwrap_or(Duration::from_secs(600)),
                every: args
                    .duration("every")
                    .unwrap_or(Duration::from_secs(10))
                    .max(Duration::from_secs(1)),
            };
            if ctx.mode == Mode::Plan {
                // A dry run looks once: the wait happens after real changes.
                let found = kube
                    .get_object(&r)
                    .await?
                    .filter(|o| crate::cloud::objects::field_text(o, &w.field) == w.equals);
                return planned_read(
                    ctx,
                    format!("{} with {} = {}", r.describe(), w.field, w.equals),
                    found,
                );
            }
            read(Value::from_json(
                &kube.wait_object(&r, &w, ctx.progress).await?,
            ))
        }
        Op::Create => changed(kube.create_object(&args.json("manifest")?, &m).await?),
        Op::Patch | Op::Annotate => {
            let patch = if op == Op::Patch {
                args.json("patch")?
            } else {
                annotations_patch(&args.json("annotations")?)
            };
            let (change, undo) = kube.patch_object(&args.object()?, &patch, &m).await?;
            // `k8s.annotate` hands back the previous value of each key it
            // set (`null` where absent), a map even when none existed.
            let undo = if op == Op::Annotate {
                let before = &undo["metadata"]["annotations"];
                let keys = patch["metadata"]["annotations"].as_object();
                serde_json::Value::Object(
                    keys.into_iter()
                        .flatten()
                        .map(|(k, _)| (k.clone(), before.get(k).cloned().unwrap_or_default()))
                        .collect(),
                )
            } else {
                undo
            };
            Ok(Called {
                value: Value::from_json(&undo),
                change: Some(change),
            })
        }
        Op::Rotate => {
            let cluster = args.text("cluster")?;
            let version = match opt("version")? {
                Some(v) => v,
                None => eks.cluster(&cluster).await?.version,
            };
            let strategy: Strategy = args.text("strategy")?.parse()?;
            let opts = RotateOptions {
                version,
                strategy,
                // 0 is "unset": the playbook's parameter cannot be null.
                max_unavailable: args.int("max_unavailable").filter(|&n| n != 0),
                max_unavailable_percentage: args
                    .int("max_unavailable_percentage")
                    .filter(|&n| n != 0),
                force: args.bool("force"),
                canary: args.int("canary").unwrap_or(0).max(0) as usize,
                drain: drain_options(args, args.duration("drain_timeout"))?,
                release_version: opt("release_version")?,
                boot_timeout: args
                    .duration("boot_timeout")
                    .unwrap_or(Duration::from_secs(30 * 60)),
            };
            let rotator = Rotator { eks, kube };
            changed(
                rotator
                    .rotate(
                        &cluster,
                        &args.text("nodegroup")?,
                        &opts,
                        &m,
                        ctx.canary_gate,
                    )
                    .await?,
            )
        }
        Op::UndoRotation => {
            let rotator = Rotator { eks, kube };
            changed(
                rotator
                    .undo_rotation(
                        &args.text("cluster")?,
                        &args.text("nodegroup")?,
                        &args.text("version")?,
                        &match opt("back_to")? {
                            Some(v) => v,
                            None => crate::cloud::eks::previous_minor(&args.text("version")?)?,
                        },
                        &m,
                    )
                    .await?,
            )
        }
    }
}

/// A read that a dry run may find missing because an earlier planned step
/// creates it: unknown until run time rather than an error.
fn planned_read(
    ctx: &CallCtx<'_>,
    what: String,
    found: Option<serde_json::Value>,
) -> Result<Called, CloudError> {
    match found {
        Some(obj) => read(Value::from_json(&obj)),
        None if ctx.mode == Mode::Plan => read(Value::Unknown(format!(
            "{what} does not exist now; a real run reads it after the changes above"
        ))),
        None => Err(CloudError::NotFound(what)),
    }
}

fn drain_options(args: &CallArgs, timeout: Option<Duration>) -> Result<DrainOptions, CloudError> {
    let mut opts = DrainOptions::default();
    if let Some(t) = timeout {
        opts.timeout = t;
    }
    if let Some(g) = args.duration("grace_period") {
        opts.grace_period = Some(g);
    }
    if let Some(p) = args.int("parallelism") {
        opts.parallelism = p.max(1) as usize;
    }
    opts.delete_emptydir_data = args.bool("delete_emptydir_data");
    if let Some(u) = args.opt_text("unmanaged_pods")? {
        opts.unmanaged = u.parse::<Unmanaged>()?;
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins;

    #[test]
    fn registry_defaults_parse() {
        for b in builtins::all() {
            for p in b.positional.iter().chain(b.keyword) {
                if let Some(d) = p.default {
                    default_value(p.ty, d).unwrap_or_else(|e| panic!("{}: {e}", b.name));
                }
            }
        }
    }

    #[test]
    fn binding_applies_defaults_and_checks_enumerations() {
        let b = builtins::lookup("nodegroup.rotate").unwrap();
        let bound = CallArgs::bind(b, vec![Value::str("c"), Value::str("ng")], vec![]).unwrap();
        assert_eq!(bound.get("strategy"), Some(&Value::str("in_place")));
        assert_eq!(bound.get("force"), Some(&Value::Bool(false)));
        let err = CallArgs::bind(
            b,
            vec![Value::str("c"), Value::str("ng")],
            vec![("strategy".into(), Value::str("inplace"))],
        )
        .unwrap_err();
        assert!(err.contains("in_place"), "{err}");
    }
}
