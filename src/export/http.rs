//! `/metrics` over HTTP/1.1 on a thread of its own, answering each scrape
//! in the format its `Accept` header asks for ([`Format::negotiate`]).
//!
//! Built on `tiny_http`: blocking and small, it needs no async runtime,
//! where hyper or axum would bring tokio; inside an async server, wrap
//! [`render`](super::prometheus::render) in a handler instead (see the
//! [`prometheus` module docs](super::prometheus#serving)).
//!
//! One thread renders and answers the requests in turn (scrapes are rare
//! and cheap next to the network). `tiny_http` reads connections on
//! threads of its own, which end when their client closes the connection
//! (a keep-alive scraper keeps one while it scrapes).

use std::{
    io,
    net::{SocketAddr, TcpListener, ToSocketAddrs},
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use tiny_http::{Header, Method, Response};

use super::prometheus::{Exposition, Format, RenderOpts};
use crate::registry::Registry;

/// What a [`MetricsServer`] renders at each scrape.
///
/// Implemented for a [`Registry`] (read one series at a time:
/// [`Exposition::registry_live`]) and for closures giving
/// an [`Exposition`] (a registry snapshot `.into()` one, seed collectors,
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

/// A [`MetricsServer`]'s settings.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    opts: RenderOpts,
    format: Option<Format>,
    path: String,
    stop_timeout: Duration,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            opts: RenderOpts::default(),
            format: None,
            path: "/metrics".into(),
            stop_timeout: Duration::from_secs(2),
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

    /// How long [`MetricsServer::shutdown`] waits for the serving thread
    /// (default 2 s): at most one scrape's rendering and writing.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Binds `addr` (port 0: any free port) and starts serving `source`.
    ///
    /// # Errors
    ///
    /// The address cannot be resolved or bound, or the thread not started.
    pub fn start(self, addr: impl ToSocketAddrs, source: impl Source) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = mpsc::channel();
        let serving = Serving {
            server: server.clone(),
            stop: stop.clone(),
            source: Box::new(source),
            opts: self.opts,
            format: self.format,
            path: self.path,
        };
        let thread = std::thread::Builder::new()
            .name("lockfree-metrics-http".into())
            .spawn(move || {
                serving.run();
                // The receiver may be gone (a server dropped while
                // stopping); nothing to tell then.
                let _ = done_tx.send(());
            })?;
        Ok(MetricsServer {
            addr,
            running: Some(Running {
                server,
                stop,
                thread,
                done,
                timeout: self.stop_timeout,
            }),
        })
    }
}

/// The serving thread's state.
struct Serving {
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    source: Box<dyn Source>,
    opts: RenderOpts,
    format: Option<Format>,
    path: String,
}

/// How often the serving thread looks at the stop flag when no request
/// comes (a stop also unblocks it at once).
const POLL: Duration = Duration::from_millis(100);

impl Serving {
    fn run(&self) {
        // Acquire: pairs with the Release store in `stop`.
        while !self.stop.load(Ordering::Acquire) {
            // Else a timeout, an unblock, or an accept error (after which
            // tiny_http accepts nothing more): look at the flag again.
            if let Ok(Some(request)) = self.server.recv_timeout(POLL) {
                self.answer(request);
            }
        }
    }

    fn answer(&self, request: tiny_http::Request) {
        let path = request.url().split('?').next().unwrap_or("");
        let response = if path != self.path {
            text_response(404, "Not Found\n")
        } else if !matches!(request.method(), Method::Get | Method::Head) {
            with_header(
                text_response(405, "Method Not Allowed\n"),
                "Allow",
                "GET, HEAD",
            )
        } else {
            let accept = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Accept"))
                .map_or("", |h| h.value.as_str());
            let format = self.format.unwrap_or_else(|| Format::negotiate(accept));
            // A panicking source costs one scrape, not the server.
            match catch_unwind(AssertUnwindSafe(|| {
                self.source.exposition().render(format, &self.opts)
            })) {
                Ok((body, content_type)) => {
                    with_header(Response::from_data(body), "Content-Type", content_type)
                }
                Err(_) => text_response(500, "the metrics source panicked\n"),
            }
        };
        // The scraper may have gone; nothing to do about it.
        let _ = request.respond(response);
    }
}

/// `response` with a header added (our names and values are plain ASCII,
/// which tiny_http always accepts).
fn with_header<R: io::Read>(response: Response<R>, name: &str, value: &str) -> Response<R> {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}

fn text_response(status: u16, body: &str) -> Response<io::Cursor<Vec<u8>>> {
    let response = Response::from_string(body).with_status_code(status);
    with_header(response, "Content-Type", "text/plain; charset=utf-8")
}

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
/// assert!(server.shutdown());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A seed collector and a registry on one page, text 0.0.4 forced:
///
/// ```
/// use std::sync::Arc;
/// use lockfree_metrics::{Config, MetricsCollector, Sharded};
/// use lockfree_metrics::export::{http::MetricsServer, prometheus::{Exposition, Format}};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let seed = Arc::new(Sharded::new(Config::default()));
/// let (r, s) = (registry.clone(), seed.clone());
/// let server = MetricsServer::builder()
///     .format(Format::Text)
///     .start("127.0.0.1:0", move || {
///         Exposition::new().registry(r.snapshot()).seed("scheduler", s.snapshot())
///     })?;
/// drop(server); // stops it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MetricsServer {
    addr: SocketAddr,
    running: Option<Running>,
}

struct Running {
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    done: mpsc::Receiver<()>,
    timeout: Duration,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .field("running", &self.running.is_some())
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

    /// Stops serving and joins the thread; `false` if it did not end
    /// within the [stop timeout](ServerBuilder::stop_timeout) (a scrape
    /// still being written to a stalled client), when it is left to end
    /// by itself.
    pub fn shutdown(mut self) -> bool {
        self.stop()
    }

    fn stop(&mut self) -> bool {
        let Some(running) = self.running.take() else {
            return true;
        };
        // Release: the serving thread stops at its next look.
        running.stop.store(true, Ordering::Release);
        running.server.unblock();
        match running.done.recv_timeout(running.timeout) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                // It has ended or is ending; a panic inside was already
                // contained per request.
                let _ = running.thread.join();
                true
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
