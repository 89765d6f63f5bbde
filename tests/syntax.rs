//! The `.upg` front end end to end: `fmt` is idempotent and never changes
//! meaning (on generated runbooks and on every shipped file), the parser
//! never panics, and the real binary's `fmt` and `show` match golden files.
//!
//! Regenerate golden files with `UPDATE_GOLDEN=1 cargo test --test integration syntax::`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use proptest::prelude::*;
use runbook::format::{expr_to_string, format_file, format_source};
use runbook::source::{FileId, Span};
use runbook::syntax::ast::*;
use runbook::syntax::{KEYWORDS, parse_str, slug, strip_spans};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------ generators

fn sp() -> Span {
    Span::new(FileId(0), 0, 0)
}

fn ident_text() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,7}".prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str()))
}

fn ident() -> impl Strategy<Value = Ident> {
    ident_text().prop_map(|name| Ident { name, span: sp() })
}

/// Field, method, keyword-argument and setting names may be keywords.
fn member_name() -> impl Strategy<Value = Ident> {
    prop_oneof![
        4 => ident_text(),
        1 => proptest::sample::select(KEYWORDS).prop_map(str::to_string),
    ]
    .prop_map(|name| Ident { name, span: sp() })
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, escapes, `$`, braces, tabs and non-ASCII all need care.
    proptest::collection::vec(
        prop_oneof![
            6 => "[a-zA-Z0-9 .,:/-]{1,6}",
            1 => proptest::sample::select(vec!["\"", "\\", "$", "${", "{", "}", "\n", "\t", "é", "#", "//"])
                .prop_map(str::to_string),
        ],
        1..5,
    )
    .prop_map(|parts| parts.concat())
}

/// A `"..."` literal: text runs merged, none empty (as the parser builds them).
fn str_lit(interp: impl Strategy<Value = Expr> + Clone) -> impl Strategy<Value = StrLit> {
    proptest::collection::vec(
        prop_oneof![
            3 => text().prop_map(Ok),
            1 => interp.prop_map(Err),
        ],
        0..4,
    )
    .prop_map(|raw_parts| {
        let mut parts: Vec<StrPart> = Vec::new();
        for p in raw_parts {
            match (p, parts.last_mut()) {
                (Ok(t), Some(StrPart::Text { text, .. })) => text.push_str(&t),
                (Ok(t), _) => parts.push(StrPart::Text {
                    text: t,
                    span: sp(),
                }),
                (Err(e), _) => parts.push(StrPart::Interp(e)),
            }
        }
        StrLit {
            parts,
            raw: false,
            span: sp(),
        }
    })
}

fn plain_str() -> impl Strategy<Value = StrLit> {
    text().prop_map(|t| StrLit {
        parts: vec![StrPart::Text {
            text: t,
            span: sp(),
        }],
        raw: false,
        span: sp(),
    })
}

/// Raw text: no `"""`, not ending in `"`, one line (so the comment test can
/// append comments to any line).
fn raw_text() -> impl Strategy<Value = String> {
    "[a-z ${}\\\\\"#;()=.]{0,20}"
        .prop_filter("raw-safe", |s| !s.contains("\"\"\"") && !s.ends_with('"'))
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn leaf() -> BoxedStrategy<Expr> {
    prop_oneof![
        (0i64..=i64::MAX).prop_map(|i| e(ExprKind::Int(i))),
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        (0u64..400_000_000).prop_map(|ms| e(ExprKind::Duration(Duration::from_millis(ms)))),
        (0u64..3, 0u64..40, proptest::option::of(0u64..20)).prop_map(|(major, minor, patch)| e(
            ExprKind::Version(Version {
                major,
                minor,
                patch
            })
        )),
        plain_str().prop_map(|s| e(ExprKind::Str(s))),
        raw_text().prop_map(|t| e(ExprKind::Str(StrLit {
            parts: vec![StrPart::Text {
                text: t,
                span: sp()
            }],
            raw: true,
            span: sp(),
        }))),
        ident().prop_map(|n| e(ExprKind::Name(n))),
    ]
    .boxed()
}

fn args(inner: BoxedStrategy<Expr>) -> impl Strategy<Value = Vec<Arg>> {
    let positional = prop_oneof![
        3 => inner.clone(),
        1 => (ident(), inner.clone()).prop_map(|(param, body)| e(ExprKind::Lambda {
            param,
            body: Box::new(body)
        })),
    ];
    (
        proptest::collection::vec(positional, 0..3),
        proptest::collection::vec((member_name(), inner), 0..3),
    )
        .prop_map(|(pos, kw)| {
            pos.into_iter()
                .map(|value| Arg {
                    name: None,
                    value,
                    span: sp(),
                })
                .chain(kw.into_iter().map(|(name, value)| Arg {
                    name: Some(name),
                    value,
                    span: sp(),
                }))
                .collect()
        })
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    proptest::sample::select(vec![
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::In,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
    ])
}

fn expr() -> BoxedStrategy<Expr> {
    leaf()
        .prop_recursive(4, 24, 4, |inner| {
            let inner = inner.boxed();
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| e(ExprKind::List(v))),
                proptest::collection::vec((text(), inner.clone()), 0..3).prop_map(|v| e(
                    ExprKind::Map(
                        v.into_iter()
                            .map(|(key, value)| MapEntry {
                                key,
                                key_span: sp(),
                                value
                            })
                            .collect()
                    )
                )),
                (inner.clone(), member_name()).prop_map(|(base, name)| e(ExprKind::Field {
                    base: Box::new(base),
                    name
                })),
                (inner.clone(), inner.clone()).prop_map(|(base, index)| e(ExprKind::Index {
                    base: Box::new(base),
                    index: Box::new(index)
                })),
                (inner.clone(), member_name(), args(inner.clone())).prop_map(
                    |(receiver, method, args)| e(ExprKind::Method {
                        receiver: Box::new(receiver),
                        method,
                        args
                    })
                ),
                (
                    proptest::sample::select(NAMESPACES),
                    member_name(),
                    args(inner.clone())
                )
                    .prop_map(|(ns, func, args)| e(ExprKind::Call {
                        namespace: Ident {
                            name: ns.to_string(),
                            span: sp()
                        },
                        func,
                        args
                    })),
                (any::<bool>(), inner.clone()).prop_map(|(not, operand)| e(ExprKind::Unary {
                    op: if not { UnaryOp::Not } else { UnaryOp::Neg },
                    operand: Box::new(operand)
                })),
                (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, lhs, rhs)| e(
                    ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs)
                    }
                )),
                str_lit(inner).prop_map(|s| e(ExprKind::Str(s))),
            ]
        })
        .boxed()
}

/// An expression that can stand on its own line: one starting with `-`
/// would continue the previous line's expression (documented).
fn line_expr() -> impl Strategy<Value = Expr> {
    expr().prop_filter("does not start with `-`", |x| {
        !expr_to_string(x).starts_with('-')
    })
}

fn call_expr() -> impl Strategy<Value = Expr> {
    expr().prop_filter("a call", |x| {
        matches!(x.kind, ExprKind::Call { .. } | ExprKind::Method { .. })
    })
}

fn st(kind: StmtKind) -> Stmt {
    Stmt { kind, span: sp() }
}

fn block(stmts: Vec<Stmt>) -> Block {
    Block { stmts, span: sp() }
}

fn simple_stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (ident(), expr()).prop_map(|(name, value)| st(StmtKind::Let { name, value })),
        ident().prop_map(|g| st(StmtKind::Gate(g))),
        (expr(), expr(), proptest::option::of(expr())).prop_map(|(condition, within, every)| st(
            StmtKind::Await {
                condition,
                within,
                every
            }
        )),
        expr().prop_map(|x| st(StmtKind::Pause(x))),
        expr().prop_map(|x| st(StmtKind::Confirm(x))),
        expr().prop_map(|x| st(StmtKind::Log(x))),
        expr().prop_map(|x| st(StmtKind::Fail(x))),
        call_expr().prop_map(|x| st(StmtKind::Expr(x))),
    ]
}

fn step_title() -> impl Strategy<Value = StrLit> {
    str_lit(leaf())
}

fn stmt() -> impl Strategy<Value = Stmt> {
    simple_stmt().prop_recursive(3, 16, 3, |inner| {
        let body = proptest::collection::vec(inner.clone(), 0..3);
        prop_oneof![
            (ident(), expr(), proptest::option::of(expr()), body.clone()).prop_map(
                |(var, iter, limit, b)| st(StmtKind::For {
                    var,
                    iter,
                    limit,
                    body: block(b)
                })
            ),
            (
                proptest::collection::vec((expr(), body.clone()), 1..3),
                proptest::option::of(body.clone())
            )
                .prop_map(|(branches, otherwise)| st(StmtKind::If {
                    branches: branches.into_iter().map(|(c, b)| (c, block(b))).collect(),
                    otherwise: otherwise.map(block)
                })),
            (
                step_title(),
                any::<bool>(),
                proptest::option::of(expr()),
                proptest::collection::vec(ident(), 0..3),
                body.clone(),
                proptest::option::of(body)
            )
                .prop_map(|(title, irreversible, when, during, b, rollback)| {
                    let id = slug(&title.template(expr_to_string));
                    st(StmtKind::Step(Step {
                        doc: None,
                        title,
                        id,
                        irreversible,
                        when,
                        during,
                        timeout: None,
                        retry: None,
                        body: block(b),
                        rollback: rollback.map(block),
                        span: sp(),
                    }))
                }),
        ]
    })
}

fn type_expr() -> impl Strategy<Value = Type> {
    let leaf = proptest::sample::select(vec![
        TypeKind::String,
        TypeKind::Int,
        TypeKind::Bool,
        TypeKind::Duration,
        TypeKind::Version,
        TypeKind::List(None),
        TypeKind::Map(None),
    ])
    .prop_map(|kind| Type { kind, span: sp() });
    leaf.prop_recursive(2, 4, 1, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|t| TypeKind::List(Some(Box::new(t)))),
            inner.prop_map(|t| TypeKind::Map(Some(Box::new(t)))),
        ]
        .prop_map(|kind| Type { kind, span: sp() })
    })
}

fn environment() -> impl Strategy<Value = Environment> {
    (
        ident(),
        any::<bool>(),
        proptest::option::of(ident()),
        proptest::collection::vec((member_name(), expr()), 0..3),
    )
        .prop_map(|(name, protected, runbook, settings)| Environment {
            doc: None,
            name,
            protected,
            runbook,
            settings: settings
                .into_iter()
                .map(|(key, value)| Setting {
                    key,
                    value,
                    span: sp(),
                })
                .collect(),
            span: sp(),
        })
}

fn gate_decl() -> impl Strategy<Value = GateDecl> {
    (
        ident(),
        proptest::collection::vec(line_expr(), 0..3),
        proptest::option::of((expr(), proptest::option::of(expr()))),
        proptest::option::of(expr()),
    )
        .prop_map(|(name, conditions, timing, consecutive)| {
            let (within, every) = match timing {
                Some((w, e)) => (Some(w), e),
                None => (None, None),
            };
            GateDecl {
                doc: None,
                name,
                conditions,
                within,
                every,
                consecutive,
                span: sp(),
            }
        })
}

fn check_decl() -> impl Strategy<Value = CheckDecl> {
    (
        ident(),
        proptest::option::of(plain_str()),
        prop_oneof![
            raw_text().prop_map(|text| CheckSource::Inline { text, span: sp() }),
            "[a-z/]{1,10}\\.rhai".prop_map(|path| CheckSource::File {
                path,
                path_span: sp(),
                file: None
            }),
        ],
    )
        .prop_map(|(name, description, source)| CheckDecl {
            doc: None,
            name,
            description,
            source,
            span: sp(),
        })
}

fn runbook_item() -> impl Strategy<Value = RunbookItem> {
    prop_oneof![
        1 => (ident(), type_expr(), proptest::option::of(expr())).prop_map(|(name, ty, default)| {
            RunbookItem::Param(Param {
                doc: None,
                name,
                ty,
                default,
                span: sp(),
            })
        }),
        1 => environment().prop_map(RunbookItem::Environment),
        1 => (
            step_title(),
            proptest::collection::vec(line_expr(), 1..3),
            proptest::option::of(plain_str())
        )
            .prop_map(|(title, conditions, else_message)| {
                RunbookItem::Precondition(Precondition {
                    doc: None,
                    title,
                    conditions,
                    else_message,
                    span: sp(),
                })
            }),
        1 => gate_decl().prop_map(RunbookItem::Gate),
        1 => check_decl().prop_map(RunbookItem::Check),
        3 => stmt().prop_map(RunbookItem::Stmt),
    ]
}

fn file() -> impl Strategy<Value = File> {
    let runbook = (
        ident(),
        str_lit(leaf()),
        proptest::collection::vec(runbook_item(), 0..6),
    )
        .prop_map(|(name, description, items)| {
            Item::Runbook(Runbook {
                doc: None,
                name,
                description,
                items,
                span: sp(),
            })
        });
    let item = prop_oneof![
        3 => runbook,
        1 => gate_decl().prop_map(Item::Gate),
        1 => check_decl().prop_map(Item::Check),
        1 => environment().prop_map(Item::Environment),
    ];
    (
        proptest::collection::vec("(stdlib/|\\./)[a-z]{1,8}", 0..3),
        proptest::collection::vec(item, 0..3),
    )
        .prop_map(|(imports, items)| File {
            file: FileId(0),
            imports: imports
                .into_iter()
                .map(|path| Import {
                    path,
                    path_span: sp(),
                    span: sp(),
                })
                .collect(),
            items,
            comments: Vec::new(),
            span: sp(),
        })
}

// ------------------------------------------------------------------ fmt properties

/// Parse formatted output.
fn reparse(text: &str) -> File {
    let (sources, result) = parse_str("generated.upg", text);
    result.unwrap_or_else(|diags| {
        panic!(
            "formatted output does not parse:\n{text}\n{}",
            diags
                .iter()
                .map(|d| d.render(&sources, false))
                .collect::<String>()
        )
    })
}

/// Format, parse back, format again: same tree, same text.
fn assert_fmt_round_trips(name: &str, original: &File, source: &str) {
    let formatted = format_file(original, source);
    let parsed = reparse(&formatted);
    assert_eq!(
        strip_spans(original),
        strip_spans(&parsed),
        "{name}: meaning changed; formatted:\n{formatted}"
    );
    assert_eq!(
        format_file(&parsed, &formatted),
        formatted,
        "{name}: not idempotent"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fmt_preserves_meaning_and_is_idempotent_on_generated_runbooks(f in file()) {
        assert_fmt_round_trips("generated", &f, "");
    }

    /// Comments appended to lines and placed between lines all survive, in
    /// order, and formatting stays idempotent.
    #[test]
    fn fmt_keeps_every_comment(
        f in file(),
        marks in proptest::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..8),
    ) {
        let canonical = format_file(&f, "");
        let mut lines: Vec<String> = canonical.lines().map(str::to_string).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        let mut expected = Vec::new();
        for (i, (at, trailing)) in marks.iter().enumerate() {
            let at = at.index(lines.len());
            let comment = format!("# note {i:02}.");
            if *trailing {
                lines[at].push_str(&format!("   {comment}"));
            } else {
                lines.insert(at, comment.clone());
            }
            expected.push(comment);
        }
        let with_comments = lines.join("\n") + "\n";
        let formatted = format_source("c.upg", &with_comments)
            .unwrap_or_else(|_| panic!("commented source does not parse:\n{with_comments}"));
        // Same comments, same order as in the input.
        let order = |text: &str| {
            let mut found: Vec<(usize, String)> = expected
                .iter()
                .map(|c| (text.find(c.as_str()).unwrap_or_else(|| panic!("lost `{c}`:\n{text}")), c.clone()))
                .collect();
            found.sort();
            found.into_iter().map(|(_, c)| c).collect::<Vec<_>>()
        };
        prop_assert_eq!(order(&formatted), order(&with_comments));
        let mut before = reparse(&with_comments);
        let mut after = reparse(&formatted);
        prop_assert_eq!(format_file(&after, &formatted), formatted.clone());
        prop_assert_eq!(before.comments.len(), after.comments.len());
        before.comments.clear();
        after.comments.clear();
        prop_assert_eq!(strip_spans(&before), strip_spans(&after));
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(s in "\\PC{0,300}") {
        let _ = parse_str("fuzz.upg", &s);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_str("fuzz.upg", &String::from_utf8_lossy(&bytes));
    }

    /// Token soup reaches deep into the grammar: whatever parses must format
    /// to something that parses to the same tree.
    #[test]
    fn token_soup_never_panics_and_what_parses_formats(tokens in proptest::collection::vec(
        proptest::sample::select(vec![
            "runbook r \"d\" {", "step \"s ${x}\" {", "}", "{", "(", ")", "[", "]", "\"", "${", "\"\"\"",
            "\\", "#", "//", "///", "\n", " ", "let x =", "for a in", "if", "else", "gate g", "1.30", "10m",
            "10q", "1", "-", "!", "&&", "x", ".y", "(1)", "eks.f(", "k:", "=>", ",", "rollback", "param p: int",
            "environment e {", "check c {", "within", "every", "import \"./x\"",
        ]),
        0..40,
    )) {
        let src = tokens.concat();
        let (_, result) = parse_str("soup.upg", &src);
        if let Ok(file) = result {
            assert_fmt_round_trips("soup", &file, &src);
        }
    }
}

#[test]
fn deep_nesting_gives_a_diagnostic_not_a_stack_overflow() {
    for (open, close) in [
        ("(", ")"),
        ("[", "]"),
        ("{", "}"),
        ("\"${", "}\""),
        ("!", ""),
    ] {
        let src = format!(
            "runbook r \"d\" {{ let x = {}1{} }}",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let (_, result) = parse_str("deep.upg", &src);
        let diags = result.expect_err("too deep");
        assert_eq!(diags[0].code, "UPG004", "{open}");
    }
    let blocks = format!(
        "runbook r \"d\" {{ {} }}",
        "if x { ".repeat(100_000) + "} ".repeat(100_000).as_str()
    );
    assert_eq!(
        parse_str("deep.upg", &blocks).1.unwrap_err()[0].code,
        "UPG004"
    );
}

#[test]
fn nesting_just_under_the_limit_parses_on_a_test_thread() {
    let depth = runbook::syntax::MAX_NESTING - 2;
    let src = format!(
        "runbook r \"d\" {}{}",
        "{ if x ".repeat(depth / 2),
        "{ log [(1)] }".to_string() + " }".repeat(depth / 2).as_str()
    );
    let (sources, result) = parse_str("deep.upg", &src);
    if let Err(diags) = result {
        panic!("{}", diags[0].render(&sources, false));
    }
}

// ------------------------------------------------------------------ shipped files

fn shipped_upg_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["playbooks", "stdlib", "examples/environments"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "upg") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

#[test]
fn every_shipped_file_parses_and_round_trips_through_fmt() {
    for path in shipped_upg_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let (sources, result) = parse_str(&name, &text);
        let file = result.unwrap_or_else(|d| panic!("{}", d[0].render(&sources, false)));
        assert_fmt_round_trips(&name, &file, &text);
        let formatted = format_file(&file, &text);
        assert_eq!(
            reparse(&formatted).comments.len(),
            file.comments.len(),
            "{name}"
        );
    }
}

#[test]
fn the_playbook_covers_the_upgrade_stages() {
    let path = root().join("playbooks/eks-minor-upgrade.upg");
    let text = std::fs::read_to_string(path).unwrap();
    let (_, result) = parse_str("p.upg", &text);
    let file = result.unwrap();
    let Some(Item::Runbook(r)) = file.items.first() else {
        panic!("no runbook")
    };
    let mut ids = Vec::new();
    fn walk(stmts: &[Stmt], ids: &mut Vec<String>) {
        for s in stmts {
            match &s.kind {
                StmtKind::Step(step) => ids.push(step.id.clone()),
                StmtKind::For { body, .. } => walk(&body.stmts, ids),
                _ => {}
            }
        }
    }
    walk(&r.flow().cloned().collect::<Vec<_>>(), &mut ids);
    assert_eq!(
        ids,
        [
            "add-ons-catch-up-with-the-control-plane",
            "nodegroups-catch-up-with-the-control-plane",
            "control-plane-to-hop",
            "add-ons-for-hop",
            "nodegroups-to-hop"
        ]
    );
    assert!(r.preconditions().count() >= 5);
    let imports: Vec<&str> = file.imports.iter().map(|i| i.path.as_str()).collect();
    assert!(imports.contains(&"stdlib/gates") && imports.contains(&"stdlib/checks"));
}

#[test]
fn every_example_in_the_language_docs_parses() {
    let doc = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let mut blocks = 0;
    for block in doc.split("```upg\n").skip(1) {
        let code = block.split("```").next().unwrap();
        // Fragments are runbook bodies; complete files parse as they are.
        let as_file = parse_str("doc.upg", code).1;
        let wrapped = format!("runbook doc \"d\" {{\n{code}\n}}\n");
        let as_body = parse_str("doc.upg", &wrapped).1;
        assert!(
            as_file.is_ok() || as_body.is_ok(),
            "docs example does not parse:\n{code}\n{:?}",
            as_body.unwrap_err()[0].message
        );
        blocks += 1;
    }
    assert!(blocks >= 10, "{blocks}");
}

// ------------------------------------------------------------------ the binary

fn runbook_cmd() -> Command {
    crate::common::bin::command()
}

fn golden_dir() -> PathBuf {
    root().join("tests/syntax-golden")
}

/// Compare with a checked-in file, or rewrite it under UPDATE_GOLDEN=1.
fn assert_golden(expected_path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_else(|_| {
        panic!(
            "missing {}; run with UPDATE_GOLDEN=1",
            expected_path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "golden file {} differs",
        expected_path.display()
    );
}

#[test]
fn fmt_check_passes_on_every_shipped_file() {
    let out = runbook_cmd()
        .args([
            "fmt",
            "--check",
            "playbooks",
            "stdlib",
            "examples/environments",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn fmt_golden_files_check_then_rewrite() {
    let dir = golden_dir().join("fmt");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "upg"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    for input in inputs {
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join(input.file_name().unwrap());
        std::fs::copy(&input, &copy).unwrap();
        let original = std::fs::read_to_string(&copy).unwrap();

        let check = runbook_cmd()
            .arg("fmt")
            .arg("--check")
            .arg(&copy)
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(1), "{}", input.display());
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(stdout.contains("would reformat") && stdout.contains(copy.to_str().unwrap()));
        assert_eq!(
            std::fs::read_to_string(&copy).unwrap(),
            original,
            "--check wrote"
        );

        let write = runbook_cmd().arg("fmt").arg(&copy).output().unwrap();
        assert!(
            write.status.success(),
            "{}",
            String::from_utf8_lossy(&write.stderr)
        );
        let formatted = std::fs::read_to_string(&copy).unwrap();
        assert_golden(&input.with_extension("upg.formatted"), &formatted);

        let again = runbook_cmd()
            .arg("fmt")
            .arg("--check")
            .arg(&copy)
            .output()
            .unwrap();
        assert!(
            again.status.success(),
            "not idempotent: {}",
            input.display()
        );
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}

#[test]
fn fmt_leaves_a_broken_file_untouched_and_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.upg");
    let text = "runbook r \"d\" {\n    pause   10q\n}\n";
    std::fs::write(&bad, text).unwrap();
    for args in [&["fmt"][..], &["fmt", "--check"][..]] {
        let out = runbook_cmd().args(args).arg(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("UPG002"), "{stderr}");
        assert!(stderr.contains("bad.upg:2:13"), "{stderr}");
        assert!(stderr.contains("help:"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&bad).unwrap(), text);
    }
}

#[test]
fn fmt_reports_a_missing_file_and_still_checks_the_rest() {
    let out = runbook_cmd()
        .args(["fmt", "--check", "no/such/file.upg", "playbooks"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read `no/such/file.upg`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "the playbook is formatted");
}

#[test]
fn show_golden_files() {
    let dir = golden_dir().join("show");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "upg")
                && !p.file_name().unwrap().to_string_lossy().starts_with('_')
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    for input in inputs {
        let rel = input.strip_prefix(root()).unwrap();
        let out = runbook_cmd().arg("show").arg(rel).output().unwrap();
        let mut actual = String::from_utf8(out.stdout).unwrap();
        actual.push_str(&String::from_utf8(out.stderr).unwrap());
        actual.push_str(&format!("[exit {}]\n", out.status.code().unwrap()));
        assert_golden(&input.with_extension("stdout"), &actual);
    }
}

#[test]
fn help_texts_describe_fmt_and_show() {
    let fmt = runbook_cmd().args(["fmt", "--help"]).output().unwrap();
    let fmt = String::from_utf8_lossy(&fmt.stdout);
    assert!(
        fmt.contains("--check") && fmt.contains("canonical"),
        "{fmt}"
    );
    let show = runbook_cmd().args(["show", "--help"]).output().unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(
        show.contains("step ids") || show.contains("step tree"),
        "{show}"
    );
}

/// A statement wider than 100 columns opens its outermost brackets, one
/// item per line with a trailing comma; what fits stays on one line; the
/// result is stable and means the same.
#[test]
fn fmt_breaks_wide_lines_inside_brackets() {
    let src = "runbook r \"d\" {\n  step \"s\" {\n    nodegroup.rotate(cluster, ng, version: hop, strategy: \"blue_green\", max_unavailable: 2, canary: 1, drain_timeout: 20m)\n    log [\"short\", \"list\"]\n    let notes = eks.f(\"\"\"raw\n  text kept as is\"\"\", k8s.nodes().filter(n => n.ready && n.name != \"a-rather-long-node-name-that-does-not-fit\"))\n  }\n}\n";
    let out = format_source("w.upg", src).unwrap();
    assert!(
        out.contains(
            "    nodegroup.rotate(\n      cluster,\n      ng,\n      version: hop,\n      strategy: \"blue_green\",\n      max_unavailable: 2,\n      canary: 1,\n      drain_timeout: 20m,\n    )\n"
        ),
        "{out}"
    );
    assert!(out.contains("    log [\"short\", \"list\"]\n"), "{out}");
    // The inner call fits once its outer one is broken; the raw string's
    // own lines are not re-indented.
    assert!(
        out.contains("    let notes = eks.f(\n      \"\"\"raw\n  text kept as is\"\"\",\n      k8s.nodes().filter("),
        "{out}"
    );
    assert!(out.lines().all(|l| l.len() <= 100), "{out}");
    assert_eq!(format_source("w.upg", &out).unwrap(), out, "stable");
    let before = parse_str("w.upg", src).1.unwrap();
    let after = parse_str("w.upg", &out).1.unwrap();
    assert_eq!(strip_spans(&before), strip_spans(&after), "same meaning");
}
