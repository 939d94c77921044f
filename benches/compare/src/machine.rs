//! What the comparison ran on, read from the machine at run time.

use std::{fs, process::Command, thread};

use serde::Serialize;

/// The machine and toolchain, as far as the process can see them.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Machine {
    /// Cores this process may use (`available_parallelism`).
    pub(crate) cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub(crate) cpu: String,
    /// `PRETTY_NAME` from /etc/os-release.
    pub(crate) os: String,
    /// The kernel release.
    pub(crate) kernel: String,
    /// `MemTotal` from /proc/meminfo.
    pub(crate) memory: String,
    /// `rustc --version` on the PATH at run time.
    pub(crate) rustc: String,
    /// /proc/loadavg when the run started: others' work shows here.
    pub(crate) load_at_start: String,
    /// /proc/loadavg when the run ended.
    pub(crate) load_at_end: String,
    /// `git rev-parse --short HEAD`, with `-dirty` when the tree has changes.
    pub(crate) git_commit: String,
}

const UNKNOWN: &str = "unknown";

impl Machine {
    pub(crate) fn detect() -> Self {
        Machine {
            cores: cores(),
            cpu: field("/proc/cpuinfo", "model name", ':'),
            os: field("/etc/os-release", "PRETTY_NAME", '='),
            kernel: read("/proc/sys/kernel/osrelease"),
            memory: field("/proc/meminfo", "MemTotal", ':'),
            rustc: command("rustc", &["--version"]),
            load_at_start: load(),
            load_at_end: String::new(),
            git_commit: git_commit(),
        }
    }

    /// One line for tables and plot captions.
    pub(crate) fn one_line(&self) -> String {
        format!(
            "{} cores ({}), {}, Linux {}, {}, {}",
            self.cores, self.cpu, self.os, self.kernel, self.memory, self.rustc
        )
    }
}

pub(crate) fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn load() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn read(path: &str) -> String {
    fs::read_to_string(path).map_or_else(|_| UNKNOWN.into(), |s| s.trim().to_string())
}

/// The value of the first line `key <sep> value` in `path`, unquoted.
fn field(path: &str, key: &str, sep: char) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (k, v) = line.split_once(sep)?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| UNKNOWN.into())
}

fn command(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || UNKNOWN.into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

fn git_commit() -> String {
    let commit = command("git", &["rev-parse", "--short", "HEAD"]);
    if commit == UNKNOWN {
        return commit;
    }
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    }
}
