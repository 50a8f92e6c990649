// The review page's player reports what was watched (the browser's own played ranges), every few
// seconds while playing and on pause, seek and end; the server merges them and enforces the share.
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
  ["pause", "ended", "seeked"].forEach((name) => video.addEventListener(name, report));
  window.addEventListener("pagehide", report);
})();
