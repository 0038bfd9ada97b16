//! Nothing lost: readings published at QoS 1 while the real `linli serve` is killed with
//! SIGKILL mid-stream, then while it is down, then across a restart of the broker (SIGTERM:
//! it saves its sessions and queues), then with linli started again under the same client id
//! (its persistent session). At the end every reading sent must be stored, or refused with
//! a reason (the deliberately bad ones: an unknown device, malformed JSON, a time in the
//! future), counted in the database: sent = stored + refused, exactly.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use linli_care::testing::TestBroker;
use linli_core::care::device_topic;
use linli_store::testing::TestDb;

use crate::care::{
    accounted, add_generator, build_demo, payload, publish_all, register_devices, Conn, Done,
    Linli, Options, Raw, GENERATOR,
};
use crate::stats::group;

const HOUSEHOLDS: usize = 200;
/// Readings per device in each of the three parts.
const ROUNDS: i64 = 20;
/// Bad payloads of each kind in each part.
const BAD: usize = 20;

/// Part `part`'s readings: ROUNDS rounds of every device, and the bad ones among them.
fn part(devices: &[(String, &'static str)], part: i64) -> (Vec<(String, String)>, u64, u64) {
    let ts = linli_store::now_ms();
    let mut out = Vec::new();
    let mut good = 0;
    let mut bad = 0;
    for round in part * ROUNDS..(part + 1) * ROUNDS {
        for (id, _) in devices {
            // Every device kind sends heartbeats and battery levels.
            let (kind, value) = if round % 2 == 0 {
                ("heartbeat", "null")
            } else {
                ("battery", "88")
            };
            out.push((device_topic(id), payload(kind, value, round, ts)));
            good += 1;
        }
        if (round - part * ROUNDS) < BAD as i64 {
            let (id, _) = &devices[round as usize % devices.len()];
            let future = payload("heartbeat", "null", 1_000_000 + round, ts + 3_600_000);
            out.push((
                device_topic(&format!("ghost-{round}")),
                payload("heartbeat", "null", round, ts),
            ));
            out.push((device_topic(id), "{\"ts\": oops".to_string()));
            out.push((device_topic(id), future));
            bad += 3;
        }
    }
    (out, good, bad)
}

pub async fn run(opts: &Options) -> Result<Done> {
    let dir = tempfile::tempdir()?;
    let db = if opts.pg {
        TestDb::postgres()
            .await
            .context("--pg is needed for PostgreSQL")?
    } else {
        TestDb::sqlite()
    };
    build_demo(&opts.linli, &db.url, dir.path(), HOUSEHOLDS)?;
    let raw = Raw::open(&db.url).await?;
    let devices = register_devices(&raw, HOUSEHOLDS).await?;
    let mut broker = TestBroker::start()
        .context("the care benchmark needs Mosquitto 2 with its dynamic-security plugin")?;
    add_generator(&broker)?;
    let http = reqwest::Client::new();
    let (mut sent_good, mut sent_bad) = (0u64, 0u64);
    let mut parts = Vec::new();
    for p in 0..3 {
        let (payloads, good, bad) = part(&devices, p);
        sent_good += good;
        sent_bad += bad;
        parts.push(payloads);
    }

    // 1. linli runs; killed with SIGKILL once it has stored some of the first part.
    let mut linli = Linli::start(
        &opts.linli,
        &db.url,
        dir.path(),
        &broker.admin_url(),
        "linli-lost",
    )?;
    linli.wait_subscribed(&http).await?;
    let conn = Conn::open(broker.port, GENERATOR, "bench-lost-1").await?;
    let first = std::sync::Arc::new(std::mem::take(&mut parts[0]));
    let n_first = first.len() as u64;
    let sending = {
        let first = first.clone();
        tokio::spawn(async move {
            // Paced, so that linli is killed while readings still arrive.
            publish_all(&conn, &first, Some(5_000.0)).await?;
            conn.close().await;
            Ok::<_, anyhow::Error>(())
        })
    };
    let until = Instant::now() + Duration::from_secs(60);
    let mut at_kill = 0;
    while Instant::now() < until {
        at_kill = linli.metrics(&http).await?.0;
        if at_kill >= n_first / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    linli.kill();
    let (stored_at_kill, _) = accounted(&raw).await?;
    sending.await??;

    // 2. While linli is down: the broker queues for linli's session.
    let conn = Conn::open(broker.port, GENERATOR, "bench-lost-2").await?;
    publish_all(&conn, &parts[1], None).await?;
    conn.close().await;
    // 3. The broker restarts (saving its sessions and queues), then linli with the same id.
    broker.restart();
    let mut linli = Linli::start(
        &opts.linli,
        &db.url,
        dir.path(),
        &broker.admin_url(),
        "linli-lost",
    )?;
    linli.wait_subscribed(&http).await?;
    let conn = Conn::open(broker.port, GENERATOR, "bench-lost-3").await?;
    publish_all(&conn, &parts[2], None).await?;
    conn.close().await;

    let sent = sent_good + sent_bad;
    let until = Instant::now() + Duration::from_secs(120);
    let (mut stored, mut refused) = accounted(&raw).await?;
    while (stored + refused) as u64 != sent && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (stored, refused) = accounted(&raw).await?;
    }
    // A little longer: nothing more may arrive (no reading stored twice, none refused late).
    tokio::time::sleep(Duration::from_secs(2)).await;
    (stored, refused) = accounted(&raw).await?;
    let duplicates = raw
        .scalar("SELECT CAST(COALESCE(SUM(duplicates), 0) AS BIGINT) FROM care_devices")
        .await?;
    let reasons: Vec<(String, i64)> = crate::care::on_raw!(&raw, p => sqlx::query_as(
        "SELECT reason, CAST(SUM(n) AS BIGINT) FROM care_refusals GROUP BY reason ORDER BY reason"
    ).fetch_all(p).await?);
    linli.stop();
    raw.close().await;
    drop(broker);

    let passed = stored as u64 == sent_good && refused as u64 == sent_bad;
    let mut md = String::new();
    md.push_str(&format!(
        "## Nothing lost: SIGKILL of linli mid-stream and a broker restart ({})\n\n",
        if opts.pg { "PostgreSQL" } else { "SQLite" }
    ));
    md.push_str(&format!(
        "{} devices of {HOUSEHOLDS} households; three parts of {ROUNDS} readings per device at QoS 1, \
         each acknowledged by the broker, with {} bad payloads per part (an unregistered device, \
         malformed JSON, a time an hour ahead). Part 1 at 5,000/s while `linli serve` runs, SIGKILL \
         once it has processed a third of it; part 2 while linli is down; then Mosquitto restarts \
         (SIGTERM, persistence on) and linli starts again with the same client id; part 3. Counts \
         from the database.\n\n",
        group(devices.len() as u64),
        BAD * 3
    ));
    md.push_str("| figure | value |\n|---|---|\n");
    md.push_str(&format!(
        "| sent: readings / bad payloads | {} / {} |\n",
        group(sent_good),
        group(sent_bad)
    ));
    md.push_str(&format!(
        "| processed by linli when killed / stored then | {} / {} |\n",
        group(at_kill),
        group(stored_at_kill as u64)
    ));
    md.push_str(&format!(
        "| **stored + refused = sent** | {} + {} = {} of {} — **{}** |\n",
        group(stored as u64),
        group(refused as u64),
        group((stored + refused) as u64),
        group(sent),
        if passed { "nothing lost" } else { "MISMATCH" }
    ));
    let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
    md.push_str(&format!(
        "| refusals by reason | {} |\n",
        reasons.join(", ")
    ));
    md.push_str(&format!(
        "| redelivered after the kill, kept once (duplicates counted) | {} |\n\n",
        group(duplicates as u64)
    ));
    Ok(Done {
        markdown: md,
        passed,
    })
}
