//! Kubernetes resource quantities (`250m`, `2`, `512Mi`, `8Gi`) as integers:
//! CPU in millicores, memory in bytes.

pub fn parse_cpu(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(m) = s.strip_suffix('m') {
        return m.parse().ok();
    }
    let cores: f64 = s.parse().ok()?;
    (cores >= 0.0).then(|| (cores * 1000.0).round() as u64)
}

pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim();
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, mult) in units {
        if let Some(n) = s.strip_suffix(suffix) {
            let n: f64 = n.parse().ok()?;
            return (n >= 0.0).then_some((n * mult as f64) as u64);
        }
    }
    s.parse().ok()
}

/// Memory rendered the way the kubelet reports capacity (`Ki`).
pub fn format_memory_ki(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

pub fn format_cpu(milli: u64) -> String {
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_memory_units() {
        assert_eq!(parse_cpu("250m"), Some(250));
        assert_eq!(parse_cpu("2"), Some(2000));
        assert_eq!(parse_cpu("0.5"), Some(500));
        assert_eq!(parse_cpu("x"), None);
        assert_eq!(parse_memory("512Mi"), Some(512 << 20));
        assert_eq!(parse_memory("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory("oops"), None);
    }
}
