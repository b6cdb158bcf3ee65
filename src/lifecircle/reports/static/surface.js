/* lifecircle dashboard: the walking-time surface's format menu and speed switch. The page holds
   one polygon per hexagon; #surface-data holds, per format and speed, one character per hexagon:
   its class of minutes "0".."6", or "A".."G" when it is a blind spot. No network, no dependencies. */
(function () {
  "use strict";
  var dataEl = document.getElementById("surface-data");
  var form = document.getElementById("surface-controls");
  var layer = document.getElementById("surface");
  var blindLayer = document.getElementById("blind-spots");
  if (!dataEl || !form || !layer || !blindLayer) { return; }
  var data = JSON.parse(dataEl.textContent);
  var byCode = {};
  data.formats.forEach(function (f) { byCode[f.code] = f; });
  var hexes = layer.querySelectorAll("polygon.hex");
  var select = document.getElementById("surface-format");
  var caption = document.getElementById("surface-caption");
  var svgNS = "http://www.w3.org/2000/svg";

  function speed() {
    var on = form.querySelector("input[name=surface-speed]:checked");
    return on ? on.value : "n";
  }
  function draw() {
    var f = byCode[select.value];
    if (!f) { return; }
    var sp = speed(), codes = f[sp];
    var outlines = document.createDocumentFragment();
    for (var i = 0; i < hexes.length && i < codes.length; i++) {
      var c = codes.charCodeAt(i), blind = c >= 65, k = c - (blind ? 65 : 48);
      var hex = hexes[i];
      hex.setAttribute("fill", data.colours[k]);
      var title = hex.querySelector("title");
      if (title) { title.textContent = f.name + "：" + data.labels[k]; }
      if (blind) {
        var p = document.createElementNS(svgNS, "polygon");
        p.setAttribute("class", "blind");
        p.setAttribute("points", hex.getAttribute("points"));
        outlines.appendChild(p);
      }
    }
    while (blindLayer.firstChild) { blindLayer.removeChild(blindLayer.firstChild); }
    blindLayer.appendChild(outlines);
    layer.setAttribute("data-format", f.code);
    layer.setAttribute("data-speed", sp);
    if (caption) { caption.textContent = f.name + (sp === "e" ? caption.getAttribute("data-elderly") : ""); }
  }
  form.hidden = false;
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.addEventListener("change", draw);
})();
