//! Under constant load: a node drained, a node killed, then a rolling restart of all three.
//! Each call is counted in the stage it was placed in: failed new calls (refused, busy, never
//! greeted), calls cut (the apology and the desk: their node died), and outcomes written.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callbridge::simulator::run::{CallSummary, place_call};

use crate::{Bench, call_sid};

/// A call and how it went.
struct Placed {
    sid: String,
    stage: &'static str,
    result: Result<CallSummary, String>,
}

/// Places `rate` calls a second until stopped; each is tagged with the stage it began in.
struct Load {
    stage: Arc<Mutex<&'static str>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    placed: Arc<Mutex<Vec<String>>>,
    generator: tokio::task::JoinHandle<Vec<tokio::task::JoinHandle<Placed>>>,
}

impl Load {
    fn start(bench: &Bench, rate: f64) -> Load {
        let stage = Arc::new(Mutex::new("steady"));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let placed = Arc::new(Mutex::new(Vec::new()));
        let plans: Vec<_> = (0..20_000).map(|_| bench.plan(call_sid())).collect();
        let (stage_now, stopped, sids) = (stage.clone(), stop.clone(), placed.clone());
        let gap = Duration::from_secs_f64(1.0 / rate);
        let generator = tokio::spawn(async move {
            let mut calls = Vec::new();
            let mut next = tokio::time::Instant::now();
            for plan in plans {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let stage = *stage_now.lock().unwrap();
                sids.lock().unwrap().push(plan.call_sid.clone());
                calls.push(tokio::spawn(async move {
                    let sid = plan.call_sid.clone();
                    let result = place_call(plan, |_| {}).await.map_err(|e| e.to_string());
                    Placed { sid, stage, result }
                }));
                next += gap;
                tokio::time::sleep_until(next).await;
            }
            calls
        });
        Load {
            stage,
            stop,
            placed,
            generator,
        }
    }

    fn stage(&self, name: &'static str) {
        *self.stage.lock().unwrap() = name;
    }

    async fn finish(self) -> Vec<Placed> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut out = Vec::new();
        for c in self.generator.await.unwrap() {
            out.push(c.await.unwrap());
        }
        out
    }
}

/// Drains node `i` and starts it again: seconds to exit, and whether it exited 0.
async fn drain_and_restart(bench: &mut Bench, i: usize) -> (f64, bool) {
    bench.cluster.nodes[i].signal("-TERM");
    let (clean, took) = bench.cluster.nodes[i]
        .exited(Duration::from_secs(60))
        .await
        .expect("the drained node exits");
    bench.cluster.restart(i).await;
    (took.as_secs_f64(), clean)
}

pub async fn run(bench: &mut Bench) {
    let rate = crate::common::env_or("RATE_PER_10S", 20) as f64 / 10.0;
    bench.script(4000);
    let load = Load::start(bench, rate);
    tokio::time::sleep(Duration::from_secs(10)).await;

    load.stage("drain node1");
    let (drain_secs, drain_clean) = drain_and_restart(bench, 0).await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    load.stage("kill node2");
    let mut on_node2 = Vec::new();
    let placed_so_far = load.placed.lock().unwrap().clone();
    for sid in placed_so_far {
        if let Ok(Some(live)) = bench.store.get(&sid).await
            && live.node == "node2"
        {
            on_node2.push(sid);
        }
    }
    bench.cluster.nodes[1].signal("-KILL");
    let killed = Instant::now();
    let mut lapsed_after = None;
    while killed.elapsed() < Duration::from_secs(60) {
        let mut held = 0;
        for sid in &on_node2 {
            if let Ok(Some(live)) = bench.store.get(sid).await
                && live.node == "node2"
            {
                held += 1;
            }
        }
        if held == 0 {
            lapsed_after = Some(killed.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = bench.cluster.nodes[1].exited(Duration::from_secs(5)).await;
    bench.cluster.restart(1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    load.stage("rolling restart");
    let rolling = Instant::now();
    let mut exits = Vec::new();
    for i in 0..3 {
        exits.push(drain_and_restart(bench, i).await);
    }
    let rolling_secs = rolling.elapsed().as_secs_f64();
    load.stage("after");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let placed = load.finish().await;
    // The last calls' records are written as they end.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let outcomes = crate::common::call_outcomes(&bench.database).await;
    println!(
        "load                              {rate:.1} new calls a second, {} calls",
        placed.len()
    );
    println!(
        "node1 drained                     exit {drain_secs:.1} s after SIGTERM ({}), back in the rotation after",
        if drain_clean { "exit 0" } else { "FAILED EXIT" }
    );
    println!(
        "node2 killed                      {} calls held there; leases lapsed {}",
        on_node2.len(),
        lapsed_after.map_or("NOT within 60 s".into(), |s| format!(
            "{s:.1} s after SIGKILL (CALL_TTL_SECS 6)"
        ))
    );
    println!(
        "rolling restart                   {rolling_secs:.1} s for three nodes; exits {:?}",
        exits
            .iter()
            .map(|(s, ok)| format!("{s:.1} s{}", if *ok { "" } else { " FAILED" }))
            .collect::<Vec<_>>()
    );
    let cut: Vec<&str> = placed
        .iter()
        .filter(|p| {
            matches!(&p.result, Ok(s) if s.after_stream.as_deref().is_some_and(|t| t.contains("went wrong")))
        })
        .map(|p| p.sid.as_str())
        .collect();
    println!(
        "calls cut (apology + desk)        {} ({} of them held by node2 when it was killed)",
        cut.len(),
        cut.iter()
            .filter(|s| on_node2.iter().any(|n| n == *s))
            .count()
    );
    println!(
        "by the stage a call was placed in (a call lasts about 10 s and can outlive its stage):"
    );
    for stage in [
        "steady",
        "drain node1",
        "kill node2",
        "rolling restart",
        "after",
    ] {
        let in_stage: Vec<&Placed> = placed.iter().filter(|p| p.stage == stage).collect();
        let mut failed = 0;
        let mut cut = 0;
        let mut written = 0;
        let mut errors: Vec<String> = Vec::new();
        for p in &in_stage {
            match &p.result {
                Ok(s) if s.greeted_after.is_some() => match s.after_stream.as_deref() {
                    Some(t) if t.contains("went wrong") => cut += 1,
                    Some(_) => {}
                    None => {
                        failed += 1;
                        errors.push("no after-stream answer".into());
                    }
                },
                // Its node died before the greeting: cut, like the calls it held.
                Ok(s)
                    if s.after_stream
                        .as_deref()
                        .is_some_and(|t| t.contains("went wrong")) =>
                {
                    cut += 1
                }
                Ok(_) => {
                    failed += 1;
                    errors.push("not greeted".into());
                }
                Err(e) => {
                    failed += 1;
                    errors.push(e.chars().take(120).collect());
                }
            }
            written += usize::from(outcomes.get(&p.sid).is_some_and(Option::is_some));
        }
        println!(
            "{stage:<18} placed {:>4}   failed new calls {failed:>3} (goal 0)   cut {cut:>3}   outcome written {written}/{}",
            in_stage.len(),
            in_stage.len()
        );
        for e in errors.iter().take(3) {
            println!("    e.g. {e}");
        }
    }
}
