// The walking-time surface on the map (issue 14): hexagons coloured by minutes to the nearest outlet
// of the chosen format (colours and legend from the server, as the dashboard's), blind spots outlined,
// and the blind spots by district in a table. Reads /api/surface; retries while the city is computed.
(function () {
  var map = window.lcMap, el = document.getElementById('map');
  var T = JSON.parse(document.getElementById('lc-text').textContent);
  var form = document.getElementById('surface-form'), select = document.getElementById('surface-format');
  var status = document.getElementById('surface-status'), legend = document.getElementById('surface-legend');
  var section = document.getElementById('surface-blind'), tbody = document.querySelector('#surface-blind-table tbody');
  var OPACITY = 0.75, EN = T.lang === 'en', COMMA = EN ? ', ' : '，', OPEN = EN ? ' (' : '（', CLOSE = EN ? ')' : '）';
  el.dataset.surfaceOpacity = String(OPACITY);
  map.createPane('surface').style.zIndex = 350;  // under the streets, districts and circles (400)
  var renderer = L.canvas({pane: 'surface'});
  var layer = null, request = 0, retry = null;
  function num(x) { return Math.round(x).toLocaleString(EN ? 'en' : 'zh-CN'); }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]; }); }
  function speed() { return form.querySelector('input[name=speed]:checked').value; }
  function clear() {
    if (layer) { map.removeLayer(layer); layer = null; }
    legend.hidden = true; section.hidden = true; el.dataset.surface = '';
  }
  function cell(tr, text, cls) { var td = document.createElement('td'); td.textContent = text; if (cls) { td.className = cls; } tr.appendChild(td); }
  function drawLegend(rows) {
    legend.textContent = '';
    rows.concat([{colour: '', label: T.blind_outline}]).forEach(function (r) {
      var span = document.createElement('span'), sw = document.createElement('i');
      if (r.colour) { sw.style.background = r.colour; } else { sw.className = 'blind'; }  // CSSOM: allowed by the CSP
      span.appendChild(sw); span.appendChild(document.createTextNode(r.label)); legend.appendChild(span);
    });
    legend.hidden = false;
  }
  function drawTable(data) {
    tbody.textContent = '';
    var rows = data.blind_spots.concat([{district_name: T.total, blind_cells: data.totals.blind_cells, blind_residents: data.totals.blind_residents,
      blind_elderly: data.totals.blind_elderly, residents: data.totals.residents, total: true}]);
    rows.forEach(function (r) {
      var tr = document.createElement('tr');
      if (r.total) { tr.className = 'total'; }
      [r.district_name, num(r.blind_cells), num(r.blind_residents), num(r.blind_elderly), num(r.residents)].forEach(function (v, i) {
        cell(tr, v, i ? 'n' : '');
      });
      tbody.appendChild(tr);
    });
    document.getElementById('surface-blind-title').textContent = T.blind_title + ' · ' + data.format_name + OPEN + data.layer_min + (EN ? '' : ' ') + T.layer + COMMA +
      (data.speed === 'elderly' ? T.speed_elderly : T.speed_default) + ' ' + data.speed_kmh + ' km/h' + CLOSE;
    section.hidden = false;
  }
  function popup(p) {
    var m = p.minutes === null ? T.unreachable : p.minutes.toFixed(1) + ' ' + T.minutes;
    return '<b>' + esc(m) + '</b>' + (p.blind ? ' · <b>' + esc(T.blind) + '</b>' : '') + '<br>' + esc(p.district_name || '—') +
      '<br>' + esc(T.residents) + ' ' + num(p.residents) + ' · ' + esc(T.older) + ' ' + num(p.elderly);
  }
  function draw(data) {
    if (layer) { map.removeLayer(layer); }
    layer = L.geoJSON(data, {renderer: renderer, pane: 'surface',
      style: function (f) { var p = f.properties;
        return {fillColor: p.colour, fillOpacity: OPACITY, stroke: p.blind, color: '#000', weight: 1.5, opacity: 1}; },
      onEachFeature: function (f, l) { l.bindPopup(popup(f.properties)); }}).addTo(map);
    drawLegend(data.legend);
    drawTable(data);
    status.textContent = num(data.features.length) + ' ' + T.cells + COMMA + num(data.totals.blind_cells) + ' ' + T.blind_cells +
      OPEN + T.residents + ' ' + num(data.totals.blind_residents) + (EN ? '' : ' ' + T.persons) + CLOSE + (data.synthetic ? ' · ' + T.synthetic : '');
    el.dataset.surface = data.format + ':' + data.speed;
    el.dataset.surfaceCells = String(data.features.length);
  }
  function load() {
    var fmt = select.value, mine = ++request;
    clearTimeout(retry);
    if (!fmt) { clear(); status.textContent = ''; return; }
    status.textContent = T.computing;
    fetch('/api/surface?format=' + encodeURIComponent(fmt) + '&speed=' + speed(), {credentials: 'same-origin'}).then(function (r) {
      return r.json().then(function (body) { return {r: r, body: body}; }, function () { return {r: r, body: {}}; });
    }).then(function (x) {
      if (mine !== request) { return; }  // the user chose something else meanwhile
      if (x.r.status === 503) { retry = setTimeout(load, 1000 * Math.min(10, Number(x.r.headers.get('Retry-After')) || 3)); return; }
      if (!x.r.ok) {
        clear();
        var d = x.body.detail;
        status.textContent = T.failed + (Array.isArray(d) ? d.map(function (p) { return p.msg; }).join('；') : (d || x.r.status));
        return;
      }
      draw(x.body);
    }).catch(function () { if (mine === request) { clear(); status.textContent = T.failed + '—'; } });
  }
  form.addEventListener('change', load);
  form.addEventListener('submit', function (e) { e.preventDefault(); load(); });
})();
