/* lifecircle dashboard: sortable tables. No network, no dependencies. */
(function () {
  "use strict";
  function key(td) {
    var s = td.getAttribute("data-sort");
    if (s === null) { return td.textContent.trim(); }
    var n = Number(s);
    return isNaN(n) ? s : n;
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    if (typeof a === "number") { return -1; }
    if (typeof b === "number") { return 1; }
    return String(a).localeCompare(String(b), "zh-CN");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("asc");
        heads.forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        // a table of groups (one <tbody> per item, e.g. a circle and its reasons) sorts whole groups
        var grouped = table.classList.contains("grouped");
        var items = grouped ? Array.prototype.slice.call(table.tBodies)
                            : Array.prototype.slice.call(table.tBodies[0].rows);
        var parent = grouped ? table : table.tBodies[0];
        items.sort(function (a, b) {
          var ra = grouped ? a.rows[0] : a, rb = grouped ? b.rows[0] : b;
          var c = compare(key(ra.cells[col]), key(rb.cells[col]));
          return asc ? c : -c;
        });
        items.forEach(function (it) { parent.appendChild(it); });
      });
    });
  });
})();
