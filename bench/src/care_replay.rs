//! 28 real days of a person living alone (van Kasteren house A) through Mosquitto into
//! linli's ingestion at high speed, the alarm timer driven in the recording's time.
//!
//! Every scenario is a household of its own, all replayed together in one time line: the
//! recording as it is (its nights, its days and weekends away must raise nothing), and the
//! recording with one anomaly injected — all events cut after a daytime moment at home for 6,
//! 12 or 24 hours (then the life goes on), or the front door opened at 3 a.m. with nothing
//! after it for 6 hours. The recording (2008) is shifted by whole days to end two days before
//! now, since linli refuses readings more than 90 days old.
//!
//! Virtual time advances in whole minutes, as the rules' test ticks them: the readings before
//! a minute are published and stored (counted by ingestion's batch callback), then the timer
//! visits the households due at that minute. Ingestion stamps a household's next due time
//! from the wall clock, days ahead of the recording's; the replay reads such a stamp as "due
//! now" (the timer then works out the household's true due time in the recording's time).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linli_care::testing::TestBroker;
use linli_care::{BrokerConfig, Ingest};
use linli_core::care::{device_topic, DeviceKind};
use linli_core::care_kasteren::{self, FRONT_DOOR};
use linli_core::china_time;
use linli_pii::Keyring;
use linli_store::divisions::Quiet;
use linli_store::testing::TestDb;
use linli_store::Actor;

use crate::care::{
    add_generator, on_raw, payload, publish_all, Conn, Done, Options, Raw, GENERATOR,
};
use crate::stats::{group, median};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The hours a stop at home lasts before the life goes on.
const QUIET_HOURS: [i64; 3] = [6, 12, 24];
/// How long nothing follows a night exit.
const AWAY_AFTER_NIGHT_EXIT: i64 = 6 * HOUR;
/// The night-exit rule's window (30 min by default) and the timer's minute.
const NIGHT_EXIT_WITHIN: i64 = 31 * MINUTE;

#[derive(Clone, Copy, Debug)]
enum Anomaly {
    None,
    /// Nothing from `at` for `quiet` ms.
    Stop {
        at: i64,
        quiet: i64,
    },
    /// The front door at `at` (3 a.m.) and nothing after it for a while.
    NightExit {
        at: i64,
    },
}

struct Scenario {
    anomaly: Anomaly,
    events: Vec<(i64, u32)>,
    household: i64,
    door: String,
    motion: String,
}

fn scenarios(events: &[(i64, u32)]) -> Vec<(Anomaly, Vec<(i64, u32)>)> {
    let mut out = vec![(Anomaly::None, events.to_vec())];
    for (t, i) in care_kasteren::cut_points(events) {
        for h in QUIET_HOURS {
            let quiet = h * HOUR;
            let mut e = events[..=i].to_vec();
            e.extend(events.iter().filter(|(s, _)| *s >= t + quiet));
            out.push((Anomaly::Stop { at: t, quiet }, e));
        }
    }
    for three in care_kasteren::night_exits(events) {
        let mut e: Vec<(i64, u32)> = events.iter().filter(|(s, _)| *s < three).copied().collect();
        e.push((three, FRONT_DOOR));
        e.extend(
            events
                .iter()
                .filter(|(s, _)| *s >= three + AWAY_AFTER_NIGHT_EXIT),
        );
        out.push((Anomaly::NightExit { at: three }, e));
    }
    out
}

fn grid_ceil(t: i64) -> i64 {
    t.div_euclid(MINUTE) * MINUTE + if t.rem_euclid(MINUTE) == 0 { 0 } else { MINUTE }
}

fn grid_after(t: i64) -> i64 {
    (t.div_euclid(MINUTE) + 1) * MINUTE
}

pub async fn run(opts: &Options) -> Result<Done> {
    let path = opts.data.join(care_kasteren::FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (pass --data DIR)", path.display()))?;
    let raw_events = care_kasteren::events(&text);
    let (Some(&(first, _)), Some(&(last, _))) = (raw_events.first(), raw_events.last()) else {
        bail!("{}: no events", path.display());
    };
    // Whole days, so that the hours of the day (and the rules' windows) stay the recording's.
    let wall_start = linli_store::now_ms();
    let shift = ((wall_start - 2 * DAY - last) / DAY - 1) * DAY;
    let events: Vec<(i64, u32)> = raw_events.iter().map(|(t, s)| (t + shift, *s)).collect();
    let (first, recording_end) = (first + shift, last + shift);
    let made = scenarios(&events);
    eprintln!(
        "care replay: {} scenarios over {} events",
        made.len(),
        events.len()
    );

    let db = if opts.pg {
        TestDb::postgres()
            .await
            .context("--pg is needed for PostgreSQL")?
    } else {
        TestDb::sqlite()
    };
    let mut store = db.open().await;
    store.use_keys(Keyring::generate()).await?;
    store
        .build_demo("care-bench-1", 0.001, None, &Quiet)
        .await?;
    let raw = Raw::open(&db.url).await?;
    let households: Vec<i64> = on_raw!(&raw, p => sqlx::query_scalar("SELECT id FROM households ORDER BY id LIMIT $1")
        .bind(made.len() as i64)
        .fetch_all(p)
        .await?);
    if households.len() < made.len() {
        bail!(
            "the demo has {} households, fewer than {} scenarios",
            households.len(),
            made.len()
        );
    }
    let actor = Actor {
        user_id: None,
        username: "linli-bench".into(),
        ip: None,
    };
    let mut all = Vec::with_capacity(made.len());
    for ((anomaly, events), household) in made.into_iter().zip(households) {
        let (door, motion) = (
            format!("kasteren-{household}-door"),
            format!("kasteren-{household}-motion"),
        );
        store
            .register_device(&actor, &door, DeviceKind::Door, household)
            .await?;
        store
            .register_device(&actor, &motion, DeviceKind::Motion, household)
            .await?;
        all.push(Scenario {
            anomaly,
            events,
            household,
            door,
            motion,
        });
    }

    // Every reading of every household, in time order: (time, household's scenario, sensor).
    let mut merged: Vec<(i64, usize, u32)> = all
        .iter()
        .enumerate()
        .flat_map(|(n, s)| s.events.iter().map(move |&(t, sensor)| (t, n, sensor)))
        .collect();
    merged.sort_unstable();
    let end = all
        .iter()
        .map(|s| match s.anomaly {
            Anomaly::None => recording_end,
            Anomaly::Stop { at, quiet } => at + quiet,
            Anomaly::NightExit { at } => at + NIGHT_EXIT_WITHIN,
        })
        .max()
        .unwrap_or(recording_end);
    let end = grid_ceil(end.max(recording_end));

    let broker = TestBroker::start()
        .context("the care benchmark needs Mosquitto 2 with its dynamic-security plugin")?;
    add_generator(&broker)?;
    let processed = Arc::new(AtomicU64::new(0));
    let counter = processed.clone();
    let on_batch: linli_care::ingest::OnBatch = Arc::new(move |o| {
        counter.fetch_add(
            o.stored.len() as u64 + o.duplicates + o.refused,
            Ordering::Relaxed,
        );
    });
    let config = BrokerConfig::from_url(&broker.admin_url(), "linli-replay")?;
    let ingest = Ingest::start(store.clone(), &config, Some(on_batch))?;
    let until = Instant::now() + Duration::from_secs(30);
    while !ingest.stats.subscribed.load(Ordering::Relaxed) {
        if Instant::now() > until {
            bail!("linli's ingestion did not subscribe within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let conn = Conn::open(broker.port, GENERATOR, "bench-replay").await?;

    let started = Instant::now();
    let mut seq: HashMap<(usize, bool), i64> = HashMap::new();
    let mut next = 0;
    let mut published = 0u64;
    let mut steps = 0u64;
    let mut ticks = 0u64;
    let mut g = grid_after(first);
    loop {
        // The readings before minute g, through the broker, all stored before the timer runs.
        let upto = merged[next..].partition_point(|m| m.0 < g) + next;
        let batch: Vec<(String, String)> = merged[next..upto]
            .iter()
            .map(|&(t, n, sensor)| {
                let s = &all[n];
                let door = sensor == FRONT_DOOR;
                let k = seq.entry((n, door)).or_insert(0);
                *k += 1;
                let (id, kind, value) = if door {
                    (&s.door, "door", "\"open\"")
                } else {
                    (&s.motion, "motion", "true")
                };
                (device_topic(id), payload(kind, value, *k, t))
            })
            .collect();
        next = upto;
        if !batch.is_empty() {
            publish_all(&conn, &batch, None).await?;
            published += batch.len() as u64;
            let until = Instant::now() + Duration::from_secs(60);
            while processed.load(Ordering::Relaxed) < published {
                if Instant::now() > until {
                    bail!(
                        "{} of {published} readings stored within 60 s",
                        processed.load(Ordering::Relaxed)
                    );
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        // A due time stamped from the wall clock (by ingestion) means "look now".
        on_raw!(&raw, p => sqlx::query("UPDATE care_households SET due_at = $1 WHERE due_at >= $2")
            .bind(g)
            .bind(wall_start - DAY)
            .execute(p)
            .await
            .map(|_| ())?);
        loop {
            let t = store.tick_care(g, 500).await?;
            ticks += 1;
            if t.households < 500 {
                break;
            }
        }
        steps += 1;
        if g >= end {
            break;
        }
        let due: Option<i64> = on_raw!(&raw, p => sqlx::query_scalar("SELECT MIN(due_at) FROM care_households")
            .fetch_one(p)
            .await?);
        let reading = merged.get(next).map(|m| grid_after(m.0));
        g = [due.map(grid_ceil), reading, Some(end)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end)
            .max(g + MINUTE);
    }
    let wall = started.elapsed();
    conn.close().await;
    drop(ingest);

    let alarms: Vec<(i64, String, i64, i64)> = on_raw!(&raw, p => sqlx::query_as(
        "SELECT household_id, kind, since, raised_at FROM care_alarms ORDER BY raised_at"
    ).fetch_all(p).await?);
    let refused: i64 = raw
        .scalar("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM care_refusals")
        .await?;
    let stored: i64 = raw.scalar("SELECT COUNT(*) FROM care_readings").await?;
    raw.close().await;
    store.close().await;
    drop(broker);

    let report = Evaluation::of(&all, &alarms, recording_end);
    let days = (recording_end - first) as f64 / DAY as f64;
    let household_months = all.len() as f64 * days / 30.44;
    let readings_ok = stored as u64 == published && refused == 0;
    let passed = report.passed() && readings_ok;

    let mut md = String::new();
    md.push_str(&format!(
        "## Real data: 28 days of a person living alone, replayed through MQTT ({})\n\n",
        if opts.pg { "PostgreSQL" } else { "SQLite" }
    ));
    md.push_str(&format!(
        "van Kasteren house A ({} sensor events over {days:.1} days), shifted by {} days to end \
         two days before the run. {} households replayed together in one time line: the recording \
         as it is, {} stops at home injected (each day from day 8, the first indoor event between \
         10:00 and 16:00 when the person is at home: all events cut for 6, 12 or 24 h, then the \
         life goes on) and {} night exits (each night from day 8 when the person is at home: the \
         front door at 3:00, then nothing for 6 h). The front door is the household's door \
         contact, every other sensor its motion sensor. Every reading went through Mosquitto \
         (QoS 1) into linli's ingestion; the alarm timer ran at every virtual minute with readings \
         and at every due time, as its 30-second round would in real time.\n\n",
        group(raw_events.len() as u64),
        shift / DAY,
        all.len(),
        report.stops.len(),
        report.nights.len(),
    ));
    md.push_str("| figure | value |\n|---|---|\n");
    md.push_str(&format!(
        "| readings published / stored / refused | {} / {} / {refused}{} |\n",
        group(published),
        group(stored as u64),
        if readings_ok {
            ""
        } else {
            " — **not all stored**"
        }
    ));
    md.push_str(&format!(
        "| replay time (28 days) | {:.1} s ({} timer steps, {} timer transactions) |\n",
        wall.as_secs_f64(),
        group(steps),
        group(ticks)
    ));
    md.push_str(&format!("| alarms raised | {} |\n", alarms.len()));
    md.push_str(&format!(
        "| false alarms (the recording as it is, and outside each injected anomaly) | **{}** over {household_months:.1} household-months: **{:.2} per household-month** |\n",
        report.false_alarms.len(),
        report.false_alarms.len() as f64 / household_months
    ));
    for h in QUIET_HOURS {
        let d: Vec<f64> = report
            .stops
            .iter()
            .filter(|s| s.quiet == h * HOUR)
            .filter_map(|s| s.delay)
            .map(|d| d as f64 / MINUTE as f64)
            .collect();
        let n = report.stops.iter().filter(|s| s.quiet == h * HOUR).count();
        md.push_str(&format!(
            "| stops of {h} h detected before the life goes on | **{} of {n}**; delay (min) median {:.0}, max {:.0} |\n",
            d.len(),
            median(&d),
            d.iter().copied().fold(f64::NAN, f64::max)
        ));
    }
    let d: Vec<f64> = report
        .nights
        .iter()
        .filter_map(|s| s.delay)
        .map(|d| d as f64 / MINUTE as f64)
        .collect();
    md.push_str(&format!(
        "| night exits detected within 31 min (the rule's 30 min and the timer's minute) | **{} of {}**; delay (min) median {:.0}, max {:.0} |\n\n",
        d.len(),
        report.nights.len(),
        median(&d),
        d.iter().copied().fold(f64::NAN, f64::max)
    ));
    let delays: Vec<String> = report
        .stops
        .iter()
        .map(|s| match s.delay {
            Some(d) => format!("{}→{}", s.quiet / HOUR, d / MINUTE),
            None => format!("{}→missed", s.quiet / HOUR),
        })
        .collect();
    md.push_str(&format!(
        "Each stop's detection delay (quiet hours→minutes): {}.\n\n",
        delays.join(", ")
    ));
    if !report.false_alarms.is_empty() {
        md.push_str("False alarms:\n\n");
        for (household, kind, since, at) in &report.false_alarms {
            md.push_str(&format!(
                "- household {household}: {kind} at {} (since {})\n",
                china_time::rfc3339(*at),
                china_time::rfc3339(*since)
            ));
        }
        md.push('\n');
    }
    Ok(Done {
        markdown: md,
        passed,
    })
}

struct Detection {
    quiet: i64,
    delay: Option<i64>,
}

struct Evaluation {
    stops: Vec<Detection>,
    nights: Vec<Detection>,
    false_alarms: Vec<(i64, String, i64, i64)>,
}

impl Evaluation {
    /// Each anomaly's detection (its household's first alarm of the expected kind after it,
    /// within its window), and every other alarm raised while the recording runs as false.
    fn of(all: &[Scenario], alarms: &[(i64, String, i64, i64)], recording_end: i64) -> Evaluation {
        let by_household: HashMap<i64, &Scenario> = all.iter().map(|s| (s.household, s)).collect();
        let mut detected: HashMap<i64, i64> = HashMap::new();
        let mut false_alarms = Vec::new();
        for a in alarms {
            let (household, kind, _, at) = (a.0, a.1.as_str(), a.2, a.3);
            let expected = match by_household.get(&household).map(|s| s.anomaly) {
                Some(Anomaly::Stop { at: cut, quiet }) => {
                    kind == "inactivity" && at > cut && at <= cut + quiet
                }
                Some(Anomaly::NightExit { at: door }) => {
                    kind == "night_exit" && at > door && at <= door + NIGHT_EXIT_WITHIN
                }
                _ => false,
            };
            if expected && !detected.contains_key(&household) {
                detected.insert(household, at);
            } else if at <= recording_end {
                // After the recording ends its person is not silent, the recording is.
                false_alarms.push(a.clone());
            }
        }
        let mut stops = Vec::new();
        let mut nights = Vec::new();
        for s in all {
            match s.anomaly {
                Anomaly::Stop { at, quiet } => stops.push(Detection {
                    quiet,
                    delay: detected.get(&s.household).map(|d| d - at),
                }),
                Anomaly::NightExit { at } => nights.push(Detection {
                    quiet: 0,
                    delay: detected.get(&s.household).map(|d| d - at),
                }),
                Anomaly::None => {}
            }
        }
        Evaluation {
            stops,
            nights,
            false_alarms,
        }
    }

    fn passed(&self) -> bool {
        self.false_alarms.is_empty()
            && !self.stops.is_empty()
            && self.stops.iter().all(|s| s.delay.is_some())
            && self.nights.iter().all(|s| s.delay.is_some())
    }
}
