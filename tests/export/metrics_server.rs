//! The `/metrics` endpoint over real sockets on 127.0.0.1: negotiation,
//! content types, 404/405/400, HEAD, a forced format, a panicking source,
//! the header size limit, the counters, a start from inside a tokio
//! runtime, and a shutdown that is prompt (a hanging source included) and
//! closes the port. The attacks are in `tests/export/http_attacks.rs`.
#![cfg(feature = "http")]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use lockfree_metrics::{
    export::{
        http::MetricsServer,
        prometheus::{render, Exposition, Format, RenderOpts},
    },
    registry::Registry,
};

/// (status, headers lower-cased, body) of one request.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

fn content_type(head: &str) -> &str {
    head.lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("")
}

const PROMETHEUS: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const PROMETHEUS_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[test]
fn serves_each_format_by_accept() {
    let registry = Registry::new();
    registry.describe("jobs_total", "Jobs.", None);
    registry
        .counter("jobs_total", &[("kind", "a\"b")])
        .unwrap()
        .increment(5);
    registry
        .histogram("job_seconds", &[])
        .unwrap()
        .record(3_000_000);
    let server = MetricsServer::start("127.0.0.1:0", registry.clone()).unwrap();
    let addr = server.addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    for (accept, format) in [
        (None, Format::Text),
        (Some("text/plain"), Format::Text),
        (Some(PROMETHEUS), Format::OpenMetrics),
        (Some(PROMETHEUS_NATIVE), Format::Protobuf),
    ] {
        let (status, head, body) = request(addr, "GET", "/metrics", accept);
        assert_eq!(status, 200);
        assert_eq!(
            content_type(&head),
            format.content_type().to_ascii_lowercase()
        );
        assert_eq!(
            body,
            render(&registry.snapshot(), format, &RenderOpts::default()).0,
            "{format:?}"
        );
    }
    // A query string is not part of the path.
    assert_eq!(request(addr, "GET", "/metrics?x=1", None).0, 200);
    // HEAD: the headers, no body.
    let (status, head, body) = request(addr, "HEAD", "/metrics", None);
    assert_eq!(
        (status, content_type(&head)),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(body.is_empty());
    // Other paths and methods.
    assert_eq!(request(addr, "GET", "/", None).0, 404);
    assert_eq!(request(addr, "GET", "/metricsx", None).0, 404);
    let (status, head, _) = request(addr, "POST", "/metrics", None);
    assert_eq!(status, 405);
    assert!(head.contains("allow: get, head"));
    // Records after the start show at the next scrape.
    registry
        .counter("jobs_total", &[("kind", "a\"b")])
        .unwrap()
        .increment(1);
    let (_, _, body) = request(addr, "GET", "/metrics", None);
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("jobs_total{kind=\"a\\\"b\"} 6\n"));
    let started = Instant::now();
    assert!(server.shutdown());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Closed: nothing answers there any more.
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map(|mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
            let mut buf = [0; 1];
            !matches!(s.read(&mut buf), Ok(1))
        })
        .unwrap_or(true);
    assert!(refused);
}

#[test]
fn forced_format_path_and_a_panicking_source() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let registry = Registry::new();
    registry.gauge("up_ratio", &[]).unwrap().set(1.0);
    let r = registry.clone();
    let server = MetricsServer::builder()
        .format(Format::Text)
        .path("/m")
        .stop_timeout(Duration::from_secs(1))
        .start("127.0.0.1:0", move || {
            // Every other scrape panics: it costs that scrape only.
            assert!(
                c.fetch_add(1, Ordering::Relaxed).is_multiple_of(2),
                "a source bug"
            );
            Exposition::from(r.snapshot())
        })
        .unwrap();
    let addr = server.addr();
    let (status, head, body) = request(addr, "GET", "/m", Some(PROMETHEUS_NATIVE));
    assert_eq!(status, 200);
    assert_eq!(
        content_type(&head),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        body,
        b"# HELP up_ratio \n# TYPE up_ratio gauge\nup_ratio 1.0\n"
    );
    assert_eq!(request(addr, "GET", "/m", None).0, 500);
    assert_eq!(request(addr, "GET", "/m", None).0, 200);
    assert_eq!(request(addr, "GET", "/metrics", None).0, 404);
    // Dropping stops it too.
    drop(server);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_or(true, |mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(b"GET /m HTTP/1.1\r\n\r\n");
            let mut buf = [0; 1];
            !matches!(s.read(&mut buf), Ok(1))
        })
    );
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[test]
fn request_heads_are_limited_to_max_header_bytes() {
    let server = MetricsServer::builder()
        .max_header_bytes(4096)
        .start("127.0.0.1:0", Registry::new())
        .unwrap();
    let addr = server.addr();
    let head = |pad: usize| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let pad = "a".repeat(pad);
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nX-Pad: {pad}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.split(' ').nth(1).unwrap_or("").to_string()
    };
    // The whole head counts: request line, headers, line ends.
    assert_eq!(head(3_900), "200");
    assert_eq!(head(4_100), "431");
    let stats = server.try_shutdown().unwrap();
    assert_eq!(
        (stats.scrapes, stats.headers_too_large),
        (1, 1),
        "{stats:?}"
    );
}

#[test]
fn a_taken_port_is_an_error() {
    let first = MetricsServer::start("127.0.0.1:0", Registry::new()).unwrap();
    let err = MetricsServer::start(first.addr(), Registry::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn shutdown_is_bounded_by_its_timeout_while_a_render_hangs() {
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let server = MetricsServer::builder()
        .stop_timeout(Duration::from_secs(1))
        .start("127.0.0.1:0", move || {
            let _ = entered_tx.lock().unwrap().send(());
            // A source stuck far past the stop timeout.
            std::thread::sleep(Duration::from_secs(5));
            Exposition::new()
        })
        .unwrap();
    let addr = server.addr();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        // Closed by the shutdown, unanswered.
        let _ = s.read_to_end(&mut buf);
        buf.len()
    });
    entered.recv_timeout(Duration::from_secs(10)).unwrap();
    let started = Instant::now();
    let stats = server.try_shutdown().expect("stopped in time");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (stats.scrapes, stats.renders_in_flight),
        (0, 1),
        "{stats:?}"
    );
    assert_eq!(client.join().unwrap(), 0);
}

#[test]
fn stats_count_each_answer() {
    let server = MetricsServer::start("127.0.0.1:0", Registry::new()).unwrap();
    let addr = server.addr();
    assert_eq!(request(addr, "GET", "/metrics", None).0, 200);
    assert_eq!(request(addr, "HEAD", "/metrics", None).0, 200);
    assert_eq!(request(addr, "GET", "/nothing", None).0, 404);
    // A malformed request line: 400, and the connection closed.
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"NOT HTTP\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer:?}");
    // HTTP/1.0: answered, then closed.
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200 "), "{answer:?}");
    // Pipelined requests on one connection: answered in order.
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /metrics HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\nHEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let statuses: Vec<_> = answer.split("HTTP/1.1 ").skip(1).map(|a| &a[..3]).collect();
    assert_eq!(statuses, ["200", "404", "200"], "{answer:?}");
    assert_eq!(server.health(), Ok(()));
    let stats = server.try_shutdown().unwrap();
    assert_eq!(
        (
            stats.scrapes,
            stats.connections_accepted,
            stats.connection_errors
        ),
        (5, 6, 1),
        "{stats:?}"
    );
    assert_eq!(stats.connections_open, 0);
}

/// Started, scraped and stopped from inside a tokio runtime of the
/// caller's: the server's own runtime never meets it.
#[test]
fn works_from_inside_a_tokio_runtime() {
    let caller = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    caller.block_on(async {
        let registry = Registry::new();
        registry.counter("jobs_total", &[]).unwrap().increment(1);
        let server = MetricsServer::start("127.0.0.1:0", registry).unwrap();
        assert_eq!(request(server.addr(), "GET", "/metrics", None).0, 200);
        let taken = MetricsServer::start(server.addr(), Registry::new()).unwrap_err();
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
        assert!(server.shutdown());
    });
}

/// A scrape that announces a large body and sends little of it: answered,
/// then closed (the body is never waited for).
#[test]
fn a_request_body_is_not_waited_for() {
    let server = MetricsServer::start("127.0.0.1:0", Registry::new()).unwrap();
    let mut s = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n0123456789")
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200 "));
    assert_eq!(server.try_shutdown().unwrap().scrapes, 1);
}
