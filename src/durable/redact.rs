//! Keep secrets out of journals, headers and reports. Everything written under
//! `.runbook/` passes through `scrub`: values under secret-sounding keys are
//! replaced, and credentials recognisable by shape (AWS access key ids, bearer
//! tokens, JWTs such as service-account tokens, PEM keys) are cut out of any
//! string, because an error message can quote a request that carried one.

use std::borrow::Cow;
use std::sync::RwLock;

use serde_json::Value;

pub const REDACTED: &str = "<redacted>";

/// Values of the run's secret parameters (declared `secret`, or named like a
/// credential). Process-wide because every writer of output — reporter,
/// journal, reports, diagnostics, the engine log — must hide them, and one
/// process runs one runbook.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Hide `value` wherever it appears from now on, in every output channel.
pub fn register_secret(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with registered secrets and recognisable credentials replaced:
/// what every line of output goes through before it is printed.
pub fn scrub_str(text: &str) -> Cow<'_, str> {
    match scrub_text(text) {
        Some(clean) => Cow::Owned(clean),
        None => Cow::Borrowed(text),
    }
}

/// `text` with registered secret values replaced, or `None` if none occurs.
fn scrub_registered(text: &str) -> Option<String> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut out: Option<String> = None;
    for s in secrets.iter() {
        let current = out.as_deref().unwrap_or(text);
        if current.contains(s.as_str()) {
            out = Some(current.replace(s.as_str(), REDACTED));
        }
    }
    out
}

/// Replace secrets in place, recursively.
pub fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) && !v.is_null() {
                    *v = Value::String(REDACTED.to_string());
                } else {
                    scrub(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::String(s) => {
            if let Some(clean) = scrub_text(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// Whether a field name says its value is a credential. The EKS
/// `clientRequestToken` is an idempotency token, not a secret, and resume needs it.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if k == "clientrequesttoken" {
        return false;
    }
    [
        "secret",
        "password",
        "passwd",
        "token",
        "credential",
        "accesskey",
        "sessionkey",
        "privatekey",
        "authorization",
        "apikey",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// `text` with recognisable credentials replaced, or `None` if it had none.
pub fn scrub_text(text: &str) -> Option<String> {
    match scrub_registered(text) {
        Some(clean) => Some(scrub_shapes(&clean).unwrap_or(clean)),
        None => scrub_shapes(text),
    }
}

/// Credentials recognisable by their shape alone.
fn scrub_shapes(text: &str) -> Option<String> {
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        return Some(REDACTED.to_string());
    }
    let mut changed = false;
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    for word in split_keep(text) {
        let bare = word
            .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '_' && c != '-');
        let secret = !bare.is_empty()
            && (is_access_key_id(bare) || is_jwt(bare) || (after_bearer && bare.len() >= 8));
        if !word.trim().is_empty() {
            after_bearer = bare.eq_ignore_ascii_case("bearer");
        }
        if secret {
            changed = true;
            out.push_str(&word.replace(bare, REDACTED));
        } else {
            out.push_str(word);
        }
    }
    changed.then_some(out)
}

/// Split into alternating runs of non-space and space, keeping everything, so
/// the text can be put back together unchanged around a replacement.
fn split_keep(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            parts.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        parts.push(&text[start..]);
    }
    parts
}

fn is_access_key_id(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Three base64url segments, the first starting `eyJ` (`{"` encoded).
fn is_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts.iter().all(|p| {
            p.len() >= 4
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registered_secrets_are_replaced_anywhere_in_text_and_json() {
        register_secret("hunter2-registered-XYZ");
        assert_eq!(
            scrub_str("token=hunter2-registered-XYZ!"),
            "token=<redacted>!"
        );
        let mut v = json!({"error": "failed with hunter2-registered-XYZ", "n": ["xhunter2-registered-XYZx"]});
        scrub(&mut v);
        assert!(!v.to_string().contains("hunter2"), "{v}");
        assert_eq!(scrub_str("nothing here"), "nothing here");
    }

    #[test]
    fn redacts_secret_keys_and_recognisable_credentials() {
        let mut v = json!({
            "cluster": "prod",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "clientRequestToken": "0f1e2d3c-aaaa-bbbb-cccc-111122223333",
            "nested": [{"sessionToken": "abc"}, "key AKIAIOSFODNN7EXAMPLE leaked"],
            "auth": "Authorization: Bearer sk-live-0123456789abcdef, then more",
            "sa": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlAA",
        });
        scrub(&mut v);
        let text = v.to_string();
        for secret in [
            "wJalrXUtnFEMI",
            "AKIAIOSFODNN7EXAMPLE",
            "sk-live-0123456789abcdef",
            "eyJhbGciOiJSUzI1NiJ9",
            "\"abc\"",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(v["cluster"], "prod");
        assert_eq!(
            v["clientRequestToken"],
            "0f1e2d3c-aaaa-bbbb-cccc-111122223333"
        );
        assert_eq!(v["nested"][1], "key <redacted> leaked");
        assert_eq!(v["auth"], "Authorization: Bearer <redacted>, then more");
    }
}
