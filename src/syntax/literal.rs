//! Literals as the parser meets them: durations and versions (read by
//! `crate::literal`, located here as diagnostics), string escapes, and step-id
//! slugs. Each check returns a located `Diagnostic` with a hint.

use std::time::Duration;

use crate::diagnostic::Diagnostic;
use crate::source::Span;

use crate::literal::{self, Version};

pub use crate::literal::format_duration;

/// Parse a duration literal; a located UPG002 when it is not one.
pub fn parse_duration(text: &str, span: Span) -> Result<Duration, Diagnostic> {
    literal::parse_duration(text).map_err(|why| {
        Diagnostic::error("UPG002", format!("invalid duration `{text}`"))
            .with_label(span, why)
            .with_help(literal::DURATION_HELP)
    })
}

/// Parse a version literal; a located UPG003 when it is not one.
pub fn parse_version(text: &str, span: Span) -> Result<Version, Diagnostic> {
    literal::parse_version(text).map_err(|why| {
        Diagnostic::error("UPG003", format!("invalid version `{text}`"))
            .with_label(span, why)
            .with_help(literal::VERSION_HELP)
    })
}

/// Resolve one escape sequence (the text after the backslash).
pub fn unescape(seq: &str, span: Span) -> Result<char, Diagnostic> {
    Ok(match seq {
        "n" => '\n',
        "t" => '\t',
        "r" => '\r',
        "0" => '\0',
        "\\" => '\\',
        "\"" => '"',
        "$" => '$',
        "" => {
            return Err(Diagnostic::error("UPG007", "unterminated escape sequence")
                .with_label(span, "a backslash ends the line")
                .with_help("write `\\\\` for a literal backslash"));
        }
        other => {
            return Err(
                Diagnostic::error("UPG007", format!("invalid escape `\\{other}`"))
                    .with_label(span, "unknown escape")
                    .with_help(
                        "valid escapes: \\n \\t \\r \\0 \\\\ \\\" \\$ (use \"\"\"raw\"\"\" strings for verbatim text)",
                    ),
            );
        }
    })
}

/// Escape text for a `"..."` literal so it reads back unchanged.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out
}

/// Lower-case, non-alphanumerics collapsed to `-`, trimmed: `"Add-ons for
/// ${hop}"` with the interpolation rendered as `hop` gives `add-ons-for-hop`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("step");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn sp() -> Span {
        Span::new(FileId(0), 0, 1)
    }

    #[test]
    fn durations_parse_and_print_canonically() {
        let d = parse_duration("1h30m", sp()).unwrap();
        assert_eq!(d, Duration::from_secs(5400));
        assert_eq!(format_duration(d), "1h30m");
        assert_eq!(
            parse_duration("500ms", sp()).unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        let e = parse_duration("10q", sp()).unwrap_err();
        assert_eq!(e.code, "UPG002");
        assert!(e.labels[0].message.contains("unknown unit `q`"));
        assert!(parse_duration("30m1h", sp()).is_err());
        assert!(parse_duration("5m5m", sp()).is_err());
        assert!(parse_duration("99999999999999999999999d", sp()).is_err());
    }

    #[test]
    fn versions_reject_leading_zeros_and_extra_parts() {
        assert_eq!(
            parse_version("1.30", sp()).unwrap(),
            Version {
                major: 1,
                minor: 30,
                patch: None
            }
        );
        assert_eq!(parse_version("1.30.2", sp()).unwrap().to_string(), "1.30.2");
        assert_eq!(parse_version("1.05", sp()).unwrap_err().code, "UPG003");
        assert_eq!(parse_version("1.2.3.4", sp()).unwrap_err().code, "UPG003");
    }

    #[test]
    fn escapes_round_trip() {
        let text = "a\"b\\c\n${x}$ $";
        let escaped = escape(text);
        assert_eq!(escaped, "a\\\"b\\\\c\\n\\${x}$ $");
        assert_eq!(unescape("q", sp()).unwrap_err().code, "UPG007");
    }

    #[test]
    fn slugs_are_stable_and_readable() {
        assert_eq!(slug("Control plane to hop"), "control-plane-to-hop");
        assert_eq!(slug("  Add-ons (vpc-cni)!  "), "add-ons-vpc-cni");
        assert_eq!(slug("!!!"), "step");
    }
}
