//! The `/metrics` server attacked over real sockets on 127.0.0.1 (issue 21,
//! items 1-4): a client that pipelines scrapes of a large page and never
//! reads, a burst that exhausts file descriptors, an endless header line,
//! idle connections and a client that sends its request one byte a
//! second. Each test bounds its time: every read and write has a timeout
//! and every loop a deadline.
//!
//! The tests that count threads, measure resident memory or lower
//! `RLIMIT_NOFILE` run their server in a child process (this test binary
//! again, the `child` test selected by [`CASE_VAR`]), so that the other
//! tests running in this process do not disturb the figures.
#![cfg(all(feature = "http", target_os = "linux"))]

use std::{
    io::{self, BufRead, BufReader, ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{ChildStdin, Stdio},
    sync::{mpsc, Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

use child::ChildGuard;
use lockfree_metrics::{
    export::{
        http::{MetricsServer, ServerBuilder, ServerError},
        prometheus::Exposition,
    },
    registry::Registry,
};

use crate::support::child;

/// Selects a child process's case.
const CASE_VAR: &str = "LOCKFREE_METRICS_HTTP_ATTACK_CASE";

/// One `GET /metrics` with `Connection: close`, read to the end within
/// `limit`: (status, body length).
fn scrape(addr: SocketAddr, limit: Duration) -> io::Result<(u16, usize)> {
    let deadline = Instant::now() + limit;
    let mut stream = TcpStream::connect_timeout(&addr, limit)?;
    stream.set_write_timeout(Some(limit))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("no full answer within {limit:?}"),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf)? {
            0 => break,
            n => response.extend_from_slice(&buf[..n]),
        }
    }
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "no header block"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "no status"))?;
    let len = response.len() - split - 4;
    // A cut answer is an error, not a short page.
    let declared: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok());
    if declared != Some(len) {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            format!("{len} body bytes, content-length {declared:?}"),
        ));
    }
    Ok((status, len))
}

/// Scrapes until one answers 200, for at most `limit`: the page's length.
fn scrape_within(addr: SocketAddr, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let last = match scrape(addr, left.max(Duration::from_millis(1))) {
            Ok((200, len)) => return len,
            other => other,
        };
        assert!(
            Instant::now() < deadline,
            "no successful scrape within {limit:?}; the last: {last:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the server has closed `stream`, waiting at most `limit` for it
/// (bytes it sends first are read and counted in `read`).
fn closed_within(stream: &mut TcpStream, limit: Duration, read: &mut usize) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0; 1 << 16];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => *read += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            // Reset or aborted: closed with data unread.
            Err(_) => return true,
        }
    }
}

/// 10,000 histogram series: a text page of about 24 MB.
fn large_registry() -> Registry {
    let registry = Registry::new();
    for i in 0..10_000_u64 {
        let h = registry
            .histogram("request_seconds", &[("id", &i.to_string())])
            .unwrap();
        for v in [1_000, 50_000, 2_000_000, 300_000_000] {
            h.record(v + i);
        }
    }
    registry
}

#[test]
fn a_client_that_pipelines_and_never_reads_stalls_no_one() {
    let registry = large_registry();
    let stop_timeout = Duration::from_secs(2);
    let server = MetricsServer::builder()
        .stop_timeout(stop_timeout)
        .start("127.0.0.1:0", registry)
        .unwrap();
    let addr = server.addr();
    let started = Instant::now();
    let page = scrape_within(addr, Duration::from_secs(60));
    assert!(page > 16 << 20, "a page of {page} bytes");
    eprintln!("a {page}-byte page alone: {:?}", started.elapsed());

    // Eight scrapes at once, then never a byte read.
    let mut stalled = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stalled
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stalled.write_all(request.repeat(8).as_bytes()).unwrap();
    // Long enough for the server to fill the socket's buffers.
    thread::sleep(Duration::from_secs(2));

    // Everyone else is still answered, in full.
    let started = Instant::now();
    let (status, len) = scrape(addr, Duration::from_secs(30)).expect("a scrape beside the stall");
    assert_eq!((status, len), (200, page));
    eprintln!(
        "a scrape beside the stalled client: {:?}",
        started.elapsed()
    );

    let stats = server.stats();
    assert_eq!((stats.scrapes_busy, stats.write_timeouts), (0, 0));
    // The stalled answer's page is the one page held: its slot is taken
    // until the page is written or dropped.
    assert_eq!(stats.renders_in_flight, 1, "{stats:?}");
    let started = Instant::now();
    let stats = server.try_shutdown().expect("a clean stop");
    let took = started.elapsed();
    eprintln!("shutdown beside the stalled client: {took:?}");
    assert!(took < stop_timeout, "shutdown took {took:?}");
    assert!(stats.scrapes >= 3, "{stats:?}");
    // The stalled connection is closed with the server.
    let mut read = 0;
    assert!(closed_within(
        &mut stalled,
        Duration::from_secs(10),
        &mut read
    ));
    assert!(read < 8 * page, "{read} bytes");
}

#[test]
fn a_client_that_never_reads_is_cut_off_at_the_write_timeout() {
    let server = MetricsServer::builder()
        // Room for the render of a debug build on a busy machine: 2 s
        // alone, 6 s at a load of 14 on 2 cores.
        .write_timeout(Duration::from_secs(20))
        .max_renders(1)
        .start("127.0.0.1:0", large_registry())
        .unwrap();
    let addr = server.addr();
    let page = scrape_within(addr, Duration::from_secs(60));
    let mut stalled = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stalled
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stalled.write_all(request.repeat(4).as_bytes()).unwrap();
    let stalled_since = Instant::now();
    // The answer cannot all fit in the sockets' buffers: the write blocks
    // and times out.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.stats().write_timeouts == 0 {
        assert!(Instant::now() < deadline, "{:?}", server.stats());
        thread::sleep(Duration::from_millis(20));
    }
    let cut_after = stalled_since.elapsed();
    let mut read = 0;
    assert!(closed_within(
        &mut stalled,
        Duration::from_secs(10),
        &mut read
    ));
    eprintln!(
        "a client that never reads (write timeout 20 s): cut {cut_after:?} after its requests, {read} bytes of a {page}-byte page had reached it"
    );
    assert!(
        read < page,
        "{read} of a {page}-byte page read, then the cut"
    );
    // Its render slot, the only one, is free again.
    assert_eq!(scrape_within(addr, Duration::from_secs(60)), page);
    let stats = server.try_shutdown().unwrap();
    assert_eq!(
        (stats.write_timeouts, stats.scrapes_busy),
        (1, 0),
        "{stats:?}"
    );
}

#[test]
fn a_slow_writer_is_timed_out() {
    let server = MetricsServer::builder()
        .header_read_timeout(Duration::from_secs(2))
        .start("127.0.0.1:0", Registry::new())
        .unwrap();
    let addr = server.addr();
    let mut slow = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    slow.set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nX-Pad: 0123456789\r\n\r\n");
    // One byte a second: the server must close it within 4 s.
    let started = Instant::now();
    let mut read = 0;
    let mut closed = false;
    for byte in request.as_bytes() {
        if slow.write_all(&[*byte]).is_err()
            || closed_within(&mut slow, Duration::from_secs(1), &mut read)
        {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let took = started.elapsed();
    eprintln!("a client sending one byte a second: closed: {closed}, after {took:?}");
    assert!(closed, "still open after {took:?}");
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    assert_eq!(read, 0, "an answer to a request never completed");
    scrape_within(addr, Duration::from_secs(10));
    let stats = server.try_shutdown().unwrap();
    assert_eq!(stats.read_timeouts, 1, "{stats:?}");
}

/// Four scrapes at once of a source that blocks until released: two
/// render (the cap), two wait, and the server still answers other
/// requests meanwhile (renders are off its thread); then all four are
/// answered.
#[test]
fn renders_are_bounded_and_stall_no_connection() {
    #[derive(Default)]
    struct Gate {
        active: usize,
        most: usize,
        open: bool,
    }
    let gate = Arc::new((Mutex::new(Gate::default()), Condvar::new()));
    let g = gate.clone();
    let server = MetricsServer::builder()
        .max_renders(2)
        .start("127.0.0.1:0", move || {
            let (lock, changed) = &*g;
            let mut state = lock.lock().unwrap();
            state.active += 1;
            state.most = state.most.max(state.active);
            changed.notify_all();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !state.open && Instant::now() < deadline {
                state = changed
                    .wait_timeout(state, Duration::from_millis(100))
                    .unwrap()
                    .0;
            }
            state.active -= 1;
            Exposition::new()
        })
        .unwrap();
    let addr = server.addr();
    let clients: Vec<_> = (0..4)
        .map(|_| thread::spawn(move || scrape(addr, Duration::from_secs(30))))
        .collect();
    let wait_for = |what: &str, done: &dyn Fn(&Gate) -> bool| {
        let (lock, changed) = &*gate;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut state = lock.lock().unwrap();
        while !done(&state) {
            assert!(Instant::now() < deadline, "{what}");
            state = changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    };
    wait_for("two renders", &|s| s.active == 2);
    // The other two are waiting for a slot, not rendering.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(gate.0.lock().unwrap().active, 2);
    assert_eq!(server.stats().renders_in_flight, 2);
    // Answered while both renders block.
    let mut other = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    other
        .write_all(b"GET /elsewhere HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    other.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer:?}");

    gate.0.lock().unwrap().open = true;
    gate.1.notify_all();
    for client in clients {
        assert_eq!(client.join().unwrap().unwrap().0, 200);
    }
    assert_eq!(gate.0.lock().unwrap().most, 2);
    let stats = server.try_shutdown().unwrap();
    assert_eq!((stats.scrapes, stats.scrapes_busy), (4, 0), "{stats:?}");
}

#[test]
fn descriptor_exhaustion_is_survived() {
    let out = run_child("emfile", Duration::from_secs(90));
    assert!(out.contains("EMFILE survived"), "{out}");
}

#[test]
fn idle_connections_hold_no_thread_and_time_out() {
    let out = run_child("idle", Duration::from_secs(90));
    assert!(out.contains("idle done"), "{out}");
}

/// A server in a child process (case `serve` or `serve_large`), stopped
/// when its stdin closes.
struct ServingChild {
    guard: ChildGuard,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pid: u32,
    addr: SocketAddr,
}

impl ServingChild {
    fn start(case: &str) -> ServingChild {
        let guard = ChildGuard::spawn(
            child::rerun(&child::test_path(module_path!(), "child"))
                .env(CASE_VAR, case)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
            case,
            Duration::from_secs(120),
        );
        let (stdin, stdout) = guard.with(|c| (c.stdin.take().unwrap(), c.stdout.take().unwrap()));
        let pid = guard.with(|c| c.id());
        // The child's lines, read on a thread so every wait is bounded.
        let (lines_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut child = ServingChild {
            guard,
            stdin: Some(stdin),
            lines,
            pid,
            addr: ([127, 0, 0, 1], 0).into(),
        };
        child.addr = child.line_after("ADDR ").parse().unwrap();
        child
    }

    /// The rest of the next line holding `marker`.
    fn line_after(&self, marker: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no {marker:?} line from the child: {e}"));
            if let Some(rest) = line.split(marker).nth(1) {
                return rest.trim().to_string();
            }
        }
    }

    /// Stops the server; its final counters, as `Debug`.
    fn stop(mut self) -> String {
        drop(self.stdin.take());
        let stats = self.line_after("STATS ");
        let (status, _, _) = self.guard.wait(Duration::from_secs(30));
        assert!(status.success());
        stats
    }
}

/// Eight clients each pipeline four scrapes of a large page and never read:
/// the server holds at most `max_renders` (2) pages, however many clients
/// stall.
#[test]
fn stalled_clients_hold_at_most_max_renders_pages() {
    let child = ServingChild::start("serve_large");
    let addr = child.addr;
    let page = scrape_within(addr, Duration::from_secs(60));
    // The allocator keeps some of what a render freed: the base is after
    // two renders.
    scrape_within(addr, Duration::from_secs(60));
    let before = rss_kib(child.pid);
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").repeat(4);
    let stalled: Vec<_> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            s
        })
        .collect();
    // Renders take about 2 s each in a debug build; sample for a while.
    let mut peak = before;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(16) {
        peak = peak.max(rss_kib(child.pid));
        thread::sleep(Duration::from_millis(50));
    }
    let grew = peak.saturating_sub(before) as f64 / 1024.0;
    let page_mib = page as f64 / (1 << 20) as f64;
    eprintln!(
        "8 stalled clients, {page_mib:.1} MiB pages, max_renders 2: VmRSS {before} KiB before, peak {peak} KiB (+{grew:.1} MiB, {:.2} pages)",
        grew / page_mib
    );
    // Two pages held, plus one render's growth (its buffer doubles as it
    // fills); eight pages if every stalled answer kept its own.
    assert!(
        grew < 4.0 * page_mib,
        "grew by {grew:.1} MiB, {page_mib:.1} MiB pages"
    );
    drop(stalled);
    let stats = child.stop();
    assert!(stats.contains("write_timeouts: 0,"), "{stats}");
}

#[test]
fn an_endless_header_line_is_cut_off_with_memory_bounded() {
    let child = ServingChild::start("serve");
    let (addr, pid) = (child.addr, child.pid);
    scrape_within(addr, Duration::from_secs(10));
    let before = rss_kib(pid);

    let mut attacker = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    attacker
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    attacker
        .write_all(b"GET /metrics HTTP/1.1\r\nX-Endless: ")
        .unwrap();
    let chunk = vec![b'a'; 1 << 16];
    let (mut sent, mut peak) = (0_usize, before);
    let started = Instant::now();
    let cut = loop {
        match attacker.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break true,
        }
        if sent % (1 << 20) < chunk.len() {
            peak = peak.max(rss_kib(pid));
        }
        if sent >= 256 << 20 || started.elapsed() > Duration::from_secs(8) {
            break false;
        }
    };
    peak = peak.max(rss_kib(pid));
    let grew_mib = peak.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "endless header: {} KiB sent in {:?}, cut: {cut}; child VmRSS {before} KiB before, peak {peak} KiB",
        sent >> 10,
        started.elapsed()
    );
    assert!(cut, "{} MiB of one header line accepted", sent >> 20);
    assert!(
        sent < 16 << 20,
        "{} MiB accepted before the cut",
        sent >> 20
    );
    assert!(grew_mib < 16.0, "the server grew by {grew_mib:.1} MiB");
    // The server still answers.
    scrape_within(addr, Duration::from_secs(10));
    let stats = child.stop();
    assert!(stats.contains("headers_too_large: 1,"), "{stats}");
}

/// A process's `VmRSS`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `case` in a child process; its stdout (it must pass).
fn run_child(case: &str, limit: Duration) -> String {
    let guard = ChildGuard::spawn(
        child::rerun(&child::test_path(module_path!(), "child"))
            .env(CASE_VAR, case)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        case,
        limit,
    );
    let (status, out, err) = guard.wait(limit);
    eprintln!("case {case}:\n{out}");
    assert!(
        status.success(),
        "case {case}: {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

/// The child's half: does nothing unless the parent selected a case.
#[test]
fn child() {
    match std::env::var(CASE_VAR).as_deref() {
        Ok("emfile") => emfile_case(),
        Ok("idle") => idle_case(),
        Ok("serve") => serve_case(Registry::new(), MetricsServer::builder()),
        Ok("serve_large") => serve_case(large_registry(), MetricsServer::builder().max_renders(2)),
        _ => {}
    }
}

/// Serves `registry` until stdin closes.
fn serve_case(registry: Registry, builder: ServerBuilder) {
    registry.counter("jobs_total", &[]).unwrap().increment(1);
    let server = builder.start("127.0.0.1:0", registry).unwrap();
    println!("ADDR {}", server.addr());
    io::stdout().flush().unwrap();
    let mut rest = Vec::new();
    let _ = io::stdin().read_to_end(&mut rest);
    println!("STATS {:?}", server.try_shutdown().unwrap());
}

/// Exhausts the process's descriptors with connections to the server,
/// then frees them: scrapes must succeed again.
fn emfile_case() {
    let limit = libc::rlimit {
        rlim_cur: 64,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = limit;
    // SAFETY: getrlimit and setrlimit write and read the rlimit structs
    // passed, which live across the calls.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let limit = libc::rlimit {
            rlim_max: old.rlim_max,
            ..limit
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    let registry = Registry::new();
    registry.counter("jobs_total", &[]).unwrap().increment(1);
    let server = MetricsServer::start("127.0.0.1:0", registry).unwrap();
    let addr = server.addr();
    scrape_within(addr, Duration::from_secs(10));

    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let is_emfile = |e: &io::Error| e.raw_os_error() == Some(libc::EMFILE);
    loop {
        assert!(Instant::now() < deadline, "no EMFILE");
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => held.push(s),
            Err(e) if is_emfile(&e) => break,
            Err(e) => panic!("connecting: {e}"),
        }
        // Let the server accept it (or fail to).
        thread::sleep(Duration::from_millis(5));
    }
    // The client took the last descriptor: free one and connect again, so
    // that the server's accept is the one that fails.
    held.pop();
    held.push(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    let failing = loop {
        match server.health() {
            Err(ServerError::AcceptFailing { error, .. }) => break error,
            other => assert!(Instant::now() < deadline, "{other:?}"),
        }
        thread::sleep(Duration::from_millis(10));
    };
    println!("held {} connections at EMFILE: {failing}", held.len());
    // Still failing a while later: the listener lives and retries.
    thread::sleep(Duration::from_millis(500));
    assert!(matches!(
        server.health(),
        Err(ServerError::AcceptFailing { .. })
    ));
    drop(held);
    scrape_within(addr, Duration::from_secs(10));
    assert_eq!(server.health(), Ok(()));
    let stats = server.try_shutdown().unwrap();
    assert!(stats.accept_errors >= 2, "{stats:?}");
    println!("EMFILE survived: {stats:?}");
}

/// Threads in this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Opens idle connections: no thread each, scrapes still answered.
fn idle_case() {
    const TIMEOUT: Duration = Duration::from_secs(4);
    let registry = Registry::new();
    registry.counter("jobs_total", &[]).unwrap().increment(1);
    let server = MetricsServer::builder()
        .max_connections(64)
        .header_read_timeout(TIMEOUT)
        .start("127.0.0.1:0", registry)
        .unwrap();
    let addr = server.addr();
    scrape_within(addr, Duration::from_secs(10));
    let before = threads();
    let opened = Instant::now();
    let idle: Vec<_> = (0..48)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap())
        .collect();
    // The most threads seen over a while.
    let mut with_idle = 0;
    for _ in 0..10 {
        thread::sleep(Duration::from_millis(100));
        with_idle = with_idle.max(threads());
    }
    println!(
        "threads: {before} before, {with_idle} with {} idle connections",
        idle.len()
    );
    assert!(
        with_idle <= before + 2,
        "{} threads more with {} idle connections",
        with_idle - before,
        idle.len()
    );
    scrape_within(addr, Duration::from_secs(10));
    // The scrape's connection ends on the server just after the client
    // has read its answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().connections_open != 48 {
        assert!(Instant::now() < deadline, "{:?}", server.stats());
        thread::sleep(Duration::from_millis(10));
    }
    // Past the cap: answered 503 and closed at once.
    let over_opened = Instant::now();
    let over: Vec<_> = (0..24)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    // Whether each is still open (nothing to read yet), after reading
    // what it was sent.
    let open_now = |s: &TcpStream, answer: &mut Vec<u8>| {
        s.set_nonblocking(true).unwrap();
        let mut s = s;
        let open = loop {
            let mut buf = [0; 512];
            match s.read(&mut buf) {
                Ok(0) => break false,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(_) => break false,
            }
        };
        s.set_nonblocking(false).unwrap();
        open
    };
    let mut refused = 0;
    let mut kept = Vec::new();
    for s in over {
        let mut answer = Vec::new();
        if open_now(&s, &mut answer) {
            kept.push(s);
        } else if answer.starts_with(b"HTTP/1.1 503 ") {
            refused += 1;
        }
    }
    assert_eq!(refused, 48 + 24 - 64);
    assert_eq!(server.stats().connections_refused, refused);
    // None closed before its timeout...
    assert!(
        opened.elapsed() < TIMEOUT - Duration::from_millis(500),
        "too slow to see the connections open before their timeout: {:?}",
        opened.elapsed()
    );
    for s in idle.iter().chain(&kept) {
        assert!(open_now(s, &mut Vec::new()), "closed before its timeout");
    }
    // ... and every one closed by the server soon after it.
    for (batch, from) in [(idle, opened), (kept, over_opened)] {
        for mut s in batch {
            let left =
                (from + TIMEOUT + Duration::from_secs(3)).saturating_duration_since(Instant::now());
            assert!(
                closed_within(&mut s, left, &mut 0),
                "open {:?} after its start",
                from.elapsed()
            );
        }
    }
    println!(
        "idle connections (timeout {TIMEOUT:?}) all closed {:?} after the first opened",
        opened.elapsed()
    );
    scrape_within(addr, Duration::from_secs(10));
    let stats = server.try_shutdown().unwrap();
    assert_eq!(stats.read_timeouts, 64, "{stats:?}");
    println!("idle done: {stats:?}");
}
