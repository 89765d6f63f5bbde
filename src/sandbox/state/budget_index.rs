//! Which pods each PodDisruptionBudget selects, kept up to date as pods and
//! budgets come, go and change labels. Budget status is recomputed on every
//! controller pass and on every eviction; scanning the namespace each time
//! meant reading the JSON of every add-on pod in kube-system (three per node)
//! for the two CoreDNS pods its budget selects.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;
use serde_json::Value;

use super::objects::selector_matches;

struct Budget {
    selector: Value,
    pods: BTreeSet<String>,
}

#[derive(Default)]
pub struct BudgetIndex {
    /// namespace → budget name → what it selects.
    by_ns: HashMap<String, BTreeMap<String, Budget>>,
}

impl BudgetIndex {
    /// (Re)index a budget from the pods of its namespace: (name, labels).
    pub fn set_budget<'a>(
        &mut self,
        ns: &str,
        name: &str,
        selector: &Value,
        pods: impl Iterator<Item = (&'a str, &'a Value)>,
    ) {
        let selected = pods
            .filter(|(_, labels)| selector_matches(selector, labels))
            .map(|(pod, _)| pod.to_string())
            .collect();
        self.by_ns.entry(ns.to_string()).or_default().insert(
            name.to_string(),
            Budget {
                selector: selector.clone(),
                pods: selected,
            },
        );
    }

    pub fn remove_budget(&mut self, ns: &str, name: &str) {
        if let Some(budgets) = self.by_ns.get_mut(ns) {
            budgets.remove(name);
            if budgets.is_empty() {
                self.by_ns.remove(ns);
            }
        }
    }

    /// A pod was created or its labels may have changed.
    pub fn pod_labels(&mut self, ns: &str, pod: &str, labels: &Value) {
        let Some(budgets) = self.by_ns.get_mut(ns) else {
            return;
        };
        for b in budgets.values_mut() {
            if selector_matches(&b.selector, labels) {
                if !b.pods.contains(pod) {
                    b.pods.insert(pod.to_string());
                }
            } else {
                b.pods.remove(pod);
            }
        }
    }

    pub fn pod_removed(&mut self, ns: &str, pod: &str) {
        if let Some(budgets) = self.by_ns.get_mut(ns) {
            for b in budgets.values_mut() {
                b.pods.remove(pod);
            }
        }
    }

    /// Names of the pods a budget selects, in order; None if not indexed.
    pub fn selected(&self, ns: &str, name: &str) -> Option<impl Iterator<Item = &str>> {
        let b = self.by_ns.get(ns)?.get(name)?;
        Some(b.pods.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(idx: &BudgetIndex) -> Vec<&str> {
        idx.selected("ns", "pdb").unwrap().collect()
    }

    #[test]
    fn follows_pods_and_label_changes() {
        let mut idx = BudgetIndex::default();
        let web = json!({"app": "web"});
        let db = json!({"app": "db"});
        let pods = [("web-1", &web), ("db-1", &db)];
        idx.set_budget(
            "ns",
            "pdb",
            &json!({"matchLabels": {"app": "web"}}),
            pods.into_iter(),
        );
        assert_eq!(names(&idx), ["web-1"]);
        idx.pod_labels("ns", "web-2", &web);
        idx.pod_labels("other", "web-3", &web);
        assert_eq!(names(&idx), ["web-1", "web-2"]);
        idx.pod_labels("ns", "web-1", &db);
        assert_eq!(names(&idx), ["web-2"]);
        idx.pod_removed("ns", "web-2");
        assert!(names(&idx).is_empty());
        idx.remove_budget("ns", "pdb");
        assert!(idx.selected("ns", "pdb").is_none());
    }
}
