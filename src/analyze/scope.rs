//! Lexical scopes: which variables are visible and with what type. A map of
//! name → stack of bindings plus an undo log per frame keeps lookups O(1) even
//! for runbooks with thousands of `let`s.

use std::collections::HashMap;

use crate::builtins::Type;

#[derive(Default)]
pub struct Scopes {
    names: HashMap<String, Vec<Type>>,
    frames: Vec<Vec<String>>,
}

impl Scopes {
    pub fn new() -> Self {
        Scopes {
            names: HashMap::new(),
            frames: vec![Vec::new()],
        }
    }

    pub fn push(&mut self) {
        self.frames.push(Vec::new());
    }

    pub fn pop(&mut self) {
        if let Some(frame) = self.frames.pop() {
            for name in frame {
                if let Some(stack) = self.names.get_mut(&name) {
                    stack.pop();
                }
            }
        }
    }

    pub fn bind(&mut self, name: &str, ty: Type) {
        self.names.entry(name.to_string()).or_default().push(ty);
        if let Some(frame) = self.frames.last_mut() {
            frame.push(name.to_string());
        }
    }

    pub fn get(&self, name: &str) -> Option<Type> {
        self.names.get(name).and_then(|s| s.last().copied())
    }

    /// Names currently visible, for did-you-mean.
    pub fn visible(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(n, _)| n.as_str())
    }

    /// How many bindings of `name` are visible (1: not shadowed).
    pub fn depth(&self, name: &str) -> usize {
        self.names.get(name).map_or(0, Vec::len)
    }
}
