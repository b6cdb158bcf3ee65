// Offline map: our own streets and district outlines as the base map, circles coloured by status.
(function () {
  var el = document.getElementById('map');
  var T = JSON.parse(document.getElementById('lc-text').textContent);
  var map = L.map(el, {preferCanvas: false, zoomSnap: 0.25});
  window.lcMap = map;  // surface.js adds the walking-time surface to it
  var colours = {planned: '#78909c', building: '#2e75b6', self_assessed: '#6a5acd', pre_accepted: '#b26a00', accepted: '#2e7d32', returned: '#c62828'};
  var tileUrl = el.dataset.tileUrl;
  if (tileUrl) { L.tileLayer(tileUrl, {attribution: el.dataset.tileAttribution || '', maxZoom: 19}).addTo(map); }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]; }); }
  function get(url) { return fetch(url, {credentials: 'same-origin'}).then(function (r) { return r.json(); }); }
  var weights = {primary: 2.2, secondary: 1.8, tertiary: 1.4, trunk: 2.4};
  Promise.all([get('/api/map/districts'), get('/api/map/streets'), get('/api/map/circles')]).then(function (res) {
    var districts = L.geoJSON(res[0], {style: {color: '#1f4e79', weight: 1.5, fill: true, fillOpacity: 0.04, dashArray: '4 3'}, interactive: false}).addTo(map);
    var streets = L.geoJSON(res[1], {className: 'lc-streets', interactive: false,
      style: function (f) { var h = f.properties && f.properties.highway; return {color: '#8a96a3', weight: weights[h] || 0.8, opacity: 0.9}; }}).addTo(map);
    var circles = L.geoJSON(res[2], {
      style: function (f) { var c = colours[f.properties.status] || '#555'; return {color: c, weight: 2, fillColor: c, fillOpacity: 0.18}; },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 7}); },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindPopup('<b><a href="/circles/' + encodeURIComponent(p.id) + '">' + esc(p.name) + '</a></b><br>' + p.id + ' · ' + p.status_label + (p.synthetic ? ' · ' + T.synthetic : ''));
      }}).addTo(map);
    var layers = {}; layers[T.streets] = streets; layers[T.districts] = districts; layers[T.circles] = circles;
    L.control.layers(null, layers, {collapsed: false}).addTo(map);
    L.control.scale({imperial: false}).addTo(map);
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function () {
      var div = L.DomUtil.create('div', 'legend');
      Object.keys(colours).forEach(function (k) { var lab = T.statuses[k] ? T.statuses[k][T.lang === 'en' ? 1 : 0] : k;
        var row = L.DomUtil.create('div', '', div), dot = L.DomUtil.create('i', '', row);
        dot.style.background = colours[k];  // CSSOM, not a style attribute: allowed by the CSP
        row.appendChild(document.createTextNode(lab)); });
      return div; };
    legend.addTo(map);
    var b = (res[1].features.length ? streets : districts).getBounds();
    if (circles.getLayers().length) { b = b.extend(circles.getBounds()); }
    if (b.isValid()) { map.fitBounds(b, {padding: [10, 10]}); } else { map.setView([30.70, 111.30], 11); }
    if (res[1].synthetic || res[2].features.some(function (f) { return f.properties.synthetic; })) {
      document.getElementById('map-note').textContent = '（' + T.synthetic + '）'; }
    el.dataset.ready = '1';
    el.dataset.streets = String(res[1].features.length);
  });
})();
