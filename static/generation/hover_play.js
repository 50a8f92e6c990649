// Clip posters that play: pointing at a card (or focusing its link) plays its clip, muted, from the start;
// leaving it stops. The video has preload="none", so nothing is fetched until then. Cards swapped in by htmx
// are covered too: the listeners sit on the document.
(function () {
  function preview(holder) {
    return holder ? holder.querySelector("video.hover-play") : null;
  }

  function start(holder) {
    const video = preview(holder);
    if (!video) return;
    video.muted = true;
    video.classList.add("playing");
    const playing = video.play();
    if (playing && playing.catch) playing.catch(() => video.classList.remove("playing"));
  }

  function stop(holder) {
    const video = preview(holder);
    if (!video) return;
    video.pause();
    video.classList.remove("playing");
    if (video.readyState > 0) video.currentTime = 0;
  }

  function holderOf(node) {
    return node && node.closest ? node.closest("[data-hover-play]") : null;
  }

  // mouseenter and mouseleave do not bubble; listening in the capture phase sees them for every element.
  document.addEventListener("mouseenter", (event) => {
    if (event.target.matches && event.target.matches("[data-hover-play]")) start(event.target);
  }, true);
  document.addEventListener("mouseleave", (event) => {
    if (event.target.matches && event.target.matches("[data-hover-play]")) stop(event.target);
  }, true);
  document.addEventListener("focusin", (event) => start(holderOf(event.target)));
  document.addEventListener("focusout", (event) => {
    const holder = holderOf(event.target);
    if (holder && !holder.contains(event.relatedTarget)) stop(holder);
  });
})();
