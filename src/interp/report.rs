//! What a run shows: a live step tree with spinners on a terminal, plain
//! lines otherwise, or a JSON event stream (`--output json`, one object per
//! line). Every event goes through `Reporter::event`, so the three forms
//! always say the same thing. Times are simulated (the engine's clock).

use std::sync::Mutex;
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cloud::Clock;
use crate::cloud::clock::human;
use crate::cloud::plan::Change;
use crate::durable::redact::{scrub, scrub_str};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Spinners and colour: stdout is a terminal.
    Tty,
    /// Plain lines: pipes, files, CI.
    Text,
    /// One JSON event per line.
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Started {
        runbook: String,
        dry_run: bool,
        run_id: String,
    },
    Param {
        name: String,
        value: String,
    },
    Precondition {
        title: String,
        ok: bool,
        message: Option<String>,
    },
    StepStarted {
        id: String,
        title: String,
        depth: usize,
    },
    Progress {
        message: String,
    },
    Change {
        change: Change,
    },
    Log {
        message: String,
    },
    Gate {
        name: String,
        ok: bool,
        message: String,
    },
    StepFinished {
        id: String,
        title: String,
        status: StepStatus,
        elapsed: Duration,
        /// What the step changed (or plans to), one line each.
        changes: Vec<String>,
        /// Dry run: the predicted duration of its planned changes.
        predicted: Duration,
    },
    /// A step's rollback block starts (after `reason`).
    RollbackStarted {
        title: String,
        reason: String,
    },
    /// A step's rollback block ended, `Done` or `Failed`.
    RollbackFinished {
        title: String,
        status: StepStatus,
        elapsed: Duration,
    },
    /// The verdict on one step's changes: rolled back, or not undone and why.
    Rollback {
        title: String,
        status: StepStatus,
        message: String,
    },
    Finished {
        status: String,
        elapsed: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepStatus {
    Done,
    Planned,
    Skipped,
    Failed,
    RolledBack,
    NotUndone,
    /// Left in place on purpose: a rollback block's `keep "reason"`, or an
    /// earlier hop the rollback cannot reach (EKS's bound).
    Kept,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Done => "done",
            StepStatus::Planned => "planned",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
            StepStatus::RolledBack => "rolled back",
            StepStatus::NotUndone => "not undone",
            StepStatus::Kept => "kept on purpose",
        }
    }
}

pub struct Reporter {
    output: Output,
    clock: Clock,
    state: Mutex<State>,
    /// The live view on a terminal: every line and the spinner of the
    /// running step draw here, so neither can hide the other.
    live: Option<MultiProgress>,
}

#[derive(Default)]
struct State {
    depth: usize,
    spinner: Option<ProgressBar>,
    /// Titles of the steps running now, outermost first.
    open: Vec<String>,
    /// Captured lines (tests read them back).
    lines: Vec<String>,
    events: Vec<serde_json::Value>,
    step_started: Duration,
    /// Last plain progress line: what it was about and when.
    last_progress: Option<(String, Duration)>,
    /// When each `parallel for` branch last printed a progress line.
    branch_progress: std::collections::HashMap<String, Duration>,
}

/// Plain output prints a progress line per subject at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(60);

impl Reporter {
    pub fn new(output: Output, clock: Clock) -> Self {
        let live = (output == Output::Tty)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Reporter {
            output,
            clock,
            state: Mutex::new(State::default()),
            live,
        }
    }

    /// Print a finished line: above the spinner on a terminal.
    fn emit(&self, line: &str) {
        let line = scrub_str(line);
        let line = line.as_ref();
        match &self.live {
            Some(live) => {
                let _ = live.println(line);
            }
            None => println!("{line}"),
        }
    }

    /// Show a spinner for the step at the top of `open`.
    fn spin(&self, st: &mut State) {
        let (Some(live), Some(title)) = (&self.live, st.open.last()) else {
            return;
        };
        let sp = live.add(ProgressBar::new_spinner());
        sp.set_style(
            ProgressStyle::with_template("{prefix}{spinner:.cyan} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        sp.set_prefix(indent(st.open.len() - 1));
        sp.set_message(scrub_str(title).into_owned());
        sp.enable_steady_tick(Duration::from_millis(120));
        st.spinner = Some(sp);
    }

    fn stop_spinner(&self, st: &mut State) {
        if let Some(sp) = st.spinner.take() {
            sp.finish_and_clear();
            if let Some(live) = &self.live {
                live.remove(&sp);
            }
        }
    }

    pub fn output(&self) -> Output {
        self.output
    }

    /// Every line printed so far (text forms) — for tests and the summary.
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Every JSON event so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lock().events.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn progress(&self, message: &str) {
        self.event(Event::Progress {
            message: message.to_string(),
        });
    }

    pub fn event(&self, event: Event) {
        // Secret parameter values never reach any form of output.
        let mut json = to_json(&event, &self.clock);
        let branch = super::branch::current();
        if let Some(b) = &branch {
            json["branch"] = serde_json::Value::String(b.label.clone());
        }
        scrub(&mut json);
        let mut st = self.lock();
        st.events.push(json.clone());
        if self.output == Output::Json {
            println!("{json}");
            return;
        }
        if let Some(b) = branch {
            // Branches run at once: each line says which one it is about,
            // and no spinner or nesting is shared between them.
            let line = match &event {
                Event::Progress { message } => {
                    let now = self.clock.now();
                    let due = st
                        .branch_progress
                        .get(&b.label)
                        .is_none_or(|at| now.saturating_sub(*at) >= PROGRESS_EVERY);
                    if !due || self.live.is_some() {
                        return;
                    }
                    st.branch_progress.insert(b.label.clone(), now);
                    Some(format!("{}  … {message}", indent(st.depth)))
                }
                Event::StepFinished { .. } | Event::RollbackFinished { .. } => {
                    self.render(&event, st.depth + 1)
                }
                _ => self.render(&event, st.depth),
            };
            if let Some(line) = line {
                let text = line.trim_start();
                let line = format!("{}[{}] {text}", &line[..line.len() - text.len()], b.label);
                self.emit(&line);
                st.lines
                    .push(scrub_str(&console::strip_ansi_codes(&line)).into_owned());
            }
            return;
        }
        if let Event::Progress { message } = &event {
            // Progress replaces the spinner's text; on plain output it is a
            // line, so long waits always show something.
            let elapsed = human(self.clock.since(st.step_started));
            match &st.spinner {
                Some(sp) => {
                    sp.set_message(scrub_str(&format!("{message} [{elapsed}]")).into_owned())
                }
                None => {
                    let subject = message.split(':').next().unwrap_or_default().to_string();
                    let now = self.clock.now();
                    let due = match &st.last_progress {
                        Some((s, at)) => *s != subject || now.saturating_sub(*at) >= PROGRESS_EVERY,
                        None => true,
                    };
                    if due {
                        st.last_progress = Some((subject, now));
                        let line = format!("{}  … {message}", indent(st.depth));
                        self.emit(&line);
                        st.lines.push(scrub_str(&line).into_owned());
                    }
                }
            }
            return;
        }
        if let Event::StepStarted { .. } | Event::RollbackStarted { .. } = &event {
            st.step_started = self.clock.now();
        }
        let Some(line) = self.render(&event, st.depth) else {
            return;
        };
        match &event {
            Event::StepStarted { .. } | Event::RollbackStarted { .. } => {
                let title = match &event {
                    Event::RollbackStarted { title, .. } => format!("rollback: {title}"),
                    Event::StepStarted { title, .. } => title.clone(),
                    _ => unreachable!(),
                };
                st.depth += 1;
                if self.live.is_some() {
                    // A step inside a running step: the outer one's line
                    // stays on screen, the spinner moves to the inner one.
                    if st.spinner.is_some() {
                        self.stop_spinner(&mut st);
                        let outer = st.open.last().cloned().unwrap_or_default();
                        self.emit(&format!("{}▶ {outer}", indent(st.open.len() - 1)));
                    }
                    st.open.push(title);
                    self.spin(&mut st);
                } else {
                    self.emit(&line);
                }
            }
            Event::StepFinished { .. } | Event::RollbackFinished { .. } => {
                st.depth = st.depth.saturating_sub(1);
                self.stop_spinner(&mut st);
                st.open.pop();
                self.emit(&line);
                self.spin(&mut st);
            }
            _ => self.emit(&line),
        }
        st.lines
            .push(scrub_str(&console::strip_ansi_codes(&line)).into_owned());
    }

    fn render(&self, event: &Event, depth: usize) -> Option<String> {
        let tty = self.output == Output::Tty;
        let paint =
            |s: String, f: fn(console::StyledObject<String>) -> console::StyledObject<String>| {
                if tty { f(style(s)).to_string() } else { s }
            };
        let pad = indent(depth);
        Some(match event {
            Event::Started {
                runbook,
                dry_run,
                run_id,
            } => paint(
                format!(
                    "{} {runbook} (run {run_id})",
                    if *dry_run { "Planning" } else { "Running" }
                ),
                |s| s.bold(),
            ),
            Event::Param { name, value } => format!("  {name} = {value}"),
            Event::Precondition { title, ok, message } => match (ok, message) {
                (true, _) => paint(format!("✓ precondition: {title}"), |s| s.green()),
                (false, m) => paint(
                    format!(
                        "✗ precondition: {title}{}",
                        m.as_ref().map(|m| format!(" — {m}")).unwrap_or_default()
                    ),
                    |s| s.red(),
                ),
            },
            Event::StepStarted { title, .. } => format!("{pad}▶ {title}"),
            Event::RollbackStarted { title, .. } => format!("{pad}▶ rollback: {title}"),
            Event::Progress { .. } => return None,
            Event::Change { change } => match change {
                Change::Planned(plan) => plan
                    .lines()
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("{pad}{}{l}", if i == 0 { "• " } else { "    " }))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Change::Unchanged { .. } => format!("{pad}= {}", change.summary()),
                Change::Applied { .. } => {
                    paint(format!("{pad}✓ {}", change.summary()), |s| s.green())
                }
            },
            Event::Log { message } => format!("{pad}{message}"),
            Event::Gate { name, ok, message } => {
                let mark = if *ok { "✓" } else { "✗" };
                format!("{pad}{mark} gate {name}: {message}")
            }
            Event::StepFinished {
                title,
                status,
                elapsed,
                ..
            }
            | Event::RollbackFinished {
                title,
                status,
                elapsed,
            } => {
                let pad = indent(depth.saturating_sub(1));
                let rollback = if matches!(event, Event::RollbackFinished { .. }) {
                    "rollback: "
                } else {
                    ""
                };
                let text = format!(
                    "{pad}{} {rollback}{title} ({}, {})",
                    mark(*status),
                    status.as_str(),
                    human(*elapsed)
                );
                match status {
                    StepStatus::Failed => paint(text, |s| s.red()),
                    StepStatus::Done => paint(text, |s| s.green()),
                    _ => text,
                }
            }
            Event::Rollback {
                title,
                status,
                message,
            } => format!(
                "{pad}↩ {title}: {}{}",
                status.as_str(),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" — {message}")
                }
            ),
            Event::Finished { status, elapsed } => paint(
                format!("{status} in {} (simulated)", human(*elapsed)),
                |s| s.bold(),
            ),
        })
    }
}

fn mark(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Done => "✓",
        StepStatus::Planned => "○",
        StepStatus::Skipped => "-",
        StepStatus::Failed => "✗",
        StepStatus::RolledBack => "↩",
        StepStatus::NotUndone => "!",
        StepStatus::Kept => "=",
    }
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

fn to_json(event: &Event, clock: &Clock) -> serde_json::Value {
    let t = clock.now().as_secs();
    let mut v = match event {
        Event::Started {
            runbook,
            dry_run,
            run_id,
        } => json!({"event": "started", "runbook": runbook, "dry_run": dry_run, "run_id": run_id}),
        Event::Param { name, value } => json!({"event": "param", "name": name, "value": value}),
        Event::Precondition { title, ok, message } => {
            json!({"event": "precondition", "title": title, "ok": ok, "message": message})
        }
        Event::StepStarted { id, title, depth } => {
            json!({"event": "step_started", "id": id, "title": title, "depth": depth})
        }
        Event::Progress { message } => json!({"event": "progress", "message": message}),
        Event::Change { change } => json!({"event": "change", "change": change}),
        Event::Log { message } => json!({"event": "log", "message": message}),
        Event::Gate { name, ok, message } => {
            json!({"event": "gate", "name": name, "ok": ok, "message": message})
        }
        Event::StepFinished {
            id,
            title,
            status,
            elapsed,
            changes,
            predicted,
        } => json!({"event": "step_finished", "id": id, "title": title,
            "status": status.as_str(), "elapsed_s": elapsed.as_secs(),
            "changes": changes, "predicted_s": predicted.as_secs()}),
        Event::RollbackStarted { title, reason } => {
            json!({"event": "rollback_started", "title": title, "reason": reason})
        }
        Event::RollbackFinished {
            title,
            status,
            elapsed,
        } => json!({"event": "rollback_finished", "title": title,
            "status": status.as_str(), "elapsed_s": elapsed.as_secs()}),
        Event::Rollback {
            title,
            status,
            message,
        } => {
            json!({"event": "rollback", "title": title, "status": status.as_str(), "message": message})
        }
        Event::Finished { status, elapsed } => {
            json!({"event": "finished", "status": status, "elapsed_s": elapsed.as_secs()})
        }
    };
    v["t_s"] = json!(t);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_terminal(term: &indicatif::InMemoryTerm) -> Reporter {
        Reporter {
            output: Output::Tty,
            clock: Clock::scaled(0.0),
            state: Mutex::new(State::default()),
            live: Some(MultiProgress::with_draw_target(
                ProgressDrawTarget::term_like(Box::new(term.clone())),
            )),
        }
    }

    fn started(title: &str) -> Event {
        Event::StepStarted {
            id: title.into(),
            title: title.into(),
            depth: 0,
        }
    }

    fn finished(title: &str) -> Event {
        Event::StepFinished {
            id: title.into(),
            title: title.into(),
            status: StepStatus::Done,
            elapsed: Duration::from_secs(90),
            changes: vec![],
            predicted: Duration::ZERO,
        }
    }

    /// The live view on a terminal: lines printed inside a step stay above
    /// its spinner, an outer step's line stays when an inner one starts, and
    /// nothing of a spinner is left once the steps finish.
    #[test]
    fn the_live_view_keeps_every_line_and_clears_its_spinners() {
        let term = indicatif::InMemoryTerm::new(20, 80);
        let r = on_terminal(&term);
        r.event(started("add-ons"));
        r.event(Event::Log {
            message: "vpc-cni first".into(),
        });
        r.event(started("vpc-cni"));
        r.progress("vpc-cni: UPDATING");
        r.event(finished("vpc-cni"));
        r.event(finished("add-ons"));
        r.event(Event::Finished {
            status: "done".into(),
            elapsed: Duration::from_secs(90),
        });
        let screen: Vec<String> = term
            .contents()
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            screen,
            [
                "  vpc-cni first",
                "▶ add-ons",
                "  ✓ vpc-cni (done, 1m30s)",
                "✓ add-ons (done, 1m30s)",
                "done in 1m30s (simulated)",
            ],
            "{}",
            term.contents()
        );
    }
}
