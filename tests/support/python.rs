//! The Python programs of `tests/support/` that the exporter tests check
//! against (`parse_expositions.py`, `otlp_receiver.py`): each run by a
//! Python that can import the module it needs ([`external::python_with`]),
//! under a [`ChildGuard`], talking one JSON line at a time over its stdin
//! and stdout.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{ChildStdin, ChildStdout, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use serde_json::Value as Json;

use super::{child::ChildGuard, external};

/// A running script, killed when dropped.
pub(crate) struct Script {
    // Dropped last: kills the process.
    _guard: ChildGuard,
    stdin: ChildStdin,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Script {
    /// Starts `tests/support/{script}` (named `what` in messages) under a
    /// Python that can `import module`, killed after 300 s at the latest;
    /// `None` (after saying so, or failing under CI) if there is no such
    /// Python.
    pub(crate) fn start(module: &str, script: &str, what: &str) -> Option<Script> {
        let python = external::python_with(module)?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support")
            .join(script);
        let guard = ChildGuard::spawn(
            Command::new(python)
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
            what,
            Duration::from_secs(300),
        );
        let (stdin, stdout) = guard.with(|c| (c.stdin.take().unwrap(), c.stdout.take().unwrap()));
        Some(Script {
            _guard: guard,
            stdin,
            stdout: Some(BufReader::new(stdout)),
        })
    }

    /// Sends `message` as one line.
    pub(crate) fn send(&mut self, message: &Json) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next line the script writes (blocking; see [`Self::lines`]).
    pub(crate) fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .as_mut()
            .expect("stdout taken by lines()")
            .read_line(&mut line)
            .unwrap();
        line
    }

    /// The script's lines from now on, read on a thread of their own, so
    /// that every wait for one can be bounded (`recv_timeout`).
    pub(crate) fn lines(&mut self) -> mpsc::Receiver<String> {
        let stdout = self.stdout.take().expect("lines() called twice");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        lines
    }
}
