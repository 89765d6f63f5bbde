//! `docs/actions.md`, generated from the registry so it cannot drift.

use std::fmt::Write;

use super::{Effect, all, methods, records};

pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Built-in actions and queries\n\n\
         <!-- Generated from src/builtins by `UPDATE_DOCS=1 cargo test`; do not edit. -->\n\n\
         Queries only read and may appear anywhere, including preconditions, gates and `when`.\n\
         Actions change the cluster and may only appear in steps and rollback blocks.\n\
         A step calling an irreversible action must be marked `irreversible`.\n\n",
    );
    let mut namespace = "";
    for b in all() {
        let ns = b.name.split('.').next().unwrap_or_default();
        if ns != namespace {
            namespace = ns;
            let _ = writeln!(out, "## `{ns}`\n");
        }
        let effect = match b.effect {
            Effect::Read => "query (read-only)".to_string(),
            Effect::Mutate {
                limit: Some(limit), ..
            } => format!("action, reversible by a rollback block: {limit}"),
            Effect::Mutate {
                irreversible: true, ..
            } => "action, **irreversible**".to_string(),
            Effect::Mutate {
                reversible: true, ..
            } => "action, reversible by a rollback block".to_string(),
            Effect::Mutate { .. } => "action, not undoable by a rollback block".to_string(),
        };
        let _ = writeln!(out, "### `{}`\n\n{}\n\n*{effect}*\n", b.signature(), b.doc);
        if !b.positional.is_empty() || !b.keyword.is_empty() {
            out.push_str(
                "| parameter | type | kind | default | description |\n|---|---|---|---|---|\n",
            );
            for p in b.positional {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | positional | | {} |",
                    p.name, p.ty, p.doc
                );
            }
            for p in b.keyword {
                let kind = if p.required {
                    "keyword, required"
                } else {
                    "keyword"
                };
                let default = p.default.map(|d| format!("`{d}`")).unwrap_or_default();
                let mut doc = p.doc.to_string();
                if !p.allowed.is_empty() {
                    let values: Vec<String> =
                        p.allowed.iter().map(|v| format!("`\"{v}\"`")).collect();
                    let _ = write!(doc, " (one of {})", values.join(", "));
                }
                if let Some(range) = p.range_text() {
                    let _ = write!(doc, " ({range})");
                }
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {kind} | {default} | {doc} |",
                    p.name, p.ty
                );
            }
            out.push('\n');
        }
    }
    out.push_str(
        "## Records\n\nFields of the records queries return; any other field is an error.\n\n",
    );
    for r in records::ALL {
        let _ = writeln!(
            out,
            "### `{}`\n\n{}\n\n| field | type | description |\n|---|---|---|",
            r.name, r.doc
        );
        for f in r.fields {
            let _ = writeln!(out, "| `{}` | {} | {} |", f.name, f.ty, f.doc);
        }
        out.push('\n');
    }
    out.push_str("## Methods\n\n| on | method | returns | description |\n|---|---|---|---|\n");
    for m in methods::METHODS {
        let args: Vec<String> = m
            .args
            .iter()
            .map(|a| match a {
                methods::MethodArg::Predicate => "x => bool".to_string(),
                methods::MethodArg::Lambda => "x => value".to_string(),
                methods::MethodArg::Element => "element".to_string(),
                methods::MethodArg::Value(t) => t.to_string(),
            })
            .collect();
        let returns = match m.returns {
            methods::MethodReturn::Fixed(t) => t.to_string(),
            methods::MethodReturn::Same => "same list".to_string(),
            methods::MethodReturn::Element => "element".to_string(),
            methods::MethodReturn::ListOfLambda => "list".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | `{}({})` | {returns} | {} |",
            m.receiver.name(),
            m.name,
            args.join(", "),
            m.doc
        );
    }
    out
}
