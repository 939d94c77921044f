//! A socket whose writes must be done by a deadline: the write timeout
//! hyper lacks. The deadline is per response, armed when a request's head
//! has been read (Go's `http.Server.WriteTimeout` rule); a write still
//! blocked at the deadline fails with [`io::ErrorKind::TimedOut`], which
//! ends the connection.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// One connection's write deadline, shared by its request handler (which
/// arms it) and its socket (which enforces it). Both run on the server's
/// one runtime thread; the atomics only make the handle `Send + Sync`, as
/// hyper's handler must be. Relaxed throughout: each field is a
/// self-contained value, and nothing else is published through them.
#[derive(Debug)]
pub(super) struct Deadline {
    origin: Instant,
    /// Nanoseconds after `origin`.
    at: AtomicU64,
    /// 1 once a write has failed on it.
    expired: AtomicUsize,
}

impl Deadline {
    pub(super) fn new(at: Instant) -> Deadline {
        let origin = Instant::now();
        let d = Deadline {
            origin,
            at: AtomicU64::new(0),
            expired: AtomicUsize::new(0),
        };
        d.arm(at);
        d
    }

    /// Writes must be done by `at`.
    pub(super) fn arm(&self, at: Instant) {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        // Relaxed: the deadline is one word, set and read by the
        // connection's own task (the runtime has one thread); it publishes
        // nothing else.
        self.at
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn get(&self) -> Instant {
        // Relaxed: as in `arm`.
        self.origin + Duration::from_nanos(self.at.load(Ordering::Relaxed))
    }

    /// Whether a write failed on this deadline.
    pub(super) fn expired(&self) -> bool {
        // Relaxed: a flag read after the failed write it reports, on the
        // same task.
        self.expired.load(Ordering::Relaxed) != 0
    }
}

/// `inner` with writes bounded by a [`Deadline`]. Only a write that
/// blocks is timed: one the socket takes at once succeeds even past the
/// deadline (a small error answer after a long idle wait, say).
#[derive(Debug)]
pub(super) struct Timed<S> {
    inner: S,
    deadline: Arc<Deadline>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<S> Timed<S> {
    pub(super) fn new(inner: S, deadline: Arc<Deadline>) -> Timed<S> {
        let sleep = Box::pin(tokio::time::sleep_until(deadline.get().into()));
        Timed {
            inner,
            deadline,
            sleep,
        }
    }

    /// For a write that blocked: pending until the deadline, then the
    /// error.
    fn blocked<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let at = tokio::time::Instant::from_std(self.deadline.get());
        if self.sleep.deadline() != at {
            self.sleep.as_mut().reset(at);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                // Relaxed: see `Deadline::expired`.
                self.deadline.expired.store(1, Ordering::Relaxed);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the response was not written within the write timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.blocked(cx),
            done => done,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.blocked(cx),
            done => done,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.blocked(cx),
            done => done,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending => this.blocked(cx),
            done => done,
        }
    }
}
