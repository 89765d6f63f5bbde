//! The one way the tests run the real binary, in the manner of just's
//! `Test` builder: `Bin::new(["check", "x.upg"]).env("K", "v").run()`.
//! It runs from the repository root, without colour and with stdin closed,
//! unless a test says otherwise.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

pub struct Bin {
    cmd: Command,
}

/// What a finished run printed, and how it exited (-1: killed by a signal).
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The configured command alone, for a test that spawns, signals or pipes it.
pub fn command() -> Command {
    Bin::new::<[&str; 0], &str>([]).cmd
}

impl Bin {
    pub fn new<I, S>(args: I) -> Bin
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runbook"));
        cmd.args(args)
            .current_dir(super::root())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .stdin(Stdio::null());
        Bin { cmd }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Bin {
        self.cmd.arg(arg);
        self
    }

    pub fn dir(mut self, dir: impl AsRef<Path>) -> Bin {
        self.cmd.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Bin {
        self.cmd.env(key, value);
        self
    }

    pub fn command(self) -> Command {
        self.cmd
    }

    pub fn run(mut self) -> Ran {
        let out = self.cmd.output().expect("the runbook binary runs");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
