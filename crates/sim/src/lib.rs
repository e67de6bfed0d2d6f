//! The load simulator behind `yrd-sim` (and `yrd serve --demo --simulate N`): opens N simulated OCPP 1.6 charging stations over real WebSockets against a
//! running `yrd`, boots them, then drives heartbeats, status changes and metered sessions
//! at a set total rate, and reports request-to-reply latency, messages per second and
//! (given the server's pid) memory per connection. Stations are registered first
//! through the API with an operator's token (idempotent).
//!
//!   yrd-sim --base http://127.0.0.1:8080 --token "$OPERATOR" --stations 10000 --rate 5000 --seconds 30

use base64::Engine;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Parser, Clone)]
#[command(about = "Simulated OCPP 1.6 charging stations against a running yrd")]
pub struct Simulation {
    /// The platform's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// An API token of an operator's staff (stations are registered for that operator).
    #[arg(long)]
    pub token: String,
    #[arg(long, default_value_t = 1000)]
    pub stations: usize,
    /// Messages per second, all stations together.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Skip registering the stations (they exist from an earlier run).
    #[arg(long)]
    pub no_register: bool,
    /// The server's process id, to report its memory per connection.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

fn station_id(n: usize) -> String {
    format!("SIM-{n:05}")
}

fn station_key(n: usize) -> String {
    format!("sim-station-key-{n:05}")
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn register(args: &Simulation) -> Result<(), String> {
    let client = reqwest::Client::new();
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    for n in 0..args.stations {
        let (client, gate, base, token) = (client.clone(), gate.clone(), args.base.clone(), args.token.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
            // Spread over the region's cities: 100 × 100 points around the delta.
            let body = json!({
                "name": format!("模拟站 {n}"), "jurisdiction": "310100",
                "lon": 118.0 + (n % 100) as f64 * 0.05, "lat": 29.5 + (n / 100 % 100) as f64 * 0.04,
                "address": "simulated", "public": true, "key": station_key(n),
                "connectors": [{"connector_id": 1, "standard": "GB/T DC", "max_kw": 120.0}, {"connector_id": 2, "standard": "GB/T AC", "max_kw": 7.0}]
            });
            let response = client
                .put(format!("{base}/api/v1/charging/stations/{}", station_id(n)))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("{}: {}", station_id(n), response.text().await.unwrap_or_default()));
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    replies: AtomicU64,
    errors: AtomicU64,
    failed_connections: AtomicU64,
}

/// One station: connect, boot, then send one message every `period`, timing each reply.
async fn station(
    n: usize,
    args: Simulation,
    period: Duration,
    start_at: Instant,
    stop_at: Instant,
    tally: Arc<Tally>,
    gate: Arc<Semaphore>,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    let url = format!("{}/ocpp/{}", args.base.replacen("http", "ws", 1), station_id(n));
    let Ok(mut request) = url.into_client_request() else {
        return latencies;
    };
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", station_id(n), station_key(n)));
    let headers = request.headers_mut();
    if let (Ok(auth), Ok(protocol)) = (format!("Basic {credentials}").parse(), "ocpp1.6".parse()) {
        headers.insert("authorization", auth);
        headers.insert("sec-websocket-protocol", protocol);
    }
    let connected = {
        let _permit = gate.acquire().await;
        tokio_tungstenite::connect_async(request).await
    };
    let Ok((mut socket, _)) = connected else {
        tally.failed_connections.fetch_add(1, Ordering::Relaxed);
        return latencies;
    };
    let mut id = 0u64;
    let mut transaction: Option<i64> = None;
    let mut meter = 0i64;
    let mut call = async |socket: &mut tokio_tungstenite::WebSocketStream<_>,
                          action: &str,
                          payload: Value,
                          record: bool,
                          latencies: &mut Vec<u32>|
           -> Option<Value> {
        id += 1;
        let frame = json!([2, id.to_string(), action, payload]).to_string();
        let sent = Instant::now();
        tally.sent.fetch_add(1, Ordering::Relaxed);
        socket.send(Message::Text(frame.into())).await.ok()?;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let reply: Value = serde_json::from_str(text.as_str()).ok()?;
            if reply[0] == 2 {
                // A command from the central system: accept it.
                let answer = json!([3, reply[1], {"status": "Accepted"}]).to_string();
                socket.send(Message::Text(answer.into())).await.ok()?;
                continue;
            }
            if record {
                let micros = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                latencies.push(micros);
                if micros > 1_000_000 {
                    eprintln!(
                        "slow: {action} {} ms at +{:.1} s",
                        micros / 1000,
                        sent.duration_since(start_at).as_secs_f64()
                    );
                }
            }
            tally.replies.fetch_add(1, Ordering::Relaxed);
            if reply[0] == 4 {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            return Some(reply[2].clone());
        }
        None
    };
    let boot = json!({"chargePointVendor": "YRD-Sim", "chargePointModel": "SIM-2"});
    if call(&mut socket, "BootNotification", boot, false, &mut latencies)
        .await
        .is_none()
    {
        tally.failed_connections.fetch_add(1, Ordering::Relaxed);
        return latencies;
    }
    // Stations start their cycle at staggered offsets so the load is even.
    let offset = period.mul_f64((n as f64 * 0.618_033_988_7).fract());
    tokio::time::sleep_until((start_at + offset).into()).await;
    // Each station enters its session cycle at its own phase, as a real network does.
    let phase = (n % 40) as u64;
    let mut step = 0u64;
    while Instant::now() < stop_at {
        // A session every 40 messages: a status change, start, 18 meter values between 18
        // heartbeats, stop, and the connector free again.
        let (action, payload) = match ((step + phase) % 40, transaction) {
            (0, None) => (
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}),
            ),
            (1, None) => (
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "SIM-CARD", "meterStart": meter, "timestamp": "2026-11-28T10:00:00Z"}),
            ),
            (38, Some(tx)) => (
                "StopTransaction",
                json!({"transactionId": tx, "meterStop": meter, "timestamp": "2026-11-28T10:30:00Z"}),
            ),
            (39, _) => (
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
            ),
            (_, Some(tx)) if (step + phase).is_multiple_of(2) => {
                meter += 1_500;
                (
                    "MeterValues",
                    json!({"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": "2026-11-28T10:10:00Z", "sampledValue": [{"value": meter.to_string()}]}]}),
                )
            }
            _ => ("Heartbeat", json!({})),
        };
        let reply = call(&mut socket, action, payload, true, &mut latencies).await;
        match action {
            "StartTransaction" => transaction = reply.and_then(|r| r["transactionId"].as_i64()),
            "StopTransaction" => transaction = None,
            _ => {}
        }
        step += 1;
        let next = start_at + offset + period.mul_f64(step as f64);
        tokio::time::sleep_until(next.into()).await;
    }
    let _ = socket.close(None).await;
    latencies
}

/// Runs the simulation and returns its report.
pub async fn run(args: Simulation) -> Result<Value, String> {
    if args.stations == 0 || args.rate <= 0.0 {
        return Err("--stations and --rate must be positive".into());
    }
    if !args.no_register {
        let started = Instant::now();
        register(&args).await?;
        eprintln!(
            "registered {} stations in {:.1} s",
            args.stations,
            started.elapsed().as_secs_f64()
        );
    }
    let rss_before = args.server_pid.and_then(rss_kib);
    let tally = Arc::new(Tally::default());
    let gate = Arc::new(Semaphore::new(256));
    let period = Duration::from_secs_f64(args.stations as f64 / args.rate);
    // Time to connect and boot everyone (each boot is a write), then the measured window.
    let ramp = Duration::from_secs_f64((args.stations as f64 / 400.0).max(2.0));
    let start_at = Instant::now() + ramp;
    let stop_at = start_at + Duration::from_secs(args.seconds);
    let mut tasks = Vec::with_capacity(args.stations);
    for n in 0..args.stations {
        tasks.push(tokio::spawn(station(
            n,
            args.clone(),
            period,
            start_at,
            stop_at,
            tally.clone(),
            gate.clone(),
        )));
    }
    tokio::time::sleep_until(start_at.into()).await;
    let rss_connected = args.server_pid.and_then(rss_kib);
    let mut latencies: Vec<u32> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let replies = latencies.len() as f64;
    let failed = tally.failed_connections.load(Ordering::Relaxed);
    let report = json!({
        "stations": args.stations,
        "connected": args.stations as u64 - failed,
        "target_rate": args.rate,
        "seconds": args.seconds,
        "messages_per_second": (replies / args.seconds as f64).round(),
        "replies": replies,
        "call_errors": tally.errors.load(Ordering::Relaxed),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "max_ms": latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        "server_rss_mib_before": rss_before.map(|k| k / 1024),
        "server_rss_mib_connected": rss_connected.map(|k| k / 1024),
        "server_kib_per_connection": match (rss_before, rss_connected) {
            (Some(before), Some(after)) if args.stations > 0 => Some(after.saturating_sub(before) / args.stations as u64),
            _ => None,
        },
    });
    Ok(report)
}
