//! The branches of a `parallel for`: which one the code being run belongs
//! to. Branches run as futures of one task, so their identity travels with
//! each future (a task-local scope), and everything that must tell them
//! apart reads it here: step keys and idempotency tokens, the journal's
//! lanes (each branch is replayed in its own order), and the live output's
//! line prefixes.

use std::future::Future;

use super::value::Value;

tokio::task_local! {
    static BRANCH: Branch;
}

/// One branch: its journal lane and the label its output lines carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    /// Unique among the branches running at once and the same on every
    /// replay: `ng[0]=pool-00`, nested branches joined by `/`.
    pub lane: String,
    /// What a reader knows the branch by: its item (`pool-00`), nested
    /// ones joined by `/`.
    pub label: String,
}

impl Branch {
    /// The branch of item `index` of a loop over `var`, inside `parent`.
    pub fn child(parent: Option<&Branch>, var: &str, index: usize, item: &Value) -> Branch {
        let text: String = item.to_text().chars().take(60).collect();
        let lane = format!("{var}[{index}]={text}");
        match parent {
            None => Branch { lane, label: text },
            Some(p) => Branch {
                lane: format!("{}/{lane}", p.lane),
                label: format!("{}/{text}", p.label),
            },
        }
    }
}

/// The branch the running code belongs to; `None` on the main line.
pub fn current() -> Option<Branch> {
    BRANCH.try_with(Branch::clone).ok()
}

/// Run `f` as `branch`.
pub async fn within<F: Future>(branch: Branch, f: F) -> F::Output {
    BRANCH.scope(branch, f).await
}

/// Under `branch` if there is one, else as is (a rollback of a step that
/// ran in a branch runs in that branch again).
pub async fn maybe_within<F: Future>(branch: Option<Branch>, f: F) -> F::Output {
    match branch {
        Some(b) => within(b, f).await,
        None => f.await,
    }
}

/// How long branches of these durations take, in order, at most `limit` at
/// once: each starts when the earliest running one ends.
pub fn makespan(durations: &[std::time::Duration], limit: usize) -> std::time::Duration {
    let mut lanes = vec![std::time::Duration::ZERO; limit.max(1)];
    for d in durations {
        let earliest = lanes.iter_mut().min().expect("at least one lane");
        *earliest += *d;
    }
    lanes.into_iter().max().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_stage_lasts_as_its_longest_lane() {
        let m = |v: &[u64], n| {
            makespan(
                &v.iter()
                    .map(|s| Duration::from_secs(*s))
                    .collect::<Vec<_>>(),
                n,
            )
        };
        assert_eq!(m(&[10, 20, 30], 3), Duration::from_secs(30));
        assert_eq!(m(&[10, 20, 30], 1), Duration::from_secs(60));
        // 10 and 20 start; 30 starts when 10 ends.
        assert_eq!(m(&[10, 20, 30], 2), Duration::from_secs(40));
        assert_eq!(m(&[], 2), Duration::ZERO);
    }
}
