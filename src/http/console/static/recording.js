// A call's recordings played in step with its transcript: the turn being heard is marked as
// a recording plays, and a turn's time button plays its recording from that turn. A call the
// desk did not answer was streamed twice and has a recording per stream (data-leg).
"use strict";
(function () {
  const players = Array.from(document.querySelectorAll("audio.recording"));
  if (players.length === 0) return;
  let current = null;

  function mark(leg, audio) {
    const t = audio.currentTime;
    let playing = null;
    for (const li of document.querySelectorAll('#transcript li[data-leg="' + leg + '"]')) {
      if (parseFloat(li.dataset.offset) <= t) playing = li;
    }
    if (playing === current) return;
    if (current) current.classList.remove("playing");
    if (playing) playing.classList.add("playing");
    current = playing;
  }

  players.forEach((audio, leg) => {
    audio.addEventListener("timeupdate", () => mark(leg, audio));
    audio.addEventListener("seeked", () => mark(leg, audio));
    // One recording plays at a time.
    audio.addEventListener("play", () => {
      for (const other of players) if (other !== audio) other.pause();
    });
  });
  for (const button of document.querySelectorAll("#transcript button.seek")) {
    button.addEventListener("click", () => {
      const audio = players[parseInt(button.dataset.leg, 10)];
      if (!audio) return;
      audio.currentTime = parseFloat(button.dataset.offset);
      audio.play();
    });
  }
})();
