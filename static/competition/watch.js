// The review page's player reports what was watched (the browser's own played ranges) as soon as it plays,
// every few seconds while playing and on pause, seek and end; the server merges them and enforces the share.
// Watched time may grow by at most double the wall time between two accepted reports, counted from the first
// report of playback, so the report sent when playback starts is what lets the rest count.
(function () {
  const video = document.getElementById("film");
  const url = video.dataset.reportUrl;
  const token = document.querySelector("[name=csrfmiddlewaretoken]") || null;
  const csrf = token ? token.value : JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  let sent = "";
  function played() {
    const ranges = [];
    for (let i = 0; i < video.played.length; i++) ranges.push([video.played.start(i), video.played.end(i)]);
    return ranges;
  }
  function report() {
    const ranges = played();
    const body = JSON.stringify({ranges: ranges});
    if (!ranges.length || body === sent) return;
    sent = body;
    fetch(url, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}, body: body, credentials: "same-origin"})
      .then((response) => response.json())
      .then((data) => {
        if (data.share !== undefined) document.getElementById("watched-share").textContent = Math.floor(data.share * 100) + " %";
        if (data.error) sent = "";
      });
  }
  let last = 0;
  video.addEventListener("timeupdate", () => { if (Date.now() - last > 3000) { last = Date.now(); report(); } });
  ["playing", "pause", "ended", "seeked"].forEach((name) => video.addEventListener(name, report));
  window.addEventListener("pagehide", report);
})();
