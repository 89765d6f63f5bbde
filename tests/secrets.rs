//! Secrets never reach any output of a run: a parameter declared `secret`
//! and one whose name looks like a credential are run through `log`,
//! `fail` and interpolations against the sandbox, then every channel and
//! file is searched for their values: stdout and stderr (text and JSON
//! output, engine log on), the journal, run.json, the reports, `runs` and
//! `runs show`.

use std::path::{Path, PathBuf};
use std::process::Output;

const TOKEN: &str = "tok-7Hq2xVbN9pLs";
const KEY: &str = "key-Zr4mWc8yTe1u";

const RUNBOOK: &str = r#"
runbook leak "secrets stay hidden" {
  param cluster: string
  param api_token: string
  param deploy_key: secret
  log "starting with ${api_token}"
  step "use them" {
    log "key is ${deploy_key}, token ${api_token}"
    fail "auth failed for ${deploy_key}"
  }
}
"#;

fn runbook(args: &[&str], runs: &Path) -> Output {
    crate::common::bin::Bin::new(args)
        .arg("--runs-dir")
        .arg(runs)
        .env("RUNBOOK_LOG", "debug")
        .command()
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push((
                p.clone(),
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            ));
        }
    }
}

fn assert_hidden(channel: &str, text: &str) {
    for secret in [TOKEN, KEY] {
        assert!(!text.contains(secret), "{channel} leaks {secret}:\n{text}");
    }
}

#[test]
fn secret_values_appear_in_no_output_channel_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leak.upg");
    std::fs::write(&file, RUNBOOK).unwrap();
    let runs = dir.path().join("state");
    let token = format!("api_token={TOKEN}");
    let key = format!("deploy_key={KEY}");
    let mut seen = String::new();
    for output in ["text", "json"] {
        let o = runbook(
            &[
                "exec",
                file.to_str().unwrap(),
                "--sandbox",
                "examples/sandbox/small.yaml",
                "--time-scale",
                "5000",
                "--set",
                &token,
                "--set",
                &key,
                "--yes",
                "--output",
                output,
            ],
            &runs,
        );
        let all = text(&o);
        // The run reached the statements that interpolate the secrets.
        assert_eq!(o.status.code(), Some(1), "the step fails:\n{all}");
        assert!(all.contains("auth failed for <redacted>"), "{all}");
        assert!(all.contains("starting with <redacted>"), "{all}");
        assert_hidden(&format!("exec --output {output}"), &all);
        seen.push_str(&all);
    }
    let mut on_disk = Vec::new();
    files(&runs, &mut on_disk);
    let names: Vec<String> = on_disk
        .iter()
        .filter_map(|(p, _)| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    for expected in ["journal.jsonl", "run.json", "report.md", "report.json"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} written: {names:?}"
        );
    }
    for (path, content) in &on_disk {
        assert_hidden(&path.display().to_string(), content);
    }
    let journal = on_disk
        .iter()
        .find(|(p, _)| p.ends_with("journal.jsonl"))
        .unwrap();
    assert!(
        journal.1.contains("<redacted>"),
        "the failure is journalled: {}",
        journal.1
    );

    let listing = runbook(&["runs"], &runs);
    assert_hidden("runs", &text(&listing));
    let ids: Vec<String> = std::fs::read_dir(runs.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        let shown = runbook(&["runs", "show", id], &runs);
        let all = text(&shown);
        assert!(all.contains("<redacted>"), "{all}");
        assert_hidden("runs show", &all);
    }
}

#[test]
fn an_empty_journal_is_damage_not_nothing_done() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ok.upg");
    std::fs::write(
        &file,
        "runbook ok \"d\" {\n  step \"s\" { log \"hi\" }\n}\n",
    )
    .unwrap();
    let runs = dir.path().join("state");
    let o = runbook(
        &[
            "exec",
            file.to_str().unwrap(),
            "--sandbox",
            "examples/sandbox/small.yaml",
            "--yes",
        ],
        &runs,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let id = std::fs::read_dir(runs.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let journal = runs.join("runs").join(&id).join("journal.jsonl");
    std::fs::write(&journal, "").unwrap();
    let shown = runbook(&["runs", "show", &id], &runs);
    assert_eq!(shown.status.code(), Some(1), "{}", text(&shown));
    assert!(
        text(&shown).contains("journal is empty"),
        "{}",
        text(&shown)
    );
    let listing = runbook(&["runs"], &runs);
    let all = text(&listing);
    assert!(all.contains(&id) && all.contains("damaged"), "{all}");
    let resumed = runbook(&["resume", &id, "--yes"], &runs);
    assert_eq!(resumed.status.code(), Some(1), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("journal is empty"),
        "{}",
        text(&resumed)
    );
}
