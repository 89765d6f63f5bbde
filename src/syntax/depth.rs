//! The nesting limit, checked by a cheap linear pre-scan BEFORE pest runs:
//! pest (and the Pratt parser) recurse once per bracket and per prefix
//! operator, so a hostile or generated file with thousands of `(` or `!`
//! would otherwise overflow the stack instead of getting a diagnostic.

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};

/// Deepest allowed nesting of `{ ( [ ${` plus runs of prefix `!`/`-`.
pub const MAX_NESTING: usize = 64;

enum Frame {
    Bracket,
    Interp,
}

/// Scan `text` with just enough lexing (strings, raw strings, comments) to
/// count real brackets. Unbalanced input is left for pest to report.
pub fn check_nesting(file: FileId, text: &str) -> Result<(), Diagnostic> {
    let b = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_str = false;
    let mut prefix_run = 0usize;
    let mut i = 0;
    let too_deep = |at: usize| {
        let end = (at + 1).min(text.len());
        Diagnostic::error(
            "UPG004",
            format!("nesting deeper than {MAX_NESTING} levels"),
        )
        .with_label(Span::new(file, at, end), "too deeply nested here")
        .with_help("split the logic into smaller steps, `let` bindings or a rhai check")
    };
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' | b'\n' => in_str = false,
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    stack.push(Frame::Interp);
                    in_str = false;
                    i += 1;
                    if stack.len() > MAX_NESTING {
                        return Err(too_deep(i - 1));
                    }
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'#' => {
                i = memchr_newline(b, i);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = memchr_newline(b, i);
                continue;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i = match text[i + 3..].find("\"\"\"") {
                    Some(k) => i + 3 + k + 3,
                    None => b.len(),
                };
                prefix_run = 0;
                continue;
            }
            b'"' => {
                in_str = true;
                prefix_run = 0;
            }
            b'{' | b'(' | b'[' => {
                stack.push(Frame::Bracket);
                if stack.len() + prefix_run > MAX_NESTING {
                    return Err(too_deep(i));
                }
            }
            b'}' => {
                if let Some(Frame::Interp) = stack.pop() {
                    in_str = true;
                }
                prefix_run = 0;
            }
            b')' | b']' => {
                stack.pop();
                prefix_run = 0;
            }
            b'!' if b.get(i + 1) != Some(&b'=') => {
                prefix_run += 1;
                if stack.len() + prefix_run > MAX_NESTING {
                    return Err(too_deep(i));
                }
            }
            b'-' => {
                prefix_run += 1;
                if stack.len() + prefix_run > MAX_NESTING {
                    return Err(too_deep(i));
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => prefix_run = 0,
        }
        i += 1;
    }
    Ok(())
}

fn memchr_newline(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |k| from + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_but_not_inside_strings_or_comments() {
        let deep = "(".repeat(MAX_NESTING + 1);
        let err = check_nesting(FileId(0), &deep).unwrap_err();
        assert_eq!(err.code, "UPG004");
        assert_eq!(err.primary_span().unwrap().start as usize, MAX_NESTING);
        let quoted = format!("\"{deep}\" # {deep}\n\"\"\"{deep}\"\"\"");
        assert!(check_nesting(FileId(0), &quoted).is_ok());
        assert!(check_nesting(FileId(0), &"(".repeat(MAX_NESTING)).is_ok());
    }

    #[test]
    fn interpolation_and_prefix_runs_count() {
        let nested = "\"${\"".repeat(MAX_NESTING + 1);
        assert!(check_nesting(FileId(0), &nested).is_err());
        let bangs = format!("x = {}y", "!".repeat(MAX_NESTING + 1));
        assert!(check_nesting(FileId(0), &bangs).is_err());
        assert!(check_nesting(FileId(0), "a != b - c").is_ok());
    }
}
