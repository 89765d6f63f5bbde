//! The fast path: a hand-written recursive-descent parser for the files pest
//! would accept, building the same AST about seven times faster.
//!
//! pest stays the language's parser of record: `grammar/upg.pest` defines
//! what is valid, and pest's builder produces every diagnostic. This parser
//! only answers when it is sure. At anything unusual (a syntax error, a bad
//! literal, a duplicate clause, an ambiguity pest would settle by
//! backtracking) it returns `None` and `parse_file` runs pest instead, so
//! messages never depend on which path ran.
//!
//! The one invariant, tested differentially in `tests.rs`: when this returns
//! `Some(ast)`, pest accepts the same text and builds an equal AST, spans and
//! comments included. Every choice below is the first PEG alternative that
//! could succeed, so one token of lookahead decides as pest's ordered choice
//! would.

mod expr;
mod items;
#[cfg(test)]
mod tests;

use crate::source::{FileId, Span};

use super::ast::{Comment, File, Ident};
use super::error::KEYWORDS;
use super::parser::{doc_before, trim_span};

/// `None` means "not sure": fall back to pest.
type P<T> = Option<T>;

/// Parse `text` when it is plainly valid; `None` otherwise.
pub fn parse(file: FileId, text: &str) -> Option<File> {
    let mut p = Parser {
        file,
        text,
        b: text.as_bytes(),
        pos: 0,
        last_end: 0,
        trivia_end: usize::MAX,
        comments: Vec::new(),
    };
    let (imports, items) = p.file()?;
    let span = trim_span(text, &p.comments, Span::new(file, 0, text.len()));
    Some(File {
        file,
        imports,
        items,
        comments: p.comments,
        span,
    })
}

struct Parser<'t> {
    file: FileId,
    text: &'t str,
    b: &'t [u8],
    pos: usize,
    /// End of the last token taken: spans end here, never in trivia.
    last_end: usize,
    /// Where the last skipped run of trivia ended, so a second skip at the
    /// same place records no comment twice.
    trivia_end: usize,
    comments: Vec<Comment>,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

impl<'t> Parser<'t> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// From `start` to the end of the last token taken.
    fn since(&self, start: usize) -> Span {
        self.span(start, self.last_end)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// Where the trivia (blanks and comments) starting at `i` ends.
    fn trivia_from(&self, mut i: usize) -> usize {
        loop {
            match self.at(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                Some(b'#') => i = self.line_end(i),
                Some(b'/') if self.at(i + 1) == Some(b'/') => i = self.line_end(i),
                _ => return i,
            }
        }
    }

    fn line_end(&self, i: usize) -> usize {
        self.b[i..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(self.b.len(), |n| i + n)
    }

    /// Skip blanks and comments, recording each comment once.
    fn trivia(&mut self) {
        if self.pos == self.trivia_end {
            return;
        }
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                Some(b'#') => self.comment(),
                Some(b'/') if self.at(self.pos + 1) == Some(b'/') => self.comment(),
                _ => break,
            }
        }
        self.trivia_end = self.pos;
    }

    fn comment(&mut self) {
        let start = self.pos;
        self.pos = self.line_end(start);
        let text = self.text[start..self.pos].trim_end();
        self.comments.push(Comment {
            text: text.to_string(),
            span: self.span(start, start + text.len()),
        });
    }

    /// Take `n` bytes as one token.
    fn take(&mut self, n: usize) -> usize {
        let start = self.pos;
        self.pos += n;
        self.last_end = self.pos;
        start
    }

    /// After trivia: take `lit` if it is next.
    fn eat(&mut self, lit: &str) -> bool {
        self.trivia();
        if self.b[self.pos..].starts_with(lit.as_bytes()) {
            self.take(lit.len());
            true
        } else {
            false
        }
    }

    fn expect(&mut self, lit: &str) -> P<()> {
        self.eat(lit).then_some(())
    }

    /// Length of the name (`[A-Za-z_][A-Za-z0-9_]*`) at byte `i`, 0 if none.
    fn name_len_at(&self, i: usize) -> usize {
        match self.at(i) {
            Some(c) if is_name_start(c) => {
                1 + self.b[i + 1..]
                    .iter()
                    .take_while(|c| is_ident_char(**c))
                    .count()
            }
            _ => 0,
        }
    }

    /// After trivia: the word that comes next, without taking it.
    fn peek_word(&mut self) -> &'t str {
        self.trivia();
        let n = self.name_len_at(self.pos);
        &self.text[self.pos..self.pos + n]
    }

    /// After trivia: take keyword `kw` (a whole word).
    fn keyword(&mut self, kw: &str) -> P<()> {
        (self.peek_word() == kw)
            .then(|| self.take(kw.len()))
            .map(drop)
    }

    /// After trivia: any name, keywords included.
    fn name(&mut self) -> P<Ident> {
        let word = self.peek_word();
        if word.is_empty() {
            return None;
        }
        let start = self.take(word.len());
        Some(Ident {
            name: word.to_string(),
            span: self.span(start, self.pos),
        })
    }

    /// After trivia: a name that is not a keyword.
    fn ident(&mut self) -> P<Ident> {
        let word = self.peek_word();
        if KEYWORDS.contains(&word) {
            return None;
        }
        self.name()
    }

    fn doc(&self, start: usize) -> Option<super::ast::Doc> {
        doc_before(self.text, &self.comments, start)
    }
}
