// The feedback page's "use my location" button: fills the WGS-84 longitude and latitude from the
// phone's location (browsers report WGS-84). No inline script: the CSP allows only our own files.
(function () {
  "use strict";
  var btn = document.getElementById("fb-locate");
  if (!btn) { return; }
  var msg = document.getElementById("fb-locate-msg");
  btn.addEventListener("click", function () {
    if (!navigator.geolocation) { msg.textContent = btn.getAttribute("data-none") || "—"; return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById("fb-lon").value = pos.coords.longitude.toFixed(6);
      document.getElementById("fb-lat").value = pos.coords.latitude.toFixed(6);
      msg.textContent = "✓";
    }, function (err) { msg.textContent = err.message; }, { enableHighAccuracy: true, timeout: 10000 });
  });
})();
