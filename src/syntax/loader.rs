//! Loading a program: the root file, everything it imports (transitively),
//! and the rhai files its checks name. `import "stdlib/..."` resolves to the
//! copy embedded in the binary; any other path is relative to the importing
//! file. Missing files (UPG005, UPG008) and cycles (UPG006) are reported at
//! the import's span.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, MAX_SOURCE_BYTES, SourceFile, SourceMap, Span, read_text};

use super::ast::{CheckSource, File, Item, Runbook, RunbookItem};
use super::parser::parse_file_partial;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));
}

/// Name prefix of embedded stdlib files in diagnostics.
pub const STDLIB_PREFIX: &str = "<stdlib>/";

/// Every embedded stdlib file as (path under `stdlib/`, text).
pub fn stdlib_files() -> &'static [(&'static str, &'static str)] {
    embedded::STDLIB
}

/// The embedded text of `stdlib/<rel>`, if shipped.
pub fn stdlib_file(rel: &str) -> Option<&'static str> {
    embedded::STDLIB
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, text)| *text)
}

/// A loaded program: all files with their ASTs. `files` holds one AST per
/// `.upg` file, root first; rhai files named by `check ... from` are only in
/// `sources` (their `FileId` is in `CheckSource::File::file`).
#[derive(Debug)]
pub struct Program {
    pub sources: SourceMap,
    pub files: Vec<File>,
    pub root: FileId,
}

impl Program {
    pub fn file(&self, id: FileId) -> Option<&File> {
        self.files.iter().find(|f| f.file == id)
    }

    pub fn root_file(&self) -> &File {
        self.file(self.root).expect("root is always parsed")
    }

    /// The runbooks declared in the root file, in order.
    pub fn runbooks(&self) -> impl Iterator<Item = &Runbook> {
        self.root_file().items.iter().filter_map(|i| match i {
            Item::Runbook(r) => Some(r),
            _ => None,
        })
    }

    /// Every top-level item of every file, imports included.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.files.iter().flat_map(|f| f.items.iter())
    }
}

/// A program loaded as far as it goes, with every problem found on the way.
#[derive(Debug)]
pub struct Partial {
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
    /// Every file was read and has a tree (possibly with placeholders where
    /// `diagnostics` point): a checker run sees the whole program, so what it
    /// finds is not a consequence of a missing file.
    pub complete: bool,
}

/// Where a file comes from; also its identity for de-duplication and cycles.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Origin {
    Disk(PathBuf),
    Stdlib(String),
}

/// Load `path` and everything it imports.
pub fn load(path: &Path) -> Result<Program, (SourceMap, Vec<Diagnostic>)> {
    strict(load_partial(path)?)
}

/// Load `path` and everything it imports, keeping what could be parsed:
/// `Err` only when the root file cannot be read or has a syntax error.
pub fn load_partial(path: &Path) -> Result<Partial, (SourceMap, Vec<Diagnostic>)> {
    let mut sources = SourceMap::new();
    let text = match read_text(path, MAX_SOURCE_BYTES) {
        Ok(t) => t,
        Err(e) => {
            let d = Diagnostic::error("UPG005", e.to_string()).with_help(e.hint());
            return Err((sources, vec![d]));
        }
    };
    let root = sources.add(SourceFile::new(
        path.display().to_string(),
        Some(path.to_path_buf()),
        text,
    ));
    let origin = Origin::Disk(normalize(path));
    finish(sources, root, origin)
}

/// Load a program whose root is given as text (tests, stdin). Relative
/// imports resolve against `dir`.
pub fn load_text(
    name: &str,
    text: String,
    dir: &Path,
) -> Result<Program, (SourceMap, Vec<Diagnostic>)> {
    let mut sources = SourceMap::new();
    let path = dir.join(name);
    let root = sources.add(SourceFile::new(name, Some(path.clone()), text));
    strict(finish(sources, root, Origin::Disk(normalize(&path)))?)
}

fn strict(partial: Partial) -> Result<Program, (SourceMap, Vec<Diagnostic>)> {
    if partial.diagnostics.iter().any(Diagnostic::is_error) {
        Err((partial.program.sources, partial.diagnostics))
    } else {
        Ok(partial.program)
    }
}

fn finish(
    sources: SourceMap,
    root: FileId,
    origin: Origin,
) -> Result<Partial, (SourceMap, Vec<Diagnostic>)> {
    let mut loader = Loader {
        sources,
        files: Vec::new(),
        loaded: HashMap::new(),
        diagnostics: Vec::new(),
        complete: true,
    };
    loader.loaded.insert(origin.clone(), root);
    loader.visit(root, origin, &mut Vec::new());
    if !loader.files.iter().any(|f| f.file == root) {
        return Err((loader.sources, loader.diagnostics));
    }
    Ok(Partial {
        program: Program {
            sources: loader.sources,
            files: loader.files,
            root,
        },
        diagnostics: loader.diagnostics,
        complete: loader.complete,
    })
}

struct Loader {
    sources: SourceMap,
    files: Vec<File>,
    loaded: HashMap<Origin, FileId>,
    diagnostics: Vec<Diagnostic>,
    complete: bool,
}

impl Loader {
    fn visit(&mut self, id: FileId, origin: Origin, stack: &mut Vec<(Origin, Span)>) {
        let (ast, diags) = parse_file_partial(&self.sources, id);
        self.diagnostics.extend(diags);
        let Some(mut ast) = ast else {
            self.complete = false;
            return;
        };
        self.resolve_checks(&mut ast, &origin);
        let imports = ast.imports.clone();
        self.files.push(ast);
        for import in imports {
            let target = resolve(&origin, &import.path, true);
            if let Some(pos) = stack.iter().position(|(o, _)| *o == target) {
                let chain: Vec<String> = stack[pos..]
                    .iter()
                    .map(|(o, _)| display(o))
                    .chain([display(&origin), display(&target)])
                    .collect();
                let mut d = Diagnostic::error("UPG006", "import cycle")
                    .with_label(import.path_span, "this import closes the cycle");
                d = d.with_help(format!(
                    "{}; move the shared declarations into a file both can import",
                    chain.join(" → ")
                ));
                self.diagnostics.push(d);
                self.complete = false;
                continue;
            }
            if target == origin {
                self.diagnostics.push(
                    Diagnostic::error("UPG006", "a file cannot import itself")
                        .with_label(import.path_span, "imports this file")
                        .with_help("remove this import"),
                );
                continue;
            }
            if self.loaded.contains_key(&target) {
                continue;
            }
            let Some(file) = self.read(&target, import.path_span, "UPG005", &import.path) else {
                self.complete = false;
                continue;
            };
            self.loaded.insert(target.clone(), file);
            stack.push((origin.clone(), import.path_span));
            self.visit(file, target, stack);
            stack.pop();
        }
    }

    /// Read a `.upg` or `.rhai` file into the source map, or report it.
    fn read(
        &mut self,
        target: &Origin,
        at: Span,
        code: &'static str,
        as_written: &str,
    ) -> Option<FileId> {
        let (name, path, text) = match target {
            Origin::Stdlib(rel) => match stdlib_file(rel) {
                Some(text) => (format!("{STDLIB_PREFIX}{rel}"), None, text.to_string()),
                None => {
                    let ext = if code == "UPG008" { ".rhai" } else { ".upg" };
                    let shipped: Vec<&str> = stdlib_files()
                        .iter()
                        .map(|(p, _)| *p)
                        .filter(|p| p.ends_with(ext))
                        .collect();
                    self.diagnostics.push(
                        Diagnostic::error(code, format!("`{as_written}` is not in the stdlib"))
                            .with_label(at, "no such stdlib file")
                            .with_help(format!("the stdlib has: {}", shipped.join(", "))),
                    );
                    return None;
                }
            },
            Origin::Disk(p) => match read_text(p, MAX_SOURCE_BYTES) {
                Ok(text) => (p.display().to_string(), Some(p.clone()), text),
                Err(e) => {
                    let help = if e.is_not_found() {
                        "paths are relative to the file that names them; `stdlib/...` is the built-in library".to_string()
                    } else {
                        e.hint()
                    };
                    self.diagnostics.push(
                        Diagnostic::error(code, e.to_string())
                            .with_label(at, e.label())
                            .with_help(help),
                    );
                    return None;
                }
            },
        };
        Some(self.sources.add(SourceFile::new(name, path, text)))
    }

    fn resolve_checks(&mut self, ast: &mut File, origin: &Origin) {
        let mut decls = Vec::new();
        for item in &mut ast.items {
            match item {
                Item::Check(c) => decls.push(&mut c.source),
                Item::Runbook(r) => {
                    for ri in &mut r.items {
                        if let RunbookItem::Check(c) = ri {
                            decls.push(&mut c.source);
                        }
                    }
                }
                _ => {}
            }
        }
        for source in decls {
            if let CheckSource::File {
                path,
                path_span,
                file,
            } = source
            {
                let target = resolve(origin, path, false);
                *file = match self.loaded.get(&target) {
                    Some(id) => Some(*id),
                    None => {
                        let id = self.read(&target, *path_span, "UPG008", path);
                        if let Some(id) = id {
                            self.loaded.insert(target, id);
                        }
                        id
                    }
                };
            }
        }
    }
}

/// Resolve an import (or check path) written in the file `from`.
fn resolve(from: &Origin, written: &str, add_ext: bool) -> Origin {
    let mut written = written.to_string();
    if add_ext && !written.ends_with(".upg") {
        written.push_str(".upg");
    }
    if let Some(rel) = written.strip_prefix("stdlib/") {
        return Origin::Stdlib(normalize_rel(rel));
    }
    match from {
        Origin::Stdlib(base) => {
            let dir = base.rsplit_once('/').map_or("", |(d, _)| d);
            let joined = if dir.is_empty() {
                written
            } else {
                format!("{dir}/{written}")
            };
            Origin::Stdlib(normalize_rel(&joined))
        }
        Origin::Disk(base) => {
            let dir = base.parent().unwrap_or(Path::new("."));
            Origin::Disk(normalize(&dir.join(written)))
        }
    }
}

/// Lexically resolve `.` and `..` (the file need not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn normalize_rel(rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn display(o: &Origin) -> String {
    match o {
        Origin::Disk(p) => p.display().to_string(),
        Origin::Stdlib(rel) => format!("{STDLIB_PREFIX}{rel}"),
    }
}
