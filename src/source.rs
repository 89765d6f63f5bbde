//! Source files and spans. Every AST node, diagnostic and rhai check carries a
//! `Span` into a file held by a `SourceMap`, so any stage can point at the
//! exact text it is talking about.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// Index of a file in a `SourceMap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (they must be in the same file).
    pub fn to(self, other: Span) -> Span {
        debug_assert_eq!(self.file, other.file);
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One loaded source file. `name` is what diagnostics print: the path as the
/// user gave it, or `<stdlib>/gates.upg` for files embedded in the binary.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub path: Option<PathBuf>,
    pub text: String,
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, path: Option<PathBuf>, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect();
        SourceFile {
            name: name.into(),
            path,
            text,
            line_starts,
        }
    }

    /// 0-based index of the line holding a byte offset.
    pub fn line_index(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&(offset as u32)) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// Byte offset where 0-based line `line` starts; the end of the text
    /// past the last line.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts
            .get(line)
            .map_or(self.text.len(), |&s| s as usize)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let end = (offset as usize).min(self.text.len());
        let col = self
            .text
            .get(start..end)
            .map_or(1, |s| s.chars().count() + 1);
        (line + 1, col)
    }
}

/// All files of one compilation: the files named on the command line, their
/// imports, and embedded stdlib files.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<Arc<SourceFile>>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(Arc::new(file));
        FileId(self.files.len() as u32 - 1)
    }

    pub fn add_path(&mut self, path: &Path) -> Result<FileId, ReadError> {
        let text = read_text(path, MAX_SOURCE_BYTES)?;
        Ok(self.add(SourceFile::new(
            path.display().to_string(),
            Some(path.to_path_buf()),
            text,
        )))
    }

    pub fn get(&self, id: FileId) -> &Arc<SourceFile> {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &Arc<SourceFile>)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        let file = self.get(span.file);
        file.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// `file:line:col` of a span's start.
    pub fn location(&self, span: Span) -> String {
        let file = self.get(span.file);
        let (line, col) = file.line_col(span.start);
        format!("{}:{}:{}", file.name, line, col)
    }
}

/// Largest `.upg` or `.rhai` file read (imports and checks each count alone).
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;
/// Largest sandbox fixture.
pub const MAX_FIXTURE_BYTES: u64 = 16 << 20;
/// Largest run journal (`journal.jsonl`).
pub const MAX_JOURNAL_BYTES: u64 = 256 << 20;
/// Largest `run.json` header.
pub const MAX_HEADER_BYTES: u64 = 4 << 20;
/// Largest kubeconfig given with `--kubeconfig`.
pub const MAX_KUBECONFIG_BYTES: u64 = 4 << 20;

/// Why a file the tool was pointed at could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("`{path}` is a directory, not a file")]
    Directory { path: String },
    #[error("`{path}` is not a regular file (it is a {kind})")]
    NotRegular { path: String, kind: &'static str },
    #[error("`{path}` is larger than the {limit}-byte limit")]
    TooLarge { path: String, limit: u64 },
    #[error("`{path}` is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { path: String, offset: usize },
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl ReadError {
    /// A help line saying what to do instead.
    pub fn hint(&self) -> String {
        match self {
            ReadError::Directory { .. } => "name a file inside the directory".into(),
            ReadError::NotRegular { .. } => {
                "only regular files are read: copy the content to a file first".into()
            }
            ReadError::TooLarge { limit, .. } => format!(
                "the limit is {} MiB; split the file (runbooks can `import` others)",
                limit >> 20
            ),
            ReadError::NotUtf8 { .. } => "save the file as UTF-8".into(),
            ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "check the path; relative paths are relative to the current directory or the importing file".into()
            }
            ReadError::Io { .. } => "check the file's permissions".into(),
        }
    }

    /// A short label for the place that named the file.
    pub fn label(&self) -> &'static str {
        match self {
            ReadError::Directory { .. } => "a directory",
            ReadError::NotRegular { .. } => "not a regular file",
            ReadError::TooLarge { .. } => "file too large",
            ReadError::NotUtf8 { .. } => "not UTF-8 text",
            ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "file not found"
            }
            ReadError::Io { .. } => "cannot be read",
        }
    }

    /// As an `io::Error` for callers whose errors wrap one; the kind of a
    /// real I/O failure is kept.
    pub fn into_io(self) -> std::io::Error {
        match self {
            ReadError::Io { source, .. } => source,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Read at most `limit` bytes of `path`, and only if it is a regular file:
/// every file the tool reads goes through here, so a FIFO cannot hang it,
/// `/dev/zero` cannot exhaust memory and a directory gets a clear error.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let name = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: name(),
        source,
    };
    let meta = check_file(path, limit)?;
    let file = std::fs::File::open(path).map_err(io)?;
    // The path may have been swapped between `stat` and `open`.
    regular(path, &file.metadata().map_err(io)?)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the limit tells a file that grew from one that fits.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: name(),
            limit,
        });
    }
    Ok(bytes)
}

/// Whether `path` is a regular file of at most `limit` bytes, without
/// opening it (opening a FIFO for reading blocks until a writer appears):
/// for files another library reads, such as a kubeconfig.
pub fn check_file(path: &Path, limit: u64) -> Result<std::fs::Metadata, ReadError> {
    let meta = std::fs::metadata(path).map_err(|source| ReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    regular(path, &meta)?;
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.display().to_string(),
            limit,
        });
    }
    Ok(meta)
}

/// `read_bounded`, as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| ReadError::NotUtf8 {
        path: path.display().to_string(),
        offset: e.utf8_error().valid_up_to(),
    })
}

fn regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), ReadError> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    let path = path.display().to_string();
    if ft.is_dir() {
        return Err(ReadError::Directory { path });
    }
    #[cfg(unix)]
    let kind = {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            "FIFO"
        } else if ft.is_char_device() {
            "character device"
        } else if ft.is_block_device() {
            "block device"
        } else if ft.is_socket() {
            "socket"
        } else {
            "special file"
        }
    };
    #[cfg(not(unix))]
    let kind = "special file";
    Err(ReadError::NotRegular { path, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_regular_files_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.upg");
        std::fs::write(&file, "0123456789").unwrap();
        assert_eq!(read_text(&file, 10).unwrap(), "0123456789");
        assert!(matches!(
            read_text(&file, 9),
            Err(ReadError::TooLarge { limit: 9, .. })
        ));
        assert!(matches!(
            read_text(dir.path(), 10),
            Err(ReadError::Directory { .. })
        ));
        assert!(matches!(
            read_text(Path::new("/dev/zero"), 10),
            Err(ReadError::NotRegular {
                kind: "character device",
                ..
            })
        ));
        assert!(
            read_text(&dir.path().join("missing"), 10)
                .unwrap_err()
                .is_not_found()
        );
        std::fs::write(&file, [b'a', 0xff]).unwrap();
        assert!(matches!(
            read_text(&file, 10),
            Err(ReadError::NotUtf8 { offset: 1, .. })
        ));
    }

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let f = SourceFile::new("a.upg", None, "ab\ncé d\n".to_string());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(2), (1, 3));
        assert_eq!(f.line_col(3), (2, 1));
        // "é" is two bytes but one column.
        assert_eq!(f.line_col(7), (2, 4));
    }
}
