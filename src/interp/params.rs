//! Parameter values from `--env NAME` and `--set key=value`, typed by each
//! param's declared type. Precedence: `--set` > environment > default.
//! Every problem is a located `Diagnostic`: `--set` and `--env` arguments
//! are added to the source map as a `<command line>` file so a bad value is
//! pointed at exactly, like a bad literal in a runbook.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::value::Value;
use crate::analyze::Resolved;
use crate::diagnostic::Diagnostic;
use crate::durable::redact;
use crate::literal;
use crate::source::{SourceFile, SourceMap, Span};
use crate::syntax::Program;
use crate::syntax::ast::{Environment, Expr, ExprKind, Item, Param, Runbook, StrPart, TypeKind};

/// The bound parameters and the environment they came from.
#[derive(Debug)]
pub struct BoundParams {
    pub values: IndexMap<String, Value>,
    /// Names of the secret parameters: declared `secret`, or named like a
    /// credential (`api_token`, `db_password`, ...).
    pub secrets: Vec<String>,
    pub environment: Option<String>,
    pub protected: bool,
}

/// Environments that apply to `runbook`: its own blocks and file-level
/// blocks (`environment NAME [for RUNBOOK]`) in any loaded file.
fn environments<'a>(program: &'a Program, runbook: &'a Runbook) -> Vec<&'a Environment> {
    let mut out: Vec<&Environment> = runbook.environments().collect();
    for item in program.items() {
        if let Item::Environment(e) = item
            && e.runbook
                .as_ref()
                .is_none_or(|r| r.name == runbook.name.name)
        {
            out.push(e);
        }
    }
    out
}

pub fn bind(
    resolved: &Resolved<'_>,
    env_name: Option<&str>,
    sets: &[String],
) -> Result<BoundParams, (SourceMap, Vec<Diagnostic>)> {
    let (program, runbook) = (resolved.program, resolved.runbook);
    let mut sources = program.sources.clone();
    // `--env prod --set a=b ...` as a file, so values can be pointed at.
    let mut cmdline = String::new();
    let mut env_span = None;
    if let Some(e) = env_name {
        cmdline.push_str("--env ");
        env_span = Some((cmdline.len(), cmdline.len() + e.len()));
        cmdline.push_str(e);
    }
    let mut set_spans = Vec::new();
    for s in sets {
        if !cmdline.is_empty() {
            cmdline.push(' ');
        }
        cmdline.push_str("--set ");
        let start = cmdline.len();
        cmdline.push_str(s);
        set_spans.push((s.clone(), start));
    }
    let cli = sources.add(SourceFile::new("<command line>", None, cmdline));
    let mut diags = Vec::new();
    let params: Vec<_> = runbook.params().collect();
    let param_names: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();

    // --env
    let mut env_values: HashMap<String, (Value, Span)> = HashMap::new();
    let mut protected = false;
    if let Some(name) = env_name {
        let envs = environments(program, runbook);
        match envs.iter().find(|e| e.name.name == name) {
            Some(e) => {
                protected = e.protected;
                for s in &e.settings {
                    match constant(&s.value) {
                        Some(v) => {
                            env_values.insert(s.key.name.clone(), (v, s.value.span));
                        }
                        None => diags.push(
                            Diagnostic::error("RUN001", format!("environment value for `{}` is not a literal", s.key.name))
                                .with_label(s.value.span, "")
                                .with_help("environment settings are literals: strings, numbers, versions, durations, lists, maps"),
                        ),
                    }
                }
            }
            None => {
                let (a, b) = env_span.unwrap_or((0, 0));
                let mut names: Vec<&str> = envs.iter().map(|e| e.name.name.as_str()).collect();
                names.sort();
                names.dedup();
                diags.push(
                    Diagnostic::error("RUN002", format!("unknown environment `{name}`"))
                        .with_label(Span::new(cli, a, b), "not declared for this runbook")
                        .with_help(if names.is_empty() {
                            "this runbook declares no environments; pass values with --set"
                                .to_string()
                        } else {
                            format!("declared environments: {}", names.join(", "))
                        }),
                );
            }
        }
    }

    // --set
    let mut set_values: HashMap<String, (String, Span)> = HashMap::new();
    for (s, start) in &set_spans {
        let Some((k, v)) = s.split_once('=') else {
            diags.push(
                Diagnostic::error("RUN001", format!("`{s}` is not key=value"))
                    .with_label(Span::new(cli, *start, start + s.len()), "")
                    .with_help("write --set name=value, e.g. --set target=1.30"),
            );
            continue;
        };
        let key_span = Span::new(cli, *start, start + k.len());
        if !param_names.contains(&k) {
            let hint = crate::analyze::suggest::closest(k, param_names.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            diags.push(
                Diagnostic::error(
                    "RUN004",
                    format!(
                        "`{k}` is not a parameter of runbook `{}`",
                        runbook.name.name
                    ),
                )
                .with_label(key_span, "unknown parameter")
                .with_help(format!("{hint}parameters: {}", param_names.join(", "))),
            );
            continue;
        }
        let vstart = start + k.len() + 1;
        set_values.insert(
            k.to_string(),
            (v.to_string(), Span::new(cli, vstart, vstart + v.len())),
        );
    }

    let ranged = &resolved.ranged;
    let mut values = IndexMap::new();
    for p in &params {
        let name = &p.name.name;
        let result = if let Some((text, span)) = set_values.get(name) {
            parse_value(&p.ty.kind, text).map_err(|(why, within)| match within {
                // Point at the one bad item (its characters, whatever their width).
                Some((a, b)) => (
                    why,
                    Span::new(span.file, span.start as usize + a, span.start as usize + b),
                ),
                None => (why, *span),
            })
        } else if let Some((v, span)) = env_values.get(name) {
            coerce(&p.ty.kind, v.clone()).map_err(|why| (why, *span))
        } else if let Some(d) = &p.default {
            match constant(d) {
                Some(v) => coerce(&p.ty.kind, v).map_err(|why| (why, d.span)),
                None => Err(("the default is not a literal".to_string(), d.span)),
            }
        } else {
            diags.push(
                Diagnostic::error("RUN003", format!("parameter `{name}` has no value"))
                    .with_label(p.name.span, "declared here without a default")
                    .with_help(format!(
                        "pass --set {name}=VALUE or choose an --env that sets it"
                    )),
            );
            continue;
        };
        match result {
            Ok(v) => {
                let from = set_values
                    .get(name)
                    .map(|(_, s)| *s)
                    .or_else(|| env_values.get(name).map(|(_, s)| *s))
                    .or_else(|| p.default.as_ref().map(|d| d.span));
                if let Some(d) = out_of_range(ranged, name, &v, from.unwrap_or(p.span)) {
                    diags.push(d);
                }
                values.insert(name.clone(), v);
            }
            Err((why, span)) => diags.push(
                Diagnostic::error(
                    "RUN001",
                    format!("invalid value for parameter `{name}`: {why}"),
                )
                .with_label(span, format!("expected {}", type_name(&p.ty.kind)))
                .with_help(format!(
                    "`{name}` is declared as {} at {}",
                    type_name(&p.ty.kind),
                    sources.location(p.span)
                )),
            ),
        }
    }
    if let Some(name) = env_name {
        for (k, (_, span)) in &env_values {
            if !param_names.contains(&k.as_str()) {
                diags.push(
                    Diagnostic::error(
                        "RUN004",
                        format!("environment `{name}` sets `{k}`, which is not a parameter"),
                    )
                    .with_label(*span, "")
                    .with_help(format!("parameters: {}", param_names.join(", "))),
                );
            }
        }
    }
    if diags.is_empty() {
        let secrets = register_secrets(&params, &values);
        Ok(BoundParams {
            secrets,
            values,
            environment: env_name.map(str::to_string),
            protected,
        })
    } else {
        Err((sources, diags))
    }
}

/// A parameter's value outside the range of a built-in argument it is
/// passed to (`--set max_unavailable=500`): refused before any client is
/// built, like the same literal in the runbook (UPG038).
fn out_of_range(
    uses: &[crate::analyze::RangedUse],
    name: &str,
    value: &Value,
    at: Span,
) -> Option<Diagnostic> {
    let n = match value {
        Value::Int(i) => *i,
        Value::Duration(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        _ => return None,
    };
    let u = uses.iter().find(|u| {
        u.param == name
            && u.argument
                .range
                .is_some_and(|(lo, hi)| !(lo..=hi).contains(&n))
    })?;
    let range = u.argument.range_text().unwrap_or_default();
    Some(
        Diagnostic::error(
            "RUN001",
            format!(
                "invalid value for parameter `{name}`: it is passed as `{}:` to `{}`, which accepts {range}",
                u.argument.name, u.builtin
            ),
        )
        .with_label(at, format!("expected {range}"))
        .with_help(format!("`{}`: {}", u.argument.name, u.argument.doc)),
    )
}

/// Register the values of secret parameters with the redactor, so they are
/// hidden in every output from here on, interpolated or not.
fn register_secrets(params: &[&Param], values: &IndexMap<String, Value>) -> Vec<String> {
    let mut names = Vec::new();
    for p in params {
        let name = &p.name.name;
        if p.ty.kind != TypeKind::Secret && !redact::is_secret_key(name) {
            continue;
        }
        names.push(name.clone());
        let mut stack: Vec<&Value> = values.get(name).into_iter().collect();
        while let Some(v) = stack.pop() {
            match v {
                Value::Str(s) => redact::register_secret(s),
                Value::List(items) => stack.extend(items),
                Value::Map(m) => stack.extend(m.values()),
                _ => {}
            }
        }
    }
    names
}

fn type_name(t: &TypeKind) -> String {
    match t {
        TypeKind::String => "string".into(),
        TypeKind::Secret => "secret string".into(),
        TypeKind::Int => "int".into(),
        TypeKind::Bool => "bool".into(),
        TypeKind::Duration => "duration (e.g. 10m, 1h30m)".into(),
        TypeKind::Version => "version (e.g. 1.30)".into(),
        TypeKind::List(_) => "list".into(),
        TypeKind::Map(_) => "map".into(),
    }
}

/// A `--set` value as the declared type. An error says why and, for a list
/// item or map entry, which bytes of `text` are wrong.
fn parse_value(t: &TypeKind, text: &str) -> Result<Value, (String, Option<(usize, usize)>)> {
    let scalar = |r: Result<Value, String>| r.map_err(|why| (why, None));
    match t {
        TypeKind::String | TypeKind::Secret => Ok(Value::str(text)),
        TypeKind::Int => scalar(literal::parse_int(text.trim()).map(Value::Int)),
        TypeKind::Bool => scalar(literal::parse_bool(text.trim()).map(Value::Bool)),
        // The same reading as literals in a runbook.
        TypeKind::Duration => scalar(match literal::parse_duration(text.trim()) {
            Ok(d) if !d.is_zero() => Ok(Value::Duration(d)),
            Ok(_) => Err("a duration must be longer than zero".to_string()),
            Err(why) => Err(format!("`{text}` is not a duration: {why}")),
        }),
        TypeKind::Version => scalar(
            literal::parse_version(text.trim())
                .map(Value::Version)
                .map_err(|why| format!("`{text}` is not a version like 1.30: {why}")),
        ),
        TypeKind::List(elem) => {
            let elem_ty = elem
                .as_ref()
                .map(|t| t.kind.clone())
                .unwrap_or(TypeKind::String);
            if text.trim().is_empty() {
                return Ok(Value::List(Vec::new()));
            }
            literal::items(text)
                .map(|(at, item)| {
                    parse_value(&elem_ty, item.trim()).map_err(|(why, _)| {
                        (
                            format!("item `{}`: {why}", item.trim()),
                            Some((at, at + item.len())),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
        TypeKind::Map(_) => {
            let mut m = IndexMap::new();
            for (at, pair) in literal::items(text).filter(|(_, p)| !p.trim().is_empty()) {
                let Some((k, v)) = pair.split_once('=') else {
                    return Err((
                        format!("`{}` is not key=value", pair.trim()),
                        Some((at, at + pair.len())),
                    ));
                };
                m.insert(k.trim().to_string(), Value::str(v.trim()));
            }
            Ok(Value::Map(m))
        }
    }
}

/// An environment or default value as the declared type.
fn coerce(t: &TypeKind, v: Value) -> Result<Value, String> {
    match (t, &v) {
        (TypeKind::String | TypeKind::Secret, Value::Str(_))
        | (TypeKind::Int, Value::Int(_))
        | (TypeKind::Bool, Value::Bool(_))
        | (TypeKind::Duration, Value::Duration(_))
        | (TypeKind::Version, Value::Version(_))
        | (TypeKind::List(_), Value::List(_))
        | (TypeKind::Map(_), Value::Map(_)) => Ok(v),
        (TypeKind::Version, Value::Str(s)) => literal::parse_version(s)
            .map(Value::Version)
            .map_err(|why| format!("`{s}` is not a version: {why}")),
        (TypeKind::String, Value::Version(x)) => Ok(Value::Str(x.to_string())),
        _ => Err(format!("a {} is not a {}", v.type_name(), type_name(t))),
    }
}

/// A literal expression's value (environment settings and defaults).
pub fn constant(e: &Expr) -> Option<Value> {
    Some(match &e.kind {
        ExprKind::Str(s) => {
            let mut out = String::new();
            for p in &s.parts {
                match p {
                    StrPart::Text { text, .. } => out.push_str(text),
                    StrPart::Interp(_) => return None,
                }
            }
            Value::Str(out)
        }
        ExprKind::Int(i) => Value::Int(*i),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Duration(d) => Value::Duration(*d),
        ExprKind::Version(v) => Value::Version(*v),
        ExprKind::List(items) => Value::List(items.iter().map(constant).collect::<Option<_>>()?),
        ExprKind::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|en| Some((en.key.clone(), constant(&en.value)?)))
                .collect::<Option<_>>()?,
        ),
        ExprKind::Unary {
            op: crate::syntax::ast::UnaryOp::Neg,
            operand,
        } => match constant(operand)? {
            Value::Int(i) => Value::Int(-i),
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_parse_by_declared_type() {
        let parse_text = |t: &TypeKind, text: &str| parse_value(t, text).map_err(|(why, _)| why);
        assert_eq!(parse_text(&TypeKind::Int, "3"), Ok(Value::Int(3)));
        assert!(parse_text(&TypeKind::Int, "three").is_err());
        assert!(parse_text(&TypeKind::Version, "1.30").is_ok());
        assert!(parse_text(&TypeKind::Version, "1.3x").is_err());
        assert!(parse_text(&TypeKind::Version, "1").is_err());
        assert!(parse_text(&TypeKind::Duration, "10m").is_ok());
        assert!(parse_text(&TypeKind::Duration, "10q").is_err());
        assert!(parse_text(&TypeKind::Bool, "yes").is_err());
        assert!(parse_text(&TypeKind::Duration, "99999999999999999999d").is_err());
    }

    #[test]
    fn a_bad_map_entry_or_list_item_is_located_within_the_value() {
        let map = TypeKind::Map(None);
        let (why, at) = parse_value(&map, "é=1,ü2,c=3").unwrap_err();
        assert_eq!(why, "`ü2` is not key=value");
        // Bytes 5..8: after `é=1,` (é is two bytes), `ü2` is three.
        assert_eq!(at, Some((5, 8)));
        let list = TypeKind::List(Some(Box::new(crate::syntax::ast::Type {
            kind: TypeKind::Int,
            span: Span::new(crate::source::FileId(0), 0, 0),
        })));
        let (why, at) = parse_value(&list, "1, x ,3").unwrap_err();
        assert!(why.starts_with("item `x`"), "{why}");
        assert_eq!(at, Some((2, 5)));
    }
}
