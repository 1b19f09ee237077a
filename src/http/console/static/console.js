// The console's live view: calls in progress from /console/live/events (Server-Sent Events).
// Whatever the server sends is put in the page as text (textContent), never as markup: the
// words are a caller's.
"use strict";
(function () {
  const root = document.getElementById("live-calls");
  if (!root) return;
  const empty = document.getElementById("live-empty");
  const status = document.getElementById("live-status");
  const calls = new Map();

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function latency(e) {
    const parts = [];
    if (e.stt_ms != null) parts.push("recognition " + e.stt_ms + " ms");
    if (e.llm_ms != null) parts.push("agent " + e.llm_ms + " ms");
    if (e.tts_ms != null) parts.push("speech " + e.tts_ms + " ms");
    return parts.join(" · ");
  }

  function call(sid) {
    let c = calls.get(sid);
    if (c) return c;
    const box = el("article", "live-call");
    box.id = "call-" + sid;
    box.dataset.sid = sid;
    const head = el("header", "live-head");
    const who = el("h2", "live-who", "Caller");
    const facts = el("p", "muted live-facts");
    // "Take this call": put the caller through to this advisor's phone.
    const take = el("form", "inline live-take");
    take.method = "post";
    take.action = "/console/live/" + encodeURIComponent(sid) + "/take";
    const csrf = document.createElement("input");
    csrf.type = "hidden";
    csrf.name = "csrf";
    csrf.value = root.dataset.csrf || "";
    take.append(csrf, el("button", "take", "Take this call"));
    head.append(who, facts, take);
    const turns = el("ol", "transcript live-turns");
    const hearing = el("p", "live-hearing");
    box.append(head, turns, hearing);
    root.append(box);
    c = { box, who, facts, turns, hearing, lastAgent: null };
    calls.set(sid, c);
    update();
    return c;
  }

  function update() {
    empty.hidden = calls.size > 0;
  }

  const apply = {
    started(e) {
      const c = call(e.sid);
      c.who.textContent = e.caller || e.from || "Unknown caller";
      const facts = [];
      if (e.caller && e.from) facts.push(e.from);
      if (e.vehicles && e.vehicles.length) facts.push(e.vehicles.join(", "));
      facts.push("since " + new Date(e.at).toLocaleTimeString());
      facts.push("on " + e.node);
      c.facts.textContent = facts.join(" · ");
    },
    hearing(e) {
      const c = call(e.sid);
      c.hearing.textContent = e.text;
    },
    turn(e) {
      const c = call(e.sid);
      const li = el("li", "turn " + e.speaker);
      li.append(el("span", "who", e.speaker), document.createTextNode(" "));
      const text = el("p", "said", e.text);
      li.append(text);
      const l = latency(e);
      if (l) li.append(el("p", "latency muted", l));
      c.turns.append(li);
      if (e.speaker === "caller") c.hearing.textContent = "";
      if (e.speaker === "agent") c.lastAgent = { text: text, said: e.text };
    },
    heard(e) {
      const c = call(e.sid);
      if (!c.lastAgent) return;
      const { text, said } = c.lastAgent;
      text.textContent = "";
      text.append(el("span", "heard", e.text));
      const rest = said.startsWith(e.text) ? said.slice(e.text.length).trim() : "";
      if (rest) {
        text.append(document.createTextNode(" "));
        const del = el("del", "unheard", rest);
        del.title = "not heard: the caller spoke over it";
        text.append(del);
      }
    },
    ended(e) {
      // Kept a minute, marked with its outcome, so the desk sees how it ended.
      const c = calls.get(e.sid);
      if (!c || c.ended) return;
      c.ended = true;
      c.box.classList.add("ended");
      c.hearing.textContent = "";
      c.box.append(el("p", "live-ended", "Ended: " + e.outcome));
      setTimeout(() => {
        c.box.remove();
        if (calls.get(e.sid) === c) calls.delete(e.sid);
        update();
      }, 60000);
    },
  };

  function snapshot(list) {
    root.textContent = "";
    calls.clear();
    for (const c of list) {
      if (c.started) apply.started(c.started);
      else call(c.sid);
      for (const t of c.turns) apply[t.type](t);
      if (c.hearing) apply.hearing({ sid: c.sid, text: c.hearing });
    }
    update();
  }

  const source = new EventSource("/console/live/events");
  source.addEventListener("snapshot", (m) => snapshot(JSON.parse(m.data)));
  source.addEventListener("live", (m) => {
    const e = JSON.parse(m.data);
    if (apply[e.type]) apply[e.type](e);
  });
  source.onopen = () => {
    status.textContent = "Live";
    status.dataset.state = "open";
  };
  source.onerror = () => {
    // The browser retries a dropped stream itself; a refused one (signed out) it gives up on.
    if (source.readyState === EventSource.CLOSED) {
      status.textContent = "Disconnected: reload the page (you may need to sign in again).";
      status.dataset.state = "closed";
    } else {
      status.textContent = "Reconnecting…";
      status.dataset.state = "reconnecting";
    }
  };
})();
