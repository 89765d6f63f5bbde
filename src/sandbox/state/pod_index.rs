//! What the controllers need to know about every pod, kept beside the store
//! so they never walk pod JSON: owner and readiness by pod, pods by owner,
//! and per-owner (live, ready) counts maintained on every change instead of
//! recounted on every controller pass.

use std::collections::BTreeSet;

use foldhash::HashMap;

/// A pod by (namespace, name).
pub type PodKey = (String, String);

/// What the controllers need to know about a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodMeta {
    pub uid: String,
    pub owner: Option<String>,
    pub ready: bool,
    pub terminating: bool,
}

impl PodMeta {
    /// This pod's contribution to its owner's (live, ready) counts.
    fn counted(&self) -> (u64, u64) {
        if self.terminating {
            (0, 0)
        } else {
            (1, self.ready as u64)
        }
    }
}

#[derive(Debug, Default)]
pub struct PodIndex {
    meta: HashMap<PodKey, PodMeta>,
    by_owner: HashMap<String, BTreeSet<PodKey>>,
    /// Live (not terminating) and ready pods per owner uid.
    counts: HashMap<String, (u64, u64)>,
}

impl PodIndex {
    /// Record (or refresh) a pod.
    pub fn set(&mut self, key: PodKey, meta: PodMeta) {
        let old = self.meta.get(&key);
        if old == Some(&meta) {
            return;
        }
        if let Some(old) = old.filter(|o| o.owner == meta.owner) {
            // Same owner (a readiness or termination change): only the
            // counts move.
            let (live, ready) = old.counted();
            if let Some(o) = &meta.owner
                && let Some(c) = self.counts.get_mut(o)
            {
                let (new_live, new_ready) = meta.counted();
                c.0 = c.0 - live + new_live;
                c.1 = c.1 - ready + new_ready;
            }
            self.meta.insert(key, meta);
            return;
        }
        if let Some(old) = old.cloned() {
            self.forget(&key, &old);
        }
        if let Some(o) = &meta.owner {
            let (live, ready) = meta.counted();
            let c = self.counts.entry(o.clone()).or_default();
            c.0 += live;
            c.1 += ready;
            self.by_owner
                .entry(o.clone())
                .or_default()
                .insert(key.clone());
        }
        self.meta.insert(key, meta);
    }

    /// Forget a deleted pod.
    pub fn remove(&mut self, ns: &str, name: &str) {
        let key = (ns.to_string(), name.to_string());
        if let Some(old) = self.meta.remove(&key) {
            self.forget(&key, &old);
        }
    }

    /// Set a pod's readiness; whether that changed it.
    pub fn set_ready(&mut self, ns: &str, name: &str, ready: bool) -> bool {
        let Some(m) = self.meta.get_mut(&(ns.to_string(), name.to_string())) else {
            return false;
        };
        if m.ready == ready {
            return false;
        }
        m.ready = ready;
        if !m.terminating
            && let Some(o) = &m.owner
            && let Some(c) = self.counts.get_mut(o)
        {
            if ready {
                c.1 += 1;
            } else {
                c.1 -= 1;
            }
        }
        true
    }

    /// Mark a pod as being deleted: it stops counting for its owner.
    pub fn set_terminating(&mut self, ns: &str, name: &str) {
        let Some(m) = self.meta.get_mut(&(ns.to_string(), name.to_string())) else {
            return;
        };
        if std::mem::replace(&mut m.terminating, true) {
            return;
        }
        if let Some(o) = &m.owner
            && let Some(c) = self.counts.get_mut(o)
        {
            c.0 -= 1;
            c.1 -= m.ready as u64;
        }
    }

    /// Undo `old`'s contribution to its owner's entries.
    fn forget(&mut self, key: &PodKey, old: &PodMeta) {
        let Some(o) = &old.owner else {
            return;
        };
        let (live, ready) = old.counted();
        if let Some(c) = self.counts.get_mut(o) {
            c.0 -= live;
            c.1 -= ready;
        }
        if let Some(set) = self.by_owner.get_mut(o) {
            set.remove(key);
            if set.is_empty() {
                self.by_owner.remove(o);
                self.counts.remove(o);
            }
        }
    }

    /// What is indexed about a pod.
    pub fn meta(&self, key: &PodKey) -> Option<&PodMeta> {
        self.meta.get(key)
    }

    /// Pods whose controller is `owner_uid`, in (namespace, name) order.
    pub fn owned(&self, owner_uid: &str) -> impl Iterator<Item = &PodKey> {
        self.by_owner.get(owner_uid).into_iter().flatten()
    }

    /// Pods of a controller, terminating ones included.
    pub fn owned_count(&self, owner_uid: &str) -> usize {
        self.by_owner.get(owner_uid).map_or(0, BTreeSet::len)
    }

    /// (live, ready) pods of a controller.
    pub fn counts(&self, owner_uid: &str) -> (u64, u64) {
        self.counts.get(owner_uid).copied().unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> PodKey {
        ("ns".to_string(), name.to_string())
    }

    fn meta(owner: &str, ready: bool, terminating: bool) -> PodMeta {
        PodMeta {
            uid: String::new(),
            owner: Some(owner.to_string()),
            ready,
            terminating,
        }
    }

    /// Counts recomputed from scratch, as the controllers once did.
    fn recount(ix: &PodIndex, owner: &str) -> (u64, u64) {
        ix.owned(owner)
            .filter_map(|k| ix.meta.get(k))
            .filter(|m| !m.terminating)
            .fold((0, 0), |c, m| (c.0 + 1, c.1 + m.ready as u64))
    }

    #[test]
    fn counts_follow_readiness_termination_and_delete() {
        let mut ix = PodIndex::default();
        ix.set(key("a"), meta("rs", false, false));
        ix.set(key("b"), meta("rs", true, false));
        assert_eq!(ix.counts("rs"), (2, 1));
        ix.set_ready("ns", "a", true);
        assert_eq!(ix.counts("rs"), (2, 2));
        ix.set_terminating("ns", "b");
        assert_eq!(ix.counts("rs"), (1, 1));
        ix.set_terminating("ns", "b");
        assert_eq!(ix.counts("rs"), (1, 1), "only the first mark counts");
        ix.set(key("b"), meta("rs", true, true));
        assert_eq!(ix.counts("rs"), (1, 1));
        assert_eq!(ix.owned("rs").count(), 2, "terminating pods stay owned");
        ix.remove("ns", "b");
        assert_eq!(ix.counts("rs"), (1, 1));
        assert_eq!(ix.counts("rs"), recount(&ix, "rs"));
        ix.remove("ns", "a");
        assert_eq!(ix.counts("rs"), (0, 0));
        assert_eq!(ix.owned("rs").count(), 0);
        assert!(!ix.meta.contains_key(&key("a")));
    }

    #[test]
    fn owner_change_moves_the_pod_between_owners() {
        let mut ix = PodIndex::default();
        ix.set(key("a"), meta("one", true, false));
        ix.set(key("a"), meta("two", true, false));
        assert_eq!(ix.counts("one"), (0, 0));
        assert_eq!(ix.owned("one").count(), 0);
        assert_eq!(ix.counts("two"), (1, 1));
        assert_eq!(ix.owned("two").collect::<Vec<_>>(), vec![&key("a")]);
        ix.set(key("a"), PodMeta::default());
        assert_eq!(ix.counts("two"), (0, 0));
        assert!(
            ix.meta.contains_key(&key("a")),
            "ownerless pods are still known"
        );
    }

    #[test]
    fn counts_match_a_recount_after_mixed_changes() {
        let mut ix = PodIndex::default();
        for i in 0..50u32 {
            let owner = if i % 3 == 0 { "x" } else { "y" };
            ix.set(key(&format!("p{i}")), meta(owner, i % 2 == 0, i % 7 == 0));
        }
        for i in (0..50u32).step_by(4) {
            ix.remove("ns", &format!("p{i}"));
        }
        for i in (1..50u32).step_by(5) {
            ix.set_ready("ns", &format!("p{i}"), true);
        }
        ix.set_ready("ns", "missing", true);
        for owner in ["x", "y"] {
            assert_eq!(ix.counts(owner), recount(&ix, owner), "owner {owner}");
        }
    }
}
