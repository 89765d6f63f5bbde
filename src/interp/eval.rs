//! Expressions: literals, names, fields, indexing, built-in calls (through
//! `dispatch`), value methods (the registry's `methods` table), operators.

use std::cmp::Ordering;

use futures::future::LocalBoxFuture;
use indexmap::IndexMap;

use super::dispatch::{self, CallArgs, CallCtx, Called};
use super::durable::{Go, Stop};
use super::env::Env;
use super::error::{FailKind, RunError};
use super::report::Event;
use super::run::Interp;
use super::value::{Value, Version, recorded};
use crate::builtins::{self, MethodOp, Receiver, methods};
use crate::cloud::CloudError;
use crate::cloud::plan::Change;
use crate::durable::record::args_hash;
use crate::durable::{ActionKey, Replay};
use crate::source::Span;
use crate::syntax::ast::{Arg, BinaryOp, Expr, ExprKind, StrLit, StrPart, UnaryOp};
use serde_json::json;

impl<'p> Interp<'p> {
    pub fn eval<'a>(
        &'a self,
        e: &'a Expr,
        env: &'a Env,
    ) -> LocalBoxFuture<'a, Result<Value, RunError>> {
        Box::pin(async move {
            let span = e.span;
            Ok(match &e.kind {
                ExprKind::Str(s) => Value::Str(self.eval_str(s, env).await?),
                ExprKind::Int(i) => Value::Int(*i),
                ExprKind::Bool(b) => Value::Bool(*b),
                ExprKind::Duration(d) => Value::Duration(*d),
                ExprKind::Version(v) => Value::Version(*v),
                ExprKind::List(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for i in items {
                        out.push(self.eval(i, env).await?);
                    }
                    Value::List(out)
                }
                ExprKind::Map(entries) => {
                    let mut out = IndexMap::new();
                    for en in entries {
                        out.insert(en.key.clone(), self.eval(&en.value, env).await?);
                    }
                    Value::Map(out)
                }
                ExprKind::Name(id) => env.get(&id.name).cloned().ok_or_else(|| {
                    RunError::eval(format!("`{}` is not defined here", id.name), id.span)
                })?,
                ExprKind::Field { base, name } => {
                    let b = self.eval(base, env).await?;
                    match &b {
                        Value::Unknown(_) => b,
                        Value::Map(_) | Value::Record { .. } => {
                            b.field(&name.name).cloned().ok_or_else(|| {
                                RunError::eval(
                                    format!("{} has no field `{}`", b.type_name(), name.name),
                                    name.span,
                                )
                            })?
                        }
                        other => {
                            return Err(RunError::eval(
                                format!("a {} has no fields (`.{}`)", other.type_name(), name.name),
                                name.span,
                            ));
                        }
                    }
                }
                ExprKind::Index { base, index } => {
                    let b = self.eval(base, env).await?;
                    let i = self.eval(index, env).await?;
                    match (&b, &i) {
                        (Value::List(l), Value::Int(n)) => {
                            let idx = if *n < 0 { l.len() as i64 + n } else { *n };
                            l.get(idx as usize).cloned().ok_or_else(|| {
                                RunError::eval(
                                    format!("index {n} is out of range (length {})", l.len()),
                                    index.span,
                                )
                            })?
                        }
                        (Value::Map(_) | Value::Record { .. }, Value::Str(k)) => {
                            b.field(k).cloned().unwrap_or(Value::Null)
                        }
                        (Value::Unknown(_), _) | (_, Value::Unknown(_)) => {
                            Value::Unknown("index".into())
                        }
                        _ => {
                            return Err(RunError::eval(
                                format!(
                                    "cannot index a {} with a {}",
                                    b.type_name(),
                                    i.type_name()
                                ),
                                span,
                            ));
                        }
                    }
                }
                ExprKind::Call {
                    namespace,
                    func,
                    args,
                } => {
                    self.call(&namespace.name, &func.name, args, env, span)
                        .await?
                }
                ExprKind::Method {
                    receiver,
                    method,
                    args,
                } => {
                    let r = self.eval(receiver, env).await?;
                    self.method(r, &method.name, args, env, method.span).await?
                }
                ExprKind::Lambda { .. } => {
                    return Err(RunError::eval(
                        "a lambda can only be a method argument",
                        span,
                    ));
                }
                ExprKind::Unary { op, operand } => {
                    let v = self.eval(operand, env).await?;
                    match (op, v) {
                        (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                        (UnaryOp::Neg, Value::Int(i)) => Value::Int(-i),
                        (_, u @ Value::Unknown(_)) => u,
                        (op, v) => {
                            return Err(RunError::eval(
                                format!(
                                    "cannot apply `{}` to a {}",
                                    if *op == UnaryOp::Not { "!" } else { "-" },
                                    v.type_name()
                                ),
                                span,
                            ));
                        }
                    }
                }
                ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, env, span).await?,
            })
        })
    }

    pub async fn eval_str(&self, s: &StrLit, env: &Env) -> Result<String, RunError> {
        let mut out = String::new();
        for part in &s.parts {
            match part {
                StrPart::Text { text, .. } => out.push_str(text),
                StrPart::Interp(e) => out.push_str(&self.eval(e, env).await?.to_text()),
            }
        }
        Ok(out)
    }

    /// A condition: must be a bool (unknown counts as holding in a plan).
    pub async fn eval_bool(&self, e: &Expr, env: &Env) -> Result<Option<bool>, RunError> {
        match self.eval(e, env).await? {
            Value::Bool(b) => Ok(Some(b)),
            Value::Unknown(_) => Ok(None),
            other => Err(RunError::eval(
                format!(
                    "a condition must be true or false, this is a {}",
                    other.type_name()
                ),
                e.span,
            )),
        }
    }

    async fn binary(
        &self,
        op: BinaryOp,
        lhs: &Expr,
        rhs: &Expr,
        env: &Env,
        span: Span,
    ) -> Result<Value, RunError> {
        // Short-circuit first: `a && b` must not evaluate (or call) b needlessly.
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let l = self.eval_bool(lhs, env).await?;
            match (op, l) {
                (BinaryOp::And, Some(false)) => return Ok(Value::Bool(false)),
                (BinaryOp::Or, Some(true)) => return Ok(Value::Bool(true)),
                _ => {}
            }
            let r = self.eval_bool(rhs, env).await?;
            return Ok(match (l, r) {
                (Some(_), Some(r)) => Value::Bool(r),
                _ => Value::Unknown("condition".into()),
            });
        }
        let l = self.eval(lhs, env).await?;
        let r = self.eval(rhs, env).await?;
        if l.is_unknown() || r.is_unknown() {
            return Ok(Value::Unknown(format!("{} {} {}", l, op.symbol(), r)));
        }
        let mismatch = || {
            RunError::eval(
                format!(
                    "cannot apply `{}` to a {} and a {}",
                    op.symbol(),
                    l.type_name(),
                    r.type_name()
                ),
                span,
            )
        };
        Ok(match op {
            BinaryOp::Eq => Value::Bool(l.equals(&r)),
            BinaryOp::Ne => Value::Bool(!l.equals(&r)),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ord = l.compare(&r).ok_or_else(mismatch)?;
                Value::Bool(match op {
                    BinaryOp::Lt => ord == Ordering::Less,
                    BinaryOp::Le => ord != Ordering::Greater,
                    BinaryOp::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                })
            }
            BinaryOp::In => Value::Bool(match &r {
                Value::List(items) => items.iter().any(|i| i.equals(&l)),
                Value::Map(m) | Value::Record { fields: m, .. } => m.contains_key(&l.to_text()),
                Value::Str(s) => s.contains(&l.to_text()),
                _ => return Err(mismatch()),
            }),
            BinaryOp::Add => match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => {
                    Value::Int(a.checked_add(*b).ok_or_else(mismatch)?)
                }
                (Value::Str(a), b) => Value::Str(format!("{a}{}", b.to_text())),
                (Value::Duration(a), Value::Duration(b)) => Value::Duration(*a + *b),
                (Value::List(a), Value::List(b)) => {
                    Value::List(a.iter().chain(b).cloned().collect())
                }
                _ => return Err(mismatch()),
            },
            BinaryOp::Sub => match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => {
                    Value::Int(a.checked_sub(*b).ok_or_else(mismatch)?)
                }
                (Value::Duration(a), Value::Duration(b)) => Value::Duration(a.saturating_sub(*b)),
                _ => return Err(mismatch()),
            },
            BinaryOp::Mul => match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => {
                    Value::Int(a.checked_mul(*b).ok_or_else(mismatch)?)
                }
                (Value::Duration(a), Value::Int(b)) | (Value::Int(b), Value::Duration(a))
                    if *b >= 0 =>
                {
                    Value::Duration(*a * (*b as u32))
                }
                _ => return Err(mismatch()),
            },
            BinaryOp::Div | BinaryOp::Rem => match (&l, &r) {
                (Value::Int(_), Value::Int(0)) => {
                    return Err(RunError::eval("division by zero", rhs.span));
                }
                (Value::Int(a), Value::Int(b)) => {
                    Value::Int(if op == BinaryOp::Div { a / b } else { a % b })
                }
                _ => return Err(mismatch()),
            },
            BinaryOp::And | BinaryOp::Or => unreachable!("handled above"),
        })
    }

    async fn method(
        &self,
        recv: Value,
        name: &str,
        args: &[Arg],
        env: &Env,
        span: Span,
    ) -> Result<Value, RunError> {
        if let Value::Unknown(_) = recv {
            return Ok(recv);
        }
        let lambda = |i: usize| -> Result<(&str, &Expr), RunError> {
            match args.get(i).map(|a| &a.value.kind) {
                Some(ExprKind::Lambda { param, body }) => Ok((param.name.as_str(), body)),
                _ => Err(RunError::eval(
                    format!("`{name}` takes a lambda like `x => ...`"),
                    span,
                )),
            }
        };
        let arg = |i: usize| async move {
            match args.get(i) {
                Some(a) => self.eval(&a.value, env).await,
                None => Err(RunError::eval(format!("`{name}` needs an argument"), span)),
            }
        };
        let unknown = || {
            RunError::eval(
                format!("a {} has no method `{name}`", recv.type_name()),
                span,
            )
        };
        let receiver = match &recv {
            Value::List(_) => Receiver::List,
            Value::Str(_) => Receiver::String,
            Value::Map(_) | Value::Record { .. } => Receiver::Map,
            Value::Version(_) => Receiver::Version,
            Value::Duration(_) => Receiver::Duration,
            _ => return Err(unknown()),
        };
        let Some(method) = methods::METHODS
            .iter()
            .find(|m| m.receiver == receiver && m.name == name)
        else {
            return Err(unknown());
        };
        let empty = IndexMap::new();
        let (list, text, map) = match &recv {
            Value::List(l) => (l.as_slice(), "", &empty),
            Value::Str(s) => (&[][..], s.as_str(), &empty),
            Value::Map(m) | Value::Record { fields: m, .. } => (&[][..], "", m),
            _ => (&[][..], "", &empty),
        };
        Ok(match method.op {
            MethodOp::Len => Value::Int(match receiver {
                Receiver::String => text.chars().count(),
                Receiver::Map => map.len(),
                _ => list.len(),
            } as i64),
            MethodOp::IsEmpty => Value::Bool(match receiver {
                Receiver::String => text.is_empty(),
                _ => list.is_empty(),
            }),
            op @ (MethodOp::All | MethodOp::Any | MethodOp::Count | MethodOp::Filter) => {
                let (param, body) = lambda(0)?;
                let mut hits = Vec::new();
                for item in list {
                    let child = env.with(param, item.clone());
                    if self.eval_bool(body, &child).await?.unwrap_or(true) {
                        hits.push(item.clone());
                    }
                }
                match op {
                    MethodOp::All => Value::Bool(hits.len() == list.len()),
                    MethodOp::Any => Value::Bool(!hits.is_empty()),
                    MethodOp::Count => Value::Int(hits.len() as i64),
                    _ => Value::List(hits),
                }
            }
            MethodOp::Map => {
                let (param, body) = lambda(0)?;
                let mut out = Vec::with_capacity(list.len());
                for item in list {
                    let child = env.with(param, item.clone());
                    out.push(self.eval(body, &child).await?);
                }
                Value::List(out)
            }
            MethodOp::Contains => {
                let x = arg(0).await?;
                Value::Bool(match receiver {
                    Receiver::String => text.contains(&x.to_text()),
                    Receiver::Map => map.contains_key(&x.to_text()),
                    _ => list.iter().any(|i| i.equals(&x)),
                })
            }
            op @ (MethodOp::First | MethodOp::Last) => {
                let v = if op == MethodOp::First {
                    list.first()
                } else {
                    list.last()
                };
                v.cloned()
                    .ok_or_else(|| RunError::eval(format!("`{name}` of an empty list"), span))?
            }
            MethodOp::Sorted => {
                let mut v = list.to_vec();
                v.sort_by(|a, b| a.compare(b).unwrap_or(Ordering::Equal));
                Value::List(v)
            }
            MethodOp::Join => {
                let sep = match args.first() {
                    Some(_) => arg(0).await?.to_text(),
                    None => ", ".into(),
                };
                Value::Str(
                    list.iter()
                        .map(Value::to_text)
                        .collect::<Vec<_>>()
                        .join(&sep),
                )
            }
            MethodOp::StartsWith => Value::Bool(text.starts_with(&arg(0).await?.to_text())),
            MethodOp::EndsWith => Value::Bool(text.ends_with(&arg(0).await?.to_text())),
            MethodOp::Lower => Value::Str(text.to_lowercase()),
            MethodOp::Upper => Value::Str(text.to_uppercase()),
            MethodOp::Trim => Value::Str(text.trim().to_string()),
            MethodOp::Split => {
                let sep = arg(0).await?.to_text();
                Value::List(text.split(sep.as_str()).map(Value::str).collect())
            }
            MethodOp::Keys => Value::List(map.keys().map(Value::str).collect()),
            MethodOp::Values => Value::List(map.values().cloned().collect()),
            MethodOp::Get => {
                let k = arg(0).await?.to_text();
                match map.get(&k) {
                    Some(v) => v.clone(),
                    None if args.len() > 1 => arg(1).await?,
                    None => Value::Null,
                }
            }
            op @ (MethodOp::Major | MethodOp::Minor | MethodOp::Next) => {
                let Value::Version(v) = &recv else {
                    return Err(unknown());
                };
                match op {
                    MethodOp::Major => Value::Int(v.major as i64),
                    MethodOp::Minor => Value::Int(v.minor as i64),
                    _ => Value::Version(Version::minor(v.major, v.minor + 1)),
                }
            }
            MethodOp::Seconds => {
                let Value::Duration(d) = &recv else {
                    return Err(unknown());
                };
                Value::Int(d.as_secs() as i64)
            }
        })
    }

    async fn call(
        &self,
        ns: &str,
        func: &str,
        args: &[Arg],
        env: &Env,
        span: Span,
    ) -> Result<Value, RunError> {
        let mut positional = Vec::new();
        let mut keyword = Vec::new();
        for a in args {
            let v = self.eval(&a.value, env).await?;
            match &a.name {
                Some(n) => keyword.push((n.name.clone(), v)),
                None => positional.push(v),
            }
        }
        if ns == "check" {
            let args = json!(
                keyword
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<serde_json::Map<_, _>>()
            );
            let what = format!("check.{func}");
            return self
                .observe(&what, &args, env, span, self.run_check(func, keyword, span))
                .await;
        }
        let name = format!("{ns}.{func}");
        let Some(b) = builtins::lookup(&name) else {
            return Err(RunError::eval(format!("unknown built-in `{name}`"), span));
        };
        let bound = CallArgs::bind(b, positional, keyword).map_err(|m| RunError::eval(m, span))?;
        if !b.is_mutating() {
            let ctx = CallCtx {
                mode: self.mode,
                token: String::new(),
                probe: false,
                progress: &|m: &str| self.reporter.progress(m),
                canary_gate: None,
            };
            let live = async {
                dispatch::call(&self.cloud, b, &bound, &ctx)
                    .await
                    .map(|c| c.value)
                    .map_err(|e| RunError::cloud(e, span))
            };
            return self.observe(&name, &bound.to_json(), env, span, live).await;
        }
        // One source of truth for idempotency: the journal's action key
        // (step, position, arguments) and the token derived from it.
        let (step, index) = self.next_action();
        let key = ActionKey::new(step, index as u32, &bound.to_json());
        let mut token = key.client_request_token(&self.run_id);
        let mut probe = false;
        let mut in_doubt = false;
        let durable = self.durable.filter(|_| !self.is_plan());
        if let Some(d) = durable {
            let (go, to_send) = d
                .begin(&key, &name, &token, &bound.to_json())
                .map_err(|stop| self.stopped(stop, span))?;
            token = to_send;
            match go {
                Go::Send => {}
                Go::Probe => {
                    probe = true;
                    in_doubt = true;
                }
                Go::Compare => probe = true,
                Go::Fail(error) => {
                    if may_have_landed(&error) {
                        self.record_change(Change::Applied {
                            target: name.clone(),
                            from: None,
                            to: None,
                            detail: format!("may have been applied: {error}"),
                        });
                    }
                    return Err(RunError::new(FailKind::Cloud, error, span));
                }
                Go::DuringFailed { gate, detail } => {
                    return Err(self.during_failed(&gate, detail, span));
                }
                Go::Reuse(result) => {
                    let target = result["target"].as_str().unwrap_or(&name).to_string();
                    // Still a change of this step: an irreversible step that
                    // changed something in an earlier attempt must stop a
                    // rollback now too.
                    // Replayed, it still ends a later rollback (a run resumed
                    // while rolling back must stop where the first one would).
                    if result["changed"] == true
                        && let Some(limit) = b.undo_limit()
                    {
                        self.note_bounded(limit);
                    }
                    let change = if result["changed"] == true {
                        Change::Applied {
                            target,
                            from: None,
                            to: None,
                            detail: "done in an earlier attempt of this run".into(),
                        }
                    } else {
                        Change::unchanged(target, "done in an earlier attempt of this run")
                    };
                    self.reporter.event(Event::Change {
                        change: change.clone(),
                    });
                    self.record_change(change);
                    return Ok(Value::from_json(&result["value"]));
                }
            }
        }
        let progress = |m: &str| self.reporter.progress(m);
        let during = self.current_during();
        let gate_fn = || -> LocalBoxFuture<'_, Result<(), CloudError>> {
            let during = during.clone();
            Box::pin(async move {
                self.gates_now(&during, env)
                    .await
                    .map_err(|e| CloudError::Invalid(format!("canary gate: {}", e.message)))
            })
        };
        let ctx = CallCtx {
            mode: self.mode,
            token,
            probe,
            progress: &progress,
            canary_gate: if during.is_empty() {
                None
            } else {
                Some(&gate_fn)
            },
        };
        let mut called = dispatch::call(&self.cloud, b, &bound, &ctx).await;
        // An in-doubt action found already done was (almost surely) done by
        // the attempt that died: it is a change of its step, so a rollback
        // still stops at an irreversible step that made it.
        if in_doubt
            && let Ok(Called {
                change: Some(change @ Change::Unchanged { .. }),
                ..
            }) = &mut called
        {
            *change = Change::Applied {
                target: change_target(change),
                from: None,
                to: None,
                detail: "done in an earlier attempt of this run (found on probe)".into(),
            };
        }
        // Stopped because the lock was lost: the request may be in flight;
        // no result, so a resume probes it.
        let lock_lost = durable.and_then(|d| d.lock_lost());
        if let Some(d) = durable
            && !(lock_lost.is_some() && matches!(called, Err(CloudError::Cancelled)))
        {
            d.finish(
                &key,
                match &called {
                    Ok(c) => Ok(json!({
                        "target": c.change.as_ref().map(change_target),
                        "change": c.change.as_ref().map(Change::summary),
                        "changed": c.change.as_ref().is_some_and(|c| !c.is_unchanged()),
                        "value": c.value.to_json(),
                    })),
                    Err(e) => Err(e.to_string()),
                },
            );
        }
        if let Some(reason) = lock_lost {
            return Err(self.stopped(Stop::LockLost(reason), span));
        }
        if let (Err(e @ (CloudError::Cancelled | CloudError::Timeout { .. })), false) =
            (&called, self.is_plan())
        {
            // Stopped while waiting: the request may have landed, so the step
            // counts it as a change (an irreversible one stays "not undone").
            self.record_change(Change::Applied {
                target: name.clone(),
                from: None,
                to: None,
                detail: format!("may have been applied: {e}"),
            });
        }
        // A change EKS lets undo only within bounds ends a later rollback.
        if let Some(limit) = b.undo_limit()
            && match &called {
                Ok(c) => c.change.as_ref().is_some_and(|c| !c.is_unchanged()),
                Err(e) => {
                    !self.is_plan()
                        && matches!(e, CloudError::Cancelled | CloudError::Timeout { .. })
                }
            }
        {
            self.note_bounded(limit);
        }
        let called = called.map_err(|e| RunError::cloud(e, span))?;
        if let Some(change) = called.change {
            self.reporter.event(Event::Change {
                change: change.clone(),
            });
            self.record_change(change);
        }
        Ok(called.value)
    }

    /// A read whose result the journal keeps: replayed from it while the
    /// run replays, journalled after `live` otherwise. Dry runs and reads
    /// inside a gate, an `await` or a `during` watch (journalled as a whole,
    /// or not at all) just run `live`.
    pub(super) async fn observe(
        &self,
        what: &str,
        args: &serde_json::Value,
        env: &Env,
        span: Span,
        live: impl std::future::Future<Output = Result<Value, RunError>>,
    ) -> Result<Value, RunError> {
        let Some(d) = self.durable.filter(|_| !self.is_plan() && env.recorded()) else {
            return live.await;
        };
        let args = args_hash(args);
        let step = self.current_step();
        match d
            .replay_observed(what, &args, step.as_deref())
            .map_err(|stop| self.stopped(stop, span))?
        {
            Replay::Recorded(Ok(v)) => {
                return recorded::decode(&v).ok_or_else(|| {
                    RunError::new(
                        FailKind::Diverged,
                        format!("the journal's recorded result of `{what}` cannot be read"),
                        span,
                    )
                });
            }
            Replay::Recorded(Err(message)) => {
                return Err(RunError::new(FailKind::Cloud, message, span));
            }
            Replay::DuringFailed { gate, detail } => {
                return Err(self.during_failed(&gate, detail, span));
            }
            Replay::Live | Replay::Diverged(_) => {}
        }
        let r = live.await;
        match &r {
            Ok(v) => d.record_observed(what, &args, Ok(recorded::encode(v))),
            // Ctrl-C or a lost lock: not an answer of the cluster.
            Err(e) if e.kind == FailKind::Cancelled || d.lock_lost().is_some() => {}
            Err(e) => d.record_observed(what, &args, Err(e.message.clone())),
        }
        r
    }

    async fn run_check(
        &self,
        name: &str,
        keyword: Vec<(String, Value)>,
        span: Span,
    ) -> Result<Value, RunError> {
        super::checks::run(self, name, keyword, span)
            .await
            .map_err(|e| {
                if e.kind == FailKind::Eval {
                    e
                } else {
                    RunError {
                        kind: FailKind::Eval,
                        ..e
                    }
                }
            })
    }
}

/// A recorded mutation failure that came from an interrupted or timed-out
/// wait (see `CloudError`): the change may have landed.
fn may_have_landed(error: &str) -> bool {
    error == CloudError::Cancelled.to_string() || error.starts_with("timed out after ")
}

fn change_target(c: &Change) -> String {
    match c {
        Change::Unchanged { target, .. } | Change::Applied { target, .. } => target.clone(),
        Change::Planned(p) => p.target.clone(),
    }
}
