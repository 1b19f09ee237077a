//! Constant load through the balancer while nodes are drained, killed and restarted: no new
//! call fails, every call ends the way a node decided (the killed node's callers: the apology
//! and the desk from a survivor), and every call is logged once with an outcome.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callbridge::simulator::run::CallSummary;
use tokio::task::JoinHandle;

use super::{DESK, MARIA, Setup, setup};
use crate::fakes::deepgram_stt::ConnScript;
use crate::helpers::*;

/// What every caller under load says: two questions, then goodbye (about 8 s).
pub const PHRASES: [&str; 3] = [
    "What time do you open on Saturday?",
    "What time do you open on Saturday?",
    "That's all, thank you. Goodbye.",
];

/// One placed call and how it went.
pub struct Placed {
    pub sid: String,
    pub result: Result<CallSummary, String>,
}

/// How a call under load ended, from the caller's side.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// A node decided: goodbye, or the desk after a drain.
    Decided,
    /// Its node died: the apology and the desk, from another node.
    Apology,
    /// Not greeted, refused, busy, or no after-stream answer.
    Failed(String),
}

impl Placed {
    pub fn ending(&self) -> Ending {
        let cut = |t: &str| t.contains("went wrong") && t.contains(DESK);
        match &self.result {
            Err(e) => Ending::Failed(e.clone()),
            // Its node died before the greeting: cut like the calls it was running.
            Ok(s) if s.greeted_after.is_none() && s.after_stream.as_deref().is_some_and(cut) => {
                Ending::Apology
            }
            Ok(s) if s.greeted_after.is_none() => Ending::Failed("not greeted".into()),
            Ok(s) => match s.after_stream.as_deref() {
                Some(t) if cut(t) => Ending::Apology,
                Some(t) if t.contains("<Hangup/>") || t.contains(DESK) => Ending::Decided,
                other => Ending::Failed(format!("after the stream: {other:?}")),
            },
        }
    }
}

/// Callers placed at a steady pace until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    sids: Arc<Mutex<Vec<String>>>,
    generator: JoinHandle<Vec<JoinHandle<Placed>>>,
}

impl Load {
    /// Places a known caller's call every `every` through the balancer. The fake recogniser
    /// gets its scripts up front (two connections per call at most).
    pub fn start(setup: &Setup, every: Duration, most: usize) -> Load {
        for _ in 0..most * 2 {
            setup.stt.push(ConnScript {
                phrases: PHRASES.to_vec(),
                ..ConnScript::default()
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sids = Arc::new(Mutex::new(Vec::new()));
        let public_url = setup.cluster.public_url();
        let (stop_flag, placed) = (stop.clone(), sids.clone());
        let generator = tokio::spawn(async move {
            let mut calls = Vec::new();
            while !stop_flag.load(Ordering::SeqCst) && calls.len() < most {
                let sid = format!("CA{}", unique("load").replace('-', ""));
                placed.lock().unwrap().push(sid.clone());
                let url = public_url.clone();
                calls.push(tokio::spawn(async move {
                    let result = super::call_through(&url, &sid, MARIA, &PHRASES).await;
                    Placed { sid, result }
                }));
                tokio::time::sleep(every).await;
            }
            calls
        });
        Load {
            stop,
            sids,
            generator,
        }
    }

    /// Calls placed so far.
    pub fn placed(&self) -> Vec<String> {
        self.sids.lock().unwrap().clone()
    }

    /// Stops placing calls and waits for every placed call to end.
    pub async fn finish(self) -> Vec<Placed> {
        self.stop.store(true, Ordering::SeqCst);
        let mut placed = Vec::new();
        for call in self.generator.await.unwrap() {
            placed.push(call.await.unwrap());
        }
        placed
    }
}

/// Checks that no call failed, that every decided call is logged once with the outcome a
/// node gave it, and every apologised one once as `interrupted`; returns the apologised sids.
async fn check(setup: &Setup, placed: &[Placed]) -> HashSet<String> {
    let failed: Vec<_> = placed
        .iter()
        .filter_map(|p| match p.ending() {
            Ending::Failed(why) => Some(format!("{}: {why}", p.sid)),
            _ => None,
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:#?}",
        failed.len(),
        placed.len()
    );
    let mut apologised = HashSet::new();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for p in placed {
        let (logs, outcome, _) = setup.outcome(&p.sid).await;
        let ending = p.ending();
        assert_eq!(logs, 1, "{} logged once", p.sid);
        if ending == Ending::Apology {
            assert_eq!(outcome.as_deref(), Some("interrupted"), "{}", p.sid);
            apologised.insert(p.sid.clone());
        } else {
            assert!(
                matches!(
                    outcome.as_deref(),
                    Some("completed" | "drained" | "transferred")
                ),
                "{}: {outcome:?}",
                p.sid
            );
        }
        *outcomes.entry(outcome.unwrap_or_default()).or_default() += 1;
    }
    eprintln!("cluster: {} calls, outcomes {outcomes:?}", placed.len());
    apologised
}

/// Under constant load: node 1 drained by SIGTERM (its calls wound down to the desk or
/// finished, new calls elsewhere, none refused), then node 2 killed (its callers get the
/// apology and the desk from a survivor, its registry leases lapse within `CALL_TTL_SECS`).
#[tokio::test]
async fn a_drained_and_then_a_killed_node_fail_no_new_call() {
    let Some(mut setup) = setup(&[]).await else {
        return;
    };
    let load = Load::start(&setup, Duration::from_millis(500), 80);
    tokio::time::sleep(Duration::from_secs(5)).await;

    setup.cluster.nodes[0].signal("-TERM");
    let (clean, _) = setup.cluster.nodes[0]
        .exited(Duration::from_secs(30))
        .await
        .expect("the drained node exits");
    assert!(clean, "the drained node exits 0");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The calls node 2 holds in the registry when it dies.
    let mut on_node2 = Vec::new();
    for sid in load.placed() {
        if let Ok(Some(live)) = setup.store.get(&sid).await
            && live.node == "node2"
        {
            on_node2.push(sid);
        }
    }
    assert!(!on_node2.is_empty(), "node 2 had calls when it was killed");
    setup.cluster.nodes[1].signal("-KILL");
    let killed = Instant::now();
    // Calls under way at the kill (one setting up on node 2 may not be in the registry yet).
    let under_way = load.placed();
    loop {
        let mut held = 0;
        for sid in &on_node2 {
            if let Ok(Some(live)) = setup.store.get(sid).await
                && live.node == "node2"
            {
                held += 1;
            }
        }
        if held == 0 {
            break;
        }
        // CALL_TTL_SECS and MEDIA_ARRIVAL_SECS are 4: leases lapse within them (generous
        // margin for a loaded machine).
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "{held} leases of the killed node still held"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let placed = load.finish().await;

    let apologised = check(&setup, &placed).await;
    assert!(!apologised.is_empty(), "the killed node's callers were cut");
    assert!(
        apologised.iter().any(|sid| on_node2.contains(sid)),
        "the calls node 2 held were cut: {apologised:?} vs {on_node2:?}"
    );
    assert!(
        apologised.iter().all(|sid| under_way.contains(sid)),
        "no call placed after the kill was cut: {apologised:?}"
    );
}

/// Under constant load, each node in turn drained by SIGTERM and started again once the
/// previous one is back in the rotation: no call fails and none is cut.
#[tokio::test]
async fn a_rolling_restart_of_every_node_fails_no_call() {
    let Some(mut setup) = setup(&[]).await else {
        return;
    };
    let load = Load::start(&setup, Duration::from_millis(500), 120);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for i in 0..3 {
        setup.cluster.nodes[i].signal("-TERM");
        let (clean, _) = setup.cluster.nodes[i]
            .exited(Duration::from_secs(30))
            .await
            .expect("the node exits");
        assert!(clean, "node {} exits 0", i + 1);
        setup.cluster.restart(i).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let placed = load.finish().await;
    let apologised = check(&setup, &placed).await;
    assert!(apologised.is_empty(), "no call cut: {apologised:?}");
}
