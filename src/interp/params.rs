//! Parameter values from `--env NAME` and `--set key=value`, typed by each
//! param's declared type. Precedence: `--set` > environment > default.
//! Every problem is a located `Diagnostic`: `--set` and `--env` arguments
//! are added to the source map as a `<command line>` file so a bad value is
//! pointed at exactly, like a bad literal in a runbook.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::value::Value;
use crate::diagnostic::Diagnostic;
use crate::literal;
use crate::source::{SourceFile, SourceMap, Span};
use crate::syntax::Program;
use crate::syntax::ast::{Environment, Expr, ExprKind, Item, Runbook, StrPart, TypeKind};

/// The bound parameters and the environment they came from.
#[derive(Debug)]
pub struct Bound {
    pub values: IndexMap<String, Value>,
    pub environment: Option<String>,
    pub protected: bool,
}

/// The single runbook of the root file.
pub fn root_runbook(program: &Program) -> Result<&Runbook, Diagnostic> {
    let runbooks: Vec<&Runbook> = program
        .root_file()
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Runbook(r) => Some(r),
            _ => None,
        })
        .collect();
    match runbooks.as_slice() {
        [one] => Ok(one),
        [] => Err(
            Diagnostic::error("RUN005", "this file has no runbook to run")
                .with_label(program.root_file().span, "")
                .with_help(
                    "`runbook exec` runs a file holding one `runbook NAME \"...\" { ... }` block",
                ),
        ),
        [_, second, ..] => Err(Diagnostic::error(
            "RUN005",
            "this file holds more than one runbook",
        )
        .with_label(second.name.span, "second runbook")
        .with_help("keep one runbook per file; share gates and checks through imports")),
    }
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
    program: &Program,
    runbook: &Runbook,
    env_name: Option<&str>,
    sets: &[String],
) -> Result<Bound, (SourceMap, Vec<Diagnostic>)> {
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
            let hint = crate::check::suggest::closest(k, param_names.iter().copied())
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

    let mut values = IndexMap::new();
    for p in &params {
        let name = &p.name.name;
        let result = if let Some((text, span)) = set_values.get(name) {
            parse_text(&p.ty.kind, text).map_err(|why| (why, *span))
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
        Ok(Bound {
            values,
            environment: env_name.map(str::to_string),
            protected,
        })
    } else {
        Err((sources, diags))
    }
}

fn type_name(t: &TypeKind) -> String {
    match t {
        TypeKind::String => "string".into(),
        TypeKind::Int => "int".into(),
        TypeKind::Bool => "bool".into(),
        TypeKind::Duration => "duration (e.g. 10m, 1h30m)".into(),
        TypeKind::Version => "version (e.g. 1.30)".into(),
        TypeKind::List(_) => "list".into(),
        TypeKind::Map(_) => "map".into(),
    }
}

/// A `--set` value as the declared type, read as the language reads the
/// literal (so `500ms` and `1.30` mean what they mean in a runbook). Lists
/// are `a,b,c`; maps `k=v,k2=v2`.
fn parse_text(t: &TypeKind, text: &str) -> Result<Value, String> {
    let text = text.trim();
    match t {
        TypeKind::String => Ok(Value::str(text)),
        TypeKind::Int => literal::parse_int(text).map(Value::Int),
        TypeKind::Bool => literal::parse_bool(text).map(Value::Bool),
        TypeKind::Duration => match literal::parse_duration(text) {
            Ok(d) if d.is_zero() => Err(format!("`{text}` is zero; a duration must be positive")),
            Ok(d) => Ok(Value::Duration(d)),
            Err(why) => Err(format!("`{text}` is not a duration: {why}")),
        },
        TypeKind::Version => literal::parse_version(text)
            .map(Value::Version)
            .map_err(|why| format!("`{text}` is not a version like 1.30: {why}")),
        TypeKind::List(elem) => {
            let elem_ty = elem
                .as_ref()
                .map(|t| t.kind.clone())
                .unwrap_or(TypeKind::String);
            literal::split_list(text)
                .into_iter()
                .map(|i| parse_text(&elem_ty, i))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
        TypeKind::Map(_) => Ok(Value::Map(
            literal::split_map(text)?
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::str(v)))
                .collect(),
        )),
    }
}

/// An environment or default value as the declared type.
fn coerce(t: &TypeKind, v: Value) -> Result<Value, String> {
    match (t, &v) {
        (TypeKind::String, Value::Str(_))
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
        assert_eq!(parse_text(&TypeKind::Int, "3"), Ok(Value::Int(3)));
        assert!(parse_text(&TypeKind::Int, "three").is_err());
        assert!(parse_text(&TypeKind::Version, "1.30").is_ok());
        assert!(parse_text(&TypeKind::Version, "1.3x").is_err());
        assert!(parse_text(&TypeKind::Version, "1").is_err());
        assert!(parse_text(&TypeKind::Duration, "10m").is_ok());
        assert!(parse_text(&TypeKind::Duration, "10q").is_err());
        assert!(parse_text(&TypeKind::Bool, "yes").is_err());
    }
}
