//! The `.upg` front end: text → spanned AST. See docs/language.md for the
//! language and grammar/upg.pest for its grammar.
//!
//! Public API:
//! - [`load`]`(path) -> Result<Program, (SourceMap, Vec<Diagnostic>)>`: the
//!   root file plus everything it imports (stdlib embedded) and the rhai files
//!   its checks name; this is what `check`, `show` and `exec` start from.
//! - [`load_text`]`(name, text, dir)`: the same with the root given as text.
//! - [`load_partial`]`(path)`: the program as far as it parses, with every
//!   load diagnostic; `runbook check` uses it to report everything at once.
//! - [`parse_file`]`(&SourceMap, FileId) -> Result<ast::File, Vec<Diagnostic>>`:
//!   one file, no imports followed (what `fmt` uses).
//! - [`parse_str`]`(name, text) -> (SourceMap, Result<ast::File, Vec<Diagnostic>>)`:
//!   convenience for tests.
//! - [`strip_spans`]: an AST as JSON without spans, to compare two trees
//!   for meaning.
//!
//! Diagnostics owned here: UPG001..UPG009 (listed in docs/language.md).

pub mod ast;
mod depth;
mod error;
mod expr;
mod literal;
mod loader;
mod parser;

pub use depth::MAX_NESTING;
pub use error::KEYWORDS;
pub use expr::MAX_EXPR_DEPTH;
pub use literal::{escape, format_duration, parse_duration, slug};
pub use loader::{
    Partial, Program, STDLIB_PREFIX, load, load_partial, load_text, stdlib_file, stdlib_files,
};
pub use parser::{parse_file, parse_file_partial};

use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, SourceMap};

/// Parse `text` as a file called `name`, without following imports.
pub fn parse_str(name: &str, text: &str) -> (SourceMap, Result<ast::File, Vec<Diagnostic>>) {
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new(name, None, text.to_string()));
    let result = parse_file(&sources, id);
    (sources, result)
}

/// The AST as JSON with every span (and file id) removed: two files mean the
/// same thing iff their stripped trees are equal. Comments are kept (text
/// only), so dropping a comment also counts as a change.
pub fn strip_spans<T: serde::Serialize>(node: &T) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|k, _| k != "span" && !k.ends_with("_span") && k != "file");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(node).expect("the AST serializes");
    strip(&mut v);
    v
}

#[cfg(test)]
mod tests;
