//! Bad inputs to every command that takes a path: `/dev/zero`, a FIFO, a
//! directory and a 50 MB file. Each must end (no hang on the FIFO, no OOM on
//! `/dev/zero`) with a clear message naming the path, and a 50 MB runbook
//! that fits the limit must be checked and formatted, not refused.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Far above what any of these takes; only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(120);

/// Run the binary with `args`, killing it (and failing) if it outlives
/// `DEADLINE`.
fn run(args: &[&str], dir: &Path) -> Output {
    let mut cmd = crate::common::bin::command();
    cmd.env("KUBECONFIG", dir.join("no-such-kubeconfig"));
    run_with(cmd, args, dir)
}

/// `run` with the environment `cmd` already has.
fn run_with(mut cmd: Command, args: &[&str], dir: &Path) -> Output {
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the pipes on threads so a chatty child cannot block on them.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`runbook {}` did not finish in {DEADLINE:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

struct Inputs {
    dir: tempfile::TempDir,
    fifo: PathBuf,
    directory: PathBuf,
    big: PathBuf,
}

/// A FIFO nobody writes to, a directory (named like a runbook, holding
/// none), and a 50 MB runbook whose syntax error is on line 4, before the
/// padding: every command reads all of it, reports the error located, and
/// never copies or rescans the file to render it. (Checking 50 MB of valid
/// runbook is timed by `benches/inputs.rs`: in a debug build it takes
/// minutes, which is too long for a test.)
fn inputs() -> Inputs {
    let inp = inputs_without_big();
    let mut text = String::from("runbook big \"a large file\" {\n  log \"hello\"\n}\nstray\n");
    let line = format!("# {}\n", "padding ".repeat(12));
    while text.len() < 50_000_000 {
        text.push_str(&line);
    }
    std::fs::write(&inp.big, text).unwrap();
    inp
}

/// The FIFO and the directory; `big` is not written.
fn inputs_without_big() -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.upg");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let directory = dir.path().join("folder.upg");
    std::fs::create_dir(&directory).unwrap();
    std::fs::write(directory.join("notes.txt"), "not a runbook").unwrap();
    let big = dir.path().join("big.upg");
    Inputs {
        dir,
        fifo,
        directory,
        big,
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Refused with exit 1 or 2, a message naming `path`'s kind, and no panic.
fn refused(o: &Output, what: &str, expect: &str) {
    // miette wraps long messages behind a `│` margin.
    let err = stderr(o)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        matches!(o.status.code(), Some(1) | Some(2)),
        "{what}: exit {:?}\n{err}",
        o.status.code()
    );
    assert!(!err.contains("panicked"), "{what}: panic\n{err}");
    assert!(
        err.contains(expect),
        "{what}: expected `{expect}` in\n{err}"
    );
}

#[test]
fn runbook_commands_refuse_special_files_and_read_a_50_mb_runbook() {
    let inp = inputs();
    let d = inp.dir.path();
    let fifo = inp.fifo.to_str().unwrap();
    let folder = inp.directory.to_str().unwrap();
    let big = inp.big.to_str().unwrap();
    for cmd in [
        &["check"][..],
        &["fmt", "--check"],
        &["show"],
        &["exec", "--dry-run"],
    ] {
        let name = cmd.join(" ");
        let with = |path: &str| {
            let mut args = cmd.to_vec();
            args.push(path);
            run(&args, d)
        };
        refused(
            &with("/dev/zero"),
            &format!("{name} /dev/zero"),
            "character device",
        );
        refused(&with(fifo), &format!("{name} FIFO"), "FIFO");
        // `check` and `fmt` search directories for `.upg` files.
        let expect = if matches!(cmd[0], "check" | "fmt") {
            "no `.upg` files"
        } else {
            "is a directory"
        };
        refused(&with(folder), &format!("{name} directory"), expect);
    }
    // 50 MB is under the 64 MiB limit: read, parsed, and the error located.
    for cmd in [
        &["check"][..],
        &["fmt", "--check"],
        &["show"],
        &["exec", "--dry-run"],
    ] {
        let mut args = cmd.to_vec();
        args.push(big);
        let o = run(&args, d);
        refused(&o, &format!("{} 50 MB", cmd.join(" ")), "big.upg:4:1");
    }
    // Over the limit: refused with the limit named, not read into memory.
    let huge = d.join("huge.upg");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(65 << 20).unwrap();
    refused(
        &run(&["check", huge.to_str().unwrap()], d),
        "check 65 MiB",
        "limit",
    );
}

/// A syntax error after a long stretch of valid runbook: the parser goes
/// through all of it (twice: the re-parse that says what was expected runs
/// only on a failing file, from the start) and locates the error on its
/// line. The 50 MB case is in `benches/inputs.rs`: a debug build parses
/// about 0.3 MB of runbook per CPU second (the generated parser is not
/// optimized), so 50 MB would take many minutes here; 300 KB keeps the
/// property (every byte before the error read, the line counted) at a
/// test's cost.
#[test]
fn a_syntax_error_after_a_large_valid_runbook_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut text =
        String::from("runbook big \"valid, then one mistake\" {\n  param cluster: string\n");
    let mut i = 0;
    while text.len() < 300_000 {
        text.push_str(&format!(
            "  step \"batch {i}\" {{\n    for a in eks.addons(cluster) {{\n      log \"${{a.name}} at ${{a.version}}\"\n    }}\n  }}\n"
        ));
        i += 1;
    }
    let line = text.lines().count() + 1;
    text.push_str("  step \"last\" { log \"done\" }\n  stray =\n}\n");
    std::fs::write(d.join("big.upg"), &text).unwrap();
    for cmd in [&["check"][..], &["fmt", "--check"]] {
        let mut args = cmd.to_vec();
        args.push("big.upg");
        let o = run(&args, d);
        refused(
            &o,
            &format!("{} 300 KB then an error", cmd.join(" ")),
            &format!("big.upg:{}:9", line + 1),
        );
    }
}

#[test]
fn imports_and_check_files_that_are_special_files_are_located_errors() {
    let inp = inputs();
    let d = inp.dir.path();
    std::fs::write(
        d.join("main.upg"),
        "import \"pipe\"\ncheck c \"d\" from \"/dev/zero\"\nrunbook r \"d\" { log \"x\" }\n",
    )
    .unwrap();
    let o = run(&["check", "main.upg"], d);
    let err = stderr(&o);
    refused(&o, "import of a FIFO", "FIFO");
    assert!(err.contains("main.upg:1:8"), "located at the import: {err}");
    assert!(err.contains("character device"), "{err}");
    assert!(
        err.contains("main.upg:2:18"),
        "located at the check path: {err}"
    );
}

#[test]
fn fixture_and_kubeconfig_paths_refuse_special_and_oversized_files() {
    let inp = inputs();
    let d = inp.dir.path();
    let playbook = root().join("playbooks/eks-minor-upgrade.upg");
    let playbook = playbook.to_str().unwrap();
    let fifo = inp.fifo.to_str().unwrap();
    let folder = inp.directory.to_str().unwrap();
    let big = inp.big.to_str().unwrap();
    for (path, expect) in [
        ("/dev/zero", "character device"),
        (fifo, "FIFO"),
        (folder, "is a directory"),
        (big, "limit"),
    ] {
        let o = run(&["sandbox", "serve", path], d);
        refused(&o, &format!("sandbox serve {path}"), expect);
        let o = run(
            &[
                "exec",
                playbook,
                "--set",
                "target=1.30",
                "--dry-run",
                "--sandbox",
                path,
            ],
            d,
        );
        refused(&o, &format!("exec --sandbox {path}"), expect);
        let o = run(
            &[
                "exec",
                playbook,
                "--set",
                "target=1.30",
                "--set",
                "cluster=c",
                "--dry-run",
                "--kubeconfig",
                path,
            ],
            d,
        );
        refused(&o, &format!("exec --kubeconfig {path}"), expect);
    }
}

#[test]
fn run_store_files_that_are_special_or_damaged_are_reported() {
    let inp = inputs();
    let d = inp.dir.path();
    let runs = d.join("state");
    let id = "20261123T011336Z-4f2a9c1e";
    let run_dir = runs.join("runs").join(id);
    std::fs::create_dir_all(&run_dir).unwrap();
    // A FIFO as run.json: listed with a warning, not a hang or a silent gap.
    let made = Command::new("mkfifo")
        .arg(run_dir.join("run.json"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(run_dir.join("journal.jsonl"), "").unwrap();
    let o = run(&["runs", "--runs-dir", runs.to_str().unwrap()], d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(id), "the damaged run is listed: {out}");
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
    // `runs show` and `resume` of it: refused, naming the problem.
    let o = run(
        &["runs", "--runs-dir", runs.to_str().unwrap(), "show", id],
        d,
    );
    refused(&o, "runs show", "FIFO");
    let o = run(
        &["resume", id, "--runs-dir", runs.to_str().unwrap(), "--yes"],
        d,
    );
    refused(&o, "resume", "FIFO");
    // The state directory itself given as /dev/zero.
    let o = run(&["runs", "--runs-dir", "/dev/zero"], d);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
}

/// The kubeconfig kube-rs would find by itself (`$KUBECONFIG`, a list of
/// files, or `~/.kube/config`) is read through the same bounded reader as
/// `--kubeconfig`: a device, a FIFO, a directory or an oversized file is
/// refused naming the setting and the file, before any client exists.
#[test]
fn default_kubeconfig_files_refuse_special_and_oversized_files() {
    let inp = inputs_without_big();
    let d = inp.dir.path();
    let playbook = root().join("playbooks/eks-minor-upgrade.upg");
    let args = [
        "exec",
        playbook.to_str().unwrap(),
        "--set",
        "target=1.30",
        "--set",
        "cluster=c",
        "--dry-run",
    ];
    let good = d.join("good.kubeconfig");
    std::fs::write(
        &good,
        "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n",
    )
    .unwrap();
    let oversized = d.join("huge.kubeconfig");
    std::fs::File::create(&oversized)
        .unwrap()
        .set_len(5 << 20)
        .unwrap();
    for (path, expect) in [
        (Path::new("/dev/zero"), "character device"),
        (&inp.fifo, "FIFO"),
        (&inp.directory, "is a directory"),
        (&oversized, "at most 4 MiB"),
    ] {
        // `$KUBECONFIG` as a list: the bad file after a good one.
        let list = std::env::join_paths([&good, path]).unwrap();
        let mut cmd = crate::common::bin::command();
        cmd.env("KUBECONFIG", &list);
        let o = run_with(cmd, &args, d);
        let what = format!("KUBECONFIG=good:{}", path.display());
        refused(&o, &what, expect);
        refused(&o, &what, &format!("$KUBECONFIG: `{}`", path.display()));
        refused(&o, &what, "$KUBECONFIG lists kubeconfig files");

        // `~/.kube/config` is it (a symlink to it, or the directory).
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".kube")).unwrap();
        let config = home.path().join(".kube/config");
        std::os::unix::fs::symlink(path, &config).unwrap();
        let mut cmd = crate::common::bin::command();
        cmd.env_remove("KUBECONFIG").env("HOME", home.path());
        let o = run_with(cmd, &args, d);
        let what = format!("~/.kube/config -> {}", path.display());
        refused(&o, &what, expect);
        refused(
            &o,
            &what,
            &format!("~/.kube/config: `{}`", config.display()),
        );
    }
}

/// Several files in `$KUBECONFIG` are merged as kubectl merges them (the
/// cluster and context in one, the user in another), and `~/.kube/config`
/// is used when nothing else is named: a dry run reads the sandbox's nodes
/// through either.
#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_list_and_home_kubeconfig_reach_the_cluster() {
    use runbook::sandbox::{Sandbox, SandboxOptions};
    let sandbox = Sandbox::start(
        super::common::fixture("small.yaml"),
        SandboxOptions {
            time_scale: 0.0,
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let yaml = sandbox.kubeconfig_yaml();
    let (head, users) = yaml.split_once("users:").unwrap();
    std::fs::write(d.join("a.kubeconfig"), head).unwrap();
    std::fs::write(
        d.join("b.kubeconfig"),
        format!("users:{}", users.replace("preferences: {}\n", "")),
    )
    .unwrap();
    std::fs::create_dir(d.join(".kube")).unwrap();
    std::fs::write(d.join(".kube/config"), &yaml).unwrap();
    std::fs::write(
        d.join("nodes.upg"),
        "runbook r \"d\" {\n  log \"nodes: ${k8s.nodes().len()}\"\n}\n",
    )
    .unwrap();
    let endpoint = sandbox.endpoint();
    let region = sandbox.region();
    let list = std::env::join_paths([d.join("a.kubeconfig"), d.join("b.kubeconfig")]).unwrap();
    let outputs = tokio::task::spawn_blocking(move || {
        let cmd = |kubeconfig: Option<&std::ffi::OsStr>| {
            let mut cmd = crate::common::bin::command();
            cmd.env("HOME", &d)
                .env("AWS_ENDPOINT_URL_EKS", &endpoint)
                .env("AWS_REGION", &region)
                .env("AWS_ACCESS_KEY_ID", "sandbox")
                .env("AWS_SECRET_ACCESS_KEY", "sandbox");
            match kubeconfig {
                Some(k) => cmd.env("KUBECONFIG", k),
                None => cmd.env_remove("KUBECONFIG"),
            };
            cmd
        };
        let args = ["exec", "nodes.upg", "--dry-run"];
        [
            run_with(cmd(Some(&list)), &args, &d),
            run_with(cmd(None), &args, &d),
        ]
    })
    .await
    .unwrap();
    for (o, what) in outputs.iter().zip(["KUBECONFIG=a:b", "~/.kube/config"]) {
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
        assert_eq!(o.status.code(), Some(0), "{what}: {all}");
        assert!(all.contains("nodes: "), "{what}: {all}");
    }
}
