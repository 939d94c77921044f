//! `/metrics` over HTTP/1.1 on a thread of its own, answering each scrape
//! in the format its `Accept` header asks for ([`Format::negotiate`]).
//!
//! [`MetricsServer`] runs [hyper](https://docs.rs/hyper)'s HTTP/1.1 server
//! on a current-thread tokio runtime private to its thread: one task per
//! connection on that thread, no thread per connection, and nothing of the
//! runtime visible to the caller: no `async` in the API, and it may be
//! started and stopped anywhere, inside another runtime's async context
//! too (that runtime is not used). Inside an async server of your own,
//! serve [`render_registry`](super::prometheus::render_registry) or
//! [`render`](super::prometheus::render) from a handler instead (see the
//! [`prometheus` module docs](super::prometheus#serving)).
//!
//! # What holds under load and attack
//!
//! Every limit below is a [`ServerBuilder`] setting; the defaults are in
//! brackets. A client that breaks one is cut off and counted in
//! [`MetricsServer::stats`]; no client can stop the others being served.
//!
//! - **Connections** (`max_connections`, 64): at most this many are open
//!   at once. A connection past the cap is accepted and answered at once
//!   with `503 Service Unavailable` and closed (client_golang's
//!   `MaxRequestsInFlight` answer; a client still sending may see a reset
//!   instead), counted in [`ServerStats::connections_refused`].
//! - **Request heads** (`max_header_bytes`, 16 KiB): a request line and
//!   headers larger than this get `431 Request Header Fields Too Large`
//!   and the connection is closed ([`ServerStats::headers_too_large`]).
//!   hyper reads at most `max(max_header_bytes, 8 KiB)` bytes ahead, so a
//!   connection's read buffer stays within that. A request body (a scrape
//!   has none) is never given to the source: hyper discards what has
//!   arrived of it and closes the connection after the answer if more is
//!   still coming.
//! - **Reading** (`header_read_timeout`, 30 s): a request's head must be
//!   complete within this time of the connection's start or the end of
//!   the previous answer, so it bounds both a client that sends slowly
//!   and an idle keep-alive connection (as Go's `ReadHeaderTimeout` does
//!   when no `IdleTimeout` is set); the connection is then closed
//!   ([`ServerStats::read_timeouts`]). A Prometheus scraping more often
//!   than this keeps its connection; one scraping less often reconnects.
//! - **Writing** (`write_timeout`, 30 s): an answer must be written within
//!   this time of its request's head being read, rendering included (Go's
//!   `WriteTimeout`); a write still blocked then closes the connection
//!   ([`ServerStats::write_timeouts`]). A client that never reads holds
//!   its connection and one render slot for at most this long.
//! - **Renders** (`max_renders`, 4): at most this many pages exist at
//!   once, each from the start of its rendering until hyper has written
//!   or dropped its last byte, so the pages' memory is at most
//!   `max_renders` pages whatever the clients do. A scrape waits for a
//!   slot until its write deadline, then gets `503`
//!   ([`ServerStats::scrapes_busy`]). Renders run on the runtime's
//!   blocking pool (at most `max_renders` threads, ended after 10 s
//!   idle), so a long render stalls no other connection.
//! - **Memory in total**: `max_connections` times one connection's
//!   buffers (its read buffer above, a small answer, hyper's and the
//!   socket's state), plus `max_renders` pages.
//! - **Accept errors** (descriptors exhausted: `EMFILE`, `ENFILE`;
//!   `ENOBUFS`, and any other): the listener never stops. It counts the
//!   error ([`ServerStats::accept_errors`]), waits 5 ms, doubled after
//!   each failure in a row up to 1 s (Go's `net/http` schedule), and
//!   tries again. While accepting fails, [`MetricsServer::health`]
//!   reports [`ServerError::AcceptFailing`].
//! - **A dead server is visible**: should the serving thread end without
//!   being asked (a panic in this crate or a dependency, a failure of the
//!   runtime), [`MetricsServer::health`] and
//!   [`MetricsServer::try_shutdown`] return [`ServerError::Died`] and
//!   [`MetricsServer::shutdown`] returns `false`.
//! - **Shutdown** ([`MetricsServer::shutdown`], `stop_timeout`, 2 s):
//!   stops accepting, closes every connection at once (a scrape being
//!   written is cut; stalled clients cannot delay it) and waits up to
//!   half the stop timeout for renders in progress; a render still
//!   running then finishes on its pool thread and is dropped. It returns
//!   within the stop timeout.
//! - **Answers**: `200` with the negotiated format (or the
//!   [forced](ServerBuilder::format) one) at the [path](ServerBuilder::path)
//!   (default `/metrics`; the query string is ignored), also to `HEAD`
//!   (no body); `404` elsewhere; `405` with `Allow: GET, HEAD` to other
//!   methods; `500` when the [`Source`] panics (that scrape only,
//!   [`ServerStats::render_panics`]). HTTP/1.0 and 1.1, keep-alive and
//!   pipelining (answered in order); no HTTP/2 and no TLS (put a proxy in
//!   front for those).
//!
//! `tests/export/http_attacks.rs` attacks a real server on 127.0.0.1 with each
//! of these (a client that pipelines scrapes and never reads, descriptor
//! exhaustion, an endless header line, idle connections, one byte a
//! second); `papers/adversarial.md` lists the checks.

mod serve;
mod timed;

use std::{
    fmt, io,
    net::{SocketAddr, ToSocketAddrs},
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{mpsc, Arc},
    thread::JoinHandle,
    time::Duration,
};

use tokio::sync::{oneshot, Semaphore};

use self::serve::{OwnedRuntime, Service, Shared};
use super::prometheus::{Exposition, Format, RenderOpts};
use crate::{registry::Registry, sync::lock};

/// What a [`MetricsServer`] renders at each scrape.
///
/// Implemented for a [`Registry`] (read one series at a time:
/// [`Exposition::registry_live`]) and for closures giving
/// an [`Exposition`] (a registry snapshot `.into()` one, collectors,
/// several together).
pub trait Source: Send + Sync + 'static {
    /// The readings to expose now.
    fn exposition(&self) -> Exposition;
}

impl Source for Registry {
    fn exposition(&self) -> Exposition {
        Exposition::new().registry_live(self)
    }
}

impl<F> Source for F
where
    F: Fn() -> Exposition + Send + Sync + 'static,
{
    fn exposition(&self) -> Exposition {
        self()
    }
}

/// A [`MetricsServer`]'s settings (the [module docs](self) say what each
/// limit guarantees).
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    opts: RenderOpts,
    format: Option<Format>,
    path: String,
    stop_timeout: Duration,
    limits: Limits,
}

/// The limits the serving thread enforces.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_connections: usize,
    max_renders: usize,
    max_header_bytes: usize,
    header_read_timeout: Duration,
    write_timeout: Duration,
}

/// The longest timeout accepted: past it, deadlines computed as
/// `now + timeout` could overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Limits {
    /// `InvalidInput` for a setting that would make the server unusable
    /// or one of its parts panic.
    fn check(&self) -> io::Result<()> {
        let invalid = |what: String| Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        for (name, value) in [
            ("max_connections", self.max_connections),
            ("max_renders", self.max_renders),
        ] {
            if value == 0 || value > Semaphore::MAX_PERMITS {
                return invalid(format!(
                    "{name} must be 1 to {}, not {value}",
                    Semaphore::MAX_PERMITS
                ));
            }
        }
        if self.max_header_bytes < 1024 {
            return invalid(format!(
                "max_header_bytes must be at least 1024, not {}",
                self.max_header_bytes
            ));
        }
        for (name, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if value.is_zero() || value > MAX_TIMEOUT {
                return invalid(format!(
                    "{name} must be above 0 and at most 24 h, not {value:?}"
                ));
            }
        }
        Ok(())
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            opts: RenderOpts::default(),
            format: None,
            path: "/metrics".into(),
            stop_timeout: Duration::from_secs(2),
            limits: Limits {
                max_connections: 64,
                max_renders: 4,
                max_header_bytes: 16 << 10,
                header_read_timeout: Duration::from_secs(30),
                write_timeout: Duration::from_secs(30),
            },
        }
    }
}

impl ServerBuilder {
    /// How histograms are written.
    pub fn opts(mut self, opts: RenderOpts) -> Self {
        self.opts = opts;
        self
    }

    /// Answers every scrape in `format`, whatever it accepts (for a
    /// scraper whose `Accept` cannot be changed: Prometheus 2.42 never
    /// asks for 0.0.4 first).
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// The path served (default `/metrics`); any other is 404.
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }

    /// How long [`MetricsServer::shutdown`] may take (default 2 s): it
    /// closes every connection at once and waits up to half this time for
    /// renders in progress.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// The most connections open at once (default 64; 1 or more); past
    /// it, a new connection is answered `503` and closed.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max;
        self
    }

    /// The most pages rendered or being written at once (default 4; 1 or
    /// more), which bounds the pages' memory; a scrape past it waits for a
    /// slot until its write deadline, then gets `503`.
    pub fn max_renders(mut self, max: usize) -> Self {
        self.limits.max_renders = max;
        self
    }

    /// The largest request line and headers taken (default 16 KiB; at
    /// least 1 KiB); a larger head gets `431` and its connection closed.
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.limits.max_header_bytes = max;
        self
    }

    /// How long a connection may take to send a request's head, counted
    /// from its start or the end of the previous answer (so also how long
    /// a keep-alive connection may idle); default 30 s, above 0 and at
    /// most 24 h.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long an answer may take, from its request's head to its last
    /// byte written (rendering included); default 30 s, above 0 and at
    /// most 24 h.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.limits.write_timeout = timeout;
        self
    }

    /// Binds `addr` (port 0: any free port) and starts serving `source`.
    ///
    /// # Errors
    ///
    /// The address cannot be resolved or bound; the runtime or the thread
    /// cannot be started; `InvalidInput` for a limit out of its range (see
    /// each setting).
    pub fn start(self, addr: impl ToSocketAddrs, source: impl Source) -> io::Result<MetricsServer> {
        self.limits.check()?;
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(self.limits.max_renders)
            .thread_name("lockfree-metrics-render")
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)
        };
        // From here on, dropped without blocking (see `OwnedRuntime`).
        let runtime = OwnedRuntime(Some(runtime));
        let listener = listener?;
        let shared = Arc::new(Shared::new(self.limits));
        let service = Arc::new(Service {
            source: Box::new(source),
            opts: self.opts,
            format: self.format,
            path: self.path,
        });
        let (stop, stop_rx) = oneshot::channel();
        let render_wait = (self.stop_timeout / 2).min(MAX_TIMEOUT);
        let sh = shared.clone();
        let (thread, done) = supervise(shared.clone(), move || {
            serve::run(runtime, listener, stop_rx, service, sh, render_wait)
        })?;
        Ok(MetricsServer {
            addr,
            shared,
            running: Some(Running {
                stop,
                thread,
                done,
                timeout: self.stop_timeout,
            }),
        })
    }
}

/// Runs `body` on the serving thread, recording in `shared` why it ended
/// if it failed or panicked; the receiver hears when it has ended.
fn supervise(
    shared: Arc<Shared>,
    body: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<(JoinHandle<()>, mpsc::Receiver<()>)> {
    let (done_tx, done) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("lockfree-metrics-http".into())
        .spawn(move || {
            let why = match catch_unwind(AssertUnwindSafe(body)) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("the serving thread failed: {e}")),
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a non-string payload".into());
                    Some(format!("the serving thread panicked: {message}"))
                }
            };
            if let Some(why) = why {
                *lock(&shared.died) = Some(why);
            }
            // The receiver may be gone (a server dropped while stopping);
            // nothing to tell then.
            let _ = done_tx.send(());
        })?;
    Ok((thread, done))
}

/// A server's counters since its start ([`MetricsServer::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections accepted and served (those over the cap not included).
    pub connections_accepted: u64,
    /// Connections open now (at most `max_connections`).
    pub connections_open: u64,
    /// Connections accepted over the cap, answered `503` and closed.
    pub connections_refused: u64,
    /// Failed accepts (each followed by a wait before the next try).
    pub accept_errors: u64,
    /// Connections closed because no complete request head came within
    /// the header read timeout (idle keep-alive connections included).
    pub read_timeouts: u64,
    /// Connections closed because an answer was not written within the
    /// write timeout.
    pub write_timeouts: u64,
    /// Connections closed after a request head over `max_header_bytes`
    /// (answered `431`).
    pub headers_too_large: u64,
    /// Connections ended by any other error: malformed requests
    /// (answered `400`), resets, a client gone mid-request.
    pub connection_errors: u64,
    /// Pages rendered and handed to hyper (`200` answers to `GET` and
    /// `HEAD`).
    pub scrapes: u64,
    /// Pages being rendered or written now (each holds a render slot; at
    /// most `max_renders`).
    pub renders_in_flight: u64,
    /// Scrapes answered `503` because no render slot freed before their
    /// write deadline.
    pub scrapes_busy: u64,
    /// Scrapes answered `500` because the [`Source`] panicked.
    pub render_panics: u64,
}

/// What is wrong with a [`MetricsServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// The serving thread ended without being asked to, for the reason
    /// given (a panic's message, the runtime's error): nothing is served
    /// any more.
    Died(String),
    /// Accepting connections has failed for `failing_for`, the last time
    /// with `error`; the server keeps retrying, and is healthy again at its
    /// next accept. Descriptor exhaustion (`EMFILE`) shows so.
    AcceptFailing {
        /// Since the first failure in a row.
        failing_for: Duration,
        /// The last accept error.
        error: String,
    },
    /// The serving thread had not ended within the stop timeout.
    StopTimedOut(Duration),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Died(why) => write!(f, "the /metrics server died: {why}"),
            ServerError::AcceptFailing { failing_for, error } => write!(
                f,
                "the /metrics server has failed to accept for {failing_for:?}: {error}"
            ),
            ServerError::StopTimedOut(t) => {
                write!(f, "the /metrics server did not stop within {t:?}")
            }
        }
    }
}

impl std::error::Error for ServerError {}

/// A running `/metrics` endpoint; stops when dropped or
/// [shut down](Self::shutdown).
///
/// ```
/// use lockfree_metrics::export::http::MetricsServer;
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// registry.counter("jobs_total", &[])?.increment(1);
/// // Port 0: any free port; loopback only.
/// let server = MetricsServer::start("127.0.0.1:0", registry.clone())?;
/// println!("scrape http://{}/metrics", server.addr());
/// server.health()?; // serving, and accepting
/// let stats = server.try_shutdown()?; // the counters at the end
/// assert_eq!(stats.accept_errors, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A collector and a registry on one page, text 0.0.4 forced, with
/// tighter limits:
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use lockfree_metrics::{Config, MetricsCollector, Sharded};
/// use lockfree_metrics::export::{http::MetricsServer, prometheus::{Exposition, Format}};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let seed = Arc::new(Sharded::new(Config::default()));
/// let (r, s) = (registry.clone(), seed.clone());
/// let server = MetricsServer::builder()
///     .format(Format::Text)
///     .max_connections(16)
///     .header_read_timeout(Duration::from_secs(10))
///     .write_timeout(Duration::from_secs(10))
///     .start("127.0.0.1:0", move || {
///         Exposition::new().registry(r.snapshot()).collector_snapshot("scheduler", s.snapshot())
///     })?;
/// drop(server); // stops it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MetricsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<Running>,
}

struct Running {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
    done: mpsc::Receiver<()>,
    timeout: Duration,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .field("running", &self.running.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

impl MetricsServer {
    /// Serves `source` at `/metrics` on `addr` with the default settings
    /// (see [`ServerBuilder::start`]).
    ///
    /// # Errors
    ///
    /// As [`ServerBuilder::start`].
    pub fn start(addr: impl ToSocketAddrs, source: impl Source) -> io::Result<MetricsServer> {
        ServerBuilder::default().start(addr, source)
    }

    /// Settings for a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address bound (the port chosen, if 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters since the start (see [`ServerStats`]).
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// `Ok` while the server serves and accepts.
    ///
    /// # Errors
    ///
    /// [`ServerError::Died`] once the serving thread has ended without
    /// being asked to; [`ServerError::AcceptFailing`] while accepting
    /// fails (transient: the server retries).
    pub fn health(&self) -> Result<(), ServerError> {
        if let Some(why) = lock(&self.shared.died).clone() {
            return Err(ServerError::Died(why));
        }
        if self
            .running
            .as_ref()
            .is_some_and(|r| r.thread.is_finished())
        {
            return Err(ServerError::Died("the serving thread ended".into()));
        }
        if let Some((since, error)) = lock(&self.shared.accept_failing).clone() {
            return Err(ServerError::AcceptFailing {
                failing_for: since.elapsed(),
                error,
            });
        }
        Ok(())
    }

    /// Stops serving (see [`Self::try_shutdown`]); `true` if it stopped
    /// within the [stop timeout](ServerBuilder::stop_timeout) and had not
    /// died before.
    pub fn shutdown(self) -> bool {
        self.try_shutdown().is_ok()
    }

    /// Stops accepting, closes every connection and joins the serving
    /// thread, waiting at most the [stop
    /// timeout](ServerBuilder::stop_timeout); then the final counters.
    ///
    /// # Errors
    ///
    /// [`ServerError::Died`] if the serving thread had ended on its own
    /// before; [`ServerError::StopTimedOut`] if it did not end in time
    /// (it is left to end by itself).
    pub fn try_shutdown(mut self) -> Result<ServerStats, ServerError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<ServerStats, ServerError> {
        if let Some(running) = self.running.take() {
            // An error: the thread has ended already, which `died` says.
            let _ = running.stop.send(());
            match running.done.recv_timeout(running.timeout) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Ended or ending; panics were caught inside.
                    let _ = running.thread.join();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(ServerError::StopTimedOut(running.timeout))
                }
            }
        }
        match lock(&self.shared.died).clone() {
            Some(why) => Err(ServerError::Died(why)),
            None => Ok(self.stats()),
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        // Nothing to report to from a drop; `try_shutdown` says it.
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A serving thread that dies is reported by `health`, `try_shutdown`
    /// and `shutdown`, with its panic's message.
    #[test]
    fn a_dead_serving_thread_is_reported() {
        let shared = Arc::new(Shared::new(ServerBuilder::default().limits));
        let (thread, done) = supervise(shared.clone(), || panic!("injected for the test")).unwrap();
        let (stop, _) = oneshot::channel();
        let server = MetricsServer {
            addr: ([127, 0, 0, 1], 0).into(),
            shared,
            running: Some(Running {
                stop,
                thread,
                done,
                timeout: Duration::from_secs(5),
            }),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while server.health().is_ok() {
            assert!(std::time::Instant::now() < deadline, "never reported");
            std::thread::sleep(Duration::from_millis(10));
        }
        let Err(ServerError::Died(why)) = server.health() else {
            panic!("{:?}", server.health());
        };
        assert!(why.contains("injected for the test"), "{why}");
        assert_eq!(server.try_shutdown(), Err(ServerError::Died(why)));
    }

    /// Limits out of range are an `InvalidInput` error, not a panic.
    #[test]
    fn limits_out_of_range_are_refused() {
        let b = MetricsServer::builder;
        for builder in [
            b().max_connections(0),
            b().max_renders(0),
            b().max_renders(usize::MAX),
            b().max_header_bytes(100),
            b().header_read_timeout(Duration::ZERO),
            b().write_timeout(Duration::MAX),
        ] {
            let err = builder.start("127.0.0.1:0", Registry::new()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
    }
}
