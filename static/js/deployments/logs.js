// Live log viewer and run progress (one socket: /ws/deployments/logs/<agent|run>/<id>/).
// Frames: {type: "lines", n, dropped, batches: [[agent, [[ts, level, stream, text], ...]], ...]}
//         {type: "run", run: {status, error, steps: [...]}}
// Lines are appended once per animation frame; filter and search apply to what is kept.
// A run view also loads, once its socket is open, the lines and state stored so far
// (data-log-history, data-run-url): a run opened late or reloaded is not blank, and nothing
// that happened between rendering the page and subscribing is missed. Lines are keyed, so
// one that arrives both ways shows once.
(function () {
  "use strict";
  const root = document.querySelector("[data-log-socket]");
  if (!root) return;
  const out = root.querySelector("[data-log-lines]");
  const levelSelect = root.querySelector("[data-log-level]");
  const search = root.querySelector("[data-log-search]");
  const status = root.querySelector("[data-log-status]");
  const ORDER = { debug: 0, info: 1, warning: 2, error: 3, critical: 4 };
  const KEEP = 5000;
  let kept = [];
  let pending = [];
  let scheduled = false;
  let dropped = 0;
  let seen = new Set();
  let runFrames = 0;

  function fresh(agent, line) {
    const key = agent + "|" + line[0] + "|" + line[2] + "|" + line[3];
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }

  function matches(line) {
    const minimum = ORDER[levelSelect.value] || 0;
    const needle = search.value.toLowerCase();
    return (ORDER[line[1]] || 0) >= minimum && (!needle || line[3].toLowerCase().includes(needle));
  }
  function render(line) {
    const row = document.createElement("div");
    row.className = "log-line level-" + line[1];
    row.textContent = new Date(line[0] * 1000).toISOString().slice(11, 23) + " " + line[1].toUpperCase().padEnd(8) + " " + line[3];
    return row;
  }
  function redraw() {
    out.replaceChildren(...kept.filter(matches).map(render));
  }
  function catchUp() {
    const history = root.dataset.logHistory;
    const runUrl = root.dataset.runUrl;
    const framesBefore = runFrames;
    const get = function (url) {
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .catch(function () { return null; });
    };
    if (runUrl) {
      get(runUrl).then(function (run) {
        if (run && runFrames === framesBefore) renderRun(run);  // a live frame is at least as new
      });
    }
    if (history) {
      get(history).then(function (body) {
        if (!body) return;
        const earlier = [];
        for (const l of body.lines) {
          const line = [l.time, l.level, l.stream, l.text];
          if (fresh(l.agent, line)) earlier.push(line);
        }
        kept = earlier.concat(kept).slice(-KEEP);
        redraw();
      });
    }
  }
  function flush() {
    scheduled = false;
    const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    const fragment = document.createDocumentFragment();
    for (const line of pending) if (matches(line)) fragment.appendChild(render(line));
    out.appendChild(fragment);
    kept = kept.concat(pending).slice(-KEEP);
    if (seen.size > 4 * KEEP) seen = new Set();  // bounded; only recent duplicates matter
    pending = [];
    while (out.childNodes.length > KEEP) out.removeChild(out.firstChild);
    if (atBottom) out.scrollTop = out.scrollHeight;
    status.textContent = dropped ? "live (" + dropped + " lines skipped under load)" : "live";
  }
  function renderRun(run) {
    const statusEl = document.querySelector("[data-run-status]");
    const stepsEl = document.querySelector("[data-run-steps]");
    const errorEl = document.querySelector("[data-run-error]");
    // The same words as the server-rendered page: "rolled_back" → "Rolled Back".
    if (statusEl) statusEl.textContent = run.status.split("_").map(function (word) {
      return word.charAt(0).toUpperCase() + word.slice(1);
    }).join(" ");
    if (errorEl) errorEl.textContent = run.error || "";
    if (!stepsEl) return;
    stepsEl.replaceChildren(...run.steps.map(function (step) {
      const li = document.createElement("li");
      li.className = "step step-" + step.state;
      const name = document.createElement("strong");
      name.textContent = step.name;
      li.appendChild(name);
      li.appendChild(document.createTextNode((step.agent ? " · " + step.agent : "") + " · " + step.state +
        (step.duration_ms !== null ? " · " + step.duration_ms + " ms" : "")));
      if (step.output) {
        const pre = document.createElement("pre");
        pre.textContent = step.output;
        li.appendChild(pre);
      }
      return li;
    }));
  }
  let backoff = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + root.dataset.logSocket);
    socket.onopen = function () { backoff = 500; status.textContent = "live"; catchUp(); };
    socket.onmessage = function (event) {
      const frame = JSON.parse(event.data);
      if (frame.type === "run") { runFrames += 1; renderRun(frame.run); return; }
      if (frame.type !== "lines") return;
      dropped += frame.dropped;
      for (const batch of frame.batches) for (const line of batch[1]) if (fresh(batch[0], line)) pending.push(line);
      if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) { status.textContent = "access denied"; return; }
      status.textContent = "reconnecting…";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }
  levelSelect.addEventListener("change", redraw);
  search.addEventListener("input", redraw);
  connect();
})();
