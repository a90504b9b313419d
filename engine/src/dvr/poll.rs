//! The keep-alive polls (`/status` every 15 s, `/dvr` every two minutes) on one
//! connection per DVR, kept open between polls while the open-file budget has room.
//!
//! Why not the shared reqwest client: at 2,000 idle DVRs its per-request machinery
//! (connector service, pool, redirect and timeout layers, a task per connection) was
//! about 100 µs a poll, most of the monitor's idle CPU, and its keep-alive pool holds
//! about 13 KiB of buffers per idle connection. Here a poll is one write and a few
//! reads on a kept socket, the answer parsed with `httparse` into a buffer freed when
//! the poll ends; between polls a DVR holds nothing but the socket.

use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::{ClientError, DvrInfo, DvrStatus, MAX_DVR_BODY, MAX_STATUS_BODY};
use crate::fd_limit::{dvr_connections, Held, Kept};
use domain::dvr::id::normalize_host;
use domain::dvr::ApiKey;

/// Largest response head accepted (status line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// Headers a response may carry.
const MAX_HEADERS: usize = 64;
/// First read size: a `/status` answer fits.
const FIRST_READ: usize = 2048;

/// One DVR's poll connection.
pub(crate) struct Poller {
    /// What to connect to: the host as written (IPv6 without brackets) and the port.
    host: String,
    port: u16,
    /// The request's header lines after the request line, ending with the blank line.
    headers: String,
    kept: Option<Connection>,
}

/// An open connection and the descriptor it holds.
struct Connection {
    stream: TcpStream,
    /// Kept between polls, or borrowed from the request share for this poll only.
    fd: Descriptor,
}

enum Descriptor {
    Kept(#[allow(dead_code)] Kept),
    Once(#[allow(dead_code)] Held),
}

/// How one exchange failed.
#[derive(Debug)]
enum Failure {
    /// A kept connection the DVR had closed: nothing came back; try a new one.
    Stale,
    Error(ClientError),
}

/// A whole answer: its status, its body, and whether the connection may serve another.
struct Answer {
    status: u16,
    body: Vec<u8>,
    reusable: bool,
}

impl Poller {
    pub fn new(host: &str, port: u16, api_key: &ApiKey) -> Self {
        let host = normalize_host(host);
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut headers = format!(
            "Host: {authority}\r\nUser-Agent: ChannelWatch/{}\r\nAccept: application/json\r\n",
            env!("CARGO_PKG_VERSION")
        );
        // A key with a line break would inject a header; the UI and the YAML refuse
        // such keys, and this never sends one.
        if api_key.is_set() && !api_key.expose().contains(['\r', '\n']) {
            headers.push_str(&format!("X-API-Key: {}\r\n", api_key.expose()));
        }
        headers.push_str("\r\n");
        Self {
            host,
            port,
            headers,
            kept: None,
        }
    }

    /// `GET /status` (keep-alive and version).
    pub async fn status(&mut self, timeout: Duration) -> Result<DvrStatus, ClientError> {
        self.get_json("/status", timeout, MAX_STATUS_BODY).await
    }

    /// `GET /dvr` (disk and activity map).
    pub async fn dvr_info(&mut self, timeout: Duration) -> Result<DvrInfo, ClientError> {
        self.get_json("/dvr", timeout, MAX_DVR_BODY).await
    }

    /// Whether a connection is kept open now.
    #[cfg(test)]
    fn is_kept(&self) -> bool {
        self.kept.is_some()
    }

    /// GETs `path` within `timeout` (connecting included) and decodes the JSON answer,
    /// refused past `max` bytes.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &mut self,
        path: &str,
        timeout: Duration,
        max: usize,
    ) -> Result<T, ClientError> {
        let answer = match tokio::time::timeout(timeout, self.get(path, max)).await {
            Ok(r) => r?,
            Err(_) => {
                self.kept = None;
                return Err(ClientError::Timeout(timeout));
            }
        };
        if !(200..300).contains(&answer.status) {
            return Err(ClientError::Status(answer.status));
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| ClientError::Decode(format!("{path}: {e}")))
    }

    async fn get(&mut self, path: &str, max: usize) -> Result<Answer, ClientError> {
        let request = format!("GET {path} HTTP/1.1\r\n{}", self.headers);
        if let Some(mut conn) = self.kept.take() {
            match exchange(&mut conn.stream, &request, path, max).await {
                Ok(answer) => {
                    self.keep(conn, &answer);
                    return Ok(answer);
                }
                // The DVR closed the idle connection (a restart, its own idle limit):
                // a GET is safe to send again, on a new connection.
                Err(Failure::Stale) => {}
                Err(Failure::Error(e)) => return Err(e),
            }
        }
        let budget = dvr_connections();
        let fd = match budget.try_keep() {
            Some(k) => Descriptor::Kept(k),
            None => Descriptor::Once(budget.request().await),
        };
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| ClientError::Unreachable(format!("{}:{}: {e}", self.host, self.port)))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection { stream, fd };
        match exchange(&mut conn.stream, &request, path, max).await {
            Ok(answer) => {
                self.keep(conn, &answer);
                Ok(answer)
            }
            Err(Failure::Stale) => Err(ClientError::Unreachable(
                "the DVR closed the connection without answering".into(),
            )),
            Err(Failure::Error(e)) => Err(e),
        }
    }

    /// Keeps `conn` for the next poll when the answer allows it and the budget still
    /// has room beside every DVR's stream; otherwise it closes here.
    fn keep(&mut self, conn: Connection, answer: &Answer) {
        if answer.reusable
            && matches!(conn.fd, Descriptor::Kept(_))
            && dvr_connections().may_keep(1)
        {
            self.kept = Some(conn);
        }
    }
}

/// Sends `request` and reads one whole answer.
async fn exchange(
    stream: &mut TcpStream,
    request: &str,
    path: &str,
    max: usize,
) -> Result<Answer, Failure> {
    let io = |e: std::io::Error| ClientError::Unreachable(format!("{path}: {e}"));
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return Err(stale_or(e, io));
    }
    let mut buf: Vec<u8> = Vec::with_capacity(FIRST_READ);
    // The head.
    let (status, head_len, framing, close) = loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.len().max(FIRST_READ));
        }
        let n = match read_some(stream, &mut buf).await {
            Ok(0) if buf.is_empty() => return Err(Failure::Stale),
            Ok(0) => {
                return Err(Failure::Error(ClientError::Decode(format!(
                    "{path}: the connection closed inside the response head"
                ))))
            }
            Ok(n) => n,
            Err(e) if buf.is_empty() => return Err(stale_or(e, io)),
            Err(e) => return Err(Failure::Error(io(e))),
        };
        debug_assert!(n > 0);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = res.code.unwrap_or(0);
                let (framing, close) = framing_of(&res).map_err(|m| decode(path, &m))?;
                // HTTP/1.0 closes unless told otherwise; this never asks it to stay.
                let close = close || res.version != Some(1);
                break (status, len, framing, close);
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(decode(path, "the response head is too large"))
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(decode(path, &format!("not an HTTP response: {e}"))),
        }
    };
    let rest = buf.split_off(head_len);
    let too_large = || Failure::Error(ClientError::TooLarge(path.to_string(), max));
    let (body, clean) = match framing {
        Framing::Empty => (Vec::new(), rest.is_empty()),
        Framing::Length(n) => {
            if n > max as u64 {
                return Err(too_large());
            }
            let n = n as usize;
            let mut body = rest;
            while body.len() < n {
                body.reserve(n - body.len());
                match read_some(stream, &mut body).await {
                    Ok(0) => return Err(decode(path, "the connection closed inside the body")),
                    Ok(_) => {}
                    Err(e) => return Err(Failure::Error(io(e))),
                }
            }
            let clean = body.len() == n;
            body.truncate(n);
            (body, clean)
        }
        Framing::Chunked => read_chunked(stream, rest, path, max).await?,
        Framing::UntilClose => {
            let mut body = rest;
            loop {
                if body.len() > max {
                    return Err(too_large());
                }
                body.reserve(FIRST_READ);
                match read_some(stream, &mut body).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(Failure::Error(io(e))),
                }
            }
            (body, false)
        }
    };
    if body.len() > max {
        return Err(too_large());
    }
    Ok(Answer {
        status,
        body,
        // Bytes past the answer would be read as the next one's start: not reused.
        reusable: clean && !close && framing != Framing::UntilClose,
    })
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The body's framing and whether the DVR closes the connection after it.
fn framing_of(res: &httparse::Response<'_, '_>) -> Result<(Framing, bool), String> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    for h in res.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length headers".into());
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if !chunked {
                return Err(format!("unsupported Transfer-Encoding {value:?}"));
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
    }
    let code = res.code.unwrap_or(0);
    let framing = if (100..200).contains(&code) || code == 204 || code == 304 {
        Framing::Empty
    } else if chunked {
        // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok((framing, close || (chunked && length.is_some())))
}

/// Decodes a chunked body from `data` (what followed the head) and the stream.
/// Answers the body and whether nothing followed its end.
async fn read_chunked(
    stream: &mut TcpStream,
    mut data: Vec<u8>,
    path: &str,
    max: usize,
) -> Result<(Vec<u8>, bool), Failure> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        // `data[pos..]` starts at a chunk-size line.
        match httparse::parse_chunk_size(&data[pos..]) {
            Ok(httparse::Status::Complete((used, size))) => {
                let start = pos + used;
                if size == 0 {
                    // Trailers (none expected) end with a blank line.
                    let end = loop {
                        if let Some(i) = find_blank_line(&data[start..]) {
                            break start + i;
                        }
                        if data.len() - start > MAX_HEAD {
                            return Err(decode(path, "chunked trailers are too large"));
                        }
                        fill(stream, &mut data, path).await?;
                    };
                    return Ok((body, end == data.len()));
                }
                if body.len() as u64 + size > max as u64 {
                    return Err(Failure::Error(ClientError::TooLarge(path.to_string(), max)));
                }
                let end = start + size as usize;
                while data.len() < end + 2 {
                    fill(stream, &mut data, path).await?;
                }
                if &data[end..end + 2] != b"\r\n" {
                    return Err(decode(path, "a chunk does not end with CRLF"));
                }
                body.extend_from_slice(&data[start..end]);
                pos = end + 2;
                // Drop what is consumed so a long body does not sit in memory twice.
                if pos > 64 * 1024 {
                    data.drain(..pos);
                    pos = 0;
                }
            }
            Ok(httparse::Status::Partial) if data.len() - pos > 1024 => {
                return Err(decode(path, "a chunk-size line is too long"))
            }
            Ok(httparse::Status::Partial) => fill(stream, &mut data, path).await?,
            Err(_) => return Err(decode(path, "bad chunk size")),
        }
    }
}

/// Where the blank line that ends the trailers is found, counted past it.
fn find_blank_line(data: &[u8]) -> Option<usize> {
    if data.starts_with(b"\r\n") {
        return Some(2);
    }
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Reads more of the body; the connection closing here cuts the answer short.
async fn fill(stream: &mut TcpStream, data: &mut Vec<u8>, path: &str) -> Result<(), Failure> {
    data.reserve(FIRST_READ);
    match read_some(stream, data).await {
        Ok(0) => Err(decode(path, "the connection closed inside the body")),
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::Error(ClientError::Unreachable(format!(
            "{path}: {e}"
        )))),
    }
}

/// Reads into the spare capacity of `buf`.
async fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if buf.capacity() == buf.len() {
        buf.reserve(FIRST_READ);
    }
    stream.read_buf(buf).await
}

fn decode(path: &str, message: &str) -> Failure {
    Failure::Error(ClientError::Decode(format!("{path}: {message}")))
}

/// A write or first read that failed because the DVR closed the kept connection is
/// stale; anything else is an error.
fn stale_or(e: std::io::Error, io: impl Fn(std::io::Error) -> ClientError) -> Failure {
    use std::io::ErrorKind::*;
    match e.kind() {
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof => Failure::Stale,
        _ => Failure::Error(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::net::TcpListener;

    /// What a scripted DVR saw: one entry per connection, the request heads on it.
    type Seen = Arc<Mutex<Vec<Vec<String>>>>;

    /// A DVR that answers each request on a connection with the next of `answers`
    /// (each written in the pieces given), and closes the connection after
    /// `per_connection` answers.
    async fn scripted(answers: Vec<Vec<&'static [u8]>>, per_connection: usize) -> (u16, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                log.lock().unwrap().push(Vec::new());
                for _ in 0..per_connection {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match sock.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => break,
                        }
                    }
                    if head.is_empty() {
                        break;
                    }
                    log.lock()
                        .unwrap()
                        .last_mut()
                        .unwrap()
                        .push(String::from_utf8(head).unwrap());
                    let Some(pieces) = answers.next() else { return };
                    for p in pieces {
                        sock.write_all(p).await.unwrap();
                        sock.flush().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                }
            }
        });
        (port, seen)
    }

    const STATUS: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{\"version\":\"2026.04.20.1\"}";
    const T: Duration = Duration::from_secs(5);

    fn poller(port: u16) -> Poller {
        Poller::new("127.0.0.1", port, &ApiKey::new("dvr-key"))
    }

    #[tokio::test]
    async fn polls_share_one_kept_connection_and_carry_the_api_key() {
        let (port, seen) = scripted(vec![vec![STATUS]; 3], 10).await;
        let mut p = poller(port);
        for _ in 0..3 {
            let s = p.status(T).await.unwrap();
            assert_eq!(s.version.as_deref(), Some("2026.04.20.1"));
            assert!(p.is_kept());
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "one connection for three polls");
        let head = &seen[0][0];
        assert!(head.starts_with("GET /status HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        assert!(head.contains("X-API-Key: dvr-key\r\n"), "{head}");
    }

    #[tokio::test]
    async fn a_chunked_answer_in_pieces_is_decoded_and_the_connection_kept() {
        let chunked: Vec<&'static [u8]> = vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"b\r\n{\"disk\":{\"f",
            b"\r\n22\r\nree\":10,\"total\":40},\"activ",
            b"ity\":{}}\r\n0\r\n",
            b"\r\n",
        ];
        let (port, seen) = scripted(vec![chunked, vec![STATUS]], 10).await;
        let mut p = poller(port);
        let info = p.dvr_info(T).await.unwrap();
        let d = info.disk.unwrap();
        assert_eq!((d.free, d.total), (10, 40));
        assert!(p.is_kept());
        p.status(T).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_dvr_that_closes_idle_connections_is_asked_again_on_a_new_one() {
        let (port, seen) = scripted(vec![vec![STATUS]; 3], 1).await;
        let mut p = poller(port);
        for _ in 0..3 {
            p.status(T).await.unwrap();
        }
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn connection_close_http_1_0_and_unframed_answers_are_not_kept() {
        let answers: Vec<Vec<&'static [u8]>> = vec![
            vec![b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"],
            vec![b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"],
            vec![b"HTTP/1.1 200 OK\r\n\r\n{\"version\":\"x\"}"],
        ];
        let (port, seen) = scripted(answers, 1).await;
        let mut p = poller(port);
        p.status(T).await.unwrap();
        assert!(!p.is_kept());
        p.status(T).await.unwrap();
        assert!(!p.is_kept());
        let s = p.status(T).await.unwrap();
        assert_eq!(s.version.as_deref(), Some("x"), "body read to the close");
        assert!(!p.is_kept());
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn bad_answers_are_precise_errors() {
        let answers: Vec<Vec<&'static [u8]>> = vec![
            vec![b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"],
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n"],
            vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n"],
            vec![b"SSH-2.0-OpenSSH\r\n\r\n"],
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!"],
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"],
        ];
        let (port, _) = scripted(answers, 1).await;
        let mut p = poller(port);
        let e = |r: Result<DvrStatus, ClientError>| r.unwrap_err().to_string();
        assert_eq!(e(p.status(T).await), "DVR answered HTTP 503");
        assert!(e(p.status(T).await).contains("larger than"));
        assert!(e(p.get_json("/status", T, 1000).await).contains("larger than 1000"));
        assert!(e(p.status(T).await).contains("not an HTTP response"));
        assert!(e(p.status(T).await).contains("/status: expected"));
        assert!(e(p.status(T).await).contains("conflicting Content-Length"));
    }

    #[tokio::test]
    async fn a_silent_dvr_times_out_and_a_closed_port_is_unreachable() {
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut p = poller(silent.local_addr().unwrap().port());
        let r = p.status(Duration::from_millis(300)).await;
        assert!(matches!(r, Err(ClientError::Timeout(_))), "{r:?}");
        let port = silent.local_addr().unwrap().port();
        drop(silent);
        let r = poller(port).status(T).await;
        assert!(matches!(r, Err(ClientError::Unreachable(_))), "{r:?}");
    }
}
