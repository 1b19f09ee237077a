//! SIGTERM with live agent calls: every outcome written, every caller wound down (a decided
//! hand-off, not the apology a cut call gets), and the node's exit time.

use std::time::{Duration, Instant};

use callbridge::simulator::run::place_call;

use crate::{Fakes, Server, call_sid, conversation, outcomes, plan};

/// Rounds of the conversation each caller goes through: each call outlasts the drain.
const ROUNDS: usize = 4;

pub async fn run(fakes: &Fakes) {
    let calls = crate::common::env_or("DRAIN_CALLS", 40) as usize;
    let grace = crate::common::env_or("SHUTDOWN_GRACE_SECS", 30);
    let wind_down = crate::common::env_or("DRAIN_WIND_DOWN_SECS", 20);
    let (grace_s, wind_s) = (grace.to_string(), wind_down.to_string());
    let mut server = Server::start(
        fakes,
        None,
        &[
            ("SHUTDOWN_GRACE_SECS", &grace_s),
            ("DRAIN_WIND_DOWN_SECS", &wind_s),
        ],
    )
    .await;
    let caller_turns = conversation(fakes, calls, ROUNDS);
    let sids: Vec<String> = (0..calls as u64).map(call_sid).collect();
    let tasks: Vec<_> = sids
        .iter()
        .enumerate()
        .map(|(i, sid)| {
            let plan = plan(
                &server,
                sid.clone(),
                caller_turns.clone(),
                Duration::from_secs(8),
            );
            let delay = Duration::from_millis(i as u64 * 2000 / calls as u64);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                place_call(plan, |_| {}).await
            })
        })
        .collect();
    // Every call is past its greeting and in conversation.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let live = tasks.iter().filter(|t| !t.is_finished()).count();
    server.signal("-TERM");
    let signalled = Instant::now();
    let exit = server.exited(Duration::from_secs(grace + 30)).await;
    let mut wound_down = 0;
    let mut apologised = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(summary) => match summary.after_stream.as_deref() {
                Some(twiml) if twiml.contains("something went wrong") => apologised += 1,
                Some(_) => wound_down += 1,
                None => failed += 1,
            },
            Err(e) => {
                eprintln!("call failed: {e}");
                failed += 1;
            }
        }
    }
    let written = outcomes(&server.database, &sids).await;
    let with_outcome = written.iter().filter(|o| o.is_some()).count();
    let mut by_outcome = std::collections::BTreeMap::<String, usize>::new();
    for o in written.iter().flatten() {
        *by_outcome.entry(o.clone()).or_default() += 1;
    }
    println!("calls live at SIGTERM          {live}/{calls}");
    println!(
        "outcomes written               {with_outcome}/{calls}  (goal {calls}/{calls}) {by_outcome:?}"
    );
    println!(
        "callers wound down             {wound_down}/{calls}  (decided hand-off; apology {apologised}, no hand-off {failed})"
    );
    match exit {
        Some(after) => println!(
            "exit after SIGTERM             {:.1} s  (grace {grace} s, wind-down from {} s)",
            after.as_secs_f64(),
            grace - wind_down
        ),
        None => println!(
            "exit after SIGTERM             not within {:.0} s",
            signalled.elapsed().as_secs_f64()
        ),
    }
    server.stop().await;
}
