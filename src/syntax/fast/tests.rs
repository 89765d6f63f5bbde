//! The fast path against pest. The only property that matters: whenever
//! the fast parser answers, pest accepts the same text and builds an equal
//! AST (spans and comments included). Coverage tests check that it does
//! answer for ordinary runbooks, or it would be no faster.

use std::path::Path;

use proptest::prelude::*;

use crate::source::FileId;
use crate::syntax::parser::parse_with_pest;

const FILE: FileId = FileId(0);

/// Panics if the fast path answers differently from pest; returns whether
/// it answered.
fn agree(text: &str) -> bool {
    let Some(fast) = super::parse(FILE, text) else {
        return false;
    };
    match parse_with_pest(FILE, text) {
        Ok(slow) => assert_eq!(fast, slow, "fast and pest ASTs differ for:\n{text}"),
        Err(d) => panic!("fast path accepted what pest rejects ({d:?}):\n{text}"),
    }
    true
}

/// Every `.upg` file in the repository, golden error cases included.
fn corpus() -> &'static [(String, String)] {
    static CORPUS: std::sync::LazyLock<Vec<(String, String)>> =
        std::sync::LazyLock::new(read_corpus);
    &CORPUS
}

fn read_corpus() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "upg") {
                let text = std::fs::read_to_string(&path).expect("corpus file reads");
                out.push((path.display().to_string(), text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["playbooks", "stdlib", "examples", "tests", "docs"] {
        walk(&root.join(dir), &mut out);
    }
    out.sort();
    assert!(out.len() >= 40, "corpus went missing: {} files", out.len());
    out
}

#[test]
fn the_corpus_agrees_and_every_valid_file_takes_the_fast_path() {
    for (name, text) in corpus() {
        let answered = agree(text);
        if parse_with_pest(FILE, text).is_ok() {
            assert!(answered, "{name} is valid but the fast path gave up");
        }
    }
}

#[test]
fn ordinary_constructs_take_the_fast_path() {
    let cases = [
        "",
        "# only a comment\n",
        "\n// late comment   \n",
        "import \"stdlib/gates\"\nimport \"./x\"\n",
        "/// Doc line one\n/// two\nrunbook r \"d\" { }",
        "runbook r \"d\" {\n  param a: list<map<int>> = [{x: 1, \"y\": 2,}, {}]\n  param b: duration = 1h30m\n}",
        "runbook r \"d\" { param v: version = 1.30.2 param i: int = -42 param t: bool = !true }",
        "environment prod protected for r { a = 1 b = \"x\" }\nenvironment dev { }",
        "gate g { a.b within 10m every 15s consecutive 2 }\ngate h { x }",
        "check c \"desc\" from \"./c.rhai\"\ncheck d { \"\"\"let x = \"a\"; x\"\"\" }",
        "runbook r \"d\" { gate g\n  check.run(\"x\")\n  check c { \"\"\" \"\"\" } }",
        "runbook r \"d\" { precondition \"p\" { a b } else \"fix\" precondition \"q\" { c } }",
        "runbook r \"d\" { step \"s ${x.y} \\\"q\\\" \\$ \\n\" irreversible when a during g, h { log 1 rollback { fail \"f\" } } }",
        "runbook r \"d\" { if a { } else if b { pause 5s } else { confirm \"ok?\" } }",
        "runbook r \"d\" { for x in xs { let y = x } await a within 5m every 10s await b within 1m }",
        "runbook r \"d\" { log a || b && c == d != e < f <= g > h >= i in j + k - l * m / n % o }",
        "runbook r \"d\" { log -a.b[0].c(1, k: 2)[x] log !!(a + b) * -c }",
        "runbook r \"d\" { log xs.filter(a => a.status == \"ACTIVE\").map(a => a.name,) }",
        "runbook r \"d\" { log a\n    .b() # chained\n    // more\n    .c }",
        "runbook r \"d\" { log a # trailing comment   \n log b   // another\t\n}",
        "runbook r \"d\" { log eks.f(nodegroup.g(k8s.h()), check: true, for: [1, 2,]) }",
        "runbook r \"d\" { log a\n-b\n log c\n(d)\n[e]\n{f: 1} }",
        "runbook r \"d\" { log 1.x log trueish log in_x log index }",
        // Not a call: a `(` must touch; `(y)` is the next statement.
        "runbook r \"d\" { log x (y) }",
        "runbook r \"d\" { log \"\" log \"$\" log \"a$b{c}\" log \"\"\"raw ${x} \\n\"\"\" }",
        "runbook r \"d\" { log \"é ü ${ \"nested ${x}\" } ✓\" }",
    ];
    for text in cases {
        assert!(agree(text), "the fast path gave up on:\n{text}");
    }
}

#[test]
fn anything_unusual_is_left_to_pest() {
    let cases = [
        "runbook",
        "runbook r \"d\" {",
        "runbook r \"d\" { log 1.30s }",
        "runbook r \"d\" { log 10x }",
        "runbook r \"d\" { log 1_000 }",
        "runbook r \"d\" { log 99999999999999999999 }",
        "runbook r \"d\" { log 1.2.3.4 }",
        "runbook r \"d\" { log \"\\q\" }",
        "runbook r \"d\" { log \"a\nb\" }",
        "runbook r \"d\" { log f(x) }",
        "runbook r \"d\" { log eks.f(a: 1, 2) }",
        "runbook r \"d\" { log eks .f() }",
        "runbook r \"d\" { log eks.f () }",
        "runbook r \"d\" { step \"s\" when a when b { } }",
        "runbook r \"d\" { step \"s\" irreversible irreversible { } }",
        "runbook r \"d\" { step \"s\" { rollback { } log 1 } }",
        "runbook r \"d\" { param p: strung }",
        "runbook r \"d\" { param p: int<string> }",
        "runbook r \"d\" { let let = 1 }",
        "runbook r \"d\" { log {\"${k}\": 1} }",
        "import \"${x}\"",
        "runbook r \"d\" { }\nimport \"x\"",
        "gate g { within 1m within 2m }",
        "runbook r \"d\" { log \"\"\"never closed }",
        "runbook r \"d\" { log a = b }",
        "runbook r \"d\" { log - }",
        "runbook r \"d\" { precondition \"p\" { } }",
    ];
    for text in cases {
        assert!(!agree(text), "the fast path answered for:\n{text}");
    }
}

#[test]
fn keywords_are_never_names() {
    for kw in crate::syntax::KEYWORDS {
        let text = format!("runbook r \"d\" {{ let {kw} = 1 }}");
        assert!(!agree(&text), "`{kw}` was accepted as a name");
        assert!(
            parse_with_pest(FILE, &text).is_err(),
            "pest takes `{kw}` as a name"
        );
        // As a field, a keyword argument or a map key it is fine.
        let text = format!("runbook r \"d\" {{ log a.{kw} log eks.f({kw}: {{{kw}: 1}}) }}");
        assert!(agree(&text), "fast path gave up on:\n{text}");
    }
}

#[test]
fn expression_depth_limit_matches_pest() {
    let limit = crate::syntax::MAX_EXPR_DEPTH as usize;
    for n in [limit - 2, limit - 1, limit, limit + 1] {
        let chain = vec!["a"; n].join(" + ");
        let text = format!("runbook r \"d\" {{ log {chain} }}");
        let answered = agree(&text);
        assert_eq!(answered, parse_with_pest(FILE, &text).is_ok(), "n = {n}");
        let members = format!("runbook r \"d\" {{ log a{} }}", ".b".repeat(n));
        let answered = agree(&members);
        assert_eq!(answered, parse_with_pest(FILE, &members).is_ok(), "n = {n}");
    }
}

/// Snippets an edit splices in: tokens where the two parsers could differ.
const SPLICES: &[&str] = &[
    "\"", "\"\"\"", "${", "}", "{", "(", ")", "[", "]", ",", ".", ":", "=>", "=", "==", "!", "-",
    "//", "#", "\n", " ", "\\", "in", "else", "check", "gate", "rollback", "1.30", "10m", "x",
    "true", "eks.f(", "_", "é",
];

fn edited(text: &str, edits: &[(usize, usize, usize)]) -> String {
    let mut s = text.to_string();
    for &(at, len, splice) in edits {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + len % 8).min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.replace_range(at..end, SPLICES[splice % SPLICES.len()]);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// Random edits of real runbooks: whatever the fast path accepts, pest
    /// accepts identically.
    #[test]
    fn edited_runbooks_agree(
        file in 0usize..1000,
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..4),
    ) {
        let corpus = corpus();
        let (_, text) = &corpus[file % corpus.len()];
        agree(&edited(text, &edits));
    }
}
