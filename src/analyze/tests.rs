//! Checker behaviour beyond one-case-per-code (those are the golden tests):
//! scoping, inference through lambdas and records, and the absence of false
//! positives on correct runbooks.

use crate::diagnostic::Diagnostic;

fn check(text: &str) -> Vec<Diagnostic> {
    let (sources, parsed) = crate::syntax::parse_str("t.upg", text);
    let file = parsed.unwrap_or_else(|d| panic!("does not parse: {d:?}"));
    super::check_files(&sources, std::slice::from_ref(&file))
}

fn codes(text: &str) -> Vec<&'static str> {
    check(text).iter().map(|d| d.code).collect()
}

fn runbook(body: &str) -> String {
    format!(
        "runbook t \"test\" {{\n  param cluster: string\n  param target: version = 1.31\n{body}\n}}\n"
    )
}

#[test]
fn rollback_sees_the_step_variables_but_the_loop_variable_ends_with_the_loop() {
    let ok = runbook(
        "step \"s\" {\n let before = eks.addons(cluster)\n for a in before { log a.name }\n rollback { for a in before { eks.update_addon(cluster, a.name, version: a.version) } }\n }",
    );
    assert_eq!(codes(&ok), Vec::<&str>::new());
    let bad = runbook("for a in eks.addons(cluster) { log a.name }\nlog a.name");
    assert_eq!(codes(&bad), ["UPG010"]);
}

#[test]
fn lambda_parameters_take_the_element_type() {
    let typo = runbook("precondition \"p\" { k8s.nodes().all(n => n.redy) }");
    assert_eq!(codes(&typo), ["UPG017"]);
    let not_bool = runbook("precondition \"p\" { k8s.nodes().any(n => n.name) }");
    assert_eq!(codes(&not_bool), ["UPG016"]);
    let mapped = runbook("precondition \"p\" { k8s.nodes().map(n => n.version).contains(target) }");
    assert_eq!(codes(&mapped), Vec::<&str>::new());
    let wrong_elem =
        runbook("precondition \"p\" { k8s.nodes().map(n => n.version).contains(\"1.31\") }");
    assert_eq!(codes(&wrong_elem), ["UPG016"]);
}

#[test]
fn operators_are_typed() {
    assert_eq!(
        codes(&runbook(
            "precondition \"p\" { eks.cluster(cluster).version == \"1.30\" }"
        )),
        ["UPG016"]
    );
    assert_eq!(
        codes(&runbook(
            "precondition \"p\" { eks.cluster(cluster).version < target }"
        )),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes(&runbook(
            "precondition \"p\" { \"vpc-cni\" in eks.addons(cluster).map(a => a.name) }"
        )),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes(&runbook(
            "precondition \"p\" { 1 in eks.nodegroups(cluster) }"
        )),
        ["UPG016"]
    );
    assert_eq!(codes(&runbook("for x in 5 { log x }")), ["UPG016"]);
    assert_eq!(
        codes(&runbook(
            "precondition \"p\" { eks.nodegroups(cluster).len() }"
        )),
        ["UPG016"]
    );
}

#[test]
fn actions_belong_in_steps() {
    assert_eq!(codes(&runbook("k8s.cordon(\"n1\")")), ["UPG028"]);
    assert_eq!(
        codes(&runbook(
            "step \"s\" when k8s.cordon(\"n1\") == k8s.cordon(\"n2\") { log \"x\" }"
        )),
        ["UPG028", "UPG028"]
    );
    let param_default = "runbook t \"t\" { param x: int = eks.delete_nodegroup(\"c\", \"n\") }";
    assert!(codes(param_default).contains(&"UPG028"));
    // Rollback blocks may call actions and need no rollback of their own.
    assert_eq!(
        codes(&runbook(
            "step \"s\" { k8s.cordon(\"n1\")\n rollback { k8s.uncordon(\"n1\") } }"
        )),
        Vec::<&str>::new()
    );
}

#[test]
fn irreversible_steps_need_no_rollback_and_nested_steps_are_judged_alone() {
    assert_eq!(
        codes(&runbook(
            "step \"cp\" irreversible { eks.delete_nodegroup(cluster, \"old\") }"
        )),
        Vec::<&str>::new()
    );
    let nested = runbook(
        "step \"outer\" irreversible {\n eks.delete_nodegroup(cluster, \"old\")\n step \"inner\" { k8s.cordon(\"n\") }\n }",
    );
    assert_eq!(codes(&nested), ["UPG027"]);
}

#[test]
fn zero_timeouts_and_bad_timings_are_caught_in_builtin_calls_and_gates() {
    assert_eq!(
        codes(&runbook(
            "step \"d\" { k8s.drain(\"n\", timeout: 0s)\n rollback { k8s.uncordon(\"n\") } }"
        )),
        ["UPG031"]
    );
    assert_eq!(
        codes(&runbook(
            "gate g { k8s.nodes().all(n => n.ready)\n within 0s every 10s }"
        )),
        ["UPG031", "UPG029"]
    );
}

#[test]
fn library_gates_checked_alone_do_not_report_runbook_params() {
    let lib =
        "gate cluster_active { eks.cluster(cluster).status == \"ACTIVE\"\n within 10m every 30s }";
    assert_eq!(codes(lib), Vec::<&str>::new());
    // ...but their built-in calls are still checked.
    let typo = "gate g { eks.clusters(cluster).status == \"ACTIVE\" }";
    assert_eq!(codes(typo), ["UPG011"]);
}

#[test]
fn a_rollback_block_holds_no_steps() {
    let text = runbook(
        "step \"c\" { k8s.cordon(\"n\")\n rollback { for n in [\"n\"] { step \"u\" { log n } } } }",
    );
    assert_eq!(codes(&text), ["UPG035"]);
}

#[test]
fn keep_declares_a_change_kept_on_purpose_only_in_a_rollback_block() {
    let ok = runbook(
        "step \"c\" { k8s.cordon(\"n\")\n rollback { keep \"the node is being retired\" } }",
    );
    assert_eq!(codes(&ok), Vec::<&str>::new());
    let outside =
        runbook("step \"c\" { k8s.cordon(\"n\")\n keep \"x\"\n rollback { k8s.uncordon(\"n\") } }");
    assert_eq!(codes(&outside), ["UPG039"]);
    // The reason is a string, as a report prints it.
    let not_text = runbook("step \"c\" { k8s.cordon(\"n\")\n rollback { keep 3 } }");
    assert_eq!(codes(&not_text), ["UPG016"]);
}

#[test]
fn an_environment_for_a_near_miss_of_a_runbook_name_is_a_warning() {
    let text = format!(
        "{}\nenvironment prod for tt {{ cluster = \"p\" }}\n",
        runbook("")
    );
    let (sources, parsed) = crate::syntax::parse_str("t.upg", &text);
    let diags = crate::analyze::check_files(&sources, &[parsed.unwrap()]);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code, "UPG036");
    assert_eq!(diags[0].severity, crate::diagnostic::Severity::Warning);
}

#[test]
fn environments_for_another_runbook_are_ignored() {
    let text = format!(
        "{}\nenvironment prod for other {{ nonsense = 1 }}\nenvironment dev for t {{ clustr = \"d\" }}\n",
        runbook("")
    );
    assert_eq!(codes(&text), ["UPG024"]);
}

#[test]
fn every_diagnostic_has_a_label_and_help() {
    let text = runbook(
        "step \"s\" { eks.update_adon(cluster)\n k8s.drain(\"n\", parallelism: \"two\", parallelism: 2)\n log x.y\n nodegroup.rotate(cluster) }",
    );
    let diags = check(&text);
    assert!(diags.len() >= 5, "{diags:?}");
    for d in diags {
        assert!(d.primary_span().is_some(), "{d:?}");
        assert!(d.help.is_some(), "{d:?}");
    }
}

#[test]
fn rhai_errors_in_inline_checks_point_into_the_upg_file() {
    let text = "runbook t \"t\" {\n  check inline_one {\n    \"\"\"let x = ;\"\"\"\n  }\n}\n";
    let (sources, parsed) = crate::syntax::parse_str("t.upg", text);
    let file = parsed.unwrap();
    let diags = super::check_files(&sources, std::slice::from_ref(&file));
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["UPG080"],
        "{diags:?}"
    );
    // Line 3, inside the triple-quoted source, not line 1 of the rhai text.
    let at = sources.location(diags[0].primary_span().unwrap());
    assert!(at.starts_with("t.upg:3:"), "{at}");
}

#[test]
fn enumerated_arguments_fed_by_a_parameter_check_its_default_and_environment_values() {
    let text = "runbook t \"t\" {\n  param cluster: string\n  param strategy: string = \"in_place\"\n  environment prod { strategy = \"blue-green\" }\n  environment dev { strategy = \"in_place\" }\n  step \"rotate\" {\n    nodegroup.rotate(cluster, \"a\", strategy: strategy)\n    nodegroup.rotate(cluster, \"b\", strategy: strategy)\n    rollback { log \"no\" }\n  }\n}\n";
    let diags = check(text);
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["UPG018"],
        "{diags:?}"
    );
    let d = &diags[0];
    assert_eq!(d.help.as_deref(), Some("did you mean `\"blue_green\"`?"));
    // Points at the environment's value, and at the call that uses it.
    assert_eq!(d.labels.len(), 2);
    assert!(d.labels[0].span.start < d.labels[1].span.start);
    // A loop variable that shadows the parameter is not judged by its values.
    let shadow = "runbook t \"t\" {\n  param strategy: string = \"bogus\"\n  step \"r\" {\n    for strategy in [\"in_place\"] { nodegroup.rotate(\"c\", \"n\", strategy: strategy) }\n    rollback { log \"no\" }\n  }\n}\n";
    assert_eq!(codes(shadow), Vec::<&str>::new());
}

mod generated {
    use proptest::prelude::*;

    /// Statements, right and wrong, that runbooks are assembled from.
    const STMTS: &[&str] = &[
        "let a = eks.addons(cluster)",
        "for x in eks.addons(cluster) { log x.name }",
        "for x in 3 { log x }",
        "log missing_name",
        "eks.update_addon(cluster, \"vpc-cni\", version: \"v1\")",
        "eks.update_addon(cluster, \"vpc-cni\")",
        "eks.update_cluster_version(cluster, target)",
        "nodegroup.rotate(cluster, \"ng\", strategy: \"inplace\", strategy: \"in_place\")",
        "k8s.drain(\"n\", timeout: 0s, parallelism: true)",
        "gate g",
        "gate nope",
        "await k8s.nodes().all(n => n.ready) within 1m every 5m",
        "pause 0s",
        "fail \"stop\"",
        "if eks.cluster(cluster).version < target { log \"old\" } else { log \"new\" }",
        "log \"${eks.cluster(cluster).verison}\"",
        "log k8s.pods().map(p => p.images).len()",
        "eks.nope(cluster)",
        "log [1, \"a\", 1.30][0]",
        "log {a: 1}.b",
    ];

    /// Conditions, right and wrong, for preconditions and gates.
    const CONDS: &[&str] = &[
        "k8s.nodes().all(n => n.ready)",
        "k8s.nodes().all(n => n.name)",
        "eks.cluster(cluster).version == \"1.30\"",
        "k8s.cordon(\"n\") == k8s.cordon(\"m\")",
        "check.nope()",
        "eks.addons(cluster).any(a => a.verison == \"v1\")",
        "target > 1.300",
        "eks.insights(cluster, status: \"BAD\").len() == 0",
    ];

    fn body() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (0..STMTS.len(), 0..4usize, any::<bool>(), any::<bool>()),
            0..12,
        )
        .prop_map(|items| {
            let mut out = String::new();
            for (i, (stmt, wrap, irreversible, rollback)) in items.into_iter().enumerate() {
                let s = STMTS[stmt];
                match wrap {
                    0 => out.push_str(&format!("  {s}\n")),
                    1 => out.push_str(&format!(
                        "  step \"s{}\"{} {{\n    {s}\n{}  }}\n",
                        i % 3,
                        if irreversible { " irreversible" } else { "" },
                        if rollback { "    rollback { log \"undo\" }\n" } else { "" }
                    )),
                    2 => out.push_str(&format!(
                        "  precondition \"p\" {{ {} }}\n",
                        CONDS[stmt % CONDS.len()]
                    )),
                    _ => out.push_str(&format!(
                        "  gate g{i} {{ {}\n within 1m every {} }}\n",
                        CONDS[stmt % CONDS.len()],
                        if irreversible { "10s" } else { "2m" }
                    )),
                }
            }
            format!(
                "runbook r \"generated\" {{\n  param cluster: string\n  param target: version = 1.31\n  gate g {{ true }}\n{out}}}\n"
            )
        })
    }

    proptest! {
        #[test]
        fn checker_never_panics_and_every_finding_is_located_and_explained(text in body()) {
            let (sources, parsed) = crate::syntax::parse_str("g.upg", &text);
            let file = parsed.map_err(|d| TestCaseError::fail(format!("{d:?}\n{text}")))?;
            {
                for d in super::super::check_files(&sources, std::slice::from_ref(&file)) {
                    let span = d.primary_span().expect("located");
                    prop_assert!(span.end as usize <= text.len());
                    prop_assert!(d.code >= "UPG010", "{}", d.code);
                    prop_assert!(d.help.is_some(), "{d:?}");
                }
            }
        }
    }
}

#[test]
fn check_arguments_are_keywords_the_script_reads() {
    let with_check = |script: &str, call: &str| {
        runbook(&format!(
            "check c {{ \"\"\"{script}\"\"\" }}\n precondition \"p\" {{ {call} }}"
        ))
    };
    let reads_min = "let n = params.min ?? 2; pass(`${n}`)";
    assert_eq!(
        codes(&with_check(reads_min, "check.c(min: 3)")),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes(&with_check(reads_min, "check.c()")),
        Vec::<&str>::new()
    );
    let typo = check(&with_check(reads_min, "check.c(mni: 3)"));
    assert_eq!(typo.iter().map(|d| d.code).collect::<Vec<_>>(), ["UPG037"]);
    assert_eq!(typo[0].help.as_deref(), Some("did you mean `min`?"));
    let positional = check(&with_check(reads_min, "check.c(3)"));
    assert_eq!(
        positional.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["UPG037"]
    );
    assert!(positional[0].message.contains("keyword arguments only"));
    // A script that uses `params` whole may read any name.
    let whole = "let k = \"x\"; let v = params[k]; pass(`${v}`)";
    assert_eq!(
        codes(&with_check(whole, "check.c(anything: 1)")),
        Vec::<&str>::new()
    );
    // A check that does not compile still has its arguments checked against
    // the lines that parse, in the same run (a line with the syntax error
    // counts as reading what it names).
    assert_eq!(
        codes(&with_check("let x = ;", "check.c(a: 1)")),
        ["UPG037", "UPG080"]
    );
    assert_eq!(
        codes(&with_check("let x = params.a + ;", "check.c(a: 1)")),
        ["UPG080"]
    );
}

#[test]
fn step_timeout_and_retry_are_typed_and_bounded() {
    let ok = runbook(
        "param t: duration = 30m\nstep \"s\" timeout t retry 2 every 1m { log \"x\" }\nstep \"u\" retry 3 { log \"y\" }",
    );
    assert_eq!(codes(&ok), Vec::<&str>::new());
    let zero = runbook("step \"s\" timeout 0s retry 1 every 0s { log \"x\" }");
    assert_eq!(codes(&zero), ["UPG031", "UPG031"]);
    let range = runbook("step \"s\" retry 0 { log \"x\" }\nstep \"t\" retry 11 { log \"x\" }");
    assert_eq!(codes(&range), ["UPG038", "UPG038"]);
    let types = runbook("step \"s\" timeout 3 retry \"twice\" { log \"x\" }");
    assert_eq!(codes(&types), ["UPG016", "UPG016"]);
    let twice = crate::syntax::parse_str(
        "t.upg",
        &runbook("step \"s\" retry 1 retry 2 { log \"x\" }"),
    )
    .1;
    assert!(twice.is_err_and(|d| d.iter().any(|d| d.code == "UPG009")));
}

#[test]
fn step_timeout_and_retry_survive_fmt() {
    let text = runbook("step \"s\" irreversible timeout 30m retry 2 every 1m { log \"x\" }");
    let out = crate::format::format_source("t.upg", &text).unwrap_or_else(|_| panic!("formats"));
    assert!(
        out.contains("step \"s\" irreversible timeout 30m retry 2 every 1m {"),
        "{out}"
    );
    assert_eq!(crate::format::format_source("t.upg", &out).ok(), Some(out));
}
