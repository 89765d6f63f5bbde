//! What a check run produces, and the return protocol that gets it there.
//!
//! A script's value is its result: `pass(msg)`, `fail(msg)`,
//! `fail(msg, offenders)`, a map `#{ ok: bool, message: "..", offenders: [..] }`
//! or a plain `true`/`false`. Offenders are strings, or maps with
//! `kind`/`namespace`/`name` and an optional `reason`.

use std::fmt;

use rhai::{Dynamic, Map};

use crate::diagnostic::Diagnostic;
use crate::source::Span;

/// One object that made a check fail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Offender {
    /// `Pod default/web-1`, `Node ip-10-0-1-5`, or whatever string the check gave.
    pub object: String,
    /// Why it offends; empty if the check gave no reason.
    pub reason: String,
}

impl fmt::Display for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            f.write_str(&self.object)
        } else {
            write!(f, "{}: {}", self.object, self.reason)
        }
    }
}

/// The verdict of one run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckOutcome {
    pub passed: bool,
    pub message: String,
    pub offenders: Vec<Offender>,
    /// `print` and `debug` output, in order.
    pub logs: Vec<String>,
}

/// A run that produced no verdict: stopped by a limit, a runtime error, a
/// `throw`, or a value that is not a result. The interpreter treats it as a
/// failed gate, and shows it as a diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckError {
    pub check: String,
    /// One of `LIMIT_EXCEEDED`, `RUNTIME_ERROR`, `BAD_RESULT`.
    pub code: &'static str,
    /// Full sentence naming the check, e.g.
    /// "check `foo` stopped: exceeded 1000000 operations".
    pub message: String,
    /// Where in the check's source, if rhai knew.
    pub span: Option<Span>,
    pub logs: Vec<String>,
}

impl CheckError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut d = Diagnostic::error(self.code, self.message.clone());
        if let Some(span) = self.span {
            d = d.with_label(span, "while running this");
        }
        d.with_help(match self.code {
            super::LIMIT_EXCEEDED => {
                "make the check do less work, or raise the limit in the runner"
            }
            super::BAD_RESULT => "end the check with pass(msg), fail(msg, offenders) or a bool",
            _ => "see docs/checks.md for the check API",
        })
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckError {}

/// Decode a script's value into a verdict, or say what was wrong with it.
pub(crate) fn decode(value: Dynamic) -> Result<(bool, String, Vec<Offender>), String> {
    if let Ok(ok) = value.as_bool() {
        return Ok((ok, String::new(), Vec::new()));
    }
    let type_name = value.type_name();
    let Some(map) = value.try_cast::<Map>() else {
        return Err(format!(
            "returned a value of type `{type_name}`, not a result"
        ));
    };
    let ok = map
        .get("ok")
        .and_then(|v| v.as_bool().ok())
        .ok_or("returned a map without a boolean `ok`")?;
    let message = map
        .get("message")
        .filter(|m| !m.is_unit())
        .map(|m| m.to_string())
        .unwrap_or_default();
    let offenders = match map.get("offenders") {
        None => Vec::new(),
        Some(v) if v.is_unit() => Vec::new(),
        Some(v) => v
            .clone()
            .try_cast::<rhai::Array>()
            .ok_or("returned `offenders` that is not an array")?
            .into_iter()
            .map(offender)
            .collect(),
    };
    Ok((ok, message, offenders))
}

fn offender(value: Dynamic) -> Offender {
    let Some(map) = value.clone().try_cast::<Map>() else {
        return Offender {
            object: value.to_string(),
            reason: String::new(),
        };
    };
    let field = |k: &str| {
        map.get(k)
            .filter(|v| !v.is_unit())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let (kind, namespace, name) = (field("kind"), field("namespace"), field("name"));
    let qualified = if namespace.is_empty() {
        name
    } else {
        format!("{namespace}/{name}")
    };
    let object = [kind, qualified]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Offender {
        object: if object.is_empty() {
            value.to_string()
        } else {
            object
        },
        reason: field("reason"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offender_without_a_reason_prints_no_empty_parentheses() {
        let bare = Offender {
            object: "Node a".into(),
            reason: String::new(),
        };
        assert_eq!(bare.to_string(), "Node a");
        let with = Offender {
            object: "Node a".into(),
            reason: "NotReady".into(),
        };
        assert_eq!(with.to_string(), "Node a: NotReady");
    }
}
