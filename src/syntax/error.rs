//! pest errors made human: "expected a name or `}`, found `=`" (UPG001),
//! pointing at the offending token, with a hint where one is obvious.

use std::collections::BTreeSet;

use pest::error::{Error, ErrorVariant, InputLocation};

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};

use super::parser::Rule;

/// `err` comes from parsing `text[base..]`.
pub fn from_pest(file: FileId, text: &str, base: usize, err: Error<Rule>) -> Diagnostic {
    let pos = base
        + match err.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let mut expected: BTreeSet<String> = BTreeSet::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        expected.extend(positives.iter().filter_map(|r| describe(*r)));
    }
    if let Some(attempts) = err.parse_attempts() {
        for token in attempts.expected_tokens() {
            // ParsingToken is not exported; its Display is the literal text.
            // Only closing and separating punctuation is worth listing: the
            // rules in `positives` already say "a name", "an expression".
            let token = token.to_string();
            if matches!(
                token.as_str(),
                "}" | ")" | "]" | "," | ":" | "=" | "{" | "=>" | ">" | "in"
            ) {
                expected.insert(format!("`{token}`"));
            }
        }
    }
    if expected.contains("an operator") {
        // `>` and `in` are listed as tokens for `list<T>` and `for x in`;
        // next to "an operator" they only repeat it.
        expected.remove("`>`");
        expected.remove("`in`");
    }
    if expected.len() > 6 {
        // A long list of keywords reads worse than naming the category.
        let before = expected.len();
        expected.retain(|e| !e.trim_matches('`').chars().all(|c| c.is_ascii_alphabetic()));
        if expected.len() < before {
            expected.insert("a statement".to_string());
        }
    }
    let found = found_token(text, pos);
    if matches!(found.as_deref(), None | Some("\n") | Some("\""))
        && let Some(open) = open_interpolation(text, pos)
    {
        return Diagnostic::error("UPG007", "unterminated interpolation")
            .with_label(Span::new(file, open, open + 2), "this `${` is never closed")
            .with_help("close it with `}` before the string ends; write `\\$` for a literal `$`");
    }
    let end = pos + found.as_ref().map_or(0, |t| t.len());
    let span = Span::new(file, pos, end);
    let found_text = match found.as_deref() {
        None => "end of file".to_string(),
        Some("\n") => "end of line".to_string(),
        Some(t) => format!("`{t}`"),
    };

    let message = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join(&expected))
    };
    let help = hint(text, pos, found.as_deref(), &expected);
    Diagnostic::error("UPG001", message)
        .with_label(span, format!("unexpected {found_text}"))
        .with_help(help)
}

/// If `pos` is inside a `${` of a string that started on the same line,
/// where that `${` is.
fn open_interpolation(text: &str, pos: usize) -> Option<usize> {
    enum Ctx {
        Str,
        Interp(usize),
        Brace,
    }
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..pos];
    let mut stack: Vec<Ctx> = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (stack.last(), c) {
            (Some(Ctx::Str), '\\') => {
                chars.next();
            }
            (Some(Ctx::Str), '"') => {
                stack.pop();
            }
            (Some(Ctx::Str), '$') if chars.peek().map(|(_, c)| *c) == Some('{') => {
                chars.next();
                stack.push(Ctx::Interp(line_start + i));
            }
            (Some(Ctx::Str), _) => {}
            (_, '"') => stack.push(Ctx::Str),
            (_, '#') if stack.is_empty() => break,
            (Some(_), '{') => stack.push(Ctx::Brace),
            (Some(_), '}') => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.iter().rev().find_map(|c| match c {
        Ctx::Interp(at) => Some(*at),
        _ => None,
    })
}

fn join(items: &BTreeSet<String>) -> String {
    let v: Vec<&str> = items.iter().map(String::as_str).collect();
    match v.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The token at `pos`: a word, a number, or one punctuation character.
fn found_token(text: &str, pos: usize) -> Option<String> {
    let rest = text.get(pos..)?;
    let first = rest.chars().next()?;
    if first.is_alphanumeric() || first == '_' {
        Some(
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                .take(40)
                .collect(),
        )
    } else {
        Some(first.to_string())
    }
}

/// The words the grammar reserves; a name may not be one.
pub const KEYWORDS: &[&str] = &[
    "runbook",
    "param",
    "environment",
    "protected",
    "precondition",
    "else",
    "gate",
    "within",
    "every",
    "consecutive",
    "check",
    "from",
    "step",
    "irreversible",
    "when",
    "during",
    "rollback",
    "let",
    "for",
    "in",
    "if",
    "await",
    "pause",
    "confirm",
    "log",
    "fail",
    "keep",
    "import",
    "true",
    "false",
    "eks",
    "k8s",
    "nodegroup",
];

fn hint(text: &str, pos: usize, found: Option<&str>, expected: &BTreeSet<String>) -> String {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..pos];
    if found == Some("\n") && before.matches('"').count() % 2 == 1 {
        return "a string must end on the line it starts; use \"\"\"...\"\"\" for multi-line text"
            .into();
    }
    match found {
        None if expected.contains("`}`") => {
            "a `{` is never closed: add the missing `}`".into()
        }
        Some(word) if top_level(text, pos) && KEYWORDS.contains(&word) && word != "runbook" => {
            "statements, steps and parameters go inside `runbook NAME \"description\" { ... }`"
                .into()
        }
        Some(word) if KEYWORDS.contains(&word) && expected.contains("a name") => format!(
            "`{word}` is a keyword and cannot be used as a name; pick another name"
        ),
        Some("-") if let Some(name) = dashed_name(text, pos) => format!(
            "environment, parameter, variable, gate and check names are identifiers: letters, \
             digits and `_`, not starting with a digit (`-` is minus); write `{}`",
            name.replace('-', "_")
        ),
        Some("(") => "only built-ins (`eks.update_addon(...)`) and methods (`x.len()`) can be called, and `(` must follow the name directly".into(),
        _ if expected.contains("a parameter type") => {
            "types: string, int, bool, duration, version, secret, list, list<T>, map, map<T>".into()
        }
        _ => "see docs/language.md for the syntax of each construct".into(),
    }
}

/// The `a-b-c` around a `-` at `pos` that touches a name on both sides
/// (`environment pre-prod`), if that is what is there.
fn dashed_name(text: &str, pos: usize) -> Option<&str> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = text[..pos]
        .char_indices()
        .rev()
        .take_while(|(_, c)| word(*c) || *c == '-')
        .last()
        .map(|(i, _)| i)?;
    let end = pos
        + text[pos..]
            .char_indices()
            .take_while(|(_, c)| word(*c) || *c == '-')
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
    let name = &text[start..end];
    let first = name.chars().next()?;
    (end > pos + 1 && (first.is_ascii_alphabetic() || first == '_') && !name.ends_with('-'))
        .then_some(name)
}

/// Whether `pos` is outside every brace (roughly: strings and comments
/// are not lexed, which only matters for a hint).
fn top_level(text: &str, pos: usize) -> bool {
    let before = &text[..pos];
    before.matches('{').count() <= before.matches('}').count()
}

/// What a grammar rule means to a reader; `None` hides plumbing rules.
fn describe(rule: Rule) -> Option<String> {
    let s = match rule {
        Rule::EOI => "end of file",
        Rule::import => "`import`",
        Rule::runbook | Rule::runbook_open | Rule::kw_runbook => "`runbook`",
        Rule::param => "`param`",
        Rule::environment => "`environment`",
        Rule::precondition => "`precondition`",
        Rule::gate_decl | Rule::gate_stmt => "`gate`",
        Rule::check_decl => "`check`",
        Rule::step => "`step`",
        Rule::let_stmt => "a statement",
        Rule::for_stmt
        | Rule::parallel_for
        | Rule::if_stmt
        | Rule::await_stmt
        | Rule::pause_stmt => "a statement",
        Rule::confirm_stmt
        | Rule::log_stmt
        | Rule::fail_stmt
        | Rule::keep_stmt
        | Rule::expr_stmt => "a statement",
        Rule::ident | Rule::name => "a name",
        Rule::type_expr => "a parameter type",
        Rule::string => "a string",
        Rule::raw_string => "a \"\"\"raw string\"\"\"",
        Rule::expr | Rule::postfix_expr | Rule::not | Rule::neg => "an expression",
        Rule::paren | Rule::list | Rule::map | Rule::version | Rule::duration | Rule::int => {
            "an expression"
        }
        Rule::or | Rule::and | Rule::eq | Rule::ne | Rule::le | Rule::ge | Rule::lt | Rule::gt => {
            "an operator"
        }
        Rule::in_op | Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::rem => "an operator",
        Rule::infix_start => "an operator",
        Rule::stmt_start => "a statement",
        Rule::index | Rule::member | Rule::call_args => return None,
        Rule::protected => "`protected`",
        Rule::env_for => "`for`",
        Rule::setting => "a `key = value` setting",
        Rule::else_message => "`else`",
        Rule::within_clause => "`within`",
        Rule::every_clause => "`every`",
        Rule::consecutive_clause => "`consecutive`",
        Rule::check_from => "`from`",
        Rule::check_inline => "`{`",
        Rule::irreversible => "`irreversible`",
        Rule::when_clause => "`when`",
        Rule::during_clause => "`during`",
        Rule::rollback => "`rollback`",
        Rule::block | Rule::step_body => "`{`",
        Rule::else_block => "`else`",
        Rule::arg | Rule::kwarg | Rule::lambda => "an argument",
        Rule::map_entry => "a `key: value` entry",
        Rule::interp | Rule::text | Rule::escape | Rule::reserved => return None,
        r => {
            let name = format!("{r:?}");
            return name.strip_prefix("kw_").map(|k| format!("`{k}`"));
        }
    };
    Some(s.to_string())
}
