//! A small client of the NATS core protocol (text over TCP: INFO, CONNECT, SUB, PUB,
//! MSG, HMSG, PING/PONG), enough for request–reply between `yrd` nodes: it subscribes
//! to one inbox and to the subjects it is asked to, publishes, and matches replies to
//! requests. No TLS or credentials: the broker is on the nodes' private network.
//! A lost connection is dialled again every second; subscriptions are renewed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

/// A message on a subscribed subject.
#[derive(Debug)]
pub struct Message {
    pub subject: String,
    pub reply: Option<String>,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NatsError {
    #[error("the broker is not reachable: {0}")]
    Unreachable(String),
    #[error("nobody subscribes to {0}")]
    NoResponders(String),
    #[error("no reply within {0} s")]
    Timeout(u64),
}

/// Who waits for the reply on an inbox subject.
type Waiting = oneshot::Sender<Result<Vec<u8>, NatsError>>;

struct Shared {
    writer: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    inbox: String,
    waiting: Mutex<HashMap<String, Waiting>>,
    /// sid → (subject, where its messages go); sid 1 is the inbox.
    subscriptions: Mutex<HashMap<u64, (String, mpsc::Sender<Message>)>>,
    next: AtomicU64,
}

#[derive(Clone)]
pub struct Nats {
    shared: Arc<Shared>,
}

/// `nats://host:port` (or `host:port`) as a socket address.
fn address(url: &str) -> String {
    url.trim_start_matches("nats://").trim_end_matches('/').to_string()
}

impl Nats {
    /// Starts dialling the broker in the background and keeps the connection up;
    /// until it is up, requests fail as `Unreachable`.
    pub fn start(url: &str) -> Nats {
        let mut token = [0u8; 8];
        let _ = getrandom::fill(&mut token);
        let inbox = format!(
            "_INBOX.{}",
            token.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let shared = Arc::new(Shared {
            writer: tokio::sync::Mutex::new(None),
            inbox,
            waiting: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            next: AtomicU64::new(2),
        });
        let (url, task_shared) = (address(url), shared.clone());
        tokio::spawn(async move {
            loop {
                match dial(&task_shared, &url).await {
                    Ok(reader) => {
                        tracing::info!(broker = %url, "NATS connected");
                        read_loop(&task_shared, reader).await;
                        tracing::warn!("NATS connection lost; dialling again");
                        *task_shared.writer.lock().await = None;
                    }
                    Err(error) => tracing::warn!(%error, "NATS"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Nats { shared }
    }

    /// Whether the connection is up now.
    pub async fn connected(&self) -> bool {
        self.shared.writer.lock().await.is_some()
    }

    /// Messages on `subject` (wildcards allowed) arrive on the returned channel.
    pub async fn subscribe(&self, subject: &str) -> Result<mpsc::Receiver<Message>, NatsError> {
        let sid = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(256);
        if let Ok(mut subs) = self.shared.subscriptions.lock() {
            subs.insert(sid, (subject.to_string(), tx));
        }
        // Sent now if connected, else with every (re)connection.
        let _ = self.write(format!("SUB {subject} {sid}\r\n").as_bytes()).await;
        Ok(rx)
    }

    pub async fn publish(&self, subject: &str, reply: Option<&str>, payload: &[u8]) -> Result<(), NatsError> {
        let mut frame = match reply {
            Some(reply) => format!("PUB {subject} {reply} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        }
        .into_bytes();
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.write(&frame).await
    }

    /// Publishes and waits for the one reply.
    pub async fn request(&self, subject: &str, payload: &[u8], timeout: Duration) -> Result<Vec<u8>, NatsError> {
        let reply = format!(
            "{}.{}",
            self.shared.inbox,
            self.shared.next.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.shared.waiting.lock() {
            waiting.insert(reply.clone(), tx);
        }
        let forget = || {
            if let Ok(mut waiting) = self.shared.waiting.lock() {
                waiting.remove(&reply);
            }
        };
        if let Err(error) = self.publish(subject, Some(&reply), payload).await {
            forget();
            return Err(error);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer.map_err(|e| match e {
                NatsError::NoResponders(_) => NatsError::NoResponders(subject.to_string()),
                other => other,
            }),
            Ok(Err(_)) => Err(NatsError::Unreachable("connection closed".into())),
            Err(_) => {
                forget();
                Err(NatsError::Timeout(timeout.as_secs()))
            }
        }
    }

    async fn write(&self, bytes: &[u8]) -> Result<(), NatsError> {
        let mut writer = self.shared.writer.lock().await;
        let Some(w) = writer.as_mut() else {
            return Err(NatsError::Unreachable("reconnecting".into()));
        };
        if let Err(error) = w.write_all(bytes).await {
            *writer = None;
            return Err(NatsError::Unreachable(error.to_string()));
        }
        Ok(())
    }
}

type Reader = BufReader<tokio::net::tcp::OwnedReadHalf>;

/// Opens a connection: INFO, CONNECT (with headers, so that a request nobody listens
/// to is answered at once with a 503 status), the inbox and every subscription.
async fn dial(shared: &Shared, address: &str) -> Result<Reader, NatsError> {
    let unreachable = |e: std::io::Error| NatsError::Unreachable(e.to_string());
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address))
        .await
        .map_err(|_| NatsError::Unreachable(format!("{address}: no answer")))?
        .map_err(unreachable)?;
    stream.set_nodelay(true).map_err(unreachable)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut info = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut info))
        .await
        .map_err(|_| NatsError::Unreachable("no INFO from the broker".into()))?
        .map_err(unreachable)?;
    if !info.starts_with("INFO ") {
        return Err(NatsError::Unreachable(format!("not a NATS server: {}", info.trim())));
    }
    let mut hello = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"yrd\",\"lang\":\"rust\",\"version\":\"{}\",\"protocol\":1,\"headers\":true,\"no_responders\":true}}\r\nSUB {}.* 1\r\n",
        env!("CARGO_PKG_VERSION"),
        shared.inbox
    );
    if let Ok(subs) = shared.subscriptions.lock() {
        for (sid, (subject, _)) in subs.iter() {
            hello.push_str(&format!("SUB {subject} {sid}\r\n"));
        }
    }
    hello.push_str("PING\r\n");
    write.write_all(hello.as_bytes()).await.map_err(unreachable)?;
    *shared.writer.lock().await = Some(write);
    Ok(reader)
}

async fn read_loop(shared: &Shared, mut reader: Reader) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("PING") => {
                if let Some(w) = shared.writer.lock().await.as_mut()
                    && w.write_all(b"PONG\r\n").await.is_err()
                {
                    return;
                }
            }
            Some("MSG") => {
                // MSG <subject> <sid> [reply-to] <#bytes>
                let (subject, sid, reply, size) = match words[..] {
                    [_, subject, sid, size] => (subject, sid, None, size),
                    [_, subject, sid, reply, size] => (subject, sid, Some(reply), size),
                    _ => return,
                };
                let Some(payload) = read_payload(&mut reader, size).await else {
                    return;
                };
                deliver(shared, subject, sid, reply, None, payload).await;
            }
            Some("HMSG") => {
                // HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>
                let (subject, sid, reply, header, total) = match words[..] {
                    [_, subject, sid, header, total] => (subject, sid, None, header, total),
                    [_, subject, sid, reply, header, total] => (subject, sid, Some(reply), header, total),
                    _ => return,
                };
                let (Ok(header), Some(mut payload)) = (header.parse::<usize>(), read_payload(&mut reader, total).await)
                else {
                    return;
                };
                let header = header.min(payload.len());
                let status = String::from_utf8_lossy(&payload[..header])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                payload.drain(..header);
                deliver(shared, subject, sid, reply, Some(status), payload).await;
            }
            Some("-ERR") => tracing::warn!(error = %line.trim(), "NATS"),
            _ => {} // INFO, PONG, +OK
        }
    }
}

async fn read_payload(reader: &mut Reader, size: &str) -> Option<Vec<u8>> {
    let size: usize = size.parse().ok()?;
    let mut payload = vec![0u8; size + 2];
    reader.read_exact(&mut payload).await.ok()?;
    payload.truncate(size);
    Some(payload)
}

async fn deliver(
    shared: &Shared,
    subject: &str,
    sid: &str,
    reply: Option<&str>,
    status: Option<String>,
    payload: Vec<u8>,
) {
    if sid == "1" {
        let waiting = shared.waiting.lock().ok().and_then(|mut w| w.remove(subject));
        if let Some(waiting) = waiting {
            let answer = match status {
                Some(status) if status.contains(" 503") => Err(NatsError::NoResponders(subject.to_string())),
                _ => Ok(payload),
            };
            let _ = waiting.send(answer);
        }
        return;
    }
    let target = sid
        .parse::<u64>()
        .ok()
        .and_then(|sid| shared.subscriptions.lock().ok()?.get(&sid).map(|(_, tx)| tx.clone()));
    if let Some(target) = target {
        let _ = target
            .send(Message {
                subject: subject.to_string(),
                reply: reply.map(str::to_string),
                payload,
            })
            .await;
    }
}
