//! What a built-in action or query is: its signature and its effect.

use super::types::Type;

/// One parameter of a built-in (positional or keyword).
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub ty: Type,
    pub required: bool,
    /// The default as written in the language, shown in docs and dry-run.
    pub default: Option<&'static str>,
    /// For enumerated string parameters: the only accepted values.
    pub allowed: &'static [&'static str],
    /// For int and duration parameters: the accepted values, inclusive
    /// (durations in seconds). Checked statically for literals and a
    /// parameter's default and environments, and for `--set` values before
    /// any client is built.
    pub range: Option<(i64, i64)>,
    pub doc: &'static str,
}

impl Param {
    /// The same parameter, accepting only `lo..=hi`.
    pub(crate) const fn within(mut self, lo: i64, hi: i64) -> Param {
        self.range = Some((lo, hi));
        self
    }

    /// `1 to 100`, or `0s to 7d` for a duration.
    pub fn range_text(&self) -> Option<String> {
        let (lo, hi) = self.range?;
        Some(match self.ty {
            Type::Duration => format!(
                "{} to {}",
                crate::syntax::format_duration(std::time::Duration::from_secs(lo.max(0) as u64)),
                crate::syntax::format_duration(std::time::Duration::from_secs(hi.max(0) as u64))
            ),
            _ => format!("{lo} to {hi}"),
        })
    }
}

macro_rules! ops {
    ($($op:ident),* $(,)?) => {
        /// Which implementation a registry entry runs (see `Builtin::op`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op { $($op,)* }

        impl Op {
            pub const ALL: &'static [Op] = &[$(Op::$op,)*];
        }
    };
}

ops! {
    Cluster, UpdateClusterVersion, Nodegroups, Nodegroup, UpdateNodegroupVersion, UpdateNodegroupConfig, CreateNodegroup, DeleteNodegroup, Addons, Addon, UpdateAddon, DefaultAddonVersion, AddonVersions, VersionPath, Insights, ForeignUpdates, Nodes, Pods, Deployments, Daemonsets, Statefulsets, Pdbs, Cordon, Uncordon, Drain, DeletePod, Scale, Get, Create, Patch, Annotate, Wait, Rotate, UndoRotation,
}

/// What calling a built-in does to the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Only reads: allowed in preconditions, gates and `when`.
    Read,
    /// Changes the cluster. `reversible`: a rollback block can undo it (e.g.
    /// by applying the previous version). `irreversible`: nothing can undo it
    /// (a deleted nodegroup), so the step must say so. `limit`: how far the
    /// undo reaches when EKS bounds it; a rollback stops after undoing such
    /// a change, since what came before it can no longer be undone.
    Mutate {
        reversible: bool,
        irreversible: bool,
        limit: Option<&'static str>,
    },
}

#[derive(Debug)]
pub struct Builtin {
    /// Dotted name as called, e.g. `eks.update_addon`.
    pub name: &'static str,
    /// Its implementation: the interpreter matches on `Op` exhaustively, so
    /// an operation without an implementation does not compile.
    pub op: Op,
    pub doc: &'static str,
    pub positional: &'static [Param],
    pub keyword: &'static [Param],
    pub returns: Type,
    pub effect: Effect,
}

impl Builtin {
    pub fn is_mutating(&self) -> bool {
        matches!(self.effect, Effect::Mutate { .. })
    }

    pub fn is_irreversible(&self) -> bool {
        matches!(
            self.effect,
            Effect::Mutate {
                irreversible: true,
                ..
            }
        )
    }

    /// How far EKS lets this action be undone, when it bounds it.
    pub fn undo_limit(&self) -> Option<&'static str> {
        match self.effect {
            Effect::Mutate { limit, .. } => limit,
            Effect::Read => None,
        }
    }

    pub fn keyword(&self, name: &str) -> Option<&'static Param> {
        let kw: &'static [Param] = self.keyword;
        kw.iter().find(|p| p.name == name)
    }

    /// `eks.update_addon(cluster: string, addon: string, version: string, ...)`.
    pub fn signature(&self) -> String {
        let mut parts: Vec<String> = self
            .positional
            .iter()
            .map(|p| format!("{}: {}", p.name, p.ty))
            .collect();
        for p in self.keyword {
            let mut s = format!("{}: {}", p.name, p.ty);
            if let Some(d) = p.default {
                s.push_str(&format!(" = {d}"));
            } else if !p.required {
                s.push('?');
            }
            parts.push(s);
        }
        let ret = match self.returns {
            Type::Unit => String::new(),
            t => format!(" -> {t}"),
        };
        format!("{}({}){ret}", self.name, parts.join(", "))
    }
}

/// A required positional parameter.
pub(crate) const fn pos(name: &'static str, ty: Type, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        required: true,
        default: None,
        allowed: &[],
        range: None,
        doc,
    }
}

/// An optional keyword parameter without default (absent means "not set").
pub(crate) const fn opt(name: &'static str, ty: Type, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        required: false,
        default: None,
        allowed: &[],
        range: None,
        doc,
    }
}

/// A keyword parameter that must be given.
pub(crate) const fn req(name: &'static str, ty: Type, doc: &'static str) -> Param {
    pos(name, ty, doc)
}

/// A keyword parameter with a default.
pub(crate) const fn def(
    name: &'static str,
    ty: Type,
    default: &'static str,
    doc: &'static str,
) -> Param {
    Param {
        name,
        ty,
        required: false,
        default: Some(default),
        allowed: &[],
        range: None,
        doc,
    }
}

/// A string keyword parameter limited to `allowed`, with a default.
pub(crate) const fn one_of(
    name: &'static str,
    allowed: &'static [&'static str],
    default: Option<&'static str>,
    doc: &'static str,
) -> Param {
    Param {
        name,
        ty: Type::String,
        required: false,
        default,
        allowed,
        range: None,
        doc,
    }
}

/// Range bounds shared by the registry: seconds in a day and a week, and the
/// EKS limit of nodes in one managed nodegroup.
pub(crate) const DAY: i64 = 86_400;
pub(crate) const WEEK: i64 = 7 * DAY;
pub(crate) const MAX_NODES: i64 = 450;

pub(crate) const READ: Effect = Effect::Read;
pub(crate) const REVERSIBLE: Effect = Effect::Mutate {
    reversible: true,
    irreversible: false,
    limit: None,
};
/// A control-plane version change: EKS rolls it back one minor, once,
/// within 7 days of the in-place upgrade (UpdateClusterVersion to N-1, a
/// `VersionRollback`). An earlier hop of the same run cannot be undone.
pub(crate) const UNDOABLE_ONE_MINOR: Effect = Effect::Mutate {
    reversible: true,
    irreversible: false,
    limit: Some(
        "EKS rolls the control plane back one minor, once, within 7 days of the in-place upgrade; an earlier hop of the same run cannot be undone",
    ),
};
/// Changes the cluster with nothing for a rollback to undo: a controller
/// recreates a deleted managed pod; a created object is deleted by hand.
pub(crate) const ONE_WAY: Effect = Effect::Mutate {
    reversible: false,
    irreversible: false,
    limit: None,
};
pub(crate) const IRREVERSIBLE: Effect = Effect::Mutate {
    reversible: false,
    irreversible: true,
    limit: None,
};
