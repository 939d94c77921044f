//! Fresh processes for the measurements whose numbers are the process's
//! own (resident memory): the binary re-executes itself with a hidden
//! first argument and a job in JSON, runs that one job with one option,
//! prints its outcome as one JSON line, and exits.

use std::{
    fs,
    io::Read,
    process::{Command, ExitCode, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::operations::{churn, memory, scrape};

/// The hidden first argument that makes the binary a child.
pub(crate) const FLAG: &str = "__library-child";
/// The child's outcome line starts with this.
const RESULT: &str = "RESULT ";

/// A job for a child process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Job {
    /// Writers recording with nobody scraping, RSS sampled.
    Memory(memory::Job),
    /// Waves of short-lived recording threads.
    Churn(churn::Job),
    /// One option's scrape runs at one series count.
    Scrape(scrape::Job),
}

/// The most address space a child may map: an option that needs more
/// fails alone (its allocation refused) instead of pushing the machine
/// into the OOM killer.
pub(crate) const ADDRESS_LIMIT: u64 = 8 << 30;

/// Caps this process's address space at [`ADDRESS_LIMIT`].
#[cfg(unix)]
fn limit_address_space() {
    let limit = libc::rlimit {
        rlim_cur: ADDRESS_LIMIT as libc::rlim_t,
        rlim_max: ADDRESS_LIMIT as libc::rlim_t,
    };
    // SAFETY:
    // - `limit` is a valid `rlimit` that outlives the call;
    // - RLIMIT_AS only bounds later mappings of this process; a failure
    //   leaves the limit as it was, which is harmless here.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
}

/// No address-space limit here.
#[cfg(not(unix))]
fn limit_address_space() {}

/// Runs the job when the process was started as a child (`argv[1]` is
/// [`FLAG`]): its exit code then; `None` for a normal run.
pub(crate) fn main_if_child(argv: &[String]) -> Option<ExitCode> {
    if argv.get(1).map(String::as_str) != Some(FLAG) {
        return None;
    }
    let Some(job) = argv.get(2) else {
        eprintln!("error: {FLAG} needs a job");
        return Some(ExitCode::from(64));
    };
    let job: Job = match serde_json::from_str(job) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {FLAG}: bad job: {e}");
            return Some(ExitCode::from(64));
        }
    };
    limit_address_space();
    let line = match job {
        Job::Memory(j) => memory::in_child(&j).map(|o| serde_json::to_string(&o)),
        Job::Churn(j) => churn::in_child(&j).map(|o| serde_json::to_string(&o)),
        Job::Scrape(j) => scrape::in_child(&j).map(|o| serde_json::to_string(&o)),
    };
    match line {
        Ok(Ok(json)) => {
            println!("{RESULT}{json}");
            Some(ExitCode::SUCCESS)
        }
        Ok(Err(e)) => {
            eprintln!("error: {FLAG}: {e}");
            Some(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("error: {FLAG}: {e}");
            Some(ExitCode::FAILURE)
        }
    }
}

/// Runs `job` in a fresh child process of this binary, killing it past
/// `limit`, and reads its outcome.
pub(crate) fn run<T: DeserializeOwned>(job: &Job, limit: Duration) -> Result<T, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let json = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg(FLAG)
        .arg(json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning the child: {e}"))?;
    // Read both pipes while the child runs, so a full pipe cannot stall it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Ends only the child this call started, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the child ran past {limit:?} and was killed"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for the child: {e}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("the child failed ({status}): {}", one_line(&err)));
    }
    let line = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RESULT))
        .ok_or_else(|| format!("the child printed no result: {}", one_line(&err)))?;
    serde_json::from_str(line).map_err(|e| format!("the child's result: {e}"))
}

/// A child's stderr as one line for a table note: its lines joined, the
/// backtrace hints left out.
fn one_line(err: &str) -> String {
    err.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("stack backtrace") && !l.starts_with("note:"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The calling process's resident set, in KiB (`VmRSS` in
/// /proc/self/status); `None` where there is no such file.
pub(crate) fn rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix("VmRSS:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}
