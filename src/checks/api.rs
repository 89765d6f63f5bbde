//! Helper functions every check can call: versions, image references,
//! durations, label selectors and the `pass`/`fail` result constructors.
//! Pure Rust functions first (unit-tested directly), then their registration
//! into one shared rhai module built once per process.

use std::cmp::Ordering;
use std::sync::OnceLock;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, Shared};

type Res<T> = Result<T, Box<EvalAltResult>>;

/// Numeric components of a Kubernetes/EKS version: `v1.29.3-eks-1234`,
/// `1.29`, `v1.29.0-eksbuild.1` → [1, 29, 3] / [1, 29] / [1, 29, 0].
pub fn version_parts(v: &str) -> Option<Vec<u64>> {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let core = v.split(['-', '+']).next()?;
    let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

/// Compare two versions component by component; a missing component is 0, so
/// `1.29` equals `v1.29.0-eksbuild.1`.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (version_parts(a)?, version_parts(b)?);
    let n = a.len().max(b.len());
    let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    Some(
        (0..n)
            .map(|i| get(&a, i).cmp(&get(&b, i)))
            .fold(Ordering::Equal, Ordering::then),
    )
}

/// A parsed container image reference with Docker's defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    /// `latest` when neither tag nor digest is given; empty when only a digest is.
    pub tag: String,
    pub digest: String,
}

pub fn parse_image_ref(reference: &str) -> Option<ImageRef> {
    let reference = reference.trim();
    if reference.is_empty() || reference.contains(char::is_whitespace) {
        return None;
    }
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => (reference, String::new()),
    };
    // A tag is a `:` after the last `/`; an earlier `:` is a registry port.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (
            &name[..last_slash + i],
            name[last_slash + i + 1..].to_string(),
        ),
        None => (name, String::new()),
    };
    // The first component names a registry only if it looks like a host.
    let (registry, repository) = match path.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), path.to_string()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => registry,
    };
    let repository = if registry == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    if repository.is_empty() {
        return None;
    }
    let tag = if tag.is_empty() && digest.is_empty() {
        "latest".to_string()
    } else {
        tag
    };
    Some(ImageRef {
        registry,
        repository,
        tag,
        digest,
    })
}

/// `90s`, `10m`, `1h30m`, `2d` or a bare number of seconds → seconds.
pub fn parse_duration_secs(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return (n >= 0).then_some(n);
    }
    let d = crate::literal::parse_duration(text).ok()?;
    i64::try_from(d.as_secs()).ok()
}

/// Seconds from an RFC 3339 timestamp to `now`.
pub fn age_secs(timestamp: &str, now: jiff::Timestamp) -> Option<i64> {
    let then: jiff::Timestamp = timestamp.trim().parse().ok()?;
    Some(now.as_second() - then.as_second())
}

fn version_arg(v: &str) -> Res<Vec<u64>> {
    version_parts(v).ok_or_else(|| format!("`{v}` is not a version like 1.29 or v1.29.3").into())
}

fn version_cmp(a: &str, b: &str) -> Res<i64> {
    version_arg(a)?;
    version_arg(b)?;
    Ok(match compare_versions(a, b) {
        Some(Ordering::Less) => -1,
        Some(Ordering::Greater) => 1,
        _ => 0,
    })
}

fn minor(v: &str) -> Res<i64> {
    let parts = version_arg(v)?;
    Ok(parts.get(1).copied().unwrap_or(0) as i64)
}

fn parse_image(reference: &str) -> Res<Map> {
    let image = parse_image_ref(reference)
        .ok_or_else(|| format!("`{reference}` is not an image reference"))?;
    let mut map = Map::new();
    map.insert("registry".into(), image.registry.into());
    map.insert("repository".into(), image.repository.into());
    map.insert("tag".into(), image.tag.into());
    map.insert("digest".into(), image.digest.into());
    Ok(map)
}

fn duration(value: Dynamic) -> Res<i64> {
    if let Ok(n) = value.as_int() {
        return Ok(n);
    }
    let text = value
        .into_string()
        .map_err(|t| format!("duration() takes a string like \"10m\", not {t}"))?;
    parse_duration_secs(&text).ok_or_else(|| {
        format!("`{text}` is not a duration; use s, m, h or d, e.g. \"10m\" or \"1h30m\"").into()
    })
}

/// True when every `key: value` of a `matchLabels` selector is in `labels`.
/// An empty selector selects everything, as in Kubernetes.
fn selector_matches(selector: Map, labels: Map) -> bool {
    selector.iter().all(|(k, v)| {
        labels
            .get(k)
            .is_some_and(|l| l.to_string() == v.to_string())
    })
}

pub(crate) fn result_map(ok: bool, message: String, offenders: Array) -> Map {
    let mut map = Map::new();
    map.insert("ok".into(), ok.into());
    map.insert("message".into(), message.into());
    map.insert("offenders".into(), offenders.into());
    map
}

/// The module of helpers, built once and shared by every engine.
pub(crate) fn helpers() -> Shared<Module> {
    static HELPERS: OnceLock<Shared<Module>> = OnceLock::new();
    HELPERS
        .get_or_init(|| {
            let mut m = Module::new();
            m.set_native_fn("version_cmp", |a: &str, b: &str| version_cmp(a, b));
            m.set_native_fn("version_ge", |a: &str, b: &str| Ok(version_cmp(a, b)? >= 0));
            m.set_native_fn("version_lt", |a: &str, b: &str| Ok(version_cmp(a, b)? < 0));
            m.set_native_fn("minor", |v: &str| minor(v));
            m.set_native_fn("parse_image", |r: &str| parse_image(r));
            m.set_native_fn("duration", |v: Dynamic| duration(v));
            m.set_native_fn("selector_matches", |s: Map, l: Map| {
                Ok(selector_matches(s, l))
            });
            m.set_native_fn("pass", |msg: &str| {
                Ok(result_map(true, msg.to_string(), Array::new()))
            });
            m.set_native_fn("fail", |msg: &str| {
                Ok(result_map(false, msg.to_string(), Array::new()))
            });
            m.set_native_fn("fail", |msg: &str, offenders: Array| {
                Ok(result_map(false, msg.to_string(), offenders))
            });
            m.build_index();
            m.into()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_across_eks_spellings() {
        assert_eq!(
            compare_versions("1.29", "v1.29.0-eksbuild.1"),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare_versions("v1.28.5-eks-5e0fdde", "1.29"),
            Some(Ordering::Less)
        );
        assert_eq!(compare_versions("1.30", "1.9"), Some(Ordering::Greater));
        assert_eq!(compare_versions("one", "1.9"), None);
        assert_eq!(version_parts("v1.29.3-eks-ab12"), Some(vec![1, 29, 3]));
    }

    #[test]
    fn image_references_get_docker_defaults() {
        let img = |r| parse_image_ref(r).unwrap();
        assert_eq!(
            img("nginx"),
            ImageRef {
                registry: "docker.io".into(),
                repository: "library/nginx".into(),
                tag: "latest".into(),
                digest: String::new(),
            }
        );
        assert_eq!(img("bitnami/redis:7.2").repository, "bitnami/redis");
        assert_eq!(img("bitnami/redis:7.2").tag, "7.2");
        let ecr =
            img("602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.29.0-eksbuild.1");
        assert_eq!(ecr.registry, "602401143452.dkr.ecr.us-west-2.amazonaws.com");
        assert_eq!(ecr.repository, "eks/kube-proxy");
        assert_eq!(ecr.tag, "v1.29.0-eksbuild.1");
        let port = img("localhost:5000/app@sha256:abc");
        assert_eq!(
            (port.registry.as_str(), port.tag.as_str()),
            ("localhost:5000", "")
        );
        assert_eq!(port.digest, "sha256:abc");
        assert_eq!(
            img("index.docker.io/library/busybox:1").registry,
            "docker.io"
        );
        assert_eq!(parse_image_ref("two words"), None);
    }

    #[test]
    fn durations_parse_units_and_reject_garbage() {
        assert_eq!(parse_duration_secs("90s"), Some(90));
        assert_eq!(parse_duration_secs("1h30m"), Some(5400));
        assert_eq!(parse_duration_secs("2d"), Some(172_800));
        assert_eq!(parse_duration_secs("45"), Some(45));
        assert_eq!(parse_duration_secs("10q"), None);
        assert_eq!(parse_duration_secs("10"), Some(10));
        assert_eq!(parse_duration_secs("m"), None);
    }

    #[test]
    fn age_counts_seconds_to_now() {
        let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        assert_eq!(age_secs("2026-01-01T00:00:00Z", now), Some(600));
        assert_eq!(age_secs("yesterday", now), None);
    }
}
