//! Custom resources the sandbox serves beside the built-in kinds, with the
//! controllers that move their status: Velero's `Backup` (velero.io/v1).
//!
//! A new Backup is validated a moment after it is created (every namespace
//! in `spec.includedNamespaces` must exist, else `FailedValidation`, as
//! Velero does), then runs `InProgress` for `BACKUP_MS` of simulated time
//! and ends `Completed` with the item count it saw.

use serde_json::{Value, json};

use super::resources::ResourceDef;
use super::store::meta_str;
use crate::sandbox::state::{Timer, World};

pub static RESOURCES: &[ResourceDef] = &[ResourceDef {
    plural: "backups",
    singular: "backup",
    kind: "Backup",
    group: "velero.io",
    version: "v1",
    namespaced: true,
    short_names: &[],
    categories: &["velero"],
}];

/// How long a backup runs once validated.
pub const BACKUP_MS: u64 = 3 * 60_000;

/// After the API stored a new object: start its controller.
pub fn created(world: &mut World, plural: &str, obj: &Value) {
    if plural == "backups" {
        let key = format!(
            "backups/{}/{}",
            meta_str(obj, "namespace"),
            meta_str(obj, "name")
        );
        world.schedule(world.now_ms, Timer::Custom(key));
    }
}

/// A custom-resource timer is due.
pub fn tick(world: &mut World, key: &str) {
    let mut parts = key.splitn(3, '/');
    let (Some("backups"), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Some(backup) = world.kube.untyped("backups", ns, name).cloned() else {
        return;
    };
    let now = world.now_ts();
    let status = match backup["status"]["phase"].as_str().unwrap_or("New") {
        "New" => {
            let missing: Vec<String> = included(&backup)
                .into_iter()
                .filter(|n| n != "*" && !world.kube.contains("namespaces", "", n))
                .collect();
            if missing.is_empty() {
                world.schedule(world.now_ms + BACKUP_MS, Timer::Custom(key.to_string()));
                json!({"phase": "InProgress", "startTimestamp": now, "version": 1})
            } else {
                json!({
                    "phase": "FailedValidation",
                    "validationErrors": missing
                        .iter()
                        .map(|n| format!("Invalid included/excluded namespace lists: namespace {n} not found"))
                        .collect::<Vec<_>>(),
                    "version": 1,
                })
            }
        }
        "InProgress" => {
            let items = items_in(world, &included(&backup));
            let mut st = backup["status"].clone();
            st["phase"] = json!("Completed");
            st["completionTimestamp"] = json!(now);
            st["progress"] = json!({"totalItems": items, "itemsBackedUp": items});
            st
        }
        _ => return,
    };
    world.kube.modify("backups", ns, name, |o| {
        o["status"] = status;
        true
    });
}

/// `spec.includedNamespaces`; absent or empty means every namespace.
fn included(backup: &Value) -> Vec<String> {
    let names: Vec<String> = backup["spec"]["includedNamespaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        vec!["*".into()]
    } else {
        names
    }
}

/// Objects a backup of these namespaces would hold.
fn items_in(world: &World, namespaces: &[String]) -> u64 {
    let all = namespaces.iter().any(|n| n == "*");
    [
        "pods",
        "deployments",
        "statefulsets",
        "services",
        "configmaps",
        "persistentvolumeclaims",
    ]
    .iter()
    .map(|r| {
        world
            .kube
            .records(r, None)
            .filter(|((ns, _), _)| all || namespaces.iter().any(|n| n == ns))
            .count() as u64
    })
    .sum()
}
