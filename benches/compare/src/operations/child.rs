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

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

/// The hidden first argument that makes the binary a child; the second is
/// the job, `{"<operation>": <its job>}` in JSON.
pub(crate) const FLAG: &str = "__library-child";
/// The child's outcome line starts with this.
const RESULT: &str = "RESULT ";

/// Why a child ran no job to its end.
#[derive(Debug)]
pub(crate) enum ChildError {
    /// The job could not be read (exit status 64).
    BadJob(String),
    /// The job ran and failed (exit status 1).
    Failed(String),
}

/// Reads `job` as a `J`, runs `f` on it and writes its outcome as JSON:
/// what an operation's `in_child` does.
pub(crate) fn serve<J: DeserializeOwned, O: Serialize>(
    job: &str,
    f: impl FnOnce(&J) -> Result<O, String>,
) -> Result<String, ChildError> {
    let job: J = serde_json::from_str(job).map_err(|e| ChildError::BadJob(e.to_string()))?;
    let outcome = f(&job).map_err(ChildError::Failed)?;
    serde_json::to_string(&outcome).map_err(|e| ChildError::Failed(e.to_string()))
}

/// The most address space a child may map: an option that needs more
/// fails alone (its allocation refused, reported as [`ChildFailure::OverCap`])
/// instead of pushing the machine into the OOM killer. 1.5 GiB keeps a
/// child and the waiting parent (about 100 MiB then) within 2 GiB: the
/// whole run's bound.
pub(crate) const ADDRESS_LIMIT: u64 = 3 << 29;

/// [`ADDRESS_LIMIT`] as text, e.g. "1.5 GiB".
pub(crate) fn address_limit_text() -> String {
    format!("{:.1} GiB", ADDRESS_LIMIT as f64 / f64::from(1u32 << 30))
}

/// Why a child gave no outcome.
#[derive(Debug)]
pub(crate) enum ChildFailure {
    /// It needed more memory than [`ADDRESS_LIMIT`]: an allocation was
    /// refused (Rust then aborts with "memory allocation of N bytes
    /// failed"). For a peer this is what it measured: it does not fit.
    OverCap(String),
    /// Anything else: it could not start, crashed, ran too long, or
    /// printed no result.
    Other(String),
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildFailure::OverCap(detail) => write!(
                f,
                "needed more than the harness's {} address-space cap ({detail})",
                address_limit_text()
            ),
            ChildFailure::Other(why) => f.write_str(why),
        }
    }
}

impl ChildFailure {
    /// Whether the text says `what`.
    pub(crate) fn contains(&self, what: &str) -> bool {
        match self {
            ChildFailure::OverCap(s) | ChildFailure::Other(s) => s.contains(what),
        }
    }
}

/// A failed child's status and stderr, classified: a refused allocation
/// (the cap) or anything else.
fn classify(status: std::process::ExitStatus, err: &str) -> ChildFailure {
    let refused = err
        .lines()
        .find(|l| l.contains("memory allocation of") && l.contains("failed"));
    match refused {
        Some(line) => ChildFailure::OverCap(format!("{}; {status}", line.trim())),
        None => ChildFailure::Other(format!("the child failed ({status}): {}", one_line(err))),
    }
}

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
/// [`FLAG`]): its exit code then; `None` for a normal run. `dispatch`
/// runs a job (JSON) of the operation it names.
pub(crate) fn main_if_child(
    argv: &[String],
    dispatch: impl FnOnce(&str, &str) -> Result<String, ChildError>,
) -> Option<ExitCode> {
    if argv.get(1).map(String::as_str) != Some(FLAG) {
        return None;
    }
    let Some(job) = argv.get(2) else {
        eprintln!("error: {FLAG} needs a job");
        return Some(ExitCode::from(64));
    };
    let one = serde_json::from_str::<Map<String, Value>>(job)
        .map_err(|e| e.to_string())
        .and_then(|m| {
            let mut entries = m.into_iter();
            match (entries.next(), entries.next()) {
                (Some(entry), None) => Ok(entry),
                _ => Err("not one operation's job".to_string()),
            }
        });
    let (operation, job) = match one {
        Ok(entry) => entry,
        Err(e) => {
            eprintln!("error: {FLAG}: bad job: {e}");
            return Some(ExitCode::from(64));
        }
    };
    limit_address_space();
    match dispatch(&operation, &job.to_string()) {
        Ok(json) => {
            println!("{RESULT}{json}");
            Some(ExitCode::SUCCESS)
        }
        Err(ChildError::BadJob(e)) => {
            eprintln!("error: {FLAG}: bad job: {e}");
            Some(ExitCode::from(64))
        }
        Err(ChildError::Failed(e)) => {
            eprintln!("error: {FLAG}: {e}");
            Some(ExitCode::FAILURE)
        }
    }
}

/// Runs `job`, one of `operation`'s, in a fresh child process of this
/// binary, killing it past `limit`, and reads its outcome.
pub(crate) fn run<T: DeserializeOwned>(
    operation: &str,
    job: &impl Serialize,
    limit: Duration,
) -> Result<T, ChildFailure> {
    use ChildFailure::Other;
    let exe = std::env::current_exe().map_err(|e| Other(format!("current_exe: {e}")))?;
    let job = serde_json::to_value(job).map_err(|e| Other(e.to_string()))?;
    let json = Value::Object(Map::from_iter([(operation.to_string(), job)])).to_string();
    let mut child = Command::new(exe)
        .arg(FLAG)
        .arg(json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Other(format!("spawning the child: {e}")))?;
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
                return Err(Other(format!(
                    "the child ran past {limit:?} and was killed"
                )));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(Other(format!("waiting for the child: {e}"))),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        return Err(classify(status, &err));
    }
    let line = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RESULT))
        .ok_or_else(|| Other(format!("the child printed no result: {}", one_line(&err))))?;
    serde_json::from_str(line).map_err(|e| Other(format!("the child's result: {e}")))
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
