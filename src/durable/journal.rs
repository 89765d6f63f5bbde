//! The journal file: JSON Lines, one record per line, each carrying a sequence
//! number and a checksum, appended and fsynced before the run moves on.
//!
//! Line format (the checksum covers the line without its `sum` field):
//! `{"seq":3,"at":"2026-11-23T01:13:36Z","type":"step_started","step":"cp","sum":"9f86d081884c7d65"}`
//!
//! A crash can only ever tear the last line (each record goes out in one write
//! and is synced before the next), so an unterminated last line is reported
//! and may be dropped, while a bad line before it is corruption and refused.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::clock::SharedClock;
use super::record::{Record, hex_prefix};
use super::redact::scrub;
use crate::diagnostic::Diagnostic;
use crate::source::{MAX_JOURNAL_BYTES, SourceFile, SourceMap, Span, read_bounded};

const SUM_FIELD: &str = ",\"sum\":\"";
const SUM_DIGITS: usize = 16;

/// One journal line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: Timestamp,
    /// The `parallel for` branch that wrote it (`ng[0]=pool-00`, nested
    /// branches joined by `/`); none for the run's main line. Each branch
    /// is replayed in its own order (`History`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(flatten)]
    pub record: Record,
}

/// The last line was cut short by a crash during its write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based line number of the torn line.
    pub line: usize,
    /// Sequence number of the last complete record, if any.
    pub last_complete_seq: Option<u64>,
}

impl TornTail {
    pub fn message(&self, path: &Path) -> String {
        let last = match self.last_complete_seq {
            Some(seq) => format!("the last complete record is #{seq}"),
            None => "there is no complete record before it".to_string(),
        };
        format!(
            "journal {} line {} is truncated (crash during write); {last}",
            path.display(),
            self.line
        )
    }
}

/// A journal as read from disk, every complete line validated.
#[derive(Clone, Debug)]
pub struct JournalContents {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    pub torn_tail: Option<TornTail>,
    /// Byte length of the complete lines; a torn tail starts here.
    complete_len: u64,
}

impl JournalContents {
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.entries.iter().map(|e| &e.record)
    }

    /// Contents as if read from `path` (unit tests of what reads journals).
    #[cfg(test)]
    pub(crate) fn for_tests(path: PathBuf, entries: Vec<Entry>) -> JournalContents {
        JournalContents {
            path,
            entries,
            torn_tail: None,
            complete_len: 0,
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.seq)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {}:{line}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
        /// The whole file (lossily decoded), so the diagnostic can show the line.
        text: String,
        line_start: usize,
        line_end: usize,
    },
    #[error("journal {}: an earlier write failed, so the journal no longer matches what happened", path.display())]
    Poisoned { path: PathBuf },
}

impl JournalError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        JournalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The error in the one diagnostic model, pointing at the bad line.
    pub fn to_diagnostic(&self) -> (SourceMap, Diagnostic) {
        let mut sources = SourceMap::new();
        let diagnostic = match self {
            JournalError::Corrupt {
                path,
                line,
                reason,
                text,
                line_start,
                line_end,
            } => {
                let file = sources.add(SourceFile::new(
                    path.display().to_string(),
                    Some(path.clone()),
                    text.clone(),
                ));
                Diagnostic::error(
                    "RUN040",
                    format!("journal {}:{line} is corrupt: {reason}", path.display()),
                )
                .with_label(Span::new(file, *line_start, *line_end), reason.clone())
                .with_help(
                    "only a torn last line can come from a crash; damage before it means the \
                     journal cannot say what already ran. Inspect it with `runbook runs show <id>`, \
                     check the cluster by hand, and start a new run",
                )
            }
            other => Diagnostic::error("RUN041", other.to_string())
                .with_help("check the file's permissions and the free disk space"),
        };
        (sources, diagnostic)
    }
}

/// Appends records to one journal file. Not buffered: `append` returns only
/// after the line is on disk.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
    clock: SharedClock,
    poisoned: bool,
    syncs: u64,
    /// The branch the next records belong to (`Entry::branch`).
    lane: Option<String>,
}

impl Journal {
    /// Create a new, empty journal (it must not exist) and make its directory
    /// entry durable.
    pub fn create(path: &Path, clock: SharedClock) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(|e| JournalError::io(path, e))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            next_seq: 1,
            clock,
            poisoned: false,
            syncs: 0,
            lane: None,
        };
        journal.sync()?;
        sync_parent_dir(path)?;
        journal.syncs += 1;
        Ok(journal)
    }

    /// Create a journal whose first record is `first`, atomically: the record
    /// is written and synced in a temporary file that is then renamed into
    /// place. A journal file, once visible, is never empty, so `read` can
    /// treat an empty one as damage rather than "nothing done".
    pub fn create_with(
        path: &Path,
        clock: SharedClock,
        first: Record,
    ) -> Result<Journal, JournalError> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.new"));
        // A leftover of a crash at this very point: nothing was recorded.
        let _ = std::fs::remove_file(&tmp);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&tmp)
            .map_err(|e| JournalError::io(&tmp, e))?;
        let mut journal = Journal {
            path: tmp.clone(),
            file,
            next_seq: 1,
            clock,
            poisoned: false,
            syncs: 0,
            lane: None,
        };
        journal.append(first)?;
        std::fs::rename(&tmp, path).map_err(|e| JournalError::io(path, e))?;
        journal.path = path.to_path_buf();
        sync_parent_dir(path)?;
        journal.syncs += 1;
        Ok(journal)
    }

    /// Open an existing journal to continue it. Every line is validated; a torn
    /// last line is cut off (reported in the returned contents).
    pub fn open_append(
        path: &Path,
        clock: SharedClock,
    ) -> Result<(Journal, JournalContents), JournalError> {
        let contents = read(path)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| JournalError::io(path, e))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            next_seq: contents.last_seq() + 1,
            clock,
            poisoned: false,
            syncs: 0,
            lane: None,
        };
        if contents.torn_tail.is_some() {
            journal
                .file
                .set_len(contents.complete_len)
                .map_err(|e| JournalError::io(path, e))?;
            journal.sync()?;
        }
        Ok((journal, contents))
    }

    /// Append one record and fsync it. Returns its sequence number.
    pub fn append(&mut self, record: Record) -> Result<u64, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                path: self.path.clone(),
            });
        }
        let entry = Entry {
            seq: self.next_seq,
            at: self.clock.now(),
            branch: self.lane.clone(),
            record,
        };
        let line = encode(&entry);
        // A failed write may have left part of a line behind; later appends
        // would then sit after garbage, so refuse them.
        self.poisoned = true;
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| JournalError::io(&self.path, e))?;
        self.sync()?;
        self.poisoned = false;
        self.next_seq += 1;
        Ok(entry.seq)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The branch (`Entry::branch`) of the records appended from now on.
    pub fn set_lane(&mut self, lane: Option<String>) {
        self.lane = lane;
    }

    /// Sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// How many fsyncs (file or directory) this handle has made.
    pub fn sync_count(&self) -> u64 {
        self.syncs
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        self.file
            .sync_data()
            .map_err(|e| JournalError::io(&self.path, e))?;
        self.syncs += 1;
        Ok(())
    }
}

/// fsync the directory holding `path`, so a newly created file survives a crash.
pub(crate) fn sync_parent_dir(path: &Path) -> Result<(), JournalError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io(dir, e))
}

/// One line, newline included. Secrets are scrubbed before the checksum.
pub fn encode(entry: &Entry) -> String {
    let mut value = serde_json::to_value(entry).expect("journal records always serialize");
    scrub(&mut value);
    let body = value.to_string();
    let open = &body[..body.len() - 1];
    format!("{open}{SUM_FIELD}{}\"}}\n", checksum(body.as_bytes()))
}

pub(crate) fn checksum(bytes: &[u8]) -> String {
    hex_prefix(&Sha256::digest(bytes), SUM_DIGITS)
}

/// Check a line's checksum and parse it.
fn decode(line: &str) -> Result<Entry, String> {
    let tail = SUM_FIELD.len() + SUM_DIGITS + 2;
    let malformed = || "not a journal record (no checksum at the end of the line)".to_string();
    if line.len() < tail + 2 || !line.ends_with("\"}") {
        return Err(malformed());
    }
    let sum_at = line.len() - tail;
    if !line.is_char_boundary(sum_at) || !line[sum_at..].starts_with(SUM_FIELD) {
        return Err(malformed());
    }
    let recorded = &line[sum_at + SUM_FIELD.len()..line.len() - 2];
    let body = format!("{}}}", &line[..sum_at]);
    let actual = checksum(body.as_bytes());
    if recorded != actual {
        return Err(format!(
            "checksum mismatch (recorded {recorded}, computed {actual}): the line was altered"
        ));
    }
    serde_json::from_str(&body)
        .map_err(|e| format!("checksum is right but the record is invalid: {e}"))
}

/// Read and validate a journal.
pub fn read(path: &Path) -> Result<JournalContents, JournalError> {
    let bytes =
        read_bounded(path, MAX_JOURNAL_BYTES).map_err(|e| JournalError::io(path, e.into_io()))?;
    let text = String::from_utf8_lossy(&bytes);
    if bytes.is_empty() {
        // Every journal starts with `run_started`, written before any request:
        // an empty file was truncated or replaced, not "nothing done".
        return Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            line: 1,
            reason: "the journal is empty, so it cannot say what already ran".to_string(),
            text: String::new(),
            line_start: 0,
            line_end: 0,
        });
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut start = 0usize;
    let mut line_no = 0usize;
    let mut torn_tail = None;
    while start < bytes.len() {
        line_no += 1;
        let Some(nl) = bytes[start..].iter().position(|&b| b == b'\n') else {
            torn_tail = Some(TornTail {
                line: line_no,
                last_complete_seq: entries.last().map(|e| e.seq),
            });
            break;
        };
        let end = start + nl;
        let corrupt = |reason: String| JournalError::Corrupt {
            path: path.to_path_buf(),
            line: line_no,
            reason,
            text: text.to_string(),
            line_start: start,
            line_end: end,
        };
        let line = std::str::from_utf8(&bytes[start..end])
            .map_err(|_| corrupt("the line is not valid UTF-8".to_string()))?;
        let entry = decode(line).map_err(&corrupt)?;
        let expected = entries.last().map_or(1, |e| e.seq + 1);
        if entry.seq != expected {
            return Err(corrupt(format!(
                "sequence gap: expected record #{expected}, found #{}",
                entry.seq
            )));
        }
        entries.push(entry);
        start = end + 1;
    }
    Ok(JournalContents {
        path: path.to_path_buf(),
        entries,
        torn_tail,
        complete_len: start as u64,
    })
}
