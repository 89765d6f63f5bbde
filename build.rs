//! Embeds every file under `stdlib/` into the binary (`import "stdlib/..."`
//! resolves to these copies), so a new stdlib file needs no code change, and
//! records the git commit the binary is built from for `runbook --version`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // The checkout this build runs in, read at run time: `env!` would bake
    // in the checkout the build script was compiled in, and cargo reuses one
    // compiled build script across checkouts that share a target directory
    // (the release binary then embedded another checkout's stdlib).
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let manifest = manifest.as_path();
    println!("cargo:rerun-if-env-changed=RUNBOOK_GIT_COMMIT");
    let commit = match std::env::var("RUNBOOK_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            let (commit, watch) = git_commit(manifest);
            for path in watch {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            commit
        }
    };
    println!("cargo:rustc-env=RUNBOOK_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=stdlib");
    let root = manifest.join("stdlib");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// (path under stdlib/, contents)\npub static STDLIB: &[(&str, &str)] = &[\n",
    );
    // Paths relative to the crate being compiled, not absolute: a generated
    // file reused from another checkout still embeds this checkout's files.
    for rel in files {
        out.push_str(&format!(
            "    ({rel:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?}))),\n",
            format!("/stdlib/{rel}")
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("stdlib.rs");
    std::fs::write(dest, out).unwrap();
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("upg" | "rhai")
        ) {
            let rel = path.strip_prefix(root).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The short commit of `dir`'s checkout, and the git files that change when
/// it moves (HEAD, the branch's ref, packed refs). "unknown" when `dir` is
/// not the top of a git checkout (a source archive, or a copy inside some
/// other repository) or git is missing; a packager can set
/// RUNBOOK_GIT_COMMIT instead.
pub fn git_commit(dir: &Path) -> (String, Vec<PathBuf>) {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let unknown = || ("unknown".to_string(), Vec::new());
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else {
        return unknown();
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), dir) {
        return unknown();
    }
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return unknown();
    };
    let mut watch: Vec<PathBuf> = ["HEAD", "packed-refs"]
        .iter()
        .filter_map(|p| git(&["rev-parse", "--git-path", p]))
        .map(PathBuf::from)
        .collect();
    if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
    {
        watch.push(PathBuf::from(path));
    }
    let watch = watch
        .into_iter()
        .map(|p| if p.is_relative() { dir.join(p) } else { p })
        .filter(|p| p.exists())
        .collect();
    (commit, watch)
}
