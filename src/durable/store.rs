//! The on-disk layout of runs and the listing over it:
//!
//! ```text
//! .runbook/runs/<run-id>/run.json       header (RunHeader), written once
//!                        journal.jsonl  append-only records
//!                        run.lock       flock held by the process running it
//!                        report.md      written at the end (and on failure)
//!                        report.json
//! ```
//!
//! `run.lock` tells a live run from an interrupted one, and stops two local
//! processes from continuing the same run.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::clock::SharedClock;
use super::header::{Fingerprint, RunHeader, write_atomic};
use super::journal::{self, Journal, JournalContents, JournalError};
use super::record::{Record, RunOutcome};
use super::redact::scrub;
use super::report::Report;
use super::run_id::RunId;

pub const DEFAULT_ROOT: &str = ".runbook";
const HEADER: &str = "run.json";
const HEADER_SUM: &str = "sum";
const JOURNAL: &str = "journal.jsonl";
const LOCK: &str = "run.lock";
/// Written by `Report::write`, in this order.
const REPORTS: [&str; 2] = ["report.md", "report.json"];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("no run `{id}` in {}", dir.display())]
    NoSuchRun { id: String, dir: PathBuf },
    #[error("{}: not a valid run header: {reason}", path.display())]
    BadHeader { path: PathBuf, reason: String },
    #[error("run {id} is being executed by another process right now")]
    Running { id: RunId },
}

impl StoreError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn help(&self) -> Option<&'static str> {
        match self {
            StoreError::NoSuchRun { .. } => {
                Some("list the runs with `runbook runs` (and pass --dir if they live elsewhere)")
            }
            StoreError::Running { .. } => Some(
                "wait for it to finish, or stop that process first; two processes must never drive one run",
            ),
            StoreError::BadHeader { .. } => {
                Some("run.json is written once when a run starts; restore it or start a new run")
            }
            StoreError::Io { .. } | StoreError::Journal(_) => None,
        }
    }
}

/// Where a run stands, as `runbook runs` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Running,
    Finished,
    Failed,
    RolledBack,
    /// Refused before any change (preconditions, the lock, a declined
    /// confirmation).
    Refused,
    /// No `run_finished` and no process holds the run: it died; resume it.
    Interrupted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Finished => "succeeded",
            RunState::Failed => "failed",
            RunState::RolledBack => "rolled back",
            RunState::Refused => "refused",
            RunState::Interrupted => "interrupted",
        }
    }
}

/// One row of `runbook runs`.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub header: RunHeader,
    pub state: RunState,
    /// Until `run_finished`, or until the last record for a dead run, or until
    /// now for a live one.
    pub duration: SignedDuration,
    /// Present when the journal could not be read; the row is still listed.
    pub problem: Option<String>,
}

/// A run read back from disk.
#[derive(Debug)]
pub struct StoredRun {
    pub dir: PathBuf,
    pub header: RunHeader,
    pub journal: JournalContents,
    pub state: RunState,
}

#[derive(Clone, Debug)]
pub struct RunStore {
    root: PathBuf,
}

impl RunStore {
    /// `root` is the `.runbook` directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunStore { root: root.into() }
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn run_dir(&self, id: &RunId) -> PathBuf {
        self.runs_dir().join(id.as_str())
    }

    /// Create a run's directory, header and journal, hold its lock, and record
    /// `run_started`. The header's params should already be redacted
    /// (`RunHeader::with_params`); everything is scrubbed again here anyway.
    pub fn start(&self, header: RunHeader, clock: SharedClock) -> Result<ActiveRun, StoreError> {
        let runs = self.runs_dir();
        std::fs::create_dir_all(&runs).map_err(|e| StoreError::io(&runs, e))?;
        let dir = self.run_dir(&header.run_id);
        std::fs::create_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        journal::sync_parent_dir(&dir)?;
        let lock = lock_run(&dir, &header.run_id)?;
        // The journal first, then run.json, each atomically: a run directory
        // with a run.json always has a journal that starts with `run_started`,
        // and one without a run.json (a crash in between) is not listed.
        let journal = Journal::create_with(
            &dir.join(JOURNAL),
            clock,
            Record::RunStarted {
                run_id: header.run_id.clone(),
                runbook: header.runbook.clone(),
                cluster: header.cluster.clone(),
                environment: header.environment.clone(),
            },
        )?;
        let mut value = serde_json::to_value(&header).expect("headers always serialize");
        scrub(&mut value);
        let path = dir.join(HEADER);
        write_atomic(&path, seal_header(value).as_bytes()).map_err(|e| StoreError::io(&path, e))?;
        Ok(ActiveRun {
            dir,
            header,
            journal,
            _lock: lock,
        })
    }

    /// Take over an existing run to continue it: holds its lock and opens the
    /// journal for appending (cutting off a torn last line).
    pub fn reopen(
        &self,
        id: &RunId,
        clock: SharedClock,
    ) -> Result<(ActiveRun, JournalContents), StoreError> {
        let dir = self.existing_dir(id)?;
        let lock = lock_run(&dir, id)?;
        let header = read_header(&dir)?;
        let (journal, contents) = Journal::open_append(&dir.join(JOURNAL), clock)?;
        Ok((
            ActiveRun {
                dir,
                header,
                journal,
                _lock: lock,
            },
            contents,
        ))
    }

    /// Read a run without touching it.
    pub fn load(&self, id: &RunId) -> Result<StoredRun, StoreError> {
        let dir = self.existing_dir(id)?;
        let header = read_header(&dir)?;
        let journal = journal::read(&dir.join(JOURNAL))?;
        let state = state_of(&dir, &journal);
        Ok(StoredRun {
            dir,
            header,
            journal,
            state,
        })
    }

    /// All runs, oldest first. Runs whose journal is damaged are listed with
    /// the problem instead of failing the whole listing.
    pub fn list(&self, now: Timestamp) -> Result<Vec<RunSummary>, StoreError> {
        let runs = self.runs_dir();
        let entries = match std::fs::read_dir(&runs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&runs, e)),
        };
        let mut ids: Vec<RunId> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok()?.parse().ok())
            .collect();
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            let dir = self.run_dir(&id);
            let header = match read_header(&dir) {
                Ok(header) => header,
                // Killed between creating the directory and writing run.json
                // (atomically, before the first record): the run never began.
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => {
                    // Listed anyway, with what the directory name tells, so
                    // a damaged run is seen rather than silently missing.
                    let started = jiff::fmt::strtime::parse(
                        "%Y%m%dT%H%M%SZ",
                        id.as_str().split('-').next().unwrap_or(""),
                    )
                    .and_then(|t| t.to_timestamp())
                    .unwrap_or(Timestamp::UNIX_EPOCH);
                    out.push(RunSummary {
                        duration: SignedDuration::ZERO,
                        state: live_or_interrupted(&dir),
                        header: RunHeader::new(
                            id,
                            "?",
                            Fingerprint::of_files(std::iter::empty()),
                            "?",
                            started,
                        ),
                        problem: Some(format!("{HEADER} unreadable: {e}")),
                    });
                    continue;
                }
            };
            let summary = match journal::read(&dir.join(JOURNAL)) {
                Ok(contents) => {
                    let state = state_of(&dir, &contents);
                    let end = match state {
                        RunState::Running => now,
                        _ => contents.entries.last().map_or(header.started_at, |e| e.at),
                    };
                    RunSummary {
                        duration: header.started_at.duration_until(end),
                        header,
                        state,
                        problem: None,
                    }
                }
                Err(e) => RunSummary {
                    duration: SignedDuration::ZERO,
                    state: live_or_interrupted(&dir),
                    header,
                    problem: Some(e.to_string()),
                },
            };
            out.push(summary);
        }
        Ok(out)
    }

    /// Reports are derived from the journal: a run whose journal ended
    /// (`run_finished` is its last record) but whose `report.md` or
    /// `report.json` is missing — the process died between the two — gets
    /// them written now. Returns the Markdown report's path if it wrote
    /// them; a run still being executed is left alone.
    pub fn restore_reports(&self, id: &RunId) -> Result<Option<PathBuf>, StoreError> {
        let dir = self.existing_dir(id)?;
        if REPORTS.iter().all(|r| dir.join(r).exists()) {
            return Ok(None);
        }
        let _lock = lock_run(&dir, id)?;
        let header = read_header(&dir)?;
        let contents = journal::read(&dir.join(JOURNAL))?;
        if !matches!(contents.records().last(), Some(Record::RunFinished { .. })) {
            return Ok(None);
        }
        Report::build(&header, &contents, state_of(&dir, &contents)).write(&dir)?;
        Ok(Some(dir.join(REPORTS[0])))
    }

    fn existing_dir(&self, id: &RunId) -> Result<PathBuf, StoreError> {
        let dir = self.run_dir(id);
        // Any run.json, even one that is not a regular file: reading it then
        // says what is wrong, instead of "no such run".
        if dir.join(HEADER).exists() {
            Ok(dir)
        } else {
            Err(StoreError::NoSuchRun {
                id: id.to_string(),
                dir: self.runs_dir(),
            })
        }
    }
}

/// A run this process is executing: owns the journal and the run lock.
#[derive(Debug)]
pub struct ActiveRun {
    dir: PathBuf,
    header: RunHeader,
    journal: Journal,
    _lock: File,
}

impl ActiveRun {
    pub fn id(&self) -> &RunId {
        &self.header.run_id
    }

    pub fn header(&self) -> &RunHeader {
        &self.header
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `parallel for` branch the next records belong to.
    pub fn set_lane(&mut self, lane: Option<String>) {
        self.journal.set_lane(lane);
    }

    /// Append and fsync one record; see `Journal::append`.
    pub fn append(&mut self, record: Record) -> Result<u64, JournalError> {
        self.journal.append(record)
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Record `run_finished` and write the reports. Call on success, failure
    /// and after a rollback alike.
    pub fn finish(
        &mut self,
        outcome: RunOutcome,
        error: Option<String>,
        final_state: Option<Value>,
    ) -> Result<Report, StoreError> {
        self.append(Record::RunFinished {
            outcome,
            error,
            final_state,
        })?;
        self.write_report()
    }

    /// Write `report.md` and `report.json` from the journal as it is now.
    pub fn write_report(&self) -> Result<Report, StoreError> {
        let contents = journal::read(self.journal.path())?;
        let report = Report::build(&self.header, &contents, state_of(&self.dir, &contents));
        report.write(&self.dir)?;
        Ok(report)
    }

    /// The reports of a run this process stops without finishing it (it
    /// still holds the run, so the listing would say `running`).
    pub fn write_interrupted_report(&self) -> Result<Report, StoreError> {
        let contents = journal::read(self.journal.path())?;
        let report = Report::build(&self.header, &contents, RunState::Interrupted);
        report.write(&self.dir)?;
        Ok(report)
    }
}

/// `run.json` text: the header with a `sum` field, the first 16 hex digits
/// of the SHA-256 of the compact JSON without it (as journal lines).
fn seal_header(mut value: Value) -> String {
    if let Value::Object(map) = &mut value {
        map.remove(HEADER_SUM);
        let sum = journal::checksum(value.to_string().as_bytes());
        if let Value::Object(map) = &mut value {
            map.insert(HEADER_SUM.into(), Value::String(sum));
        }
    }
    serde_json::to_string_pretty(&value).expect("values always serialize")
}

/// Read `run.json`, refusing one whose checksum does not match: what a run
/// targets (cluster, parameters, runbook) must not change behind its back.
fn read_header(dir: &Path) -> Result<RunHeader, StoreError> {
    let path = dir.join(HEADER);
    let text = crate::source::read_text(&path, crate::source::MAX_HEADER_BYTES)
        .map_err(|e| StoreError::io(&path, e.into_io()))?;
    let bad = |reason: String| StoreError::BadHeader {
        path: path.clone(),
        reason,
    };
    let mut value: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let recorded = match &mut value {
        Value::Object(map) => map.remove(HEADER_SUM),
        _ => None,
    };
    let Some(Value::String(recorded)) = recorded else {
        return Err(bad("it has no checksum (`sum`)".into()));
    };
    let actual = journal::checksum(value.to_string().as_bytes());
    if recorded != actual {
        return Err(bad(format!(
            "checksum mismatch (recorded {recorded}, computed {actual}): the file was altered"
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

fn lock_run(dir: &Path, id: &RunId) -> Result<File, StoreError> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Running { id: id.clone() }),
        Err(TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
    }
}

/// Whether some process holds the run's lock right now.
fn is_live(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(LOCK)) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

fn state_of(dir: &Path, contents: &JournalContents) -> RunState {
    // The last word counts: a failed run can be resumed, and then runs again.
    let mut finished = None;
    for record in contents.records() {
        match record {
            Record::RunFinished { outcome, .. } => finished = Some(*outcome),
            Record::Resumed { .. } => finished = None,
            _ => {}
        }
    }
    match finished {
        Some(RunOutcome::Succeeded) => RunState::Finished,
        Some(RunOutcome::Failed) => RunState::Failed,
        Some(RunOutcome::RolledBack) => RunState::RolledBack,
        Some(RunOutcome::Refused) => RunState::Refused,
        None => live_or_interrupted(dir),
    }
}

fn live_or_interrupted(dir: &Path) -> RunState {
    if is_live(dir) {
        RunState::Running
    } else {
        RunState::Interrupted
    }
}
