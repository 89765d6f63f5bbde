//! Variable scopes: parameters at the bottom, one scope per block.

use std::collections::HashMap;

use super::value::Value;

#[derive(Clone, Debug, Default)]
pub struct Env {
    scopes: Vec<HashMap<String, Value>>,
    /// Evaluated for a result that is journalled as a whole (a gate, the
    /// preconditions, an `await`) or not at all (a `during` watch): the reads
    /// inside are not journalled one by one.
    unrecorded: bool,
}

impl Env {
    pub fn new(base: HashMap<String, Value>) -> Self {
        Env {
            scopes: vec![base],
            unrecorded: false,
        }
    }

    /// Whether reads in this environment are journalled (and replayed).
    pub fn recorded(&self) -> bool {
        !self.unrecorded
    }

    /// A copy whose reads are not journalled one by one.
    pub fn unrecorded(&self) -> Env {
        Env {
            unrecorded: true,
            ..self.clone()
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    pub fn set(&mut self, name: &str, value: Value) {
        if self.scopes.is_empty() {
            self.scopes.push(HashMap::new());
        }
        if let Some(top) = self.scopes.last_mut() {
            top.insert(name.to_string(), value);
        }
    }

    pub fn push(&mut self) {
        self.scopes.push(HashMap::new());
    }

    pub fn pop(&mut self) {
        if self.scopes.len() > 1 {
            self.scopes.pop();
        }
    }

    /// Only the bottom scope (the runbook's parameters), with this one's
    /// journalling: where a template's statements run.
    pub fn base(&self) -> Env {
        Env {
            scopes: self.scopes.first().cloned().into_iter().collect(),
            unrecorded: self.unrecorded,
        }
    }

    /// Every variable above the bottom scope (the parameters), the
    /// innermost binding of each name: what a step's rollback block may read
    /// besides the parameters, journalled for `runbook rollback`.
    pub fn locals(&self) -> Vec<(&str, &Value)> {
        let mut out: Vec<(&str, &Value)> = Vec::new();
        for scope in self.scopes.iter().skip(1).rev() {
            let mut names: Vec<&String> = scope.keys().collect();
            names.sort();
            for name in names {
                if !out.iter().any(|(n, _)| *n == name.as_str()) {
                    out.push((name, &scope[name]));
                }
            }
        }
        out
    }

    /// A copy with one extra scope binding `name` (lambdas).
    pub fn with(&self, name: &str, value: Value) -> Env {
        let mut e = self.clone();
        e.push();
        e.set(name, value);
        e
    }
}
