//! A child process that cannot outlive its test: killed when the guard
//! drops (on every path, panics included) and by a watchdog at a
//! deadline, so a hung program fails the test instead of hanging it.
#![allow(dead_code)]

use std::{
    io::Read,
    process::{Child, Command, ExitStatus},
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
