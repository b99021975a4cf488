// A send's progress page: the counts, bar, ETA and what it waits for refresh every second
// until the send ends.
(function () {
  "use strict";
  const box = document.querySelector("[data-progress-url]");
  if (!box) return;
  const url = box.dataset.progressUrl;
  const fmt = new Intl.NumberFormat("en-GB");
  function show(data) {
    box.querySelector("[data-state]").textContent = data.state;
    box.querySelector("[data-percent]").textContent = String(data.percent);
    box.querySelector("[data-done]").textContent = fmt.format(data.done);
    box.querySelector("[data-total]").textContent = fmt.format(data.total);
    box.querySelector("[data-bar]").value = data.percent;
    box.querySelector("[data-eta]").textContent =
      data.eta_seconds === null ? "" : "about " + data.eta_seconds + " s left";
    const status = box.querySelector("[data-status]");
    if (status) {
      // Why the send is waiting (rate limit, SendGrid's reset, backoff, paused) or how far
      // preparing has got; hidden while it simply moves on.
      status.textContent = data.status || "";
      status.dataset.waiting = data.waiting || "";
      status.hidden = !data.status || data.waiting === "scheduled";
    }
    Object.keys(data.counts).forEach(function (state) {
      const cell = box.querySelector('[data-count="' + state + '"]');
      if (cell) cell.textContent = fmt.format(data.counts[state]);
    });
  }
  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        show(data);
        const doubt = data.counts["in-doubt"] || 0;
        if (data.state !== box.dataset.initialState ||
            (doubt > 0) !== (Number(box.dataset.inDoubtCount) > 0)) {
          // Started, finished, cancelled or stopped since the page was made, or recipients
          // came to be in doubt (or stopped being): reload once, so the buttons and the
          // message match (the new page starts in that state: no loop).
          window.location.reload();
        } else if (["preparing", "running", "paused", "scheduled", "in-doubt"].indexOf(data.state) >= 0) {
          setTimeout(tick, data.state === "scheduled" ? 5000 : 1000);
        }
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 1000);
})();
