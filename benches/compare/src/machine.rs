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
    /// `MemTotal` from /proc/meminfo, in bytes (null if unreadable).
    pub(crate) memory_bytes: Option<u64>,
    /// `rustc --version` on the PATH at run time.
    pub(crate) rustc: String,
    /// /proc/loadavg when the run started: others' work shows here (null if
    /// unreadable).
    pub(crate) load_at_start: Option<LoadAverage>,
    /// /proc/loadavg when the run ended.
    pub(crate) load_at_end: Option<LoadAverage>,
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
            memory_bytes: memory_bytes(&field("/proc/meminfo", "MemTotal", ':')),
            rustc: command("rustc", &["--version"]),
            load_at_start: load(),
            load_at_end: None,
            git_commit: git_commit(),
        }
    }

    /// One line for tables and plot captions.
    pub(crate) fn one_line(&self) -> String {
        let memory = self.memory_bytes.map_or(UNKNOWN.to_string(), |b| {
            format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
        });
        format!(
            "{} cores ({}), {}, Linux {}, {memory} memory, {}",
            self.cores, self.cpu, self.os, self.kernel, self.rustc
        )
    }
}

/// The 1, 5 and 15-minute load averages (runnable and waiting tasks).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct LoadAverage {
    pub(crate) one_min: f64,
    pub(crate) five_min: f64,
    pub(crate) fifteen_min: f64,
}

impl std::fmt::Display for LoadAverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} {:.2} {:.2}",
            self.one_min, self.five_min, self.fifteen_min
        )
    }
}

/// "16384 kB" (as /proc/meminfo writes it) in bytes.
fn memory_bytes(text: &str) -> Option<u64> {
    let (n, unit) = text.split_once(' ').unwrap_or((text, ""));
    let n: u64 = n.trim().parse().ok()?;
    match unit.trim() {
        "kB" => n.checked_mul(1024),
        "" => Some(n),
        _ => None,
    }
}

/// A /proc/loadavg line's first three fields.
fn parse_load(text: &str) -> Option<LoadAverage> {
    let mut f = text.split_whitespace().map(str::parse::<f64>);
    Some(LoadAverage {
        one_min: f.next()?.ok()?,
        five_min: f.next()?.ok()?,
        fifteen_min: f.next()?.ok()?,
    })
}

/// Cores this process may use.
pub(crate) fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The load averages now, if /proc/loadavg is readable.
pub(crate) fn load() -> Option<LoadAverage> {
    parse_load(&read("/proc/loadavg"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_become_numbers() {
        assert_eq!(memory_bytes("16384 kB"), Some(16_777_216));
        assert_eq!(memory_bytes("unknown"), None);
        assert_eq!(
            parse_load("0.52 1.10 2.00 3/456 789"),
            Some(LoadAverage {
                one_min: 0.52,
                five_min: 1.1,
                fifteen_min: 2.0
            })
        );
        assert_eq!(parse_load("unknown"), None);
    }
}
