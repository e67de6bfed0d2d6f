//! The OCPP 1.6 central system: `/ocpp/{stationId}` over WebSocket (subprotocol
//! `ocpp1.6`, security profile 1), one task per connected station, remote commands
//! answered synchronously, and the finder's live index.

use crate::finder::{Filter, Index, Point, SwapFilter, SwapIndex, SwapPoint};
use crate::ocpp::{self, CallError, ErrorCode, Frame};
pub use crate::protocol::Version;
use crate::store;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use yrd_db::Db;
use yrd_kernel::BoxFuture;

/// How long a remote command waits for the station's answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages a station may send per second before it is told to slow down.
pub const MAX_MESSAGES_PER_SECOND: u32 = 50;
/// Replies kept per connection, so a repeated message id gets the same answer.
const REMEMBERED_REPLIES: usize = 32;

/// Where a remote command goes: this node's connections, or (with several nodes) a
/// broker that forwards it to the node holding the station's socket. One node is the
/// default; a NATS route implements the same trait.
pub trait CommandRoute: Send + Sync {
    fn deliver<'a>(
        &'a self,
        station_id: &'a str,
        action: &'a str,
        payload: Value,
    ) -> BoxFuture<'a, Result<Value, CommandError>>;

    /// The OCPP version of a connected station, wherever it is connected.
    fn version_of<'a>(&'a self, station_id: &'a str) -> BoxFuture<'a, Option<Version>>;
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CommandError {
    #[error("station {0} is not connected")]
    NotConnected(String),
    #[error("station {0} did not answer within {1} s")]
    Timeout(String, u64),
    #[error("station {station} refused: {code}: {description}")]
    Refused {
        station: String,
        code: String,
        description: String,
    },
    #[error("station {station} answered outside the OCPP schema: {problem}")]
    InvalidReply { station: String, problem: String },
}

enum Answer {
    Result(Value),
    Error(String, String),
    /// A CALLRESULT that breaks the response schema of the request's action.
    Invalid(String),
}

/// A request of the central system's waiting for the station's answer: its action
/// (to check the answer against that action's response schema) and who waits.
type Waiting = (String, oneshot::Sender<Answer>);

#[derive(Clone)]
struct Link {
    version: Version,
    generation: u64,
    outbox: mpsc::Sender<String>,
    pending: Arc<Mutex<HashMap<String, Waiting>>>,
    /// One outstanding request per direction: the central system's calls queue here.
    calls: Arc<tokio::sync::Mutex<()>>,
}

/// The central system's live state, shared by the WebSocket endpoint and the API.
pub struct Central {
    pub(crate) db: Db,
    index: RwLock<Option<Index>>,
    swap_index: RwLock<Option<SwapIndex>>,
    links: Mutex<HashMap<String, Link>>,
    generation: AtomicU64,
    message_ids: AtomicU64,
    last_written: Mutex<HashMap<String, Instant>>,
    /// This node's name among the nodes sharing the database.
    node: String,
    /// With several nodes: record in the database which node holds each station.
    record_locations: AtomicBool,
}

impl Central {
    pub fn new(db: Db) -> Arc<Central> {
        Arc::new(Central {
            db,
            index: RwLock::new(None),
            swap_index: RwLock::new(None),
            links: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(1),
            message_ids: AtomicU64::new(1),
            last_written: Mutex::new(HashMap::new()),
            node: node_name(),
            record_locations: AtomicBool::new(false),
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// From now on, each connection records that this node holds the station.
    pub fn record_locations(&self) {
        self.record_locations.store(true, Ordering::Relaxed);
    }

    /// The version a connected station speaks.
    pub fn version_of(&self, station_id: &str) -> Option<Version> {
        self.links
            .lock()
            .ok()
            .and_then(|links| links.get(station_id).map(|l| l.version))
    }

    pub fn connected(&self, station_id: &str) -> bool {
        self.links.lock().is_ok_and(|links| links.contains_key(station_id))
    }

    pub fn connected_count(&self) -> usize {
        self.links.lock().map_or(0, |links| links.len())
    }

    /// The index, built from the database on first use.
    async fn ensure_index(&self) -> Result<(), store::ServiceError> {
        if self.index.read().is_ok_and(|index| index.is_some()) {
            return Ok(());
        }
        let points = store::finder_points(&self.db).await?;
        if let Ok(mut index) = self.index.write()
            && index.is_none()
        {
            *index = Some(Index::new(points));
        }
        Ok(())
    }

    /// Puts one station's public connectors into the index (after it is registered or
    /// changed); the whole index is built only once.
    pub async fn index_station(&self, station_id: &str) -> Result<(), store::ServiceError> {
        if !self.index.read().is_ok_and(|index| index.is_some()) {
            return self.ensure_index().await;
        }
        let points = store::finder_points_of(&self.db, station_id).await?;
        if let Ok(mut index) = self.index.write()
            && let Some(index) = index.as_mut()
        {
            for point in points {
                index.insert(point);
            }
        }
        Ok(())
    }

    /// Records that a station was heard from, at most once a minute per station: the
    /// socket itself says it is alive in between.
    pub(crate) async fn seen(&self, station_id: &str) -> Result<(), store::ServiceError> {
        let due = self.last_written.lock().map_or(true, |mut written| {
            let now = Instant::now();
            match written.get(station_id) {
                Some(at) if now.duration_since(*at) < Duration::from_secs(60) => false,
                _ => {
                    written.insert(station_id.to_string(), now);
                    true
                }
            }
        });
        if due {
            store::seen(&self.db, station_id).await?;
        }
        Ok(())
    }

    /// Rebuilds the indexes from the database (after stations are registered).
    pub async fn reload_index(&self) -> Result<(), store::ServiceError> {
        let points = store::finder_points(&self.db).await?;
        if let Ok(mut index) = self.index.write() {
            *index = Some(Index::new(points));
        }
        let swap_points = crate::swap::finder_points(&self.db, None).await?;
        if let Ok(mut index) = self.swap_index.write() {
            let mut fresh = SwapIndex::new(swap_points);
            for id in self
                .links
                .lock()
                .map(|l| l.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                fresh.set_online(&id, true);
            }
            *index = Some(fresh);
        }
        Ok(())
    }

    /// Reads one swap station (after it is registered or stocked) into the swap index.
    pub async fn index_swap_station(&self, station_id: &str) -> Result<(), store::ServiceError> {
        if !self.swap_index.read().is_ok_and(|index| index.is_some()) {
            return self.ensure_swap_index().await;
        }
        let points = crate::swap::finder_points(&self.db, Some(station_id)).await?;
        if let Ok(mut index) = self.swap_index.write()
            && let Some(index) = index.as_mut()
        {
            index.remove(station_id);
            for point in points {
                index.insert(point);
            }
        }
        Ok(())
    }

    async fn ensure_swap_index(&self) -> Result<(), store::ServiceError> {
        if self.swap_index.read().is_ok_and(|index| index.is_some()) {
            return Ok(());
        }
        let points = crate::swap::finder_points(&self.db, None).await?;
        if let Ok(mut index) = self.swap_index.write()
            && index.is_none()
        {
            *index = Some(SwapIndex::new(points));
        }
        Ok(())
    }

    /// The nearest matching swap stations with their packs.
    pub async fn swap_nearby(
        &self,
        lon: f64,
        lat: f64,
        radius_km: f64,
        filter: &SwapFilter,
        limit: usize,
    ) -> Result<Vec<(f64, SwapPoint)>, store::ServiceError> {
        self.ensure_swap_index().await?;
        search(&self.swap_index, |i| i.nearby(lon, lat, radius_km, filter, limit))
    }

    /// A slot's pack as a swap event or a meter value reports it.
    pub(crate) fn index_pack(&self, station_id: &str, slot: u32, soc: Option<f64>) {
        if let Ok(mut index) = self.swap_index.write()
            && let Some(index) = index.as_mut()
        {
            index.set_pack(station_id, slot, soc);
        }
    }

    fn index_online(&self, station_id: &str, online: bool) {
        if let Ok(mut index) = self.swap_index.write()
            && let Some(index) = index.as_mut()
        {
            index.set_online(station_id, online);
        }
    }

    pub async fn nearby(
        &self,
        lon: f64,
        lat: f64,
        radius_km: f64,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(f64, Point)>, store::ServiceError> {
        self.ensure_index().await?;
        search(&self.index, |i| i.nearby(lon, lat, radius_km, filter, limit))
    }

    pub(crate) fn index_status(&self, station_id: &str, connector_id: Option<u32>, status: &str) {
        if let Ok(mut index) = self.index.write()
            && let Some(index) = index.as_mut()
        {
            match connector_id {
                Some(c) => {
                    index.set_status(station_id, c, status);
                }
                None => index.set_station_status(station_id, status),
            }
        }
    }

    /// Sends a command to a station connected here and waits for its answer.
    pub async fn command(
        &self,
        station_id: &str,
        action: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Value, CommandError> {
        let link = self
            .links
            .lock()
            .ok()
            .and_then(|links| links.get(station_id).cloned())
            .ok_or_else(|| CommandError::NotConnected(station_id.into()))?;
        let seconds = timeout.as_secs();
        let deadline = Instant::now() + timeout;
        let _turn = tokio::time::timeout(timeout, link.calls.lock())
            .await
            .map_err(|_| CommandError::Timeout(station_id.into(), seconds))?;
        let id = format!("cs-{}", self.message_ids.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = link.pending.lock() {
            pending.insert(id.clone(), (action.to_string(), tx));
        }
        if link.outbox.send(ocpp::call(&id, action, &payload)).await.is_err() {
            return Err(CommandError::NotConnected(station_id.into()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx).await {
            Ok(Ok(Answer::Result(value))) => Ok(value),
            Ok(Ok(Answer::Error(code, description))) => Err(CommandError::Refused {
                station: station_id.into(),
                code,
                description,
            }),
            Ok(Ok(Answer::Invalid(problem))) => Err(CommandError::InvalidReply {
                station: station_id.into(),
                problem,
            }),
            Ok(Err(_)) => Err(CommandError::NotConnected(station_id.into())),
            Err(_) => {
                if let Ok(mut pending) = link.pending.lock() {
                    pending.remove(&id);
                }
                Err(CommandError::Timeout(station_id.into(), seconds))
            }
        }
    }
}

/// Answers from an index, cloning what it found so that no lock is held afterwards.
fn search<I, T: Clone>(
    lock: &RwLock<Option<I>>,
    query: impl for<'a> FnOnce(&'a I) -> Vec<(f64, &'a T)>,
) -> Result<Vec<(f64, T)>, store::ServiceError> {
    let index = lock
        .read()
        .map_err(|_| store::ServiceError::Conflict("the finder index is being rebuilt".into()))?;
    Ok(index
        .as_ref()
        .map(|i| query(i).into_iter().map(|(d, p)| (d, p.clone())).collect())
        .unwrap_or_default())
}

/// A random name for this node: 16 hex digits.
fn node_name() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One node: the stations connected here are all there is.
impl CommandRoute for Central {
    fn deliver<'a>(
        &'a self,
        station_id: &'a str,
        action: &'a str,
        payload: Value,
    ) -> BoxFuture<'a, Result<Value, CommandError>> {
        Box::pin(self.command(station_id, action, payload, COMMAND_TIMEOUT))
    }

    fn version_of<'a>(&'a self, station_id: &'a str) -> BoxFuture<'a, Option<Version>> {
        Box::pin(async move { Central::version_of(self, station_id) })
    }
}

pub fn routes(central: Arc<Central>) -> Router {
    Router::new()
        .route("/ocpp/{station_id}", get(upgrade))
        .with_state(central)
}

/// The handshake: a registered station, its own id and key (HTTP Basic), and the
/// `ocpp1.6` subprotocol; anything else is refused before the socket opens.
async fn upgrade(
    State(central): State<Arc<Central>>,
    Path(station_id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let refuse = |status: StatusCode, why: &str| (status, why.to_string()).into_response();
    match store::station(&central.db, &station_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "unknown charging station"),
        Err(error) => {
            tracing::error!(%error, "OCPP handshake");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    }
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| B64.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let Some((user, key)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"ocpp\"")],
            "HTTP Basic credentials required",
        )
            .into_response();
    };
    if user != station_id
        || !store::station_key_ok(&central.db, &station_id, key)
            .await
            .unwrap_or(false)
    {
        tracing::info!(station = %station_id, "OCPP handshake refused: wrong credentials");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"ocpp\"")],
            "wrong station id or key",
        )
            .into_response();
    }
    // The newest version the station offers.
    let offered: Vec<String> = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default();
    let Some(version) = Version::ALL
        .into_iter()
        .find(|v| offered.iter().any(|p| p == v.subprotocol()))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this central system speaks the subprotocols ocpp2.1, ocpp2.0.1 and ocpp1.6",
        );
    };
    // Small buffers: OCPP frames are small and ten thousand sockets share the memory.
    ws.protocols([version.subprotocol()])
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(ocpp::MAX_FRAME_BYTES * 4)
        .on_upgrade(move |socket| async move { connection(central, station_id, version, socket).await })
}

/// What one connection remembers.
pub(crate) struct Session {
    pub(crate) version: Version,
    pub(crate) booted: bool,
    /// The station's registered connectors, read once per connection.
    pub(crate) connectors: Vec<u32>,
    /// A battery-swap station's slots: they report packs, not charging sessions.
    pub(crate) swap_slots: Option<u32>,
    /// When each transaction's meter reading was last written: at most once a minute,
    /// since StopTransaction carries the final reading anyway.
    pub(crate) meter_written: HashMap<i64, Instant>,
    replies: VecDeque<(String, String)>,
    window: Instant,
    count: u32,
}

async fn connection(central: Arc<Central>, station_id: String, version: Version, mut socket: WebSocket) {
    let (outbox, mut outgoing) = mpsc::channel::<String>(16);
    let generation = central.generation.fetch_add(1, Ordering::Relaxed);
    let link = Link {
        version,
        generation,
        outbox,
        pending: Arc::new(Mutex::new(HashMap::new())),
        calls: Arc::new(tokio::sync::Mutex::new(())),
    };
    // A station that reconnects replaces its old connection, which then ends.
    if let Ok(mut links) = central.links.lock() {
        links.insert(station_id.clone(), link.clone());
    }
    let registered = store::station(&central.db, &station_id).await.ok().flatten();
    let booted_before = registered.as_ref().is_some_and(|s| s.booted_at.is_some());
    let swap_slots = registered.as_ref().and_then(|s| s.swap.as_ref()).map(|s| s.slots);
    let connectors = registered
        .map(|s| s.connectors.iter().map(|c| c.connector_id).collect())
        .unwrap_or_default();
    central.index_online(&station_id, true);
    if central.record_locations.load(Ordering::Relaxed)
        && let Err(error) =
            store::set_location(&central.db, &station_id, Some((&central.node, version.subprotocol()))).await
    {
        tracing::error!(%error, station = %station_id, "recording the station's node");
    }
    let mut session = Session {
        version,
        booted: booted_before,
        connectors,
        swap_slots,
        meter_written: HashMap::new(),
        replies: VecDeque::new(),
        window: Instant::now(),
        count: 0,
    };
    tracing::info!(station = %station_id, "OCPP station connected");
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Binary(_))) => {
                        let refusal = CallError::new("-1", ErrorCode::FormationViolation, "OCPP-J frames are text");
                        if socket.send(Message::Text(version.refusal(&refusal).into())).await.is_err() { break; }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                if let Some(reply) = on_text(&central, &station_id, &link, &mut session, &text).await
                    && socket.send(Message::Text(reply.into())).await.is_err()
                {
                    break;
                }
            }
            out = outgoing.recv() => {
                match out {
                    Some(frame) => if socket.send(Message::Text(frame.into())).await.is_err() { break; },
                    None => break,
                }
            }
        }
        let replaced = central.links.lock().map_or(true, |links| {
            links.get(&station_id).map(|l| l.generation) != Some(generation)
        });
        if replaced {
            break;
        }
    }
    let ours = central.links.lock().is_ok_and(|mut links| {
        let ours = links.get(&station_id).map(|l| l.generation) == Some(generation);
        if ours {
            links.remove(&station_id);
        }
        ours
    });
    if ours {
        central.index_status(&station_id, None, "Unavailable");
        central.index_online(&station_id, false);
        if central.record_locations.load(Ordering::Relaxed) {
            let _ = store::clear_location(&central.db, &station_id, &central.node).await;
        }
    }
    tracing::info!(station = %station_id, "OCPP station disconnected");
}

/// Handles one frame; returns the reply to send, if any.
async fn on_text(
    central: &Central,
    station_id: &str,
    link: &Link,
    session: &mut Session,
    text: &str,
) -> Option<String> {
    let frame = match ocpp::parse(text) {
        Ok(frame) => frame,
        Err(error) => return Some(session.version.refusal(&error)),
    };
    match frame {
        Frame::Result { id, payload } => {
            let waiting = link.pending.lock().ok().and_then(|mut p| p.remove(&id));
            if let Some((action, waiting)) = waiting {
                let answer = match session.version.response_schema(&action).map(|s| s.validate(&payload)) {
                    Some(Err(violation)) => Answer::Invalid(violation.to_string()),
                    _ => Answer::Result(payload),
                };
                let _ = waiting.send(answer);
            }
            None
        }
        Frame::Error { id, code, description } => {
            let waiting = link.pending.lock().ok().and_then(|mut p| p.remove(&id));
            if let Some((_, waiting)) = waiting {
                let _ = waiting.send(Answer::Error(code, description));
            }
            None
        }
        Frame::Call { id, action, payload } => {
            if let Some((_, reply)) = session.replies.iter().find(|(seen, _)| *seen == id) {
                return Some(reply.clone());
            }
            if session.window.elapsed() >= Duration::from_secs(1) {
                session.window = Instant::now();
                session.count = 0;
            }
            session.count += 1;
            if session.count > MAX_MESSAGES_PER_SECOND {
                let slow_down = CallError::new(
                    &id,
                    ErrorCode::GenericError,
                    format!("more than {MAX_MESSAGES_PER_SECOND} messages a second; slow down"),
                );
                return Some(session.version.refusal(&slow_down));
            }
            // The official schema first; then, before a station's first accepted
            // BootNotification, nothing else is served.
            let handled = if let Err(error) = session.version.check_request(&id, &action, &payload) {
                Err(error)
            } else if action != "BootNotification" && !session.booted {
                Err(CallError::new(
                    &id,
                    ErrorCode::SecurityError,
                    "send BootNotification first",
                ))
            } else {
                match session.version {
                    Version::V16 => handle_call(central, station_id, session, &id, &action, &payload).await,
                    Version::V201 | Version::V21 => {
                        crate::central201::handle_call(central, station_id, session, &id, &action, &payload).await
                    }
                }
            };
            let reply = match handled {
                Ok(payload) => {
                    debug_assert!(
                        session
                            .version
                            .response_schema(&action)
                            .is_none_or(|s| s.validate(&payload).is_ok()),
                        "the reply to {action} breaks its schema: {payload}"
                    );
                    ocpp::result(&id, &payload)
                }
                Err(error) => session.version.refusal(&error),
            };
            session.replies.push_back((id, reply.clone()));
            if session.replies.len() > REMEMBERED_REPLIES {
                session.replies.pop_front();
            }
            Some(reply)
        }
    }
}

/// A refusal for a message the central system could not store; the cause goes to the log.
pub(crate) fn storage_failure(id: &str, station_id: &str, error: &store::ServiceError) -> CallError {
    tracing::error!(%error, station = %station_id, "OCPP message");
    CallError::new(
        id,
        ErrorCode::InternalError,
        "the central system could not store this; send again",
    )
}

pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn handle_call(
    central: &Central,
    station_id: &str,
    session: &mut Session,
    id: &str,
    action: &str,
    payload: &Value,
) -> Result<Value, CallError> {
    let internal = |error: store::ServiceError| storage_failure(id, station_id, &error);
    let db = &central.db;
    match action {
        "BootNotification" => {
            let boot: ocpp::BootNotification = ocpp::decode(id, payload)?;
            store::boot(db, station_id, &boot.charge_point_vendor, &boot.charge_point_model)
                .await
                .map_err(internal)?;
            session.booted = true;
            Ok(json!({"status": "Accepted", "currentTime": now_text(), "interval": 300}))
        }
        "Heartbeat" => {
            let _: ocpp::Heartbeat = ocpp::decode(id, payload)?;
            central.seen(station_id).await.map_err(internal)?;
            Ok(json!({"currentTime": now_text()}))
        }
        "StatusNotification" => {
            let status: ocpp::StatusNotification = ocpp::decode(id, payload)?;
            if status.connector_id > 0 {
                if !session.connectors.contains(&status.connector_id) {
                    return Err(CallError::new(
                        id,
                        ErrorCode::PropertyConstraintViolation,
                        format!("connectorId {} is not registered for this station", status.connector_id),
                    ));
                }
                store::set_status(db, station_id, status.connector_id, status.status)
                    .await
                    .map_err(internal)?;
                central.index_status(station_id, Some(status.connector_id), status.status.as_str());
            }
            central.seen(station_id).await.map_err(internal)?;
            Ok(json!({}))
        }
        "Authorize" => {
            let authorize: ocpp::Authorize = ocpp::decode(id, payload)?;
            let status = store::token_status(db, station_id, &authorize.id_tag)
                .await
                .map_err(internal)?;
            Ok(json!({"idTagInfo": {"status": status}}))
        }
        "StartTransaction" => {
            let start: ocpp::StartTransaction = ocpp::decode(id, payload)?;
            if !session.connectors.contains(&start.connector_id) {
                return Err(CallError::new(
                    id,
                    ErrorCode::PropertyConstraintViolation,
                    format!("connectorId {} is not registered for this station", start.connector_id),
                ));
            }
            let status = store::token_status(db, station_id, &start.id_tag)
                .await
                .map_err(internal)?;
            // The station may start offline; the session is recorded either way and the
            // token's status tells it whether to go on.
            let transaction_id = store::start_session(
                db,
                station_id,
                start.connector_id,
                &start.id_tag,
                start.meter_start,
                None,
            )
            .await
            .map_err(internal)?;
            Ok(json!({"transactionId": transaction_id, "idTagInfo": {"status": status}}))
        }
        "MeterValues" => {
            let values: ocpp::MeterValues = ocpp::decode(id, payload)?;
            if let Some(transaction_id) = values.transaction_id
                && let Some(wh) = values.meter_value.iter().filter_map(ocpp::MeterValue::energy_wh).max()
                && session
                    .meter_written
                    .get(&transaction_id)
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
            {
                store::meter(db, station_id, transaction_id, wh)
                    .await
                    .map_err(internal)?;
                session.meter_written.insert(transaction_id, Instant::now());
            }
            Ok(json!({}))
        }
        "StopTransaction" => {
            let stop: ocpp::StopTransaction = ocpp::decode(id, payload)?;
            let reason = stop
                .reason
                .as_ref()
                .map_or_else(|| "Local".to_string(), |r| format!("{r:?}"));
            match store::stop_session(db, station_id, stop.transaction_id, stop.meter_stop, &reason)
                .await
                .map_err(internal)?
            {
                Some(cdr) => {
                    session.meter_written.remove(&stop.transaction_id);
                    tracing::info!(station = %station_id, session = cdr.session_id, total_fen = cdr.charge.total_fen, "charging session priced");
                    Ok(json!({"idTagInfo": {"status": "Accepted"}}))
                }
                None => Err(CallError::new(
                    id,
                    ErrorCode::PropertyConstraintViolation,
                    format!(
                        "transactionId {} is not an active transaction of this station",
                        stop.transaction_id
                    ),
                )),
            }
        }
        "DataTransfer" => {
            let _: ocpp::DataTransfer = ocpp::decode(id, payload)?;
            Ok(json!({"status": "UnknownVendorId"}))
        }
        "DiagnosticsStatusNotification" | "FirmwareStatusNotification" => Ok(json!({})),
        other => Err(CallError::new(
            id,
            ErrorCode::NotImplemented,
            format!("action '{other}' is not implemented"),
        )),
    }
}
