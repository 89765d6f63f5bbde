//! `run.json`: what a run was started with. Written once, atomically, right
//! after the journal's first record (so a listed run always has a journal); resume compares the runbook's fingerprint with
//! it and reuses the recorded parameters.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::record::hex_prefix;
use super::redact::{REDACTED, scrub};
use super::run_id::RunId;
use crate::source::SourceMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub run_id: RunId,
    /// The runbook's absolute path (`exec` resolves the one it was given).
    pub runbook: String,
    pub fingerprint: Fingerprint,
    /// Resolved parameters, secrets redacted.
    pub params: IndexMap<String, Value>,
    #[serde(default)]
    pub environment: Option<String>,
    /// Cluster name (and region/account if known), for listings and the lock.
    pub cluster: String,
    pub started_at: Timestamp,
    pub tool_version: String,
    /// `user@host` of whoever started the run.
    pub operator: String,
    /// `runbook rollback`: the run whose completed steps this run undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<RunId>,
}

impl RunHeader {
    pub fn new(
        run_id: RunId,
        runbook: impl Into<String>,
        fingerprint: Fingerprint,
        cluster: impl Into<String>,
        started_at: Timestamp,
    ) -> Self {
        RunHeader {
            run_id,
            runbook: runbook.into(),
            fingerprint,
            params: IndexMap::new(),
            environment: None,
            cluster: cluster.into(),
            started_at,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            operator: operator_identity(),
            rollback_of: None,
        }
    }

    /// A run that undoes run `of` (`runbook rollback`).
    pub fn rolling_back(mut self, of: RunId) -> Self {
        self.rollback_of = Some(of);
        self
    }

    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Record resolved parameters. Those named in `secret` (declared secret by
    /// the runbook) are replaced outright; the rest still go through `scrub`.
    pub fn with_params(mut self, params: IndexMap<String, Value>, secret: &[&str]) -> Self {
        self.params = params
            .into_iter()
            .map(|(name, mut value)| {
                if secret.contains(&name.as_str()) {
                    value = Value::String(REDACTED.to_string());
                }
                (name, value)
            })
            .collect();
        let mut as_value = serde_json::to_value(&self.params).unwrap_or_default();
        scrub(&mut as_value);
        self.params = serde_json::from_value(as_value).unwrap_or_default();
        self
    }
}

/// `user@host` from the environment; never fails, an unknown part is `unknown`.
pub fn operator_identity() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_string());
    format!("{user}@{host}")
}

/// SHA-256 of the runbook and every file it imports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Hash over all files' paths and hashes.
    pub sha256: String,
    pub files: Vec<FileHash>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// Absolute path when it could be resolved, so resume works from any directory.
    pub path: PathBuf,
    pub sha256: String,
}

impl Fingerprint {
    /// Fingerprint of `(path, contents)` pairs.
    pub fn of_files<'a>(files: impl IntoIterator<Item = (PathBuf, &'a [u8])>) -> Fingerprint {
        let mut files: Vec<FileHash> = files
            .into_iter()
            .map(|(path, bytes)| FileHash {
                path: std::path::absolute(&path).unwrap_or(path),
                sha256: hex_prefix(&Sha256::digest(bytes), 64),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut all = Sha256::new();
        for f in &files {
            all.update(f.path.to_string_lossy().as_bytes());
            all.update(b"\0");
            all.update(f.sha256.as_bytes());
            all.update(b"\n");
        }
        Fingerprint {
            sha256: hex_prefix(&all.finalize(), 64),
            files,
        }
    }

    /// Fingerprint of the on-disk files of a compilation (the runbook and its
    /// imports). Embedded stdlib files are covered by the tool version instead.
    pub fn of_sources(sources: &SourceMap) -> Fingerprint {
        Fingerprint::of_files(
            sources
                .files()
                .filter_map(|(_, f)| f.path.as_ref().map(|p| (p.clone(), f.text.as_bytes()))),
        )
    }

    /// Hash the same files again as they are on disk now. A missing or
    /// unreadable file hashes as empty, which differs from any recorded hash.
    pub fn rehash(&self) -> Fingerprint {
        let contents: Vec<(PathBuf, Vec<u8>)> = self
            .files
            .iter()
            .map(|f| {
                // Bounded like the first read: a file swapped for a FIFO or
                // `/dev/zero` hashes as changed instead of hanging resume.
                let bytes = crate::source::read_bounded(&f.path, crate::source::MAX_SOURCE_BYTES)
                    .unwrap_or_default();
                (f.path.clone(), bytes)
            })
            .collect();
        Fingerprint::of_files(contents.iter().map(|(p, b)| (p.clone(), b.as_slice())))
    }

    /// Paths whose contents differ from `other` (or exist in only one).
    pub fn changed_files(&self, other: &Fingerprint) -> Vec<PathBuf> {
        let mut changed: Vec<PathBuf> = Vec::new();
        for f in &self.files {
            match other.files.iter().find(|o| o.path == f.path) {
                Some(o) if o.sha256 == f.sha256 => {}
                _ => changed.push(f.path.clone()),
            }
        }
        for o in &other.files {
            if !self.files.iter().any(|f| f.path == o.path) {
                changed.push(o.path.clone());
            }
        }
        changed
    }
}

/// Write `bytes` to `path` atomically: temp file, fsync, rename, fsync dir.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}
