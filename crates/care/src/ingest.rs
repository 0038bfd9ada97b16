//! Readings from the broker into the store. linli subscribes to every device's topic through
//! a shared subscription (`$share/linli/…`, so that several linli processes split the
//! stream) at QoS 1 in a persistent session, and acknowledges a reading only once the
//! transaction that stores it (or counts its refusal) has committed. A linli that dies
//! mid-batch loses nothing: the broker keeps what was not acknowledged and delivers it again,
//! and (device, seq) stores it once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linli_core::care::{device_of_topic, DEVICE_TOPICS};
use linli_store::care::BatchOutcome;
use linli_store::Store;
use rumqttc::{AsyncClient, Event, Packet, Publish, QoS, SubscribeReasonCode};
use tokio::sync::mpsc;

use crate::broker::{BrokerConfig, BrokerError};

/// The most readings written in one transaction.
const MAX_BATCH: usize = 2_000;
/// How long the first reading of a batch waits for others to join it.
const GATHER: Duration = Duration::from_millis(20);

/// The shared subscription every linli process joins.
pub fn shared_topics() -> String {
    format!("$share/linli/{DEVICE_TOPICS}")
}

/// What ingestion has done since it started, for /metrics and the operator.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub refused: AtomicU64,
    /// Payloads on a topic that names no device (not counted per device: there is none).
    pub stray: AtomicU64,
    pub batches: AtomicU64,
    /// Times a batch could not be written and was tried again (nothing acknowledged).
    pub write_retries: AtomicU64,
    pub connected: AtomicBool,
    pub subscribed: AtomicBool,
    /// The latest connection or subscription problem, cleared when connected again.
    pub problem: Mutex<Option<String>>,
}

impl IngestStats {
    fn set_problem(&self, p: Option<String>) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Called with each written batch's outcome (the alarm rules read the stored readings).
pub type OnBatch = Arc<dyn Fn(&BatchOutcome) + Send + Sync>;

/// Ingestion running in the background; stops when dropped.
pub struct Ingest {
    pub stats: Arc<IngestStats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Ingest {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Ingest {
    /// Connects to the broker and ingests readings until dropped, reconnecting as needed.
    pub fn start(
        store: Store,
        config: &BrokerConfig,
        on_batch: Option<OnBatch>,
    ) -> Result<Ingest, BrokerError> {
        let mut options = config.options("", true)?;
        // Acknowledged only once stored.
        options.set_manual_acks(true);
        let (client, events) = AsyncClient::new(options, 10_000);
        let stats = Arc::new(IngestStats::default());
        // Unbounded on purpose: the task that reads the broker's packets is also the one that
        // sends linli's acknowledgements (rumqttc sends requests only while its event loop is
        // polled). Were it to wait for room in a bounded queue, the writer could wait in turn
        // for room to acknowledge, and both would stop for good (the broker then drops linli
        // for missing its keep-alive). What linli holds unacknowledged is then bounded only by
        // what the broker sends ahead of the acknowledgements: Mosquitto 2.0.11 did not hold
        // to its in-flight window (`max_inflight_messages` in linli.conf) and bench/care saw
        // linli hold 354,136 readings (182 MiB peak) while it drained a backlog.
        let (tx, rx) = mpsc::unbounded_channel();
        let receive = tokio::spawn(receive(
            client.clone(),
            events,
            tx,
            stats.clone(),
            config.display_url(),
        ));
        let write = tokio::spawn(write(store, client, rx, stats.clone(), on_batch));
        Ok(Ingest {
            stats,
            tasks: vec![receive, write],
        })
    }
}

/// Reads the broker's packets: readings go to the writer, and every new connection
/// subscribes again (a broker that lost its sessions has forgotten the subscription).
async fn receive(
    client: AsyncClient,
    mut events: rumqttc::EventLoop,
    tx: mpsc::UnboundedSender<Publish>,
    stats: Arc<IngestStats>,
    url: String,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                if tx.send(p).is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(200);
                stats.connected.store(true, Ordering::Relaxed);
                stats.set_problem(None);
                tracing::info!(
                    "MQTT ingest connected to {url} (session kept: {})",
                    ack.session_present
                );
                if let Err(e) = client.try_subscribe(shared_topics(), QoS::AtLeastOnce) {
                    stats.set_problem(Some(format!("subscribing: {e}")));
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let granted = ack
                    .return_codes
                    .iter()
                    .all(|c| !matches!(c, SubscribeReasonCode::Failure));
                stats.subscribed.store(granted, Ordering::Relaxed);
                if !granted {
                    let why = format!(
                        "{url} refused linli's subscription to {}: give linli's MQTT user the right to subscribe to {DEVICE_TOPICS}",
                        shared_topics()
                    );
                    tracing::error!("{why}");
                    stats.set_problem(Some(why));
                }
            }
            Ok(_) => {}
            Err(e) => {
                let why = format!("{url}: {e}");
                if stats.problem().as_deref() != Some(why.as_str()) {
                    tracing::warn!("MQTT ingest connection: {why}");
                }
                stats.connected.store(false, Ordering::Relaxed);
                stats.subscribed.store(false, Ordering::Relaxed);
                stats.set_problem(Some(why));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Gathers readings into batches, writes each in one transaction (trying again until it
/// commits), then acknowledges its readings to the broker.
async fn write(
    store: Store,
    client: AsyncClient,
    mut rx: mpsc::UnboundedReceiver<Publish>,
    stats: Arc<IngestStats>,
    on_batch: Option<OnBatch>,
) {
    let mut batch: Vec<Publish> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(p)) => batch.push(p),
                Ok(None) | Err(_) => break,
            }
        }
        // Every subscribed topic names a device (the filter has one level for it); anything
        // else would be the broker's mistake, logged and acknowledged.
        let sent: Vec<(&str, &[u8])> = batch
            .iter()
            .filter_map(|p| device_of_topic(&p.topic).map(|id| (id, p.payload.as_ref())))
            .collect();
        let stray = batch.len() - sent.len();
        if stray > 0 {
            tracing::warn!("{stray} MQTT messages on topics that name no device");
            stats.stray.fetch_add(stray as u64, Ordering::Relaxed);
        }
        let mut wait = Duration::from_millis(100);
        let outcome = loop {
            match store.ingest_batch(&sent).await {
                Ok(o) => break o,
                Err(e) => {
                    // Not acknowledged, so not lost: the same batch is written again.
                    tracing::error!(
                        "storing {} readings: {e}; trying again in {wait:?}",
                        sent.len()
                    );
                    stats.write_retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        };
        for p in &batch {
            if client.ack(p).await.is_err() {
                // The connection's loop is gone (ingestion is stopping); the broker
                // delivers these again to the next session.
                tracing::warn!("MQTT ingest stopped before acknowledging a stored batch");
                return;
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .stored
            .fetch_add(outcome.stored.len() as u64, Ordering::Relaxed);
        stats
            .duplicates
            .fetch_add(outcome.duplicates, Ordering::Relaxed);
        stats.refused.fetch_add(outcome.refused, Ordering::Relaxed);
        if let Some(f) = &on_batch {
            f(&outcome);
        }
        batch.clear();
    }
}
