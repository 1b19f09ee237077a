//! PostgreSQL cut for `OUTAGE_SECS` (43) through a proxy while calls run, against the same
//! calls without the outage: call turns and outcomes written, records given up, and how long
//! a caller who rings during the outage waits for the greeting.

use std::time::{Duration, Instant};

use callbridge::simulator::run::place_call;

use crate::proxy::{FaultProxy, Mode, socket_of};
use crate::{Fakes, Server, call_sid, conversation, outcomes, plan, turns};

const CALLS: u64 = 6;

struct Written {
    turns: i64,
    outcomes: usize,
    record_errors: f64,
    greeting_during: Option<Duration>,
}

/// Call turns written for `sids`.
async fn turns_of(database: &str, sids: &[String]) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = callbridge::db::connect(database).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM call_turns t JOIN call_logs c ON c.id = t.call_log_id \
                 WHERE c.call_sid IN ({})",
                sids.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn metric(server: &Server, name: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", server.metrics_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

async fn one_run(fakes: &Fakes, outage: Option<Duration>) -> Written {
    let direct = crate::helpers::database_url().await;
    let proxy = FaultProxy::start(socket_of(&direct)).await;
    let real = socket_of(&direct);
    let via = direct.replacen(&real.to_string(), &proxy.addr.to_string(), 1);
    let server = Server::start(fakes, Some(via), &[]).await;
    // The calls, and the one placed mid-outage.
    let caller_turns = conversation(fakes, CALLS as usize + 1, 3);
    let sids: Vec<String> = (0..CALLS).map(call_sid).collect();
    let calls: Vec<_> = sids
        .iter()
        .map(|sid| {
            let p = plan(
                &server,
                sid.clone(),
                caller_turns.clone(),
                Duration::from_secs(8),
            );
            tokio::spawn(place_call(p, |_| {}))
        })
        .collect();
    let mut greeting_during = None;
    if let Some(outage) = outage {
        tokio::time::sleep(Duration::from_secs(5)).await;
        proxy.set(Mode::Cut);
        let cut_at = Instant::now();
        // A caller who rings in the middle of the outage.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let p = plan(
            &server,
            call_sid(99),
            turns(&["book_oil_change"]),
            Duration::from_secs(8),
        );
        if let Ok(s) = place_call(p, |_| {}).await {
            greeting_during = s.greeted_after;
        }
        tokio::time::sleep(outage.saturating_sub(cut_at.elapsed())).await;
        proxy.set(Mode::Pass);
    }
    for c in calls {
        let _ = c.await;
    }
    let record_errors = metric(&server, "callbridge_record").await;
    // Records still queued are written within the writer's window; the drain waits for them.
    server.stop().await;
    drop(proxy);
    let written = outcomes(&direct, &sids).await;
    Written {
        turns: turns_of(&direct, &sids).await,
        outcomes: written.iter().filter(|o| o.is_some()).count(),
        record_errors,
        greeting_during,
    }
}

pub async fn run(fakes: &Fakes) {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        println!("skipped: needs PostgreSQL (TEST_DATABASE_URL)");
        return;
    }
    let secs = crate::common::env_or("OUTAGE_SECS", 43);
    let base = one_run(fakes, None).await;
    let cut = one_run(fakes, Some(Duration::from_secs(secs))).await;
    println!(
        "call turns written             {} with a {secs} s cut, {} without  (records lost: {}; goal 0)",
        cut.turns,
        base.turns,
        base.turns - cut.turns.min(base.turns)
    );
    println!(
        "outcomes written               {}/{CALLS} with the cut, {}/{CALLS} without",
        cut.outcomes, base.outcomes
    );
    println!(
        "record write errors (metric)   {} with the cut (retried), {} without",
        cut.record_errors, base.record_errors
    );
    match cut.greeting_during {
        Some(g) => println!(
            "greeting of a call mid-outage  {:.2} s after start",
            g.as_secs_f64()
        ),
        None => println!("greeting of a call mid-outage  none heard"),
    }
}
