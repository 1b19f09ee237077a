// A call's recording played in step with its transcript: the turn being heard is marked as
// the audio plays, and a turn's time button plays the recording from that turn.
"use strict";
(function () {
  const audio = document.getElementById("recording");
  if (!audio) return;
  const turns = Array.from(document.querySelectorAll("#transcript li[data-offset]"));
  let current = null;

  function mark() {
    const t = audio.currentTime;
    let playing = null;
    for (const li of turns) {
      if (parseFloat(li.dataset.offset) <= t) playing = li;
    }
    if (playing === current) return;
    if (current) current.classList.remove("playing");
    if (playing) playing.classList.add("playing");
    current = playing;
  }

  audio.addEventListener("timeupdate", mark);
  audio.addEventListener("seeked", mark);
  for (const button of document.querySelectorAll("#transcript button.seek")) {
    button.addEventListener("click", () => {
      audio.currentTime = parseFloat(button.dataset.offset);
      audio.play();
    });
  }
})();
