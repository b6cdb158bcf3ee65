// The circle page's live card: every 5 s, ask /api/circles/{id}/indicators and update the time,
// the grade, the basic coverage and each format's share in place (no reload; the CSP allows only
// our own script files). Grade names come from the page's data-grade-* attributes.
(function () {
  "use strict";
  var card = document.getElementById("live-card");
  if (!card || document.getElementById("live-error")) { return; }
  var id = card.getAttribute("data-circle");
  function pct(x) { return (x === null || x === undefined) ? "—" : (x * 100).toFixed(1) + "%"; }
  function show(d) {
    var when = document.getElementById("live-as-of");
    if (when && d.as_of) { when.textContent = d.as_of.replace("T", " ").replace(/\..*$/, "").replace("+00:00", " UTC"); }
    var g = document.getElementById("live-grade");
    if (g && d.grade) { g.textContent = (document.documentElement.lang === "en" ? d.grade.name_en : d.grade.name) || d.grade.code; }
    var b = document.getElementById("live-basic-coverage");
    if (b && d.indicators) { b.textContent = pct(d.indicators.basic_coverage); }
    var rows = document.querySelectorAll("#live-coverage tr[data-format]");
    for (var i = 0; i < rows.length; i++) {
      var code = rows[i].getAttribute("data-format");
      var cell = rows[i].querySelector(".live-share");
      if (cell && d.coverage && code in d.coverage) { cell.textContent = pct(d.coverage[code]); }
    }
  }
  function poll() {
    fetch("/api/circles/" + encodeURIComponent(id) + "/indicators", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { show(d); } })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }
  setInterval(poll, 5000);
})();
