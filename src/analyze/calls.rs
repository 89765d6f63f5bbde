//! Calls: built-ins from the registry (arity, keywords, types, allowed values,
//! effects), custom checks `check.NAME(...)`, and value methods.

use std::collections::HashMap;

use crate::builtins::{self, Builtin, MethodArg, MethodReturn, Param, Type, methods};
use crate::checks::ParamsRead;
use crate::source::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident};

use super::context::{BlockKind, Checker, RangedUse, article};
use super::types::list_of;
use super::{codes, literals, suggest};

impl Checker<'_> {
    pub fn call(&mut self, expr: &Expr, namespace: &Ident, func: &Ident, args: &[Arg]) -> Type {
        if namespace.name == "check" {
            return self.check_call(func, args);
        }
        let name = format!("{}.{}", namespace.name, func.name);
        let Some(builtin) = builtins::lookup(&name) else {
            let names = builtins::all().iter().map(|b| b.name);
            let help = suggest::did_you_mean(&name, names, || {
                format!(
                    "see docs/actions.md for the built-ins of `{}`",
                    namespace.name
                )
            });
            self.report(
                codes::UNKNOWN_BUILTIN
                    .diag(format!("unknown action or query `{name}`"))
                    .with_label(namespace.span.to(func.span), "not a built-in")
                    .with_help(help),
            );
            for a in args {
                self.expr(&a.value);
            }
            return Type::Any;
        };
        self.effect(builtin, namespace.span.to(func.span));
        self.arguments(builtin, expr.span, args);
        builtin.returns
    }

    /// Records what a call does to the cluster and whether that is allowed here.
    fn effect(&mut self, builtin: &'static Builtin, span: Span) {
        if !builtin.is_mutating() {
            return;
        }
        match self.block {
            BlockKind::ReadOnly(context) => self.report(
                codes::MUTATION_IN_CONDITION
                    .diag(format!("`{}` changes the cluster and cannot be called in {context}", builtin.name))
                    .with_label(span, "action in a read-only context")
                    .with_help("conditions are evaluated repeatedly and in --dry-run: use queries here and move the action into a step"),
            ),
            BlockKind::Flow => self.report(
                codes::MUTATION_IN_CONDITION
                    .diag(format!("`{}` changes the cluster and can only be called inside a step", builtin.name))
                    .with_label(span, "action outside a step")
                    .with_help("wrap it in `step \"...\" { ... }` so it is planned, journaled and can be rolled back"),
            ),
            BlockKind::Step => {
                if let Some(frame) = self.steps.last_mut() {
                    frame.first_mutation.get_or_insert((span, builtin.name));
                    if builtin.is_irreversible() {
                        frame.irreversible_calls.push((span, builtin.name));
                    }
                }
            }
            BlockKind::Rollback => {}
        }
    }

    fn arguments(&mut self, builtin: &'static Builtin, call_span: Span, args: &[Arg]) {
        let positional: Vec<&Arg> = args.iter().filter(|a| a.name.is_none()).collect();
        if positional.len() != builtin.positional.len() {
            let names: Vec<&str> = builtin.positional.iter().map(|p| p.name).collect();
            let span = positional
                .get(builtin.positional.len())
                .map_or(call_span, |a| a.span);
            self.report(
                codes::ARITY
                    .diag(format!(
                        "`{}` takes {} positional argument{} ({}), {} given",
                        builtin.name,
                        names.len(),
                        if names.len() == 1 { "" } else { "s" },
                        names.join(", "),
                        positional.len()
                    ))
                    .with_label(
                        span,
                        if positional.len() > names.len() {
                            "unexpected argument"
                        } else {
                            "arguments missing in this call"
                        },
                    )
                    .with_help(format!("the signature is `{}`", builtin.signature())),
            );
        }
        for (arg, param) in positional.iter().zip(builtin.positional) {
            self.argument(builtin, param, arg);
        }
        for arg in positional.iter().skip(builtin.positional.len()) {
            self.expr(&arg.value);
        }

        let mut seen: HashMap<&str, Span> = HashMap::new();
        for arg in args {
            let Some(key) = &arg.name else { continue };
            if let Some(first) = seen.insert(&key.name, key.span) {
                self.report(
                    codes::DUPLICATE_KEYWORD
                        .diag(format!("keyword argument `{}` is given twice", key.name))
                        .with_label(key.span, "second value")
                        .with_label(first, "first value")
                        .with_help("remove one of them"),
                );
            }
            match builtin.keyword(&key.name) {
                Some(param) => self.argument(builtin, param, arg),
                None => {
                    let help = suggest::did_you_mean(
                        &key.name,
                        builtin
                            .keyword
                            .iter()
                            .chain(builtin.positional)
                            .map(|p| p.name),
                        || format!("the signature is `{}`", builtin.signature()),
                    );
                    let help = if builtin.positional.iter().any(|p| p.name == key.name) {
                        format!(
                            "`{}` is positional: pass it without `{}:`",
                            key.name, key.name
                        )
                    } else {
                        help
                    };
                    self.report(
                        codes::UNKNOWN_KEYWORD
                            .diag(format!(
                                "`{}` has no keyword argument `{}`",
                                builtin.name, key.name
                            ))
                            .with_label(key.span, "unknown keyword")
                            .with_help(help),
                    );
                    self.expr(&arg.value);
                }
            }
        }
        for param in builtin.keyword.iter().filter(|p| p.required) {
            if !seen.contains_key(param.name) {
                self.report(
                    codes::MISSING_ARGUMENT
                        .diag(format!(
                            "`{}` needs the keyword argument `{}`",
                            builtin.name, param.name
                        ))
                        .with_label(call_span, format!("`{}:` missing", param.name))
                        .with_help(format!(
                            "add `{}: <{}>` ({})",
                            param.name, param.ty, param.doc
                        )),
                );
            }
        }
    }

    fn argument(&mut self, builtin: &'static Builtin, param: &'static Param, arg: &Arg) {
        if let ExprKind::Lambda { .. } = arg.value.kind {
            self.expr(&arg.value);
            self.report(
                codes::TYPE_MISMATCH
                    .diag(format!(
                        "argument `{}` of `{}` must be {}, found a lambda",
                        param.name,
                        builtin.name,
                        article(param.ty)
                    ))
                    .with_label(arg.value.span, "lambdas are only accepted by list methods")
                    .with_help(
                        "lambdas `x => ...` go to `.all`, `.any`, `.filter`, `.map` and `.count`",
                    ),
            );
            return;
        }
        let ty = self.expr(&arg.value);
        self.expect_type(
            param.ty,
            ty,
            arg.value.span,
            &format!("argument `{}` of `{}`", param.name, builtin.name),
        );
        if !param.allowed.is_empty() {
            self.allowed_values(builtin, param, arg);
        }
        if param.ty == Type::Duration && param.name.ends_with("timeout") {
            literals::check_positive_duration(self, &arg.value, &format!("`{}`", param.name));
        }
        if param.range.is_some() {
            self.in_range(builtin.name, param, &arg.value);
        }
    }

    /// A literal, or a runbook parameter's default and environment values,
    /// outside the argument's range. Parameters passed here are remembered
    /// so `--set` values are checked the same way before a run starts.
    pub(super) fn in_range(&mut self, owner: &'static str, param: &'static Param, arg: &Expr) {
        let Some((lo, hi)) = param.range else { return };
        let values: Vec<(i64, Span)> = match &arg.kind {
            // Only the runbook parameter itself, not a shadowing variable.
            ExprKind::Name(id) if self.scopes.depth(&id.name) == 1 => {
                self.ranged_params.push(RangedUse {
                    param: id.name.clone(),
                    builtin: owner,
                    argument: param,
                });
                self.param_numbers
                    .get(&id.name)
                    .cloned()
                    .unwrap_or_default()
            }
            _ => literals::number(arg)
                .map(|v| (v, arg.span))
                .into_iter()
                .collect(),
        };
        for (value, span) in values {
            // A zero timeout has its own diagnostic (UPG031).
            let zero_timeout = value == 0 && param.name.ends_with("timeout");
            if (lo..=hi).contains(&value) || zero_timeout || !self.reported_values.insert(span) {
                continue;
            }
            let range = param.range_text().unwrap_or_default();
            let shown = if param.ty == Type::Duration {
                crate::syntax::format_duration(std::time::Duration::from_secs(value.max(0) as u64))
            } else {
                value.to_string()
            };
            let mut d = codes::OUT_OF_RANGE
                .diag(format!(
                    "`{}: {shown}` is out of range for `{owner}`",
                    param.name
                ))
                .with_label(span, format!("expected {range}"));
            if span != arg.span {
                d = d.with_label(arg.span, format!("passed as `{}:` here", param.name));
            }
            self.report(d.with_help(format!("`{}` ({}) accepts {range}", param.name, param.doc)));
        }
    }

    /// `check.NAME(key: value, ...)`: a declared rhai check; returns whether it passed.
    fn check_call(&mut self, func: &Ident, args: &[Arg]) -> Type {
        if !self.decls.checks.contains_key(func.name.as_str()) {
            let help = suggest::did_you_mean(&func.name, self.decls.checks.keys().copied(), || {
                "declare it with `check NAME { ... }` or `import \"stdlib/checks\"`".to_string()
            });
            self.report(
                codes::UNKNOWN_CHECK
                    .diag(format!("unknown check `{}`", func.name))
                    .with_label(func.span, "no check declared with this name")
                    .with_help(help),
            );
        }
        for a in args {
            self.expr(&a.value);
            self.check_argument(func, a);
        }
        Type::Bool
    }

    /// A check reads keyword arguments as `params.NAME`; anything else it
    /// would silently ignore.
    fn check_argument(&mut self, func: &Ident, a: &Arg) {
        // `None`: the script uses `params` whole, so any keyword may be read.
        let names = match self.check_params.get(func.name.as_str()) {
            Some(ParamsRead::Names(names)) => Some(names),
            Some(ParamsRead::Any) => None,
            None => return,
        };
        let reads = || match names {
            Some(n) if n.is_empty() => format!("check `{}` takes no arguments", func.name),
            Some(n) => {
                let quoted: Vec<String> = n.iter().map(|n| format!("`{n}`")).collect();
                format!("check `{}` reads: {}", func.name, quoted.join(", "))
            }
            None => format!("check `{}` reads its arguments by name", func.name),
        };
        let d = match (&a.name, names) {
            (None, _) => codes::CHECK_ARGUMENT
                .diag(format!(
                    "check `{}` takes keyword arguments only",
                    func.name
                ))
                .with_label(a.span, "positional argument")
                .with_help(format!("name it, e.g. `key: value`; {}", reads())),
            (Some(name), Some(n)) if !n.contains(&name.name) => codes::CHECK_ARGUMENT
                .diag(format!(
                    "check `{}` does not read a parameter `{}`",
                    func.name, name.name
                ))
                .with_label(name.span, "never read by the check's script")
                .with_help(suggest::did_you_mean(
                    &name.name,
                    n.iter().map(String::as_str),
                    reads,
                )),
            _ => return,
        };
        self.report(d);
    }

    /// `receiver.method(args)`.
    pub fn method(&mut self, receiver: &Expr, method: &Ident, args: &[Arg]) -> Type {
        let recv_ty = self.expr(receiver);
        let name = method.name.as_str();
        let found = match recv_ty {
            // Unknown receiver: accept any declared method name, bind lambdas to any.
            Type::Any => methods::METHODS.iter().find(|m| m.name == name),
            t => methods::method(t, name),
        };
        let Some(m) = found else {
            let help = suggest::did_you_mean(name, methods::method_names(recv_ty), || {
                let names: Vec<&str> = methods::method_names(recv_ty).collect();
                if names.is_empty() {
                    format!("values of type {recv_ty} have no methods")
                } else {
                    format!("{} has the methods {}", article(recv_ty), names.join(", "))
                }
            });
            let help = match recv_ty {
                Type::Record(r) if r.field(name).is_some() => {
                    format!("`{name}` is a field: write `.{name}` without parentheses")
                }
                _ => help,
            };
            self.report(
                codes::UNKNOWN_METHOD
                    .diag(format!("{} has no method `{name}`", article(recv_ty)))
                    .with_label(method.span, "unknown method")
                    .with_help(help),
            );
            for a in args {
                self.expr(&a.value);
            }
            return Type::Any;
        };
        let elem = match recv_ty {
            Type::Any => Type::Any,
            t => t.element().unwrap_or(Type::Any),
        };
        if args.len() != m.args.len() {
            self.report(
                codes::ARITY
                    .diag(format!(
                        "`.{name}()` takes {} argument{}, {} given",
                        m.args.len(),
                        if m.args.len() == 1 { "" } else { "s" },
                        args.len()
                    ))
                    .with_label(method.span, "called here")
                    .with_help(method_usage(m)),
            );
        }
        let mut lambda_ty = Type::Any;
        for (arg, kind) in args.iter().zip(m.args) {
            match kind {
                MethodArg::Predicate | MethodArg::Lambda => {
                    let ExprKind::Lambda { param, body } = &arg.value.kind else {
                        self.expr(&arg.value);
                        self.report(
                            codes::TYPE_MISMATCH
                                .diag(format!("`.{name}()` takes a lambda"))
                                .with_label(arg.value.span, "not a lambda")
                                .with_help(method_usage(m)),
                        );
                        continue;
                    };
                    let body_ty = self.scoped(|c| {
                        c.scopes.bind(&param.name, elem);
                        c.expr(body)
                    });
                    if *kind == MethodArg::Predicate {
                        self.expect_type(
                            Type::Bool,
                            body_ty,
                            body.span,
                            &format!("the predicate of `.{name}()`"),
                        );
                    }
                    lambda_ty = body_ty;
                }
                MethodArg::Element => {
                    let t = self.expr(&arg.value);
                    self.expect_type(
                        elem,
                        t,
                        arg.value.span,
                        &format!("the argument of `.{name}()`"),
                    );
                }
                MethodArg::Value(want) => {
                    let t = self.expr(&arg.value);
                    self.expect_type(
                        *want,
                        t,
                        arg.value.span,
                        &format!("the argument of `.{name}()`"),
                    );
                }
            }
        }
        for arg in args.iter().skip(m.args.len()) {
            self.expr(&arg.value);
        }
        if recv_ty == Type::Any {
            return match m.returns {
                MethodReturn::Fixed(t) => t,
                _ => Type::Any,
            };
        }
        match m.returns {
            MethodReturn::Fixed(t) => t,
            MethodReturn::Same => recv_ty,
            MethodReturn::Element => elem,
            MethodReturn::ListOfLambda => list_of(lambda_ty),
        }
    }
}

fn method_usage(m: &methods::Method) -> String {
    let args: Vec<&str> = m
        .args
        .iter()
        .map(|a| match a {
            MethodArg::Predicate => "x => condition",
            MethodArg::Lambda => "x => value",
            MethodArg::Element => "value",
            MethodArg::Value(_) => "value",
        })
        .collect();
    format!("usage: `.{}({})`: {}", m.name, args.join(", "), m.doc)
}

impl Checker<'_> {
    /// An enumerated argument given as a literal, or as a parameter whose
    /// default and environment values are literals: each must be allowed.
    fn allowed_values(&mut self, builtin: &Builtin, param: &'static Param, arg: &Arg) {
        let values: Vec<(String, Span)> = match &arg.value.kind {
            ExprKind::Str(s) => s
                .as_plain()
                .map(|v| (v, arg.value.span))
                .into_iter()
                .collect(),
            // Only the runbook parameter itself, not a shadowing variable.
            ExprKind::Name(id) if self.scopes.depth(&id.name) == 1 => {
                self.param_values.get(&id.name).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        };
        for (value, span) in values {
            if param.allowed.contains(&value.as_str()) || !self.reported_values.insert(span) {
                continue;
            }
            let quoted: Vec<String> = param.allowed.iter().map(|v| format!("\"{v}\"")).collect();
            let help = match suggest::closest(&value, param.allowed.iter().copied()) {
                Some(c) => format!("did you mean `\"{c}\"`?"),
                None => format!("use one of {}", quoted.join(", ")),
            };
            let mut d = codes::VALUE_NOT_ALLOWED
                .diag(format!(
                    "`{value}` is not a valid `{}` for `{}`",
                    param.name, builtin.name
                ))
                .with_label(span, format!("expected one of {}", quoted.join(", ")));
            if span != arg.value.span {
                d = d.with_label(arg.value.span, format!("passed as `{}:` here", param.name));
            }
            self.report(d.with_help(help));
        }
    }
}
