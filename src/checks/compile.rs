//! Compile a check at `runbook check` time: parse the rhai source with the
//! sandboxed engine, then walk the AST for what rhai only finds at run time
//! (calls of unknown functions, `import`, `eval`). Every problem becomes a
//! `Diagnostic` (UPG080-UPG089) pointing into the file the source came from.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use rhai::{AST, ASTNode, Expr, FnCallExpr, LexError, ParseErrorType, Position, Scope, Stmt};

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};

use super::engine;
use super::limits::Limits;
use super::snapshot::SCRIPT_VARIABLES;

/// rhai syntax error.
pub const SYNTAX_ERROR: &str = "UPG080";
/// Call of a function that neither the script nor the check API defines.
pub const UNKNOWN_FUNCTION: &str = "UPG081";
/// Call of a known function with a number of arguments it never takes.
pub const WRONG_ARITY: &str = "UPG082";
/// `import` or `eval`: refused by the sandbox.
pub const FORBIDDEN: &str = "UPG083";
/// A run stopped by a limit (operations, call depth, sizes, deadline).
pub const LIMIT_EXCEEDED: &str = "UPG084";
/// A run failed: runtime error or `throw`.
pub const RUNTIME_ERROR: &str = "UPG085";
/// A run returned something that is not a check result.
pub const BAD_RESULT: &str = "UPG086";

/// Where a check's source text lives: a `.rhai` file (offset 0) or the inline
/// `"""..."""` body of a `check` in a `.upg` file, `offset` bytes into it.
/// The text passed to `compile` must be the file's bytes from `offset` on,
/// verbatim, so positions map back exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: FileId,
    pub offset: usize,
}

impl Origin {
    pub fn file(file: FileId) -> Self {
        Origin { file, offset: 0 }
    }

    pub fn inline(file: FileId, offset: usize) -> Self {
        Origin { file, offset }
    }
}

/// A parsed, vetted check, ready to run any number of times.
#[derive(Clone, Debug)]
pub struct CompiledCheck {
    name: Arc<str>,
    pub(crate) ast: Arc<AST>,
    origin: Origin,
    source: Arc<str>,
    /// The snapshot variables the script reads; a run clones only these.
    pub(crate) uses: Vec<&'static str>,
    params: ParamsRead,
}

/// The keyword arguments a check can use: the `params.NAME` its script
/// reads. `runbook check` refuses any other name, since the script would
/// silently ignore it (and fall back to a default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamsRead {
    Names(BTreeSet<String>),
    /// `params` is used whole (indexed, passed on, iterated): any name may
    /// be read, so none can be refused.
    Any,
}

impl CompiledCheck {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    pub fn params(&self) -> &ParamsRead {
        &self.params
    }

    /// The span in the origin file of a rhai position, `len` bytes long
    /// (clamped to the source).
    pub(crate) fn span_at(&self, pos: Position, len: usize) -> Option<Span> {
        span_at(&self.source, self.origin, pos, len)
    }
}

fn span_at(source: &str, origin: Origin, pos: Position, len: usize) -> Option<Span> {
    let start = byte_offset(source, pos)?;
    let end = (start + len).min(source.len());
    Some(Span::new(
        origin.file,
        origin.offset + start,
        origin.offset + end,
    ))
}

/// rhai positions are 1-based lines and 1-based character columns.
fn byte_offset(source: &str, pos: Position) -> Option<usize> {
    let line = pos.line()?;
    let line_start = if line == 1 {
        0
    } else {
        source.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let col = pos.position().unwrap_or(1).max(1);
    let rest = &source[line_start..];
    let within = rest
        .char_indices()
        .nth(col - 1)
        .map_or(rest.len(), |(i, _)| i);
    Some(line_start + within)
}

/// Parse and vet a check. `name` is the check's name in the runbook
/// (`check.NAME(...)`); `source` its rhai text; `origin` where that text is.
pub fn compile(
    name: &str,
    source: &str,
    origin: &Origin,
) -> Result<CompiledCheck, Vec<Diagnostic>> {
    let engine = engine::sandboxed(&Limits::default());
    // Declared (not constant) so strict-variables mode knows the names but
    // the optimizer cannot fold their placeholder values into the AST.
    let mut scope = Scope::new();
    for var in SCRIPT_VARIABLES {
        scope.push(*var, ());
    }
    let ast = match engine.compile_with_scope(&scope, source) {
        Ok(ast) => ast,
        Err(err) => return Err(vec![syntax_error(name, source, origin, err)]),
    };
    let problems = vet(name, source, origin, &ast);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(CompiledCheck {
        uses: used_variables(&ast),
        params: params_read(&ast),
        name: name.into(),
        ast: Arc::new(ast),
        origin: *origin,
        source: source.into(),
    })
}

/// A rhai parse error as a diagnostic at its place in `source` (or in a
/// copy of it with the same byte offsets).
fn syntax_error(name: &str, source: &str, origin: &Origin, err: rhai::ParseError) -> Diagnostic {
    let pos = err.position();
    let kind = *err.0;
    // `eval` is a disabled keyword, so the parser meets it first.
    if let ParseErrorType::BadInput(LexError::ImproperSymbol(sym, _)) = &kind
        && sym == "eval"
    {
        return forbidden(name, "`eval`", span_at(source, *origin, pos, 4));
    }
    let mut d = Diagnostic::error(
        SYNTAX_ERROR,
        format!("check `{name}`: {}", syntax_message(&kind)),
    );
    if let Some(span) = span_at(source, *origin, pos, token_len(source, pos)) {
        d = d.with_label(span, "here");
    }
    if let Some(help) = syntax_help(&kind) {
        d = d.with_help(help);
    }
    d
}

/// Everything `runbook check` can say about a check in one run, and the
/// parameters it reads (for UPG037), even when it does not compile.
///
/// rhai stops at the first syntax error. To still report the rest, the line
/// of each error is blanked (byte offsets stay put) and the script parsed
/// again, a few times at most. Each later syntax error is reported too,
/// unless it is an echo of the blanking: a variable declared on a blanked
/// line is unknown afterwards.
/// A version that parses is vetted for unknown functions and `import`
/// outside the blanked lines.
pub fn diagnose(
    name: &str,
    source: &str,
    origin: &Origin,
) -> (Vec<Diagnostic>, Option<ParamsRead>) {
    let mut diags = match compile(name, source, origin) {
        Ok(c) => return (Vec::new(), Some(c.params)),
        Err(diags) => diags,
    };
    let syntax_error_found = diags.iter().any(|d| d.code == SYNTAX_ERROR);
    if !syntax_error_found {
        return (diags, None);
    }
    let engine = engine::sandboxed(&Limits::default());
    let mut scope = Scope::new();
    for var in SCRIPT_VARIABLES {
        scope.push(*var, ());
    }
    let mut text = source.to_string();
    let mut blanked: Vec<(usize, usize)> = Vec::new();
    let mut result = engine.compile_with_scope(&scope, &text);
    for attempt in 0..16 {
        let err = match result {
            Ok(ast) => {
                let in_blank = |d: &Diagnostic| {
                    d.primary_span().is_some_and(|s| {
                        let at = s.start as usize - origin.offset;
                        blanked.iter().any(|(a, b)| (*a..*b).contains(&at))
                    })
                };
                // A function defined on a blanked line is not unknown.
                let defined = functions_defined_in(source);
                let defined_here = |d: &Diagnostic| {
                    d.code == UNKNOWN_FUNCTION
                        && defined
                            .iter()
                            .any(|f| d.message.ends_with(&format!("`{f}`")))
                };
                diags.extend(
                    vet(name, &text, origin, &ast)
                        .into_iter()
                        .filter(|d| !in_blank(d) && !defined_here(d)),
                );
                // A blanked line may have read parameters too.
                let params = match params_read(&ast) {
                    ParamsRead::Names(mut names) => {
                        for (a, b) in &blanked {
                            names.extend(params_named_in(&source[*a..*b]));
                        }
                        ParamsRead::Names(names)
                    }
                    ParamsRead::Any => ParamsRead::Any,
                };
                return (diags, Some(params));
            }
            Err(err) => err,
        };
        let Some(at) = byte_offset(&text, err.position()) else {
            break;
        };
        let echo = match &*err.0 {
            ParseErrorType::VariableUndefined(v) => {
                blanked.iter().any(|(a, b)| has_word(&source[*a..*b], v))
            }
            _ => false,
        };
        // The first attempt meets the error `compile` reported already.
        if attempt > 0 && !echo {
            diags.push(syntax_error(name, &text, origin, err));
        }
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let line = &text[start..end];
        if line.trim().is_empty() {
            break;
        }
        // Keep the brackets the line leaves open or closes (`if x {`,
        // `} else {`, a call continued below) or blank it whole, whichever
        // lets the parser go further: a `(` that is itself the mistake
        // would otherwise report every line after it.
        let mut tries: Vec<String> = vec![unmatched_brackets(line), " ".repeat(line.len())];
        tries.dedup();
        let (next, next_result) = tries
            .into_iter()
            .map(|kept| {
                let mut t = text.clone();
                t.replace_range(start..end, &kept);
                let r = engine.compile_with_scope(&scope, &t);
                (t, r)
            })
            .min_by_key(|(t, r)| {
                std::cmp::Reverse(match r {
                    Ok(_) => usize::MAX,
                    Err(e) => byte_offset(t, e.position()).unwrap_or(0),
                })
            })
            .expect("two tries");
        text = next;
        result = next_result;
        blanked.push((start, end));
    }
    (diags, None)
}

/// `line` with everything turned into spaces (byte for byte) but the
/// brackets it does not close itself, outside strings and comments.
fn unmatched_brackets(line: &str) -> String {
    let mut out: Vec<u8> = vec![b' '; line.len()];
    let mut open: Vec<(usize, char)> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '/' if line[i + 1..].starts_with('/') => break,
            '{' | '(' | '[' => open.push((i, c)),
            '}' | ')' | ']' => {
                let pair = match c {
                    '}' => '{',
                    ')' => '(',
                    _ => '[',
                };
                if open.last().is_some_and(|(_, o)| *o == pair) {
                    open.pop();
                } else {
                    out[i] = c as u8;
                }
            }
            _ => {}
        }
    }
    for (i, c) in open {
        out[i] = c as u8;
    }
    String::from_utf8(out).expect("ASCII")
}

/// Whether `word` occurs in `text` as a whole identifier.
fn has_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(ident)
            && !text[i + word.len()..].chars().next().is_some_and(ident)
    })
}

/// Names after `fn` in the text: functions a blanked line may have defined.
fn functions_defined_in(source: &str) -> Vec<&str> {
    source
        .match_indices("fn ")
        .filter_map(|(i, _)| {
            let rest = source[i + 3..].trim_start();
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

/// `NAME` of every `params.NAME` in the text.
fn params_named_in(text: &str) -> Vec<String> {
    text.match_indices("params.")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| rest[..end].to_string())
        })
        .collect()
}

fn syntax_message(kind: &ParseErrorType) -> String {
    match kind {
        ParseErrorType::VariableUndefined(v) => format!("unknown variable `{v}`"),
        ParseErrorType::ExprTooDeep => "expression nested too deeply".to_string(),
        other => other.to_string(),
    }
}

fn syntax_help(kind: &ParseErrorType) -> Option<String> {
    match kind {
        ParseErrorType::VariableUndefined(_) => Some(format!(
            "a check can read {}; declare other variables with `let`",
            SCRIPT_VARIABLES.join(", ")
        )),
        ParseErrorType::ExprTooDeep => Some("split the expression with `let`".to_string()),
        _ => Some("see docs/checks.md for the check language".to_string()),
    }
}

/// Length of the identifier-like token at `pos`, at least 1 for a caret.
fn token_len(source: &str, pos: Position) -> usize {
    byte_offset(source, pos)
        .map(|start| {
            source[start..]
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map_or(source.len() - start, |(i, _)| i)
                .max(1)
        })
        .unwrap_or(1)
}

/// rhai keywords that look like function calls but are built into the engine.
const INTRINSICS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
];

/// Every function the sandboxed engine knows: name → accepted arities.
fn known_functions() -> &'static HashMap<String, HashSet<usize>> {
    static KNOWN: OnceLock<HashMap<String, HashSet<usize>>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let engine = engine::sandboxed(&Limits::default());
        let mut known: HashMap<String, HashSet<usize>> = HashMap::new();
        for (name, arity) in engine.collect_fn_metadata(
            None,
            |f| Some((f.metadata.name.to_string(), f.metadata.num_params)),
            true,
        ) {
            known.entry(name).or_default().insert(arity);
        }
        known
    })
}

/// Calls of unknown functions and forbidden statements, in source order.
fn vet(name: &str, source: &str, origin: &Origin, ast: &AST) -> Vec<Diagnostic> {
    let known = known_functions();
    let mut defined: HashMap<String, HashSet<usize>> = HashMap::new();
    for f in ast.iter_functions() {
        defined
            .entry(f.name.to_string())
            .or_default()
            .insert(f.params.len());
    }
    // A variable holding a function pointer may be called like a function.
    let mut variables: HashSet<String> = HashSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Var(v, ..))) = path.last() {
            variables.insert(v.0.name.to_string());
        }
        true
    });

    let mut problems = Vec::new();
    let span = |pos: Position, len: usize| span_at(source, *origin, pos, len);
    let call = |f: &FnCallExpr, pos: Position, method: bool| -> Option<Diagnostic> {
        let fname = f.name.as_str();
        if f.is_operator_call()
            || INTRINSICS.contains(&fname)
            || (!method && variables.contains(fname))
        {
            return None;
        }
        let arity = f.args.len() + usize::from(method);
        let arities: HashSet<usize> = known
            .get(fname)
            .into_iter()
            .chain(defined.get(fname))
            .flatten()
            .copied()
            .collect();
        if !f.namespace.is_empty() || arities.is_empty() {
            let mut d = Diagnostic::error(
                UNKNOWN_FUNCTION,
                format!("check `{name}` calls unknown function `{fname}`"),
            );
            if let Some(s) = span(pos, fname.len()) {
                d = d.with_label(s, "not defined here or in the check API");
            }
            Some(d.with_help(
                "checks run sandboxed: no files, network or modules; see docs/checks.md for the helpers",
            ))
        } else if !arities.contains(&arity) {
            // As a method the receiver is the first argument, so it is not counted.
            let mut takes: Vec<usize> = arities
                .iter()
                .filter_map(|a| a.checked_sub(usize::from(method)))
                .collect();
            takes.sort_unstable();
            let takes: Vec<String> = takes.iter().map(ToString::to_string).collect();
            let message = if takes.is_empty() {
                format!("check `{name}`: `{fname}` cannot be called as a method; call `{fname}()`")
            } else {
                format!(
                    "check `{name}`: `{fname}` takes {} argument(s), not {}",
                    takes.join(" or "),
                    f.args.len()
                )
            };
            let mut d = Diagnostic::error(WRONG_ARITY, message);
            if let Some(s) = span(pos, fname.len()) {
                d = d.with_label(s, "called here");
            }
            Some(d.with_help("see docs/checks.md for the helpers and their arguments"))
        } else {
            None
        }
    };
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(f, pos)))
            | Some(ASTNode::Stmt(Stmt::FnCall(f, pos))) => problems.extend(call(f, *pos, false)),
            Some(ASTNode::Expr(Expr::MethodCall(f, pos))) => problems.extend(call(f, *pos, true)),
            Some(ASTNode::Stmt(Stmt::Import(_, pos))) => {
                problems.push(forbidden(name, "`import`", span(*pos, 6)))
            }
            _ => {}
        }
        true
    });
    problems
}

fn used_variables(ast: &AST) -> Vec<&'static str> {
    let mut used = HashSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::Variable(v, ..))) = path.last() {
            used.insert(v.1.to_string());
        }
        true
    });
    SCRIPT_VARIABLES
        .iter()
        .copied()
        .filter(|v| used.contains(*v))
        .collect()
}

/// Every `params.NAME` in the script, or `Any` if `params` appears in any
/// other form.
fn params_read(ast: &AST) -> ParamsRead {
    let mut names = BTreeSet::new();
    let mut whole = false;
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(ASTNode::Expr(Expr::Variable(v, ..))) = path.last() else {
            return true;
        };
        if v.1 != "params" {
            return true;
        }
        let parent = path.len().checked_sub(2).map(|i| &path[i]);
        match parent {
            Some(ASTNode::Expr(Expr::Dot(dot, ..)))
                if matches!(&dot.lhs, Expr::Variable(lhs, ..) if lhs.1 == "params") =>
            {
                match first_property(&dot.rhs) {
                    Some(name) => {
                        names.insert(name.to_string());
                    }
                    None => whole = true,
                }
            }
            _ => whole = true,
        }
        true
    });
    if whole {
        ParamsRead::Any
    } else {
        ParamsRead::Names(names)
    }
}

/// `a` in `.a`, `.a.b`, `.a[0]`, `.a.f()`; `None` for a method on `params`.
fn first_property(rhs: &Expr) -> Option<&str> {
    match rhs {
        Expr::Property(p, _) => Some(p.2.as_str()),
        Expr::Dot(x, ..) | Expr::Index(x, ..) => first_property(&x.lhs),
        _ => None,
    }
}

fn forbidden(check: &str, what: &str, span: Option<Span>) -> Diagnostic {
    let mut d = Diagnostic::error(
        FORBIDDEN,
        format!("check `{check}` uses {what}, which the check sandbox refuses"),
    );
    if let Some(s) = span {
        d = d.with_label(s, "not allowed in a check");
    }
    d.with_help(
        "checks cannot load modules or code at run time; put shared code in the check itself",
    )
}
