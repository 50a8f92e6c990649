// Two clips compared side by side (templates/generation/library/compare.html): one play/pause button and one
// position slider drive both videos, and the follower is kept within a tenth of a second of the leader while
// they play. Keeping them together needs seeking, and the media links answer without byte ranges (a browser then
// treats the clip as unseekable), so each clip is first read whole into a blob: URL (the CSP's media-src allows
// blob:), which seeks anywhere. Without this script, or if a clip cannot be read, each video keeps its own controls.
(function () {
  const root = document.querySelector("[data-compare]");
  if (!root) return;
  const videos = Array.from(root.querySelectorAll("video[data-compare-video]"));
  const bar = root.querySelector("[data-compare-controls]");
  if (videos.length !== 2 || !bar) return;
  const button = bar.querySelector("[data-compare-play]");
  const seek = bar.querySelector("[data-compare-seek]");
  const clock = bar.querySelector("[data-compare-time]");
  const DRIFT = 0.1; // seconds the follower may wander from the leader before it is moved back
  let seeking = false;

  async function local(video) {
    const response = await fetch(video.currentSrc || video.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} for ${video.id}`);
    const url = URL.createObjectURL(await response.blob());
    await new Promise((resolve, reject) => {
      video.addEventListener("loadedmetadata", resolve, { once: true });
      video.addEventListener("error", reject, { once: true });
      video.src = url;
    });
  }

  const duration = (video) => (Number.isFinite(video.duration) ? video.duration : 0);
  // The longer clip leads: the shorter one stops on its last frame while the other plays on.
  const leader = () => (duration(videos[1]) > duration(videos[0]) ? videos[1] : videos[0]);
  const follower = () => (leader() === videos[0] ? videos[1] : videos[0]);
  const length = () => Math.max(duration(videos[0]), duration(videos[1]));
  const playing = () => videos.some((video) => !video.paused && !video.ended);

  function place(video, time) {
    const end = duration(video);
    video.currentTime = end ? Math.min(time, end) : time;
  }

  function show() {
    const time = leader().currentTime;
    if (!seeking && length()) seek.value = String(Math.round((time / length()) * 1000));
    clock.textContent = `${time.toFixed(1)} s`;
    button.textContent = playing() ? "Pause both" : "Play both";
    button.setAttribute("aria-pressed", playing() ? "true" : "false");
  }

  function align() {
    const lead = leader();
    const other = follower();
    const target = Math.min(lead.currentTime, duration(other) || lead.currentTime);
    if (Math.abs(other.currentTime - target) > DRIFT && !(other.ended && target >= duration(other))) {
      other.currentTime = target;
    }
  }

  function tick() {
    if (!playing()) return show();
    align();
    show();
    window.requestAnimationFrame(tick);
  }

  async function play() {
    if (leader().ended || (length() && leader().currentTime >= length() - 0.05)) {
      videos.forEach((video) => place(video, 0));
    }
    place(follower(), leader().currentTime);
    try {
      await Promise.all(videos.map((video) => video.play()));
    } catch (error) {
      videos.forEach((video) => video.pause()); // one refused to play: neither runs alone
    }
    window.requestAnimationFrame(tick);
  }

  function pause() {
    videos.forEach((video) => video.pause());
    place(follower(), leader().currentTime);
    show();
  }

  button.addEventListener("click", () => (playing() ? pause() : play()));
  videos.forEach((video) => video.addEventListener("click", () => (playing() ? pause() : play())));
  seek.addEventListener("input", () => {
    seeking = true;
    const time = (Number(seek.value) / 1000) * length();
    videos.forEach((video) => place(video, time));
    show();
  });
  seek.addEventListener("change", () => {
    seeking = false;
    show();
  });
  // The leader reaching its end stops both; a follower ending early just holds its last frame.
  videos.forEach((video) => {
    video.addEventListener("ended", () => {
      if (video === leader()) pause();
    });
    video.addEventListener("loadedmetadata", show);
    video.addEventListener("pause", show);
  });
  bar.hidden = false;
  button.disabled = true;
  button.textContent = "Loading…";
  Promise.all(videos.map(local)).then(
    () => {
      videos.forEach((video) => {
        video.controls = false;
        video.loop = false;
        video.muted = true;
      });
      button.disabled = false;
      root.dataset.compareReady = "true";
      show();
    },
    () => {
      bar.hidden = true; // each video keeps its own controls
    },
  );
})();
