/* Keep the countdowns ticking and the page current: every data-refresh seconds, fetch this page
   again and swap in its content when it changed. A button pauses the updates (WCAG 2.2.1). */
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

  function signature(el) {
    var copy = el.cloneNode(true);
    copy.querySelectorAll("[data-release-at]").forEach(function (c) { c.textContent = ""; });
    return copy.innerHTML;
  }

  function words(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var text = h ? h + " h " + pad(m) + " min" : (m ? m + " min " + pad(s % 60) + " s" : s % 60 + " s");
    return ms > 0 ? "in " + text : "released " + text + " ago";
  }
  function tick() {
    var now = Date.now() + offset;
    root.querySelectorAll("[data-release-at]").forEach(function (el) {
      el.textContent = words(Date.parse(el.getAttribute("data-release-at")) - now);
    });
  }
  function refresh() {
    if (paused) { return; }
    fetch(window.location.href, { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-refresh]");
        if (fresh && signature(fresh) !== shown) {
          root.innerHTML = fresh.innerHTML;
          shown = signature(root);
          tick();
          status.textContent = "Updated at " + new Date(Date.now() + offset).toLocaleTimeString("en-GB") + ".";
        }
      })
      .catch(function () { status.textContent = "Cannot reach onthedot: the page will try again."; });
  }
  if (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      paused = !paused;
      button.textContent = paused ? "Resume automatic updates" : "Pause automatic updates";
    });
  }
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, every);
})();
