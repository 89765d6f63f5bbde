//! What a failing gate tells the operator, and the last word of `during`
//! gates. A false condition is explained by the objects that make it false
//! (`xs.all(p)`: the items where `p` is false; `xs.count(p) == 0`: the items
//! where it holds), a few by name and the rest as a count. This is worked
//! out only once a gate has failed, so a healthy run never pays for it.

use futures::future::LocalBoxFuture;

use super::env::Env;
use super::error::RunError;
use super::run::Interp;
use super::value::Value;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, Step, UnaryOp};

/// Objects named in a failure message; the count covers the rest.
const NAMED: usize = 5;

/// Which items of a list make a condition false.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Offending {
    /// The items for which the lambda is false (`all`, `count(..) >= n`).
    Failing,
    /// The items for which it holds (`count(..) == 0`, `!any(..)`).
    Holding,
}

impl<'p> Interp<'p> {
    /// "`cond` is false", plus the objects behind it when the condition's
    /// shape names them: "`k8s.nodes().all(n => n.ready)` is false for 2
    /// Node(s): ip-1, ip-2".
    pub(super) async fn why_false(&self, cond: &Expr, env: &Env) -> String {
        match self.eval_bool(cond, env).await {
            Err(e) => {
                return format!(
                    "`{}` could not be evaluated: {}",
                    self.source_of(cond),
                    e.message
                );
            }
            // It failed a moment ago; the objects that made it fail are
            // gone by now.
            Ok(Some(true)) => return format!("`{}` was false", self.source_of(cond)),
            _ => {}
        }
        let mut out = format!("`{}` is false", self.source_of(cond));
        if let Ok(Some(items)) = self.offending(cond, env).await
            && !items.is_empty()
        {
            let kind = match &items[0] {
                Value::Record { kind, .. } => *kind,
                _ => "item",
            };
            let names: Vec<String> = items.iter().take(NAMED).map(name_of).collect();
            out.push_str(&format!(
                " for {} {kind}(s): {}",
                items.len(),
                names.join(", ")
            ));
            if items.len() > NAMED {
                out.push_str(&format!(" and {} more", items.len() - NAMED));
            }
        }
        out
    }

    /// `during` gates must also hold when their step ends: each is checked
    /// as `gate NAME` is, waiting up to its `within` for it to hold, so the
    /// next step never starts from a state the gates reject.
    pub(super) async fn during_at_end(&self, step: &Step, env: &Env) -> Result<(), RunError> {
        for id in &step.during {
            self.run_gate(&id.name, id.span, env)
                .await
                .map_err(|mut e| {
                    e.message = format!("when the step ended, {}", e.message);
                    e
                })?;
        }
        Ok(())
    }

    /// The items that make `e` false, or None when its shape does not say.
    fn offending<'a>(
        &'a self,
        e: &'a Expr,
        env: &'a Env,
    ) -> LocalBoxFuture<'a, Result<Option<Vec<Value>>, RunError>> {
        Box::pin(async move {
            match &e.kind {
                ExprKind::Binary {
                    op: BinaryOp::And,
                    lhs,
                    rhs,
                } => {
                    let side = if self.eval_bool(lhs, env).await? == Some(false) {
                        lhs
                    } else {
                        rhs
                    };
                    self.offending(side, env).await
                }
                ExprKind::Unary {
                    op: UnaryOp::Not,
                    operand,
                } => self.items(operand, "any", Offending::Holding, env).await,
                ExprKind::Method { .. } => self.items(e, "all", Offending::Failing, env).await,
                ExprKind::Binary { op, lhs, .. } => {
                    let which = match op {
                        BinaryOp::Eq | BinaryOp::Le | BinaryOp::Lt => Offending::Holding,
                        BinaryOp::Ge | BinaryOp::Gt => Offending::Failing,
                        _ => return Ok(None),
                    };
                    self.items(lhs, "count", which, env).await
                }
                _ => Ok(None),
            }
        })
    }

    /// For `list.METHOD(x => body)`: the items of `list` that are `which`.
    async fn items(
        &self,
        e: &Expr,
        method: &str,
        which: Offending,
        env: &Env,
    ) -> Result<Option<Vec<Value>>, RunError> {
        let ExprKind::Method {
            receiver,
            method: m,
            args,
        } = &e.kind
        else {
            return Ok(None);
        };
        let Some(ExprKind::Lambda { param, body }) = args.first().map(|a| &a.value.kind) else {
            return Ok(None);
        };
        if m.name != method {
            return Ok(None);
        }
        let Value::List(list) = self.eval(receiver, env).await? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for item in list {
            let holds = self
                .eval_bool(body, &env.with(&param.name, item.clone()))
                .await?
                .unwrap_or(true);
            if holds == (which == Offending::Holding) {
                out.push(item);
            }
        }
        Ok(Some(out))
    }
}

/// `namespace/name` for namespaced records, `name` for others, the text of
/// anything else.
fn name_of(v: &Value) -> String {
    let text = |k: &str| v.field(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (text("namespace"), text("name")) {
        (Some(ns), Some(n)) => format!("{ns}/{n}"),
        (None, Some(n)) => n.to_string(),
        _ => v.to_text(),
    }
}
