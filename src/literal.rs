//! The one reading of the language's literal values: durations (`1h30m`),
//! versions (`1.30`), ints, bools and the items of `--set` lists and maps.
//! The parser, `--set`, environments, registry defaults, rhai checks and the
//! sandbox's fixtures all read literals here, so a value valid in one place is
//! valid in all of them. Errors are a reason without a location; each caller
//! places it (a span in a runbook, `<command line>` for `--set`).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Shown with every bad duration.
pub const DURATION_HELP: &str = "a duration is one or more <number><unit> groups, largest unit first, e.g. `30s`, `10m`, `1h30m`; units: ms, s, m, h, d";

/// Shown with every bad version.
pub const VERSION_HELP: &str = "a version is MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. `1.30`";

/// A Kubernetes version as a runbook writes it: `1.30` or `1.30.2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: Option<u64>,
}

impl Version {
    pub const fn minor(major: u64, minor: u64) -> Version {
        Version {
            major,
            minor,
            patch: None,
        }
    }

    /// The minor of a version as clusters and kubelets report it:
    /// `1.29`, `v1.29.3-eks-abc`, `1.29.0`. The patch and build are dropped.
    pub fn of_reported(text: &str) -> Option<Version> {
        let t = text.trim().trim_start_matches('v');
        let mut parts = t.split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Version::minor(major, minor))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(p) = self.patch {
            write!(f, ".{p}")?;
        }
        Ok(())
    }
}

/// Parse `1.30` or `1.30.2` exactly: no `v`, no leading zeros, no suffix.
pub fn parse_version(text: &str) -> Result<Version, &'static str> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() < 2 {
        return Err("expected MAJOR.MINOR");
    }
    if parts.len() > 3 {
        return Err("too many components");
    }
    let mut nums = Vec::with_capacity(3);
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err("components are numbers");
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err("components have no leading zeros");
        }
        nums.push(p.parse::<u64>().map_err(|_| "component too large")?);
    }
    Ok(Version {
        major: nums[0],
        minor: nums[1],
        patch: nums.get(2).copied(),
    })
}

/// Parse `30s`, `10m`, `2h`, `1h30m`, `500ms`, `1d` (largest unit first).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    let mut last_unit_ms: Option<u128> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number before `{rest}`"));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| "number too large".to_string())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let unit_ms: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{number}` has no unit")),
            other => return Err(format!("unknown unit `{other}`")),
        };
        if let Some(prev) = last_unit_ms
            && unit_ms >= prev
        {
            return Err(format!(
                "unit `{unit}` repeated or out of order (largest first)"
            ));
        }
        last_unit_ms = Some(unit_ms);
        total = number
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= u64::MAX as u128)
            .ok_or_else(|| "duration too large".to_string())?;
    }
    Ok(Duration::from_millis(total as u64))
}

/// The canonical spelling of a duration, as the formatter prints it.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// An integer as the language writes it (an optional `-`, then digits).
pub fn parse_int(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not an integer"));
    }
    text.parse()
        .map_err(|_| format!("integer `{text}` is too large"))
}

pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{text}` is not true or false")),
    }
}

/// The `,`-separated items of a `--set` list (`a,b,c`) or map
/// (`k=v,k2=v2`), with the byte offset of each, so an error can point at the
/// item.
pub fn items(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    text.split(',').map(move |item| {
        let start = at;
        at += item.len() + 1;
        (start, item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        let d = parse_duration("1h30m").unwrap();
        assert_eq!(d, Duration::from_secs(5400));
        assert_eq!(format_duration(d), "1h30m");
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert!(
            parse_duration("10q")
                .unwrap_err()
                .contains("unknown unit `q`")
        );
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("5m5m").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999999d").is_err());
    }

    #[test]
    fn versions_are_exact() {
        assert_eq!(parse_version("1.30").unwrap(), Version::minor(1, 30));
        assert_eq!(parse_version("1.30.2").unwrap().to_string(), "1.30.2");
        for bad in ["1.05", "1.2.3.4", "1", "1.3x", "v1.30", "1..3", ""] {
            assert!(parse_version(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn reported_versions_keep_the_minor() {
        assert_eq!(
            Version::of_reported("v1.29.3-eks-abc"),
            Some(Version::minor(1, 29))
        );
        assert_eq!(Version::of_reported("1.29"), Some(Version::minor(1, 29)));
        assert_eq!(Version::of_reported("latest"), None);
    }

    #[test]
    fn ints_bools_and_items() {
        assert_eq!(parse_int("-5"), Ok(-5));
        assert!(parse_int("5x").is_err());
        assert!(parse_int("-").is_err());
        assert!(
            parse_int("99999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(parse_bool("true"), Ok(true));
        assert!(parse_bool("yes").is_err());
        let items: Vec<_> = items("a, bc,").collect();
        assert_eq!(items, [(0, "a"), (2, " bc"), (6, "")]);
    }
}
