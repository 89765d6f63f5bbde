//! The add-on catalog: which versions of each EKS add-on exist, which cluster
//! minors each supports, and the default per minor, as DescribeAddonVersions
//! publishes them; and the EKS optimized AMI release versions per minor. The
//! built-in table uses real version strings from the EKS user guide (sources
//! in docs/sandbox.md); fixtures may add or override add-on entries.

use indexmap::IndexMap;

/// One published version of an add-on.
#[derive(Clone, Debug, PartialEq)]
pub struct AddonVersion {
    pub version: String,
    /// Cluster (and kubelet) minors this version supports, e.g. "1.29".
    pub compatible: Vec<String>,
    /// Minors for which this is the version EKS installs by default.
    pub default_for: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// addon name -> versions, newest first.
    pub addons: IndexMap<String, Vec<AddonVersion>>,
}

/// Kubernetes patch release and AMI release date per minor, for node
/// `kubeletVersion` and nodegroup `releaseVersion` strings.
pub fn k8s_patch(minor: &str) -> &'static str {
    match minor {
        "1.24" => "1.24.17",
        "1.25" => "1.25.16",
        "1.26" => "1.26.15",
        "1.27" => "1.27.16",
        "1.28" => "1.28.15",
        "1.29" => "1.29.15",
        "1.30" => "1.30.14",
        "1.31" => "1.31.13",
        "1.32" => "1.32.9",
        "1.33" => "1.33.5",
        _ => "1.0.0",
    }
}

/// EKS optimized AMI release dates the sandbox publishes for every minor,
/// oldest first; the last is the latest, used when none is requested.
const AMI_RELEASE_DATES: [&str; 3] = ["20250715", "20250820", "20250920"];

/// The AMI release versions (`<kubelet patch>-<date>`) published for a minor.
pub fn release_versions(minor: &str) -> Vec<String> {
    if !SUPPORTED_MINORS.contains(&minor) {
        return Vec::new();
    }
    AMI_RELEASE_DATES
        .iter()
        .map(|d| format!("{}-{d}", k8s_patch(minor)))
        .collect()
}

/// The release version a nodegroup gets when none is requested: the latest.
pub fn default_release_version(minor: &str) -> String {
    format!(
        "{}-{}",
        k8s_patch(minor),
        AMI_RELEASE_DATES[AMI_RELEASE_DATES.len() - 1]
    )
}

pub const SUPPORTED_MINORS: [&str; 10] = [
    "1.24", "1.25", "1.26", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33",
];

/// The supported minor before `minor`, if any.
pub fn previous_minor(minor: &str) -> Option<String> {
    let i = SUPPORTED_MINORS.iter().position(|m| *m == minor)?;
    i.checked_sub(1).map(|j| SUPPORTED_MINORS[j].to_string())
}

/// The supported minor after `minor`, if any.
pub fn next_minor(minor: &str) -> Option<String> {
    let i = SUPPORTED_MINORS.iter().position(|m| *m == minor)?;
    SUPPORTED_MINORS.get(i + 1).map(|m| m.to_string())
}

/// The minor number of "1.29" (or of a "v1.29.15-eksbuild.16" build).
pub fn minor_number(version: &str) -> Option<i64> {
    version
        .trim_start_matches('v')
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}

fn range(from: &str, to: &str) -> Vec<String> {
    let lo = SUPPORTED_MINORS
        .iter()
        .position(|m| *m == from)
        .unwrap_or(0);
    let hi = SUPPORTED_MINORS
        .iter()
        .position(|m| *m == to)
        .unwrap_or(SUPPORTED_MINORS.len() - 1);
    SUPPORTED_MINORS[lo..=hi]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn v(version: &str, compatible: Vec<String>, default_for: &[&str]) -> AddonVersion {
    AddonVersion {
        version: version.to_string(),
        compatible,
        default_for: default_for.iter().map(|s| s.to_string()).collect(),
    }
}

impl Catalog {
    /// The built-in catalog for vpc-cni, kube-proxy, coredns and
    /// aws-ebs-csi-driver across 1.24..=1.33.
    pub fn builtin() -> Catalog {
        let mut addons = IndexMap::new();
        addons.insert(
            "vpc-cni".to_string(),
            vec![
                v(
                    "v1.20.1-eksbuild.3",
                    range("1.27", "1.33"),
                    &["1.31", "1.32", "1.33"],
                ),
                v(
                    "v1.19.2-eksbuild.1",
                    range("1.25", "1.32"),
                    &["1.28", "1.29", "1.30"],
                ),
                v("v1.18.3-eksbuild.2", range("1.25", "1.30"), &["1.27"]),
                v("v1.16.4-eksbuild.2", range("1.25", "1.29"), &["1.26"]),
                v("v1.15.4-eksbuild.1", range("1.24", "1.28"), &["1.25"]),
                v("v1.12.6-eksbuild.2", range("1.24", "1.27"), &["1.24"]),
            ],
        );
        // kube-proxy is built per minor and DescribeAddonVersions lists each
        // build for its own cluster minor only. Which kubelets it can serve
        // is the version-skew policy's business (`sim::skew`), not the
        // catalog's.
        let kp = [
            ("1.33", "v1.33.3-eksbuild.6"),
            ("1.32", "v1.32.6-eksbuild.8"),
            ("1.31", "v1.31.10-eksbuild.8"),
            ("1.30", "v1.30.14-eksbuild.8"),
            ("1.29", "v1.29.15-eksbuild.16"),
            ("1.28", "v1.28.15-eksbuild.31"),
            ("1.27", "v1.27.16-eksbuild.41"),
            ("1.26", "v1.26.15-eksbuild.19"),
            ("1.25", "v1.25.16-eksbuild.8"),
            ("1.24", "v1.24.17-eksbuild.8"),
        ];
        let mut proxies: Vec<AddonVersion> = kp
            .iter()
            .map(|(minor, version)| v(version, vec![minor.to_string()], &[minor]))
            .collect();
        // Older builds of the 1.28 and 1.29 lines, as fixtures often pin them.
        proxies.push(v("v1.29.3-eksbuild.5", vec!["1.29".into()], &[]));
        proxies.push(v("v1.28.8-eksbuild.5", vec!["1.28".into()], &[]));
        addons.insert("kube-proxy".to_string(), proxies);
        addons.insert(
            "coredns".to_string(),
            vec![
                v("v1.12.1-eksbuild.2", range("1.33", "1.33"), &["1.33"]),
                v(
                    "v1.11.4-eksbuild.2",
                    range("1.29", "1.32"),
                    &["1.29", "1.30", "1.31", "1.32"],
                ),
                v("v1.11.1-eksbuild.9", range("1.29", "1.31"), &[]),
                v(
                    "v1.10.1-eksbuild.17",
                    range("1.26", "1.29"),
                    &["1.27", "1.28"],
                ),
                v(
                    "v1.9.3-eksbuild.22",
                    range("1.24", "1.27"),
                    &["1.24", "1.25", "1.26"],
                ),
            ],
        );
        addons.insert(
            "aws-ebs-csi-driver".to_string(),
            vec![
                v(
                    "v1.48.0-eksbuild.2",
                    range("1.28", "1.33"),
                    &["1.31", "1.32", "1.33"],
                ),
                v(
                    "v1.37.0-eksbuild.1",
                    range("1.25", "1.31"),
                    &["1.28", "1.29", "1.30"],
                ),
                v(
                    "v1.30.0-eksbuild.1",
                    range("1.24", "1.30"),
                    &["1.26", "1.27"],
                ),
                v(
                    "v1.25.0-eksbuild.1",
                    range("1.24", "1.28"),
                    &["1.24", "1.25"],
                ),
            ],
        );
        Catalog { addons }
    }

    pub fn find(&self, addon: &str, version: &str) -> Option<&AddonVersion> {
        self.addons
            .get(addon)?
            .iter()
            .find(|v| v.version == version)
    }

    /// Add or replace an entry (fixtures override the built-in table).
    pub fn upsert(&mut self, addon: &str, entry: AddonVersion) {
        let list = self.addons.entry(addon.to_string()).or_default();
        match list.iter_mut().find(|v| v.version == entry.version) {
            Some(slot) => *slot = entry,
            None => list.insert(0, entry),
        }
    }

    /// Whether a kubelet/cluster minor is supported by an installed version.
    pub fn supports(&self, addon: &str, version: &str, minor: &str) -> bool {
        self.find(addon, version)
            .is_some_and(|v| v.compatible.iter().any(|m| m == minor))
    }

    pub fn default_version(&self, addon: &str, minor: &str) -> Option<&str> {
        self.addons
            .get(addon)?
            .iter()
            .find(|v| v.default_for.iter().any(|m| m == minor))
            .map(|v| v.version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_addon_has_a_default_for_every_minor() {
        let c = Catalog::builtin();
        for addon in ["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"] {
            for minor in SUPPORTED_MINORS {
                let d = c
                    .default_version(addon, minor)
                    .unwrap_or_else(|| panic!("{addon} has no default for {minor}"));
                assert!(c.supports(addon, d, minor), "{addon} {d} vs {minor}");
            }
        }
    }

    #[test]
    fn kube_proxy_builds_are_listed_for_their_own_minor_only() {
        let c = Catalog::builtin();
        for v in &c.addons["kube-proxy"] {
            let minor = v.version.trim_start_matches('v');
            let minor: String = minor.split('.').take(2).collect::<Vec<_>>().join(".");
            assert_eq!(v.compatible, [minor], "{}", v.version);
        }
        assert!(!c.supports("kube-proxy", "v1.30.14-eksbuild.8", "1.29"));
        assert!(!c.supports("kube-proxy", "v1.28.15-eksbuild.31", "1.29"));
    }

    #[test]
    fn release_versions_belong_to_their_minor_and_end_with_the_default() {
        for minor in SUPPORTED_MINORS {
            let rs = release_versions(minor);
            assert_eq!(rs.last(), Some(&default_release_version(minor)));
            assert!(
                rs.iter().all(|r| r.starts_with(&format!("{minor}."))),
                "{rs:?}"
            );
        }
        assert!(release_versions("1.99").is_empty());
    }
}
