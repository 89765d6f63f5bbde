//! The one error model. Every user-facing problem — a parse error, a checker
//! finding, a bad fixture, a rhai compile error, a failed parameter — is a
//! `Diagnostic` with a stable code, a severity, a message, labelled spans and a
//! help line. It is rendered one way (miette's graphical report) or as JSON.

use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    NamedSource, SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

use crate::source::{SourceFile, SourceMap, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code such as `UPG012`; pinned by golden tests and documented.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The first label is the primary location.
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// Render with miette's graphical handler. `color` is off for pipes, files
    /// and golden tests.
    pub fn render(&self, sources: &SourceMap, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut out = String::new();
        let report = Rendered {
            diagnostic: self,
            source: self.primary_span().map(|span| Window {
                file: sources.get(span.file),
            }),
        };
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail short of a bug in miette;
            // fall back to the plain form rather than lose the message.
            out = self.plain(sources);
        }
        out
    }

    /// `file:line:col: error[CODE]: message` on one line.
    pub fn plain(&self, sources: &SourceMap) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.primary_span() {
            Some(span) => format!(
                "{}: {severity}[{}]: {}",
                sources.location(span),
                self.code,
                self.message
            ),
            None => format!("{severity}[{}]: {}", self.code, self.message),
        }
    }

    /// The JSON form used by `--format json`.
    pub fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let location = |span: Span| {
            let file = sources.get(span.file);
            let (line, column) = file.line_col(span.start);
            let (end_line, end_column) = file.line_col(span.end);
            serde_json::json!({
                "file": file.name,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
            })
        };
        serde_json::json!({
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "location": self.primary_span().map(location),
            "labels": self.labels.iter().map(|l| {
                let mut v = location(l.span);
                v["message"] = serde_json::Value::String(l.message.clone());
                v
            }).collect::<Vec<_>>(),
            "help": self.help,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

/// Adapter that lets miette render a `Diagnostic` against its source file.
/// miette takes one source per report, so only labels in the primary file are
/// drawn; the JSON form lists them all.
struct Rendered<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<Window<'a>>,
}

/// A source file as miette reads it, without copying it and without scanning
/// it from the start for every label: miette's own `str` source walks the
/// text up to each span, which made 2,000 diagnostics in a large file take
/// minutes. Each read cuts out the lines around the span (found through the
/// file's line index) and lets miette work on that window, then moves the
/// result back to file coordinates, so the output is the same as before.
struct Window<'a> {
    file: &'a SourceFile,
}

impl SourceCode for Window<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text = self.file.text.as_str();
        let start = span.offset().min(text.len());
        let end = (span.offset() + span.len()).min(text.len());
        let first_line = self
            .file
            .line_index(start)
            .saturating_sub(context_lines_before);
        // One line of slack after the context: miette decides where to stop.
        let last_line = self.file.line_index(end) + context_lines_after + 1;
        let from = self.file.line_start(first_line);
        let to = self.file.line_start(last_line + 1);
        let window = &text[from..to];
        let inner = window.read_span(
            &SourceSpan::new((start - from).into(), end - start),
            context_lines_before,
            context_lines_after,
        )?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.file.name.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + from).into(), inner.span().len()),
            inner.line() + first_line,
            inner.column(),
            // miette counts the line breaks from the start of the source.
            inner.line_count() + first_line,
        )))
    }
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.diagnostic, f)
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|n| n as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = self.diagnostic.primary_span()?.file;
        Some(Box::new(
            self.diagnostic
                .labels
                .iter()
                .enumerate()
                .filter(move |(_, l)| l.span.file == primary)
                .map(|(i, l)| {
                    let span = SourceSpan::new((l.span.start as usize).into(), l.span.len());
                    let text = (!l.message.is_empty()).then(|| l.message.clone());
                    if i == 0 {
                        LabeledSpan::new_primary_with_span(text, span)
                    } else {
                        LabeledSpan::new_with_span(text, span)
                    }
                }),
        ))
    }
}

/// The file a span is in, as a miette named source (its name heads the report).
pub fn named_source(sources: &SourceMap, span: Span) -> NamedSource<String> {
    let file = sources.get(span.file);
    NamedSource::new(file.name.clone(), file.text.clone())
}

/// Render a list of diagnostics, errors and warnings in source order, followed
/// by a one-line summary. Returns the text and whether any was an error.
pub fn render_all(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> (String, bool) {
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start)));
    let mut out = String::new();
    for d in &sorted {
        out.push_str(&d.render(sources, color));
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if !diagnostics.is_empty() {
        out.push_str(&format!(
            "{errors} error{}, {warnings} warning{}\n",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        ));
    }
    (out, errors > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    #[test]
    fn renders_code_location_label_and_help() {
        let mut sources = SourceMap::new();
        let file = sources.add(SourceFile::new(
            "demo.upg",
            None,
            "runbook x \"d\" {\n  pause 10q\n}\n".to_string(),
        ));
        let d = Diagnostic::error("UPG002", "invalid duration `10q`")
            .with_label(Span::new(file, 24, 27), "unknown unit `q`")
            .with_help("use s, m or h, e.g. `10m`");
        let text = d.render(&sources, false);
        assert!(text.contains("UPG002"), "{text}");
        assert!(text.contains("demo.upg:2:9"), "{text}");
        assert!(text.contains("unknown unit `q`"), "{text}");
        assert!(text.contains("use s, m or h"), "{text}");
        assert_eq!(
            d.plain(&sources),
            "demo.upg:2:9: error[UPG002]: invalid duration `10q`"
        );
        let json = d.to_json(&sources);
        assert_eq!(json["location"]["line"], 2);
        assert_eq!(json["location"]["column"], 9);
    }
}
