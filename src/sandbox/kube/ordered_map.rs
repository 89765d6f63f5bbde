//! A string-keyed map with hashed lookups that iterates in key order. The
//! simulation looks objects up by name far more often than it lists them,
//! and a B-tree lookup over 30,000 cold pod names costs a cache miss per
//! key compared.

use std::collections::BTreeSet;

use foldhash::HashMap;

#[derive(Debug)]
pub struct OrderedMap<V> {
    values: HashMap<String, V>,
    order: BTreeSet<String>,
}

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap {
            values: HashMap::default(),
            order: BTreeSet::new(),
        }
    }
}

impl<V> OrderedMap<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.values.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.values.get_mut(key)
    }

    /// Insert or replace; returns the stored value.
    pub fn insert(&mut self, key: String, value: V) -> &mut V {
        use std::collections::hash_map::Entry;
        match self.values.entry(key) {
            Entry::Occupied(mut e) => {
                e.insert(value);
                e.into_mut()
            }
            Entry::Vacant(e) => {
                self.order.insert(e.key().clone());
                e.insert(value)
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let v = self.values.remove(key)?;
        self.order.remove(key);
        Some(v)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.order
            .iter()
            .filter_map(|k| self.values.get(k).map(|v| (k.as_str(), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_in_key_order_and_stays_consistent_after_removes() {
        let mut m = OrderedMap::default();
        for k in ["b", "d", "a", "c"] {
            m.insert(k.to_string(), k.to_uppercase());
        }
        *m.insert("b".to_string(), "B2".to_string()) += "!";
        assert_eq!(m.get("b").map(String::as_str), Some("B2!"));
        assert_eq!(m.len(), 4, "replacing keeps one entry");
        assert_eq!(m.remove("d").as_deref(), Some("D"));
        assert_eq!(m.remove("d"), None);
        m.get_mut("a").expect("present").push('?');
        let seen: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k, v.as_str())).collect();
        assert_eq!(seen, vec![("a", "A?"), ("b", "B2!"), ("c", "C")]);
        for k in ["a", "b", "c"] {
            m.remove(k);
        }
        assert!(m.is_empty());
        assert_eq!(m.iter().count(), 0);
    }
}
