//! Bookings under contention: racing callers, replays, repeated cancels, a deadline that
//! passes mid-write. Each is made exactly once or not at all.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_callers_racing_for_the_last_bay_get_one_booking_and_forty_nine_clear_refusals() {
    let c = crm().await;
    // Fifty different callers.
    let mut customers = Vec::new();
    for i in 0..50 {
        let phone = format!("+1512555{:04}", 2000 + i);
        let r = call(
            &c.tools,
            &ctx("CAsetup", Some(&phone)),
            "c",
            "create_customer",
            json!({"name": format!("Caller {}", ["Ann", "Bo", "Cy", "Di", "Ed"][i % 5])}),
        )
        .await;
        customers.push(ok(&r)["customer"]["id"].as_i64().unwrap());
    }
    // One bay left in the shop: every other bay is taken out of service.
    entity::bay::Entity::update_many()
        .col_expr(entity::bay::Column::Active, false.into())
        .filter(entity::bay::Column::Name.ne("Bay 1"))
        .exec(&c.db)
        .await
        .unwrap();
    let cx = ctx("CAsearch", Some(MARIA));
    let slots = call(
        &c.tools,
        &cx,
        "s",
        "find_available_slots",
        json!({"service": "Brake inspection", "date": "2026-11-25", "part_of_day": "afternoon"}),
    )
    .await;
    let start = ok(&slots)["slots"][0]["start"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(active_at(&c.db, &start).await, 0);

    // Open the pool's connections first, so the racers overlap instead of queueing behind
    // connection set-up.
    let warm: Vec<_> = (0..10)
        .map(|_| {
            let (tools, cx) = (c.tools.clone(), cx.clone());
            tokio::spawn(async move { call(&tools, &cx, "w", "list_services", json!({})).await })
        })
        .collect();
    for w in warm {
        assert!(w.await.unwrap().is_ok());
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for (i, customer) in customers.into_iter().enumerate() {
        let tools = c.tools.clone();
        let barrier = barrier.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let cx = ctx(&format!("CArace{i}"), Some(MARIA));
            barrier.wait().await;
            call(
                &tools,
                &cx,
                "call_1",
                "book_appointment",
                json!({"customer_id": customer, "service": "Brake inspection", "start": start}),
            )
            .await
        }));
    }
    let mut booked = 0;
    let mut taken = 0;
    for t in tasks {
        let reply = t.await.unwrap();
        if reply.is_ok() {
            booked += 1;
        } else {
            let error = refused(&reply, "slot_taken");
            let alternatives = error["alternatives"].as_array().unwrap();
            assert_eq!(alternatives.len(), 3, "{error}");
            assert!(alternatives.iter().all(|a| a["start"] != start.as_str()));
            taken += 1;
        }
    }
    assert_eq!((booked, taken), (1, 49));
    assert_eq!(active_at(&c.db, &start).await, 1);
}

#[tokio::test]
async fn a_replayed_booking_returns_the_same_appointment_even_when_replays_race() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let cx = ctx("CAreplay", Some(MARIA));
    let args =
        json!({"customer_id": customer, "service": "Tire rotation", "start": "2026-11-27T13:00"});
    let first = call(&c.tools, &cx, "call_7", "book_appointment", args.clone()).await;
    let first_id = ok(&first)["appointment"]["id"].clone();
    assert_eq!(first.content["already_booked"], false);
    let again = call(&c.tools, &cx, "call_7", "book_appointment", args.clone()).await;
    assert_eq!(ok(&again)["appointment"]["id"], first_id);
    assert_eq!(again.content["already_booked"], true);
    // A server that reuses tool call ids: the same id for a different booking is a new one.
    let other =
        json!({"customer_id": customer, "service": "Tire rotation", "start": "2026-11-27T14:00"});
    let reused = call(&c.tools, &cx, "call_7", "book_appointment", other).await;
    assert_ne!(ok(&reused)["appointment"]["id"], first_id);
    assert_eq!(reused.content["already_booked"], false);
    // Repeated under a new tool call id (the LLM re-issuing it after an interruption).
    let repeated = call(&c.tools, &cx, "call_9", "book_appointment", args.clone()).await;
    assert_eq!(ok(&repeated)["appointment"]["id"], first_id);
    assert_eq!(repeated.content["already_booked"], true);

    // Ten concurrent deliveries of one new tool call make one appointment.
    let args =
        json!({"customer_id": customer, "service": "Tire rotation", "start": "2026-11-27T15:00"});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (tools, cx, args) = (c.tools.clone(), cx.clone(), args.clone());
        tasks.push(tokio::spawn(async move {
            call(&tools, &cx, "call_8", "book_appointment", args).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(ok(&t.await.unwrap())["appointment"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let keyed = entity::appointment::Entity::find()
        .filter(entity::appointment::Column::CallSid.eq("CAreplay"))
        .count(&c.db)
        .await
        .unwrap();
    assert_eq!(keyed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_delivered_twenty_times_at_once_cancels_once_while_others_book() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let cx = ctx("CAcancel", Some(MARIA));
    let booked = call(
        &c.tools,
        &cx,
        "b",
        "book_appointment",
        json!({"customer_id": customer, "service": "Oil change", "start": "2026-12-01T08:00"}),
    )
    .await;
    let id = ok(&booked)["appointment"]["id"].clone();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (tools, cx) = (c.tools.clone(), cx.clone());
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                // Bookings of other times interleave with the cancels.
                let start = format!("2026-12-02T{:02}:00", 8 + i / 2);
                call(
                    &tools,
                    &cx,
                    &format!("o{i}"),
                    "book_appointment",
                    json!({"customer_id": customer, "service": "Oil change", "start": start}),
                )
                .await
            } else {
                call(
                    &tools,
                    &cx,
                    &format!("c{i}"),
                    "cancel_appointment",
                    json!({"customer_id": customer, "appointment_id": id}),
                )
                .await
            }
        }));
    }
    let mut first_cancels = 0;
    for t in tasks {
        let reply = t.await.unwrap();
        let body = ok(&reply);
        if body.get("already_cancelled") == Some(&json!(false)) {
            first_cancels += 1;
        }
    }
    assert_eq!(first_cancels, 1);
}

#[tokio::test]
async fn a_booking_past_its_deadline_still_completes_once_and_a_retry_finds_it() {
    let c = crm().await;
    let customer = maria_id(&c).await;
    let cx = ctx("CAslow", Some(MARIA));
    let args =
        json!({"customer_id": customer, "service": "Oil change", "start": "2026-12-01T10:00"})
            .to_string();
    let call = ToolCall::parse("call_slow", "book_appointment", args);
    let Ok(ToolRequest::Crm(request)) = &call.request else {
        panic!("{call:?}")
    };
    let reply = c
        .tools
        .run_bounded(&cx, "call_slow", request, std::time::Duration::ZERO)
        .await;
    let error = refused(&reply, "timeout");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("may still go through")
    );
    // The booking was not cut off: it lands, once.
    tokio::time::timeout(crate::helpers::HANG, async {
        while active_at(&c.db, "2026-12-01T10:00").await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the booking completes");
    let retry = c
        .tools
        .run_bounded(
            &cx,
            "call_slow",
            request,
            std::time::Duration::from_secs(30),
        )
        .await;
    assert_eq!(ok(&retry)["already_booked"], true);
    assert_eq!(active_at(&c.db, "2026-12-01T10:00").await, 1);
}
