//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1:0 for exactly-once tests.
//!
//! It passes requests and answers through unchanged, one exchange at a time per connection
//! (keep-alive works). For a request the test has chosen (method and path), it forwards the
//! whole request, reads the server's whole answer — so the server has finished and committed
//! — and then closes the client's connection without sending any of it: the "answer lost on
//! the way back" case a mobile network or a sleeping laptop produces.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

struct Rule {
    method: String,
    path: String,
    remaining: usize,
}

#[derive(Default)]
struct Counters {
    /// Exchanges whose answer reached the client.
    delivered: AtomicUsize,
    /// Answers read from the server and thrown away.
    faults: AtomicUsize,
    /// Delivered answers the server marked as a replay of an earlier answer.
    replayed: AtomicUsize,
}

pub struct FaultProxy {
    pub url: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let rules = Arc::new(Mutex::new(Vec::new()));
        let counters = Arc::new(Counters::default());
        let (task_rules, task_counters) = (rules.clone(), counters.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (rules, counters) = (task_rules.clone(), task_counters.clone());
                tokio::spawn(async move {
                    let _ = relay(client, upstream, rules, counters).await;
                });
            }
        });
        FaultProxy {
            url,
            rules,
            counters,
            task,
        }
    }

    /// The next `times` answers to `method path` (path without the query) are lost.
    pub fn lose_answers(&self, method: &str, path: &str, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            method: method.to_string(),
            path: path.to_string(),
            remaining: times,
        });
    }

    /// Answers thrown away so far.
    pub fn faults(&self) -> usize {
        self.counters.faults.load(Ordering::SeqCst)
    }

    /// Answers delivered so far.
    pub fn delivered(&self) -> usize {
        self.counters.delivered.load(Ordering::SeqCst)
    }

    /// Delivered answers carrying `idempotent-replayed: true`.
    pub fn replayed(&self) -> usize {
        self.counters.replayed.load(Ordering::SeqCst)
    }

    /// Faults still armed (0 once every chosen answer has been lost).
    pub fn armed(&self) -> usize {
        self.rules.lock().unwrap().iter().map(|r| r.remaining).sum()
    }

    fn take_fault(rules: &Mutex<Vec<Rule>>, method: &str, path: &str) -> bool {
        let mut rules = rules.lock().unwrap();
        match rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.method == method && r.path == path)
        {
            Some(rule) => {
                rule.remaining -= 1;
                true
            }
            None => false,
        }
    }
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    rules: Arc<Mutex<Vec<Rule>>>,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (client_read, mut client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut server_read = BufReader::new(server_read);
    loop {
        let Some(request) = read_message(&mut client_read, None).await? else {
            return Ok(());
        };
        let mut words = request.start_line.split_whitespace();
        let method = words.next().unwrap_or_default().to_string();
        let target = words.next().unwrap_or_default();
        let path = target.split('?').next().unwrap_or_default().to_string();
        let lose = FaultProxy::take_fault(&rules, &method, &path);
        server_write.write_all(&request.bytes).await?;
        let Some(response) = read_message(&mut server_read, Some(&method)).await? else {
            return Ok(());
        };
        if lose {
            counters.faults.fetch_add(1, Ordering::SeqCst);
            // Dropping both halves closes the client's connection with nothing sent back.
            return Ok(());
        }
        if response.header("idempotent-replayed").as_deref() == Some("true") {
            counters.replayed.fetch_add(1, Ordering::SeqCst);
        }
        client_write.write_all(&response.bytes).await?;
        counters.delivered.fetch_add(1, Ordering::SeqCst);
    }
}

struct Message {
    start_line: String,
    headers: Vec<(String, String)>,
    /// The whole message as received, head and body.
    bytes: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Reads one HTTP/1.1 message (a request when `request_method` is None, else the answer to
/// it): the head, then a Content-Length or chunked body. None at a clean end of stream.
async fn read_message<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    request_method: Option<&str>,
) -> std::io::Result<Option<Message>> {
    let mut bytes = Vec::new();
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    bytes.extend_from_slice(&line);
    let start_line = String::from_utf8_lossy(&line).trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let message = Message {
        start_line,
        headers,
        bytes,
    };
    let status: u16 = match request_method {
        Some(_) => message
            .start_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        None => 0,
    };
    let bodiless = request_method == Some("HEAD")
        || status == 204
        || status == 304
        || (100..200).contains(&status);
    let mut message = message;
    if bodiless {
        return Ok(Some(message));
    }
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            line.clear();
            reader.read_until(b'\n', &mut line).await?;
            message.bytes.extend_from_slice(&line);
            let size_text = String::from_utf8_lossy(&line);
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    reader.read_until(b'\n', &mut line).await?;
                    message.bytes.extend_from_slice(&line);
                    if line == b"\r\n" || line == b"\n" || line.is_empty() {
                        return Ok(Some(message));
                    }
                }
            }
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).await?;
            message.bytes.extend_from_slice(&chunk);
        }
    }
    let length: usize = message
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    message.bytes.extend_from_slice(&body);
    Ok(Some(message))
}
