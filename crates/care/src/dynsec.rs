//! Device accounts on Mosquitto, through its dynamic-security plugin's control topic: each
//! device gets a client (its id and credential) and a role that lets it publish to its own
//! topic and nothing else. Mosquitto 2.0's roles cannot say "the client's own topic" (`%u`
//! is not substituted in dynamic-security ACLs), hence one role per device.
//!
//! The plugin answers every message of commands with one message of responses on the
//! response topic; linli tells its answers apart by the correlation data it sends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Packet, QoS, SubscribeReasonCode};
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use crate::broker::{BrokerConfig, BrokerError};

const CONTROL: &str = "$CONTROL/dynamic-security/v1";
const RESPONSE: &str = "$CONTROL/dynamic-security/v1/response";
/// How long a command may take, connection included.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Why a device's account could not be set up on the broker.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProvisionError {
    #[error("the broker did not answer within {seconds} s ({state}); check that it runs with the dynamic-security plugin and that linli's MQTT user is the plugin's administrator")]
    NoAnswer { seconds: u64, state: String },
    #[error("the broker refused {command}: {error}")]
    Refused { command: String, error: String },
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<Value>>>>>;

/// A connection to the broker's control topic. Cheap to clone; the connection closes when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Provisioner(Arc<Inner>);

struct Inner {
    client: AsyncClient,
    waiting: Waiting,
    /// Whether the control connection is up and subscribed to the answers, or why not.
    ready: watch::Receiver<Result<(), String>>,
    next: AtomicU64,
    prefix: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Provisioner {
    /// Connects to the broker's control topic (in the background, reconnecting as needed).
    pub fn start(config: &BrokerConfig) -> Result<Provisioner, BrokerError> {
        let options = config.options("control", false)?;
        let (client, mut events) = AsyncClient::new(options, 100);
        let waiting: Waiting = Arc::default();
        let (ready_tx, ready) = watch::channel(Err("connecting".to_string()));
        let task = {
            let client = client.clone();
            let waiting = waiting.clone();
            let url = config.display_url();
            tokio::spawn(async move {
                let mut backoff = Duration::from_millis(200);
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            backoff = Duration::from_millis(200);
                            if let Err(e) = client.try_subscribe(RESPONSE, QoS::AtLeastOnce) {
                                let _ = ready_tx.send(Err(e.to_string()));
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(ack))) => {
                            let granted = ack
                                .return_codes
                                .iter()
                                .all(|c| !matches!(c, SubscribeReasonCode::Failure));
                            let _ = ready_tx.send(if granted {
                                Ok(())
                            } else {
                                Err(format!("{url} refused linli's subscription to {RESPONSE}"))
                            });
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) if p.topic == RESPONSE => {
                            answer(&waiting, &p.payload);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let why = format!("{url}: {e}");
                            if ready_tx.borrow().as_ref().err() != Some(&why) {
                                tracing::warn!("MQTT control connection: {why}");
                            }
                            let _ = ready_tx.send(Err(why));
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            })
        };
        let mut prefix = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut prefix);
        Ok(Provisioner(Arc::new(Inner {
            client,
            waiting,
            ready,
            next: AtomicU64::new(1),
            prefix: hex::encode(prefix),
            task,
        })))
    }

    /// Gives device `device_id` an account with `password` that may publish to its own topic
    /// only; an account that exists already gets the new password and the device's role.
    pub async fn provision_device(
        &self,
        device_id: &str,
        password: &str,
    ) -> Result<(), ProvisionError> {
        let role = role_name(device_id);
        let topic = linli_core::care::device_topic(device_id);
        let answers = self
            .send(vec![
                json!({"command": "createRole", "rolename": role,
                       "textdescription": format!("linli: device {device_id} publishes its readings"),
                       "acls": [{"acltype": "publishClientSend", "topic": topic, "allow": true}]}),
                json!({"command": "createClient", "username": device_id, "password": password,
                       "roles": [{"rolename": role}]}),
            ])
            .await?;
        check(&answers, 0, &["Role already exists"])?;
        match error_of(&answers, 1) {
            None => Ok(()),
            Some("Client already exists") => {
                let answers = self
                    .send(vec![
                        json!({"command": "setClientPassword", "username": device_id, "password": password}),
                        json!({"command": "modifyClient", "username": device_id, "roles": [{"rolename": role}]}),
                    ])
                    .await?;
                check(&answers, 0, &[])?;
                check(&answers, 1, &[])
            }
            Some(_) => check(&answers, 1, &[]),
        }
    }

    /// Removes device `device_id`'s account and role (nothing to remove is fine).
    pub async fn remove_device(&self, device_id: &str) -> Result<(), ProvisionError> {
        let answers = self
            .send(vec![
                json!({"command": "deleteClient", "username": device_id}),
                json!({"command": "deleteRole", "rolename": role_name(device_id)}),
            ])
            .await?;
        check(&answers, 0, &["Client not found"])?;
        check(&answers, 1, &["Role not found"])
    }

    /// Sends `commands` in one message and waits for their answers, in order.
    async fn send(&self, mut commands: Vec<Value>) -> Result<Vec<Value>, ProvisionError> {
        let inner = &self.0;
        let no_answer = |state: String| ProvisionError::NoAnswer {
            seconds: ANSWER_WITHIN.as_secs(),
            state,
        };
        let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
        let mut ready = inner.ready.clone();
        // The watch's guard is not held across the awaits below.
        let up = matches!(
            tokio::time::timeout_at(deadline, ready.wait_for(|r| r.is_ok())).await,
            Ok(Ok(_))
        );
        if !up {
            return Err(no_answer(state_of(&inner.ready)));
        }
        let id = format!(
            "{}-{}",
            inner.prefix,
            inner.next.fetch_add(1, Ordering::Relaxed)
        );
        for c in &mut commands {
            c["correlationData"] = Value::String(id.clone());
        }
        let (tx, rx) = oneshot::channel();
        lock(&inner.waiting).insert(id.clone(), tx);
        let body = json!({"commands": commands}).to_string();
        let sent = inner
            .client
            .publish(CONTROL, QoS::AtLeastOnce, false, body)
            .await;
        let answered = match sent {
            Ok(()) => tokio::time::timeout_at(deadline, rx).await,
            Err(e) => {
                lock(&inner.waiting).remove(&id);
                return Err(no_answer(e.to_string()));
            }
        };
        match answered {
            Ok(Ok(answers)) => Ok(answers),
            _ => {
                lock(&inner.waiting).remove(&id);
                Err(no_answer(state_of(&inner.ready)))
            }
        }
    }
}

fn lock(w: &Waiting) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Vec<Value>>>> {
    // A panic while holding the lock leaves a map that is still consistent.
    w.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn state_of(ready: &watch::Receiver<Result<(), String>>) -> String {
    match &*ready.borrow() {
        Ok(()) => "connected".to_string(),
        Err(why) => why.clone(),
    }
}

/// Hands a message of answers to whoever waits for its correlation data.
fn answer(waiting: &Waiting, payload: &[u8]) {
    let Ok(message) = serde_json::from_slice::<Value>(payload) else {
        tracing::warn!("the broker's control answer is not JSON");
        return;
    };
    let Some(Value::Array(answers)) = message.get("responses").cloned() else {
        return;
    };
    let Some(id) = answers
        .first()
        .and_then(|a| a.get("correlationData"))
        .and_then(Value::as_str)
    else {
        return;
    };
    if let Some(tx) = lock(waiting).remove(id) {
        let _ = tx.send(answers);
    }
}

/// The role that lets device `device_id` publish to its topic.
pub fn role_name(device_id: &str) -> String {
    format!("linli-device-{device_id}")
}

fn error_of(answers: &[Value], i: usize) -> Option<&str> {
    answers.get(i).map_or(Some("no answer"), |a| {
        a.get("error").and_then(Value::as_str)
    })
}

/// Whether answer `i` succeeded, or failed only in one of the `fine` ways.
fn check(answers: &[Value], i: usize, fine: &[&str]) -> Result<(), ProvisionError> {
    match error_of(answers, i) {
        None => Ok(()),
        Some(e) if fine.contains(&e) => Ok(()),
        Some(e) => Err(ProvisionError::Refused {
            command: answers
                .get(i)
                .and_then(|a| a.get("command"))
                .and_then(Value::as_str)
                .unwrap_or("a command")
                .to_string(),
            error: e.to_string(),
        }),
    }
}
