//! Latency of the booking tools against a real database loaded with the demo CRM: what a tool
//! call adds to the agent's answer, and how many bookings a second the exactly-once
//! transaction sustains with callers booking at once.
//!
//! Run: `cargo bench --bench tools` (SQLite in a temporary file), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` (a fresh schema is created
//! and dropped). `ROUNDS` (default 200) calls per tool; `BOOKERS` (default 8) concurrent
//! callers for the throughput run.

#![allow(clippy::disallowed_methods)] // A benchmark reads the clock and its environment.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use callbridge::config::{BookingPolicy, BusinessSettings};
use callbridge::domain::PhoneNumber;
use callbridge::tools::{ToolCall, ToolContext, Tools};
use common::env_or;

async fn database() -> (String, Option<(String, String)>) {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(base) => {
            let schema = format!("cbbench_{}", std::process::id());
            let admin = callbridge::db::connect(&base).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                Some((base, schema)),
            )
        }
        Err(_) => {
            let path =
                std::env::temp_dir().join(format!("callbridge-bench-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            (format!("sqlite://{}?mode=rwc", path.display()), None)
        }
    }
}

fn ctx(sid: &str, phone: &str) -> ToolContext {
    ToolContext {
        caller: Some(PhoneNumber::parse(phone).unwrap()),
        call_sid: Some(sid.to_string()),
        // Sunday, November 22, 2026, 10:00 in Chicago: the demo's bookings follow this day.
        now: Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap(),
    }
}

async fn run(tools: &Tools, cx: &ToolContext, id: &str, name: &str, args: &Value) -> Value {
    let reply = tools
        .run(cx, &ToolCall::parse(id, name, args.to_string()))
        .await;
    reply.content
}

/// The `k`-th Monday-to-Friday day from `first` (a Monday), skipping the demo's closures.
fn workday(first: chrono::NaiveDate, k: u64) -> chrono::NaiveDate {
    let closed = [chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()];
    let mut d = first;
    let mut left = k;
    loop {
        let open = chrono::Datelike::weekday(&d).num_days_from_monday() < 5 && !closed.contains(&d);
        if open {
            if left == 0 {
                return d;
            }
            left -= 1;
        }
        d += chrono::Duration::days(1);
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{name:<28} n={:<4} p50 {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms",
        samples.len(),
        q(0.5),
        q(0.95),
        q(1.0)
    );
}

async fn time<F, Fut>(rounds: u64, mut f: F) -> Vec<Duration>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::new();
    for i in 0..rounds {
        let t = Instant::now();
        f(i).await;
        out.push(t.elapsed());
    }
    out
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let rounds = env_or("ROUNDS", 200);
        let bookers = env_or("BOOKERS", 8);
        let (url, cleanup) = database().await;
        let db = callbridge::db::connect(&url).await.unwrap();
        callbridge::db::migrate(&db).await.unwrap();
        let data = callbridge::crm::seed::parse(callbridge::crm::seed::DEMO_FIXTURE).unwrap();
        let tz = chrono_tz::America::Chicago;
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        callbridge::crm::seed::seed(&db, &data, tz, today).await.unwrap();
        let tools = Tools::new(
            db.clone(),
            BusinessSettings {
                name: "Lone Star Auto Service".into(),
                address: "1200 Congress Avenue, Austin, TX 78701".into(),
                phone: "+15125550100".into(),
                timezone: tz,
                booking: BookingPolicy {
                    horizon_days: 366,
                    ..BookingPolicy::default()
                },
            },
        );
        println!("backend: {:?}", db.get_database_backend());
        let maria = ctx("CAbench", "+15125550101");
        let customer = run(&tools, &maria, "l", "lookup_customer", &json!({})).await["customer"]["id"].clone();

        report(
            "lookup_customer",
            time(rounds, |_| async { run(&tools, &maria, "l", "lookup_customer", &json!({})).await; }).await,
        );
        report(
            "list_services",
            time(rounds, |_| async { run(&tools, &maria, "s", "list_services", &json!({})).await; }).await,
        );
        let search = json!({"service": "Oil change", "date": "Monday", "until": "2026-11-30"});
        report(
            "find_available_slots (7 d)",
            time(rounds, |_| async { run(&tools, &maria, "f", "find_available_slots", &search).await; }).await,
        );

        // Distinct workday slots in December, 8:00 to 17:30 every half hour.
        let december = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let slot = |n: u64| {
            format!("{}T{:02}:{:02}", workday(december, n / 20), 8 + (n % 20) / 2, (n % 2) * 30)
        };
        let ok = std::sync::atomic::AtomicU64::new(0);
        report(
            "book_appointment",
            time(rounds, |i| {
                let (tools, maria, customer, ok) = (&tools, &maria, &customer, &ok);
                let start = slot(i);
                async move {
                    let r = run(tools, maria, &format!("b{i}"), "book_appointment",
                        &json!({"customer_id": customer, "service": "Tire rotation", "start": start})).await;
                    if r["ok"] == true {
                        ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
            .await,
        );
        println!("  ({} of {rounds} booked)", ok.into_inner());

        // Throughput: BOOKERS callers book distinct slots at once over a month.
        let t = Instant::now();
        let mut tasks = Vec::new();
        for b in 0..bookers {
            let tools = tools.clone();
            let customer = customer.clone();
            tasks.push(tokio::spawn(async move {
                let cx = ctx(&format!("CAthroughput{b}"), "+15125550101");
                let mut booked = 0u64;
                for i in 0..rounds / bookers {
                    let n = b + i * bookers;
                    let day = workday(chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap(), n / 20);
                    let start = format!("{day}T{:02}:{:02}", 8 + (n % 20) / 2, (n % 2) * 30);
                    let r = run(&tools, &cx, &format!("t{n}"), "book_appointment",
                        &json!({"customer_id": customer, "service": "Tire rotation", "start": start})).await;
                    booked += u64::from(r["ok"] == true);
                }
                booked
            }));
        }
        let mut booked = 0;
        for t in tasks {
            booked += t.await.unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "concurrent booking: {bookers} callers, {booked} bookings in {secs:.2} s = {:.0} bookings/s",
            booked as f64 / secs
        );

        if let Some((base, schema)) = cleanup {
            let admin = callbridge::db::connect(&base).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .unwrap();
        }
    });
}
