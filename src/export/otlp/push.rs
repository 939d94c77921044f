//! The push exporter: a thread that encodes, queues (bounded, dropping the
//! oldest) and sends batches over OTLP/HTTP, with the retry rules of the
//! OTLP specification (`docs/specification.md`, "OTLP/HTTP Throttling"
//! and "Failures"): exponential backoff with jitter (AWS's "equal jitter":
//! half the delay fixed, half random), `Retry-After` honoured.

use std::{
    collections::VecDeque,
    fmt,
    io::Write,
    sync::{mpsc, Arc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;

use super::{Encoder, OtlpError};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};

/// A push exporter's settings.
#[derive(Clone, Debug)]
pub struct PushBuilder {
    endpoint: String,
    interval: Duration,
    timeout: Duration,
    gzip: bool,
    max_pending: usize,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    shutdown_timeout: Duration,
    headers: Vec<(String, String)>,
}

impl PushBuilder {
    /// Pushes to `endpoint`, the full URL (`http://host:4318/v1/metrics`
    /// for a collector, `http://host:8428/opentelemetry/v1/metrics` for
    /// VictoriaMetrics). Defaults: every 60 s, a 10 s request timeout, no
    /// gzip, 16 pending batches, backoff from 1 s to 30 s, `Retry-After`
    /// up to 5 min, 5 s for the final push.
    ///
    /// # Errors
    ///
    /// [`OtlpError::InvalidEndpoint`] unless it is an `http://` URL.
    pub fn new(endpoint: &str) -> Result<Self, OtlpError> {
        let rest = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| OtlpError::InvalidEndpoint(endpoint.to_string()))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(OtlpError::InvalidEndpoint(endpoint.to_string()));
        }
        Ok(PushBuilder {
            endpoint: endpoint.to_string(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            gzip: false,
            max_pending: 16,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            shutdown_timeout: Duration::from_secs(5),
            headers: Vec::new(),
        })
    }

    /// Time between readings.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The longest one request may take, connection included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether bodies are gzipped (`Content-Encoding: gzip`, level 1).
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Batches kept while the receiver does not take them; a new one
    /// then drops the oldest (counted in [`PushStats::dropped`]).
    pub fn max_pending(mut self, batches: usize) -> Self {
        self.max_pending = batches;
        self
    }

    /// The backoff after a first retryable failure, doubling per further
    /// failure of the same batch up to `max` (each wait drawn in `[d/2,
    /// d]`).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The longest `Retry-After` obeyed; a longer one is cut to it.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// How long [`PushExporter::shutdown`] spends on the final push.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// A header sent with every request (an API key, say).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Starts the push thread, reading `encoder` every interval.
    ///
    /// # Errors
    ///
    /// [`OtlpError::InvalidSetting`] for a zero interval, timeout or
    /// pending bound; [`OtlpError::Spawn`] if no thread could be made.
    pub fn start(self, encoder: Encoder) -> Result<PushExporter, OtlpError> {
        if self.interval.is_zero() {
            return Err(OtlpError::InvalidSetting("the interval must be above zero"));
        }
        if self.timeout.is_zero() {
            return Err(OtlpError::InvalidSetting("the timeout must be above zero"));
        }
        if self.max_pending == 0 {
            return Err(OtlpError::InvalidSetting(
                "max_pending must be at least one batch",
            ));
        }
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel();
        let mut worker = Worker {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(self.timeout))
                .max_redirects(0)
                .build()
                .new_agent(),
            settings: self,
            encoder,
            pending: VecDeque::new(),
            counters: counters.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("otlp-push".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| OtlpError::Spawn(e.to_string()))?;
        Ok(PushExporter {
            tx,
            thread: Some(thread),
            counters,
        })
    }
}

/// The exporter's counters, read with [`PushExporter::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushStats {
    /// Batches the receiver accepted (2xx), partial successes included.
    pub sent: u64,
    /// Batches given up: answered with a status not to retry (400, 401,
    /// 413, 500, ...).
    pub failed: u64,
    /// Attempts that failed in a way worth retrying (429, 502, 503, 504,
    /// no connection, timeout), each followed by a wait.
    pub retried: u64,
    /// Batches dropped unsent: the oldest when the pending bound was
    /// reached, and those left when the final push ran out of time.
    pub dropped: u64,
    /// Data points in the dropped batches.
    pub dropped_points: u64,
    /// Data points the receiver rejected in partial successes.
    pub rejected_points: u64,
    /// Partial-success answers.
    pub partial_successes: u64,
    /// Batches waiting now.
    pub pending: u64,
    /// Bytes (as sent) of the batches waiting now.
    pub pending_bytes: u64,
    /// The most pending bytes ever held.
    pub max_pending_bytes: u64,
    /// Readings encoded.
    pub encoded: u64,
    /// The last failure, as text.
    pub last_error: Option<String>,
}

/// Counters the push thread writes and [`PushExporter::stats`] reads.
/// Each is an independent statistic: `Relaxed` suffices, since no other
/// data is published through them and a reader needs no order between
/// them.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    dropped_points: AtomicU64,
    rejected_points: AtomicU64,
    partial_successes: AtomicU64,
    pending: AtomicU64,
    pending_bytes: AtomicU64,
    max_pending_bytes: AtomicU64,
    encoded: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        // Relaxed: see the struct's comment.
        c.fetch_add(n, Ordering::Relaxed);
    }

    fn error(&self, e: String) {
        log::warn!("OTLP push: {e}");
        *lock(&self.last_error) = Some(e);
    }

    fn read(&self) -> PushStats {
        // Relaxed: independent statistics (see the struct's comment).
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PushStats {
            sent: r(&self.sent),
            failed: r(&self.failed),
            retried: r(&self.retried),
            dropped: r(&self.dropped),
            dropped_points: r(&self.dropped_points),
            rejected_points: r(&self.rejected_points),
            partial_successes: r(&self.partial_successes),
            pending: r(&self.pending),
            pending_bytes: r(&self.pending_bytes),
            max_pending_bytes: r(&self.max_pending_bytes),
            encoded: r(&self.encoded),
            last_error: lock(&self.last_error).clone(),
        }
    }
}

enum Msg {
    PushNow,
    Shutdown,
}

/// A running push exporter: its thread reads, queues and sends; dropping
/// it (or [`shutdown`](Self::shutdown)) makes the final push.
pub struct PushExporter {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl fmt::Debug for PushExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushExporter")
            .field("stats", &self.stats())
            .finish()
    }
}

impl PushExporter {
    /// The counters now.
    pub fn stats(&self) -> PushStats {
        self.counters.read()
    }

    /// Asks the thread for a reading and a push now, without waiting for
    /// it (the interval restarts).
    pub fn push_now(&self) {
        let _ = self.tx.send(Msg::PushNow);
    }

    /// Stops the thread after a final reading, and a push of what is
    /// pending within the shutdown timeout (what remains is counted as
    /// dropped); returns the final counters. It returns within the request
    /// timeout (a send under way finishes first) plus the shutdown timeout,
    /// plus one reading's encode.
    pub fn shutdown(mut self) -> PushStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                self.counters
                    .error("the push thread panicked; its pending batches are lost".into());
            }
        }
    }
}

impl Drop for PushExporter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An encoded request waiting to be sent.
struct Batch {
    body: Vec<u8>,
    points: u64,
    /// Failed attempts so far.
    failures: u32,
    not_before: Instant,
}

/// What became of one attempt.
enum Outcome {
    Sent,
    /// Wait this long (from `Retry-After`, if given), then try again.
    Retry(Option<Duration>),
    Failed,
}

struct Worker {
    agent: ureq::Agent,
    settings: PushBuilder,
    encoder: Encoder,
    pending: VecDeque<Batch>,
    counters: Arc<Counters>,
}

/// Data points in a request.
fn points(request: &ExportMetricsServiceRequest) -> u64 {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let mut n = 0_u64;
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                n += match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                } as u64;
            }
        }
    }
    n
}

/// `request` as a protobuf body, gzipped if `gzip`.
pub(crate) fn body(request: &ExportMetricsServiceRequest, gzip: bool) -> Vec<u8> {
    let raw = request.encode_to_vec();
    if !gzip {
        return raw;
    }
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    match z.write_all(&raw).and_then(|()| z.finish()) {
        Ok(v) => v,
        Err(_) => raw,
    }
}

impl Worker {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut next_reading = Instant::now() + self.settings.interval;
        loop {
            let now = Instant::now();
            let wake = self
                .pending
                .front()
                .map_or(next_reading, |b| b.not_before.min(next_reading));
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(Msg::Shutdown) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Msg::PushNow) => {
                    self.read();
                    next_reading = Instant::now() + self.settings.interval;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if Instant::now() >= next_reading {
                        self.read();
                        next_reading += self.settings.interval;
                        // Behind by more than an interval (a long send):
                        // skip the missed readings rather than bunch them.
                        if next_reading < Instant::now() {
                            next_reading = Instant::now() + self.settings.interval;
                        }
                    }
                }
            }
            self.send_due(None);
        }
        // The final reading and push, bounded in time.
        self.read();
        let deadline = Instant::now() + self.settings.shutdown_timeout;
        self.send_due(Some(deadline));
        let left = self.pending.len() as u64;
        if left > 0 {
            let points: u64 = self.pending.iter().map(|b| b.points).sum();
            Counters::add(&self.counters.dropped, left);
            Counters::add(&self.counters.dropped_points, points);
            self.counters.error(format!(
                "shutdown: {left} batches ({points} points) unsent within {:?}",
                self.settings.shutdown_timeout
            ));
            self.pending.clear();
        }
        self.publish_pending();
    }

    /// Encodes a reading and queues it, dropping the oldest past the bound.
    fn read(&mut self) {
        let request = self.encoder.encode();
        Counters::add(&self.counters.encoded, 1);
        let batch = Batch {
            points: points(&request),
            body: body(&request, self.settings.gzip),
            failures: 0,
            not_before: Instant::now(),
        };
        while self.pending.len() >= self.settings.max_pending {
            if let Some(old) = self.pending.pop_front() {
                Counters::add(&self.counters.dropped, 1);
                Counters::add(&self.counters.dropped_points, old.points);
                self.counters.error(format!(
                    "{} batches pending: dropped the oldest ({} points)",
                    self.settings.max_pending, old.points
                ));
                // The next batch's backoff carries over: the receiver is
                // still the one that failed.
                if let Some(next) = self.pending.front_mut() {
                    next.failures = next.failures.max(old.failures);
                    next.not_before = next.not_before.max(old.not_before);
                }
            }
        }
        self.pending.push_back(batch);
        self.publish_pending();
    }

    fn publish_pending(&self) {
        let bytes: u64 = self.pending.iter().map(|b| b.body.len() as u64).sum();
        // Relaxed: independent statistics (see `Counters`).
        self.counters
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
        self.counters.pending_bytes.store(bytes, Ordering::Relaxed);
        self.counters
            .max_pending_bytes
            .fetch_max(bytes, Ordering::Relaxed);
    }

    /// Sends pending batches, oldest first, while the oldest is due; with a
    /// deadline (shutdown), waits out backoffs that end before it.
    fn send_due(&mut self, deadline: Option<Instant>) {
        while let Some(front) = self.pending.front() {
            let now = Instant::now();
            if front.not_before > now {
                match deadline {
                    Some(d) if front.not_before < d => {
                        std::thread::sleep(front.not_before - now);
                        continue;
                    }
                    _ => break,
                }
            }
            let timeout = match deadline {
                Some(d) if d <= now => break,
                Some(d) => self.settings.timeout.min(d - now),
                None => self.settings.timeout,
            };
            let outcome = self.send(&front.body, timeout);
            match outcome {
                Outcome::Sent => {
                    self.pending.pop_front();
                    Counters::add(&self.counters.sent, 1);
                }
                Outcome::Failed => {
                    self.pending.pop_front();
                    Counters::add(&self.counters.failed, 1);
                }
                Outcome::Retry(after) => {
                    Counters::add(&self.counters.retried, 1);
                    let s = &self.settings;
                    if let Some(b) = self.pending.front_mut() {
                        let wait = match after {
                            Some(a) => a.min(s.max_retry_after),
                            None => {
                                let d = s
                                    .initial_backoff
                                    .saturating_mul(1_u32 << b.failures.min(20))
                                    .min(s.max_backoff);
                                // Equal jitter: [d/2, d].
                                d / 2 + d.mul_f64(fastrand::f64() / 2.0)
                            }
                        };
                        b.failures = b.failures.saturating_add(1);
                        b.not_before = Instant::now() + wait;
                    }
                    if deadline.is_none() {
                        break;
                    }
                }
            }
            self.publish_pending();
        }
    }

    fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        let mut req = self
            .agent
            .post(&self.settings.endpoint)
            .header("Content-Type", "application/x-protobuf");
        if self.settings.gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        for (k, v) in &self.settings.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let response = req
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body);
        let mut response = match response {
            Ok(r) => r,
            Err(e) => {
                self.counters.error(format!("no answer: {e}"));
                return Outcome::Retry(None);
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The answer is small; a receiver sending more is cut off.
        let answer = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => {
                // An empty body (Prometheus answers so) is a full success.
                if let Ok(r) = ExportMetricsServiceResponse::decode(answer.as_slice()) {
                    if let Some(p) = r.partial_success {
                        if p.rejected_data_points != 0 || !p.error_message.is_empty() {
                            Counters::add(&self.counters.partial_successes, 1);
                            Counters::add(
                                &self.counters.rejected_points,
                                u64::try_from(p.rejected_data_points).unwrap_or(0),
                            );
                            self.counters.error(format!(
                                "partial success: {} points rejected: {}",
                                p.rejected_data_points, p.error_message
                            ));
                        }
                    }
                }
                Outcome::Sent
            }
            429 | 502 | 503 | 504 => {
                self.counters.error(format!(
                    "HTTP {status}, will retry: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(512)])
                ));
                Outcome::Retry(retry_after)
            }
            _ => {
                self.counters.error(format!(
                    "HTTP {status}, not retried: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(512)])
                ));
                Outcome::Failed
            }
        }
    }
}
