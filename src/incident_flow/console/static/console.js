// incident_flow console: live refresh of the incident list (the page works without it).
// Every data-refresh seconds the same URL is fetched again and its table of incidents
// replaces this one; nothing is evaluated from the answer (DOMParser, then a node swap).
(function () {
  "use strict";
  var table = document.getElementById("incident-rows");
  if (!table || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(table.getAttribute("data-refresh") || "0", 10);
  if (!(seconds > 0)) { return; }
  function refresh() {
    if (document.hidden) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("incident-rows");
        var current = document.getElementById("incident-rows");
        if (fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
      })
      .catch(function () { /* offline for a moment: the next turn tries again */ });
  }
  window.setInterval(refresh, seconds * 1000);
}());
