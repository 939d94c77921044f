//! A child process that cannot outlive its test: killed when the guard
//! drops (on every path, panics included) and by a watchdog at a
//! deadline, so a hung program fails the test instead of hanging it; and
//! this test binary run again as such a child, for the tests that need a
//! process of their own.

use std::{
    io::Read,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

/// A running child, killed on drop or past its deadline.
pub(crate) struct ChildGuard {
    child: Arc<Mutex<Child>>,
    dropped: Arc<AtomicBool>,
    what: String,
}

impl ChildGuard {
    /// Starts `command` (named `what` in messages), to be killed `limit`
    /// from now at the latest. Take its pipes with [`Self::with`] first.
    pub(crate) fn spawn(command: &mut Command, what: &str, limit: Duration) -> ChildGuard {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let child = Arc::new(Mutex::new(child));
        let dropped = Arc::new(AtomicBool::new(false));
        let (c, d, name) = (child.clone(), dropped.clone(), what.to_string());
        thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if d.load(Ordering::Acquire) {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
            // std never signals a child it has already reaped.
            if let Ok(mut child) = c.lock() {
                if child.try_wait().ok().flatten().is_none() {
                    eprintln!("{name} ran past {limit:?}: killed");
                    let _ = child.kill();
                }
            }
        });
        ChildGuard {
            child,
            dropped,
            what: what.to_string(),
        }
    }

    /// Runs `f` on the child (to take its pipes, read its id).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Child) -> T) -> T {
        f(&mut self.child.lock().unwrap())
    }

    /// Whether it is still running.
    pub(crate) fn running(&self) -> bool {
        self.with(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Waits for it to exit, by `limit` at the latest (else kills it and
    /// panics); then its stdout and stderr, if piped (read after the
    /// exit: for outputs that fit in a pipe buffer).
    pub(crate) fn wait(&self, limit: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.with(|c| c.try_wait().unwrap()) {
                break status;
            }
            if Instant::now() > deadline {
                self.with(|c| {
                    let _ = c.kill();
                });
                panic!("{} did not exit within {limit:?}", self.what);
            }
            thread::sleep(Duration::from_millis(10));
        };
        let read = |pipe: Option<&mut dyn Read>| {
            let mut s = String::new();
            if let Some(p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        };
        self.with(|c| {
            let out = read(c.stdout.as_mut().map(|p| p as &mut dyn Read));
            let err = read(c.stderr.as_mut().map(|p| p as &mut dyn Read));
            (status, out, err)
        })
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::Release);
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The path libtest gives the test `name` of the module `module_path`
/// (`module_path!()`): the module path less the binary's own name, so that
/// a test that reruns itself still finds itself after a move.
pub(crate) fn test_path(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

/// This test binary again, running only the test at `path` (see
/// [`test_path`]; ignored or not) on one thread, its output uncaptured:
/// the child half of a test that runs part of itself in another process.
pub(crate) fn rerun(path: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command.args([
        "--exact",
        path,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    command
}

/// Runs `command` (a [`rerun`], say) to its end and returns what follows
/// `marker` on the first line of its stdout that holds it (libtest may
/// print "test child ... " before it on the same line). Fails, showing
/// both outputs and naming `what`, unless the command exited successfully
/// and printed the marker.
pub(crate) fn reported(command: &mut Command, marker: &str, what: &str) -> String {
    let out = command.output().expect("starting the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what}: child exited with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
        .lines()
        .find_map(|l| l.split_once(marker).map(|(_, v)| v.to_string()))
        .unwrap_or_else(|| panic!("{what}: no {marker:?} in\n{stdout}"))
}

/// Set in the child that [`alone`] starts: the path of the test it runs.
const ALONE_VAR: &str = "LOCKFREE_METRICS_TEST_ALONE";

/// Runs `body`, the test `name` of the module `module_path`
/// (`module_path!()`), in a process of its own: for a test whose claim is
/// about the whole process (its resident set, the thread ids that
/// `thread_local` hands out, the global `metrics` recorder, crossbeam's
/// global epoch), which the other tests of its binary, running beside it,
/// would disturb. The test reruns this binary with only itself selected
/// ([`rerun`]), waits at most `limit`, passes the child's output on, and
/// fails unless the child ran exactly this test and it passed.
pub(crate) fn alone(module_path: &str, name: &str, limit: Duration, body: impl FnOnce()) {
    let path = test_path(module_path, name);
    if std::env::var(ALONE_VAR).is_ok_and(|v| v == path) {
        body();
        return;
    }
    let guard = ChildGuard::spawn(
        rerun(&path)
            .env(ALONE_VAR, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        &path,
        limit,
    );
    // Read while it runs: its output may not fit in a pipe's buffer.
    let readers = guard.with(|c| {
        [
            Box::new(c.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(c.stderr.take().unwrap()),
        ]
        .map(|mut pipe| {
            thread::spawn(move || {
                let mut s = String::new();
                let _ = pipe.read_to_string(&mut s);
                s
            })
        })
    });
    let (status, _, _) = guard.wait(limit);
    let [out, err] = readers.map(|r| r.join().unwrap());
    print!("{out}");
    eprint!("{err}");
    assert!(
        status.success(),
        "{path}, alone in its process, failed ({status})"
    );
    assert!(
        out.contains("test result: ok. 1 passed"),
        "{path} did not run alone in its process (a wrong name?)"
    );
}
