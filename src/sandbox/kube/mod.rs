//! The Kubernetes REST API as kube-rs and kubectl use it: discovery, CRUD,
//! list with selectors and paging, watch, patch, dry-run, eviction, tables.

pub mod custom;
pub mod discovery;
pub mod eviction;
pub mod handlers;
pub mod logs;
pub mod managed;
mod ordered_map;
pub mod patch;
pub mod resources;
pub mod selectors;
pub mod status;
pub mod store;
pub mod table;
pub mod watch;

use std::collections::HashMap;

/// One Kubernetes request, already split up.
pub struct KubeRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: HashMap<String, String>,
    pub accept: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
    /// host:port the client used (for /api's serverAddressByClientCIDRs).
    pub host: &'a str,
    /// The client's User-Agent (a write's default field manager).
    pub user_agent: &'a str,
}

impl KubeRequest<'_> {
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    pub fn is_watch(&self) -> bool {
        self.query
            .get("watch")
            .is_some_and(|v| v == "true" || v == "1")
    }
}
