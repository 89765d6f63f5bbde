//! Server-side paging as EKS's list operations do it: at most `maxResults`
//! items (1 to 100; 100 when absent) and an opaque `nextToken` for the rest.

use serde_json::{Value, json};

use super::Call;
use super::errors::EksError;

const PREFIX: &str = "sandbox-page:";

fn encode(offset: usize) -> String {
    format!("{PREFIX}{offset}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode(token: &str) -> Option<usize> {
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?)
        .ok()?
        .strip_prefix(PREFIX)?
        .parse()
        .ok()
}

/// `maxResults` and `nextToken` from the query string, or from the body for
/// the list operations that are POSTs (ListInsights).
fn params(call: &Call) -> (Option<String>, Option<String>) {
    let from_body = |k: &str| match &call.body[k] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    let max = call
        .query
        .get("maxResults")
        .cloned()
        .or_else(|| from_body("maxResults"));
    let token = call
        .query
        .get("nextToken")
        .cloned()
        .or_else(|| from_body("nextToken"));
    (max, token)
}

/// One page of `items` and the token for the next, if any.
pub fn page<T>(items: Vec<T>, call: &Call) -> Result<(Vec<T>, Option<String>), EksError> {
    let (max, token) = params(call);
    let max = match max {
        None => 100,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(EksError::invalid_parameter(format!(
                    "maxResults must be between 1 and 100, got {m}"
                )));
            }
        },
    };
    let start = match token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match decode(t) {
            Some(n) if n <= items.len() => n,
            _ => {
                return Err(EksError::invalid_parameter(
                    "The nextToken provided is invalid or expired",
                ));
            }
        },
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| encode(end));
    let page = items.into_iter().skip(start).take(end - start).collect();
    Ok((page, next))
}

/// Add `nextToken` to a list response when there is a next page.
pub fn with_token(mut body: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        body["nextToken"] = json!(t);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode(&encode(42)), Some(42));
        assert_eq!(decode("zz"), None);
        assert_eq!(decode(""), None);
        assert_eq!(
            decode(
                &"hello"
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
            None
        );
    }
}
