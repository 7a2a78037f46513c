//! A fault-injecting HTTP proxy between flowlogd and moto: one request per connection
//! (answers say `Connection: close`); every `every`-th request gets `503 SlowDown` without
//! reaching moto, and the GET after it has its response cut in half (an interrupted body).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub slowdowns: AtomicU64,
    pub truncated: AtomicU64,
}

pub struct FaultProxy {
    pub endpoint: String,
    pub counts: Arc<Counts>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://127.0.0.1:port`).
    pub fn start(upstream: &str, every: u64) -> Self {
        let up: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream host:port");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let c = c.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, up, every, &c);
                });
            }
        });
        Self { endpoint, counts }
    }
}

fn handle(client: TcpStream, up: SocketAddr, every: u64, c: &Counts) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let n = c.requests.fetch_add(1, Ordering::SeqCst);
    let mut client = client;
    if n % every == every - 1 {
        c.slowdowns.fetch_add(1, Ordering::SeqCst);
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        write!(
            client,
            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return Ok(());
    }
    let mut upstream = TcpStream::connect(up)?;
    upstream.write_all(&head)?;
    upstream.write_all(&body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    let is_get = head.starts_with(b"GET ");
    let ok = response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.1 206");
    if is_get && ok && n.is_multiple_of(every) && response.len() > 200 {
        c.truncated.fetch_add(1, Ordering::SeqCst);
        client.write_all(&response[..response.len() / 2])?;
        return Ok(());
    }
    client.write_all(&response)
}
