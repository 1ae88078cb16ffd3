//! A fault-injecting HTTP/1.1 proxy between the tool and Azurite.
//!
//! The tool is pointed at `http://127.0.0.1:<proxy>/devstoreaccount1`; every request is
//! forwarded to Azurite unchanged (same request line, same headers, same path), so Shared Key
//! signatures stay valid: the string-to-sign covers the account and the URL *path*, never the
//! Host header or the port. Per a seeded schedule the proxy instead answers (or breaks) the
//! request with one of the [`Fault`]s, and counts what it injected.
//!
//! One request per client connection: the upstream request is sent with `Connection: close`
//! and Azurite's answer (which then says `Connection: close` too) is relayed verbatim, so the
//! client never reuses a connection the proxy is about to drop.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What can go wrong with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// `500 Internal Server Error` instead of the answer.
    Status500,
    /// `503 Server Busy` with `Retry-After: 1`.
    Busy503,
    /// The answer's headers and part of its body, then the connection is closed.
    DropMidBody,
    /// The answer's headers and part of its body, then silence for [`Plan::stall`].
    Stall,
    /// `Content-Length: N`, fewer than N bytes (all but a few at the end), then a clean close.
    Truncate,
    /// `403 AuthenticationFailed`: the key was rotated ([`Plan::forbid_after`]).
    Forbidden,
    /// The whole answer, one bit of its body flipped on the way.
    FlipByte,
}

impl Fault {
    /// Faults that need a response body to break.
    fn needs_body(self) -> bool {
        matches!(
            self,
            Fault::DropMidBody | Fault::Stall | Fault::Truncate | Fault::FlipByte
        )
    }
}

/// The seeded schedule.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    /// Chance, in percent, that a request gets a fault (drawn from `kinds`).
    pub rate_percent: u64,
    pub kinds: Vec<Fault>,
    /// Stop injecting after this many faults.
    pub max_faults: Option<u64>,
    /// At most this many faults for one request ([`Seen::request`]): below the tool's retry
    /// budget, every request can be answered in the end.
    pub max_per_request: Option<u64>,
    /// Every request after the first `n` is refused with 403 (the key was rotated).
    pub forbid_after: Option<u64>,
    /// Only requests whose path contains this are eligible for faults (403s excepted).
    pub only_path: Option<String>,
    /// Only ranged requests starting at or after this byte are eligible (403s excepted).
    pub only_from_byte: Option<u64>,
    /// How long a [`Fault::Stall`] keeps the connection silent before closing it.
    pub stall: Duration,
    /// Forward requests without their conditions (`If-Match`, `If-Unmodified-Since`, …), as a
    /// gateway that ignores them would: the storage then answers with whatever version it
    /// has. (Shared Key signs those headers: use a SAS through it.)
    pub strip_conditions: bool,
}

impl Plan {
    pub fn new(seed: u64, rate_percent: u64, kinds: &[Fault]) -> Self {
        Self {
            seed,
            rate_percent,
            kinds: kinds.to_vec(),
            max_faults: None,
            max_per_request: None,
            forbid_after: None,
            only_path: None,
            only_from_byte: None,
            stall: Duration::from_secs(40),
            strip_conditions: false,
        }
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub at: Instant,
    pub fault: Option<Fault>,
    /// The status sent (injected, or Azurite's); `None` when Azurite could not be reached.
    pub status: Option<u16>,
}

impl Seen {
    /// The request this is an attempt of: method, path and where its range ends. A retry
    /// asks for the same range again; a resumed body asks for the rest of it (a later start,
    /// the same end).
    pub fn request(&self) -> (String, String, Option<u64>) {
        let end = self.range_bounds().map(|(_, end)| end);
        (self.method.clone(), self.path.clone(), end)
    }

    /// `bytes=<start>-<end>` of the Range header.
    pub fn range_bounds(&self) -> Option<(u64, u64)> {
        let (start, end) = self
            .range
            .as_deref()?
            .strip_prefix("bytes=")?
            .split_once('-')?;
        Some((start.parse().ok()?, end.parse().ok()?))
    }

    /// Forwarded unharmed and answered with success.
    pub fn answered(&self) -> bool {
        self.fault.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

struct Shared {
    plan: Plan,
    upstream: u16,
    rng: Mutex<u64>,
    requests: AtomicU64,
    injected: Mutex<BTreeMap<Fault, u64>>,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

/// A running proxy; stops on drop.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:<upstream>`.
    pub fn start(upstream: u16, plan: Plan) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            rng: Mutex::new(plan.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            plan,
            upstream,
            requests: AtomicU64::new(0),
            injected: Mutex::new(BTreeMap::new()),
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    let _ = serve(&shared, stream);
                });
            }
        });
        Self {
            port,
            shared,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<proxy>/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/devstoreaccount1", self.port)
    }

    /// Faults injected so far, in all.
    pub fn injected(&self) -> u64 {
        self.shared.injected.lock().unwrap().values().sum()
    }

    /// Faults injected so far, by kind.
    pub fn injected_by_kind(&self) -> BTreeMap<Fault, u64> {
        self.shared.injected.lock().unwrap().clone()
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Every request seen, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Faulted requests that were not asked again and then answered ([`not_recovered`]).
    pub fn faults_not_recovered(&self) -> Vec<Seen> {
        not_recovered(&self.seen())
    }
}

/// The faulted requests of `seen` (in arrival order) that were not asked again (the same
/// request, from the same byte or a later one) and then answered.
pub fn not_recovered(seen: &[Seen]) -> Vec<Seen> {
    seen.iter()
        .enumerate()
        .filter(|(_, s)| s.fault.is_some())
        .filter(|(i, faulted)| {
            let start = faulted.range_bounds().map(|(start, _)| start);
            !seen[i + 1..].iter().any(|again| {
                again.request() == faulted.request()
                    && again.range_bounds().map(|(start, _)| start) >= start
                    && again.answered()
            })
        })
        .map(|(_, s)| s.clone())
        .collect()
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// xorshift64*: the next number of the schedule.
fn next(rng: &Mutex<u64>) -> u64 {
    let mut state = rng.lock().unwrap();
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

struct RequestHead {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    raw_lines: Vec<String>,
}

impl RequestHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request head; `None` at a clean end of the connection.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<RequestHead>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some(RequestHead {
        method,
        path,
        headers,
        raw_lines: lines,
    }))
}

/// Where the head of a raw response ends, and its `Content-Length` and status.
fn response_shape(raw: &[u8]) -> Option<(usize, Option<usize>, u16)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok());
    Some((end, length, status))
}

fn error_response(status: u16, reason: &str, code: &str, extra: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code>\
         <Message>fault injected by the test proxy</Message></Error>"
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nx-ms-error-code: {code}\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn serve(shared: &Shared, mut client: TcpStream) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let body_len: usize = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; body_len];
    reader.read_exact(&mut body)?;
    let number = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let plan = &shared.plan;

    // Decide the fault for this request.
    let mut fault = None;
    if plan.forbid_after.is_some_and(|n| number > n) {
        fault = Some(Fault::Forbidden);
    } else if !plan.kinds.is_empty()
        && plan
            .only_path
            .as_deref()
            .is_none_or(|p| head.path.contains(p))
        && plan.only_from_byte.is_none_or(|from| {
            head.header("range")
                .and_then(|range| range.strip_prefix("bytes="))
                .and_then(|range| range.split_once('-'))
                .and_then(|(start, _)| start.parse::<u64>().ok())
                .is_some_and(|start| start >= from)
        })
    {
        let roll = next(&shared.rng);
        let pick = next(&shared.rng);
        let budget_left = plan
            .max_faults
            .is_none_or(|max| shared.injected.lock().unwrap().values().sum::<u64>() < max);
        let request = Seen {
            method: head.method.clone(),
            path: head.path.clone(),
            range: head.header("range").map(str::to_string),
            at: Instant::now(),
            fault: None,
            status: None,
        }
        .request();
        let request_left = plan.max_per_request.is_none_or(|max| {
            let seen = shared.seen.lock().unwrap();
            let faults = seen
                .iter()
                .filter(|s| s.fault.is_some() && s.request() == request);
            (faults.count() as u64) < max
        });
        if budget_left && request_left && roll % 100 < plan.rate_percent {
            fault = Some(plan.kinds[(pick % plan.kinds.len() as u64) as usize]);
        }
    }

    let record = |fault: Option<Fault>, status: Option<u16>| {
        if let Some(fault) = fault {
            *shared.injected.lock().unwrap().entry(fault).or_default() += 1;
        }
        shared.seen.lock().unwrap().push(Seen {
            method: head.method.clone(),
            path: head.path.clone(),
            range: head.header("range").map(str::to_string),
            at: Instant::now(),
            fault,
            status,
        });
    };

    match fault {
        Some(Fault::Forbidden) => {
            record(fault, Some(403));
            client.write_all(&error_response(
                403,
                "Server failed to authenticate the request",
                "AuthenticationFailed",
                "",
            ))?;
            return finish(client);
        }
        Some(Fault::Status500) => {
            record(fault, Some(500));
            client.write_all(&error_response(
                500,
                "Internal Server Error",
                "InternalError",
                "",
            ))?;
            return finish(client);
        }
        Some(Fault::Busy503) => {
            record(fault, Some(503));
            client.write_all(&error_response(
                503,
                "Server Busy",
                "ServerBusy",
                "Retry-After: 1\r\n",
            ))?;
            return finish(client);
        }
        _ => {}
    }

    // Forward unchanged (but for `Connection`), read the whole answer.
    let mut upstream = match TcpStream::connect(("127.0.0.1", shared.upstream)) {
        Ok(upstream) => upstream,
        Err(error) => {
            record(None, None);
            return Err(error);
        }
    };
    upstream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = String::new();
    request.push_str(&head.raw_lines[0]);
    request.push_str("\r\n");
    for line in &head.raw_lines[1..] {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        let condition = [
            "if-match",
            "if-none-match",
            "if-modified-since",
            "if-unmodified-since",
        ]
        .iter()
        .any(|condition| name.eq_ignore_ascii_case(condition));
        if shared.plan.strip_conditions && condition {
            continue;
        }
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    upstream.write_all(request.as_bytes())?;
    upstream.write_all(&body)?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;

    // A body fault needs a full body of at least two bytes to break.
    let shape = response_shape(&answer);
    let breakable = match shape {
        Some((start, Some(length), status)) => {
            head.method == "GET"
                && matches!(status, 200 | 206)
                && length >= 2
                && answer.len() == start + length
        }
        _ => false,
    };
    let fault = fault.filter(|f| !f.needs_body() || breakable);
    record(fault, shape.map(|(_, _, status)| status));
    let Some(fault) = fault else {
        client.write_all(&answer)?;
        return finish(client);
    };
    let (start, length, _) = shape.expect("breakable");
    let length = length.expect("breakable");
    let roll = next(&shared.rng) as usize;
    match fault {
        Fault::DropMidBody => {
            // Somewhere in the first half of the body, then gone.
            let cut = 1 + roll % (length / 2).max(1);
            client.write_all(&answer[..start + cut])?;
            client.flush()?;
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Truncate => {
            // All but the last few bytes (at least one missing), then a clean end.
            let missing = 1 + roll % length.clamp(1, 512).min(length - 1);
            client.write_all(&answer[..start + length - missing])?;
            client.flush()?;
            return finish(client);
        }
        Fault::FlipByte => {
            let mut damaged = answer;
            damaged[start + roll % length] ^= 0x10;
            client.write_all(&damaged)?;
            return finish(client);
        }
        Fault::Stall => {
            client.write_all(&answer[..start + length / 2])?;
            client.flush()?;
            let until = Instant::now() + shared.plan.stall;
            while Instant::now() < until && !shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = client.shutdown(Shutdown::Both);
        }
        _ => unreachable!("status faults are answered above"),
    }
    Ok(())
}

/// Ends the answer: no more writes, let the client read what was sent, then close.
fn finish(client: TcpStream) -> std::io::Result<()> {
    let _ = client.shutdown(Shutdown::Write);
    // Drain until the client closes (or a short while), so the close is clean.
    let mut sink = [0u8; 1024];
    let mut client = client;
    client.set_read_timeout(Some(Duration::from_secs(2)))?;
    while let Ok(n) = client.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    Ok(())
}
