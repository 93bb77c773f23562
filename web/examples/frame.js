'use strict';
// Shared by the tutorials' scripts: the playground in the page's frame.
// The frame starts loading before these scripts run and may have finished
// by then, its load event gone; its API (window.pcplay, set as the
// playground's page is parsed) is there in that case. Resolves with the API
// once the playground runs.
function playgroundIn(frame) {
  return new Promise((resolve) => {
    const take = () => resolve(frame.contentWindow.pcplay.ready);
    if (frame.contentWindow && frame.contentWindow.pcplay) take();
    else frame.addEventListener('load', take, { once: true });
  });
}
