//! Remote commands across `yrd` nodes. Each station's socket lives in one node; with a
//! broker configured (`yrd serve --nats`), a node records in the database which node
//! holds each connected station and under which OCPP version, listens on its own NATS
//! subject, and forwards a command for a station held elsewhere to that node, which
//! sends it over the socket and returns the station's answer. Without a broker the
//! central system's own connections are the route.

use crate::central::{COMMAND_TIMEOUT, Central, CommandError, CommandRoute, Version};
use crate::nats::{Nats, NatsError};
use crate::store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use yrd_kernel::BoxFuture;

/// The subject a node takes commands on.
fn subject(node: &str) -> String {
    format!("yrd.ocpp.node.{node}")
}

pub struct BrokerRoute {
    central: Arc<Central>,
    nats: Nats,
}

impl BrokerRoute {
    /// Connects to the broker (in the background, retrying) and serves commands that
    /// other nodes forward to this node's stations.
    pub fn start(central: Arc<Central>, url: &str) -> Arc<BrokerRoute> {
        central.record_locations();
        let nats = Nats::start(url);
        let route = Arc::new(BrokerRoute { central, nats });
        let serving = route.clone();
        tokio::spawn(async move { serving.serve().await });
        route
    }

    /// Whether the broker connection is up.
    pub async fn connected(&self) -> bool {
        self.nats.connected().await
    }

    async fn serve(self: Arc<Self>) {
        let Ok(mut incoming) = self.nats.subscribe(&subject(self.central.node())).await else {
            return;
        };
        while let Some(message) = incoming.recv().await {
            let route = self.clone();
            tokio::spawn(async move {
                let Some(reply) = message.reply else { return };
                let request: Value = serde_json::from_slice(&message.payload).unwrap_or_default();
                let (Some(station), Some(action)) = (request["station"].as_str(), request["action"].as_str()) else {
                    return;
                };
                let answer = route
                    .central
                    .command(station, action, request["payload"].clone(), COMMAND_TIMEOUT)
                    .await;
                let _ = route
                    .nats
                    .publish(&reply, None, encode(&answer).to_string().as_bytes())
                    .await;
            });
        }
    }
}

fn encode(answer: &Result<Value, CommandError>) -> Value {
    match answer {
        Ok(value) => json!({"result": value}),
        Err(CommandError::NotConnected(_)) => json!({"error": "not_connected"}),
        Err(CommandError::Timeout(_, seconds)) => json!({"error": "timeout", "seconds": seconds}),
        Err(CommandError::Refused { code, description, .. }) => {
            json!({"error": "refused", "code": code, "description": description})
        }
        Err(CommandError::InvalidReply { problem, .. }) => json!({"error": "invalid_reply", "problem": problem}),
    }
}

fn decode(station: &str, answer: &Value) -> Result<Value, CommandError> {
    let text = |key: &str| answer[key].as_str().unwrap_or_default().to_string();
    match answer["error"].as_str() {
        None => Ok(answer["result"].clone()),
        Some("refused") => Err(CommandError::Refused {
            station: station.into(),
            code: text("code"),
            description: text("description"),
        }),
        Some("invalid_reply") => Err(CommandError::InvalidReply {
            station: station.into(),
            problem: text("problem"),
        }),
        Some("timeout") => Err(CommandError::Timeout(station.into(), COMMAND_TIMEOUT.as_secs())),
        Some(_) => Err(CommandError::NotConnected(station.into())),
    }
}

impl CommandRoute for BrokerRoute {
    fn deliver<'a>(
        &'a self,
        station_id: &'a str,
        action: &'a str,
        payload: Value,
    ) -> BoxFuture<'a, Result<Value, CommandError>> {
        Box::pin(async move {
            if self.central.connected(station_id) {
                return self.central.command(station_id, action, payload, COMMAND_TIMEOUT).await;
            }
            let not_connected = || CommandError::NotConnected(station_id.into());
            let location = store::location(&self.central.db, station_id).await.ok().flatten();
            let Some((node, _)) = location.filter(|(node, _)| node != self.central.node()) else {
                return Err(not_connected());
            };
            let request = json!({"station": station_id, "action": action, "payload": payload}).to_string();
            // A little longer than the other node waits for its station.
            match self
                .nats
                .request(
                    &subject(&node),
                    request.as_bytes(),
                    COMMAND_TIMEOUT + Duration::from_secs(5),
                )
                .await
            {
                Ok(answer) => decode(station_id, &serde_json::from_slice(&answer).unwrap_or_default()),
                Err(NatsError::Timeout(_)) => Err(CommandError::Timeout(station_id.into(), COMMAND_TIMEOUT.as_secs())),
                // The node that held the station is gone, or the broker is.
                Err(error) => {
                    tracing::warn!(%error, station = %station_id, "command not forwarded");
                    Err(not_connected())
                }
            }
        })
    }

    fn version_of<'a>(&'a self, station_id: &'a str) -> BoxFuture<'a, Option<Version>> {
        Box::pin(async move {
            if let Some(version) = self.central.version_of(station_id) {
                return Some(version);
            }
            let (_, subprotocol) = store::location(&self.central.db, station_id).await.ok().flatten()?;
            Version::from_subprotocol(&subprotocol)
        })
    }
}
