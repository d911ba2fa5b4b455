/* Keep the countdowns ticking and the page current.
   - Every data-refresh seconds, fetch this page again and swap in its content when it changed.
   - A release page (data-live) also follows its results live by Server-Sent Events: each new
     result updates its row at once; new timeline events fetch the page again (at most every
     2 s); at the release time the page reloads, now showing what may be shown. While its stream
     is open the page fetches itself only once a minute (the stream brings what changes; the
     fetch brings the rows' "Checked" times): fifty pages of a release of 10,000 files would
     otherwise each have the whole page made every few seconds.
   A button pauses the updates (WCAG 2.2.1). Without JavaScript, a <noscript> refresh. */
(function () {
  "use strict";
  var root = document.querySelector("[data-refresh]");
  if (!root || !window.fetch || !window.DOMParser) { return; }
  var every = Math.max(1, Number(root.getAttribute("data-refresh")) || 5) * 1000;
  var offset = Number(root.getAttribute("data-server-now")) - Date.now();
  var status = document.getElementById("onthedot-updated");
  var button = document.querySelector(".onthedot-pause");
  var paused = false;
  var shown = signature(root);
  var refetchAt = 0;
  var STREAMING_EVERY = 60000;
  var streaming = false, fetchedAt = Date.now();

  function signature(el) {
    var copy = el.cloneNode(true);
    copy.querySelectorAll("[data-release-at]").forEach(function (c) { c.textContent = ""; });
    return copy.innerHTML;
  }

  /* the same words as onthedot/web/countdown.py */
  function unit(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function span(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d >= 2) { return unit(d, "day"); }
    if (d) { return unit(d, "day") + " " + unit(h, "hour"); }
    if (h) { return unit(h, "hour") + " " + unit(m, "minute"); }
    if (m) { return unit(m, "minute") + " " + unit(s % 60, "second"); }
    return unit(s % 60, "second");
  }
  function words(ms) {
    if (ms > 0) { return "in " + span(Math.ceil(ms / 1000)); }
    if (-ms < 60000) { return "due now"; }
    return "released " + span(Math.floor(-ms / 1000)) + " ago";
  }
  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll("[data-release-at]").forEach(function (el) {
      el.textContent = words(Date.parse(el.getAttribute("data-release-at")) - now);
    });
  }
  function said(text) {
    if (status) { status.textContent = text; }
  }
  function updated() {
    said("Updated at " + new Date(Date.now() + offset).toLocaleTimeString("en-GB") + ".");
  }
  function refresh() {
    if (paused) { return; }
    fetchedAt = Date.now();
    fetch(window.location.href, { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-refresh]");
        if (shown === null) { shown = signature(root); }
        if (fresh && signature(fresh) !== shown) {
          root.innerHTML = fresh.innerHTML;
          index = null;
          shown = signature(root);
          tick();
          updated();
        }
      })
      .catch(function () { said("Cannot reach onthedot: the page will try again."); });
  }
  function refetchSoon() {
    var now = Date.now();
    if (refetchAt > now) { return; }
    refetchAt = Math.max(now, refetchAt + 2000);
    setTimeout(function () { refetchAt = 0; refresh(); }, refetchAt - now);
  }
  /* the tag colour of each status, as onthedot/web/pages.py's TAG_CLASSES */
  var TAGS = { embargoed: "govuk-tag--green", live: "govuk-tag--green" };
  /* each row by its key, found once (a release of 10,000 files has 10,000 rows to find in a
     message); made again when the page's content has been swapped */
  var index = null;
  function rowOf(key) {
    if (!index) {
      index = new Map();
      root.querySelectorAll("tr[data-key]").forEach(function (tr) {
        index.set(tr.getAttribute("data-key"), tr);
      });
    }
    return index.get(key);
  }
  function setRow(item) {
    var cut = item.key.lastIndexOf("|");
    var url = item.key.slice(0, cut), vantage = item.key.slice(cut + 1);
    var row = rowOf(item.key) || rowOf(url + "|");
    if (!row || !root.contains(row)) { refetchSoon(); return; }
    if (row.getAttribute("data-key") !== item.key) {
      index.delete(row.getAttribute("data-key"));
      row.setAttribute("data-key", item.key);
      index.set(item.key, row);
    }
    row.setAttribute("data-status", item.status);
    var tag = row.querySelector(".onthedot-status .govuk-tag");
    if (tag) {
      tag.textContent = item.status;
      tag.className = "govuk-tag " + (TAGS[item.status] || "govuk-tag--red");
    }
    var cells = { ".onthedot-vantage": vantage, ".onthedot-diagnosis": item.diagnosis,
                  ".onthedot-checked": item.checked_at };
    Object.keys(cells).forEach(function (sel) {
      var cell = row.querySelector(sel);
      if (cell) { cell.textContent = cells[sel]; }
    });
    var first = row.querySelector(".onthedot-first-live");
    if (first && item.first_live && !first.textContent.trim()) { first.textContent = item.first_live; }
  }
  /* a results message: [status, text number, checked number, [key, …]] per group of rows alike,
     each text once, each key without the site's address (base) when it starts with "/" */
  function setRows(batch) {
    batch.rows.forEach(function (group) {
      var status = group[0], at = group[2];
      group[3].forEach(function (key) {
        setRow({ key: key.charAt(0) === "/" ? batch.base + key : key, status: status,
                 diagnosis: batch.texts[group[1]], checked_at: batch.checked[at],
                 first_live: status === "live" ? batch.first_live[at] : "" });
      });
    });
  }
  function follow(url) {
    var source = new EventSource(url);
    var reopened = false;  /* a stream opened again: what came meanwhile is fetched */
    source.addEventListener("open", function () {
      if (reopened) { refresh(); }
      reopened = streaming = true;
    });
    source.addEventListener("error", function () { streaming = false; });
    source.addEventListener("results", function (e) {
      if (paused) { return; }
      setRows(JSON.parse(e.data));
      shown = null;  /* what is shown now, worked out when the page is next fetched */
      updated();
    });
    source.addEventListener("timeline", function () { if (!paused) { refetchSoon(); } });
    source.addEventListener("released", function () { source.close(); window.location.reload(); });
  }
  if (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      paused = !paused;
      button.textContent = paused ? "Resume automatic updates" : "Pause automatic updates";
      if (!paused) { refresh(); }
    });
  }
  var live = document.querySelector("[data-live]");
  if (live && window.EventSource) { follow(live.getAttribute("data-live")); }
  tick();
  setInterval(tick, 1000);
  setInterval(function () {
    if (!streaming || Date.now() - fetchedAt >= STREAMING_EVERY - every / 2) { refresh(); }
  }, every);
})();
