//! The serving thread: a current-thread tokio runtime running the accept
//! loop and one hyper HTTP/1.1 task per connection, with renders on the
//! runtime's blocking pool. The rules are those of Go's `net/http` server
//! (`Serve`'s accept backoff, `ReadHeaderTimeout`, `WriteTimeout`) and of
//! client_golang's `MaxRequestsInFlight` (`503` past a cap), which
//! Prometheus users know; the enforcement is hyper's (head size, head
//! read timeout) and tokio's (semaphores, timers).

use std::{
    convert::Infallible,
    future::{poll_fn, Future},
    io,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::{pin, Pin},
    sync::Arc,
    task::Poll,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE},
    server::conn::http1,
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{oneshot, OwnedSemaphorePermit, Semaphore},
};

use super::{
    timed::{Deadline, Timed},
    Limits, ServerStats, Source,
};
use crate::{
    export::prometheus::{Format, RenderOpts},
    sync::{lock, AtomicU64, Mutex, Ordering},
};

/// What the serving thread and the [`MetricsServer`](super::MetricsServer)
/// handle share.
#[derive(Debug)]
pub(super) struct Shared {
    counters: Counters,
    /// Open connections hold permits; `limits.max_connections` less the
    /// permits left is the number open.
    pub(super) connections: Arc<Semaphore>,
    pub(super) renders: Arc<Semaphore>,
    pub(super) limits: Limits,
    /// Set when the serving thread ended without being asked to: why.
    pub(super) died: Mutex<Option<String>>,
    /// Set while accepting fails: since when, and the last error.
    pub(super) accept_failing: Mutex<Option<(Instant, String)>>,
}

/// The counters behind [`ServerStats`]. Relaxed throughout: each is a
/// count read on its own, and nothing is published through them.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    accept_errors: AtomicU64,
    read_timeouts: AtomicU64,
    write_timeouts: AtomicU64,
    too_large: AtomicU64,
    other_errors: AtomicU64,
    scrapes: AtomicU64,
    busy: AtomicU64,
    render_panics: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    // Relaxed: an independent statistic; nothing is published with it.
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Shared {
    pub(super) fn new(limits: Limits) -> Shared {
        Shared {
            counters: Counters::default(),
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            renders: Arc::new(Semaphore::new(limits.max_renders)),
            limits,
            died: Mutex::new(None),
            accept_failing: Mutex::new(None),
        }
    }

    pub(super) fn stats(&self) -> ServerStats {
        let c = &self.counters;
        // Relaxed: each counter is read on its own, as a statistic.
        let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let in_use = |s: &Semaphore, max: usize| max.saturating_sub(s.available_permits()) as u64;
        ServerStats {
            connections_accepted: read(&c.accepted),
            connections_open: in_use(&self.connections, self.limits.max_connections),
            connections_refused: read(&c.refused),
            accept_errors: read(&c.accept_errors),
            read_timeouts: read(&c.read_timeouts),
            write_timeouts: read(&c.write_timeouts),
            headers_too_large: read(&c.too_large),
            connection_errors: read(&c.other_errors),
            scrapes: read(&c.scrapes),
            renders_in_flight: in_use(&self.renders, self.limits.max_renders),
            scrapes_busy: read(&c.busy),
            render_panics: read(&c.render_panics),
        }
    }
}

/// What each request needs.
pub(super) struct Service {
    pub(super) source: Box<dyn Source>,
    pub(super) opts: RenderOpts,
    pub(super) format: Option<Format>,
    pub(super) path: String,
}

/// The answer to a connection over the cap: hyper never sees it.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 37\r\nConnection: close\r\n\r\ntoo many connections to this server\r\n";

/// The first wait after a failed accept, doubled after each failure in a
/// row up to [`MAX_BACKOFF`]: Go's `net/http` schedule.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts until `stop` fires (or its sender goes). Never returns on an
/// accept error: it counts it, waits, and tries again.
pub(super) async fn accept_loop(
    listener: TcpListener,
    mut stop: oneshot::Receiver<()>,
    service: Arc<Service>,
    shared: Arc<Shared>,
) {
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = poll_fn(|cx| {
            if Pin::new(&mut stop).poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            listener.poll_accept(cx).map(Some)
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((stream, _))) => {
                backoff = Duration::ZERO;
                *lock(&shared.accept_failing) = None;
                match shared.connections.clone().try_acquire_owned() {
                    Ok(permit) => {
                        bump(&shared.counters.accepted);
                        // The task ends with its connection, or is dropped
                        // (closing it) when the runtime shuts down.
                        drop(tokio::spawn(connection(
                            stream,
                            permit,
                            service.clone(),
                            shared.clone(),
                        )));
                    }
                    Err(_) => {
                        bump(&shared.counters.refused);
                        // A fresh socket's send buffer takes this at once;
                        // if not, the close alone is the answer.
                        let _ = stream.try_write(BUSY);
                    }
                }
            }
            Some(Err(e)) => {
                bump(&shared.counters.accept_errors);
                lock(&shared.accept_failing)
                    .get_or_insert_with(|| (Instant::now(), String::new()))
                    .1 = e.to_string();
                backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                let mut sleep = pin!(tokio::time::sleep(backoff));
                let stopped = poll_fn(|cx| {
                    if Pin::new(&mut stop).poll(cx).is_ready() {
                        Poll::Ready(true)
                    } else {
                        sleep.as_mut().poll(cx).map(|()| false)
                    }
                })
                .await;
                if stopped {
                    return;
                }
            }
        }
    }
}

/// Serves one connection with hyper, then counts how it ended.
async fn connection(
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    service: Arc<Service>,
    shared: Arc<Shared>,
) {
    let limits = shared.limits;
    // Scrapes are single requests: no delay for a small answer's tail.
    let _ = stream.set_nodelay(true);
    // Until the first request arms it: an error answer hyper writes by
    // itself (431, 400) is bounded too.
    let deadline = Arc::new(Deadline::new(
        Instant::now() + limits.header_read_timeout + limits.write_timeout,
    ));
    let io = TokioIo::new(Timed::new(stream, deadline.clone()));
    let handler = {
        let (shared, deadline) = (shared.clone(), deadline.clone());
        service_fn(move |request| {
            answer(request, service.clone(), shared.clone(), deadline.clone())
        })
    };
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // hyper's floor; the header limit above is the tighter one.
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true)
        .serve_connection(io, handler)
        .await;
    let c = &shared.counters;
    match result {
        Ok(()) => {}
        Err(_) if deadline.expired() => bump(&c.write_timeouts),
        Err(e) if e.is_timeout() => bump(&c.read_timeouts),
        Err(e) if e.is_parse_too_large() => bump(&c.too_large),
        Err(_) => bump(&c.other_errors),
    }
}

type Answer = Response<Full<Bytes>>;

/// A page and the render permit it holds: freed and released together,
/// when hyper has written (or dropped) the last of it.
struct Page {
    body: Vec<u8>,
    _permit: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Page {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    service: Arc<Service>,
    shared: Arc<Shared>,
    deadline: Arc<Deadline>,
) -> Result<Answer, Infallible> {
    let write_by = Instant::now() + shared.limits.write_timeout;
    deadline.arm(write_by);
    if request.uri().path() != service.path {
        return Ok(text(StatusCode::NOT_FOUND, "Not Found\n"));
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut answer = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        answer
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(answer);
    }
    let accept = request
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = service.format.unwrap_or_else(|| Format::negotiate(accept));
    // A render slot, waited for no later than the write deadline.
    let slot = tokio::time::timeout_at(write_by.into(), shared.renders.clone().acquire_owned());
    let Ok(Ok(permit)) = slot.await else {
        bump(&shared.counters.busy);
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "every render slot is busy\n",
        ));
    };
    // On the blocking pool: a long render leaves the runtime thread free
    // for every other connection. The permit goes with it, so a render
    // whose connection has gone still counts until it ends.
    let rendered = tokio::task::spawn_blocking(move || {
        let rendered = catch_unwind(AssertUnwindSafe(|| {
            service.source.exposition().render(format, &service.opts)
        }));
        rendered.map(|(body, content_type)| {
            let page = Bytes::from_owner(Page {
                body,
                _permit: permit,
            });
            (page, content_type)
        })
    })
    .await;
    match rendered {
        Ok(Ok((page, content_type))) => {
            bump(&shared.counters.scrapes);
            let mut answer = Response::new(Full::new(page));
            answer
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            Ok(answer)
        }
        // A panicking source costs one scrape, not the server.
        _ => {
            bump(&shared.counters.render_panics);
            Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics source panicked\n",
            ))
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}

/// The server's runtime, which never blocks where it is dropped: a
/// runtime dropped inside another's async context panics, and `start`
/// may be called from one (its error paths drop this there).
#[derive(Debug)]
pub(super) struct OwnedRuntime(pub(super) Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs the server until it is asked to stop, then shuts the runtime
/// down, waiting up to `render_wait` for renders in progress.
pub(super) fn run(
    mut runtime: OwnedRuntime,
    listener: TcpListener,
    stop: oneshot::Receiver<()>,
    service: Arc<Service>,
    shared: Arc<Shared>,
    render_wait: Duration,
) -> io::Result<()> {
    let Some(runtime) = runtime.0.take() else {
        return Err(io::Error::other("no runtime"));
    };
    runtime.block_on(accept_loop(listener, stop, service, shared));
    // Drops every connection's task (closing its socket) and the queued
    // renders.
    runtime.shutdown_timeout(render_wait);
    Ok(())
}
