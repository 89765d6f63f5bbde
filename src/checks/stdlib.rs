//! The stdlib checks, embedded in the binary (and on disk in
//! `stdlib/checks/`), declared by these names in `stdlib/checks.upg`.

/// One embedded check: its name and rhai source.
#[derive(Clone, Copy, Debug)]
pub struct StdlibCheck {
    pub name: &'static str,
    /// What diagnostics call the file: `<stdlib>/checks/NAME.rhai`.
    pub path: &'static str,
    pub source: &'static str,
}

macro_rules! stdlib {
    ($($name:literal),* $(,)?) => {
        &[$(StdlibCheck {
            name: $name,
            path: concat!("<stdlib>/checks/", $name, ".rhai"),
            source: include_str!(concat!("../../stdlib/checks/", $name, ".rhai")),
        }),*]
    };
}

pub const STDLIB: &[StdlibCheck] = stdlib![
    "no_docker_hub_images",
    "no_latest_tags",
    "pdbs_allow_eviction",
    "addons_compatible",
    "version_skew",
    "no_deprecated_apis",
    "nothing_terminating",
    "kube_system_ready",
    "replicated_deployments",
    "third_party_compatible",
];

pub fn stdlib_check(name: &str) -> Option<&'static StdlibCheck> {
    STDLIB.iter().find(|c| c.name == name)
}
