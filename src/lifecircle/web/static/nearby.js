// The residents' page: what is within a 15-minute walk of a spot (GET /api/public/nearby).
(function () {
  var T = JSON.parse(document.getElementById('lc-text').textContent);
  var el = document.getElementById('map');
  var statusEl = document.getElementById('status');
  var results = document.getElementById('results');
  var elderly = document.getElementById('elderly');
  var map = L.map(el, {zoomSnap: 0.25});
  var isoColours = {5: '#1b5e20', 10: '#2e75b6', 15: '#6a5acd'};
  var here = null, isoLayer = null, outletLayer = L.layerGroup().addTo(map), last = null, seq = 0;
  if (el.dataset.tileUrl) { L.tileLayer(el.dataset.tileUrl, {attribution: el.dataset.tileAttribution || '', maxZoom: 19}).addTo(map); }
  map.setView([30.70, 111.30], 12);

  function fmt(s, vals) { return s.replace(/\{(\w+)\}/g, function (_, k) { return vals[k]; }); }
  function say(text) { statusEl.textContent = text; }
  function node(tag, cls, text) { var n = document.createElement(tag); if (cls) { n.className = cls; } if (text != null) { n.textContent = text; } return n; }
  function getJSON(url) {
    return fetch(url, {credentials: 'same-origin'}).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { var d = j.detail; throw new Error(Array.isArray(d) ? d.map(function (x) { return x.msg; }).join('; ') : String(d)); }
        return j;
      });
    });
  }

  getJSON('/api/public/streets').then(function (g) {
    var streets = L.geoJSON(g, {interactive: false, style: {color: '#8a96a3', weight: 1, opacity: 0.9}}).addTo(map);
    var b = streets.getBounds();
    if (b.isValid() && !last) { map.fitBounds(b, {padding: [10, 10]}); }
    el.dataset.ready = '1';
  }).catch(function () { el.dataset.ready = '1'; });

  function tag(text, cls) { return node('span', 'tag' + (cls ? ' ' + cls : ''), text); }

  function outletItem(f, o) {
    var li = node('li');
    var top = node('div');
    top.appendChild(node('strong', null, o.name));
    top.appendChild(document.createTextNode(' · ' + o.walk_min + ' ' + T.min + ' (' + Math.round(o.walk_m) + ' ' + T.m + ')'));
    li.appendChild(top);
    if (o.address) { li.appendChild(node('div', 'muted', o.address)); }
    if (f.code === 'mobile_food_cart' && o.opening_hours) { li.appendChild(node('div', 'muted', fmt(T.cart, {h: o.opening_hours}))); }
    var tags = node('div', 'tags');
    if (o.open_now === true) { tags.appendChild(tag(T.open, 'good')); }
    else if (o.open_now === false) { tags.appendChild(tag(T.closed, 'shut')); }
    else { tags.appendChild(tag(T.hours_unknown)); }
    if (o.opening_hours) { tags.appendChild(tag(o.opening_hours)); }
    ['integrity', 'accepts_cash', 'barrier_free', 'elderly_counter', 'online_pickup', 'delivery', 'home_service'].forEach(function (k) {
      if (o[k]) { tags.appendChild(tag(T[k === 'accepts_cash' ? 'cash' : k], 'good')); }
    });
    li.appendChild(tags);
    return li;
  }

  function render(j) {
    results.textContent = '';
    outletLayer.clearLayers();
    var groups = {};
    j.formats.forEach(function (f) { (groups[f.class] = groups[f.class] || []).push(f); });
    ['basic', 'quality', 'smart'].forEach(function (cls) {
      if (!groups[cls]) { return; }
      var sec = node('section', 'cls-' + cls);
      sec.appendChild(node('h2', null, T.classes[cls]));
      groups[cls].sort(function (a, b) { return (a.nearest_m == null) - (b.nearest_m == null) || (a.nearest_m || 0) - (b.nearest_m || 0); });
      groups[cls].forEach(function (f) {
        var box = node('article', 'fmt');
        box.dataset.code = f.code;
        box.dataset.walkMin = f.walk_min == null ? '' : String(f.walk_min);
        box.dataset.n15 = String(f.n_15min);
        var head = node('div', 'fmt-head');
        head.appendChild(node('h3', null, T.lang === 'en' ? f.name_en : f.name_zh));
        head.appendChild(f.walk_min == null ? node('span', 'walk far', T.none)
          : node('span', 'walk', T.nearest + ' ' + f.walk_min + ' ' + T.min + ' · ' + Math.round(f.nearest_m) + ' ' + T.m));
        box.appendChild(head);
        box.appendChild(node('div', 'count', fmt(T.count, {a: f.n_5min, b: f.n_10min, c: f.n_15min})));
        if (f.outlets.length) {
          var ul = node('ul', 'outlets');
          f.outlets.forEach(function (o) {
            ul.appendChild(outletItem(f, o));
            L.circleMarker([o.lat, o.lon], {radius: 5, color: cls === 'smart' ? '#6a5acd' : '#b26a00', weight: 2})
              .bindTooltip(o.name).addTo(outletLayer);
          });
          box.appendChild(ul);
        }
        sec.appendChild(box);
      });
      results.appendChild(sec);
    });
    if (isoLayer) { map.removeLayer(isoLayer); }
    isoLayer = L.geoJSON(j.isochrone, {interactive: false, style: function (ft) {
      var c = isoColours[ft.properties.minutes] || '#555'; return {color: c, weight: 1.5, fillColor: c, fillOpacity: 0.08};
    }}).addTo(map);
    results.dataset.speed = j.speed;
    results.dataset.ready = String(++seq);
    say(fmt(T.speed, {s: j.speed_kmh}));
  }

  function query(lon, lat, crs) {
    last = [lon, lat];
    if (here) { map.removeLayer(here); }
    here = L.circleMarker([lat, lon], {radius: 8, color: '#c62828', weight: 3, fillOpacity: 0.6}).bindTooltip(T.here).addTo(map);
    say(T.loading);
    var url = '/api/public/nearby?lon=' + lon.toFixed(6) + '&lat=' + lat.toFixed(6) + (elderly.checked ? '&speed=elderly' : '') + (crs ? '&crs=' + crs : '');
    getJSON(url).then(function (j) {
      render(j);
      if (isoLayer.getBounds().isValid()) { map.fitBounds(isoLayer.getBounds(), {padding: [10, 10]}); }
    }).catch(function (e) { say(T.error + e.message); });
  }

  map.on('click', function (e) { query(e.latlng.lng, e.latlng.lat); });
  elderly.addEventListener('change', function () { if (last) { query(last[0], last[1]); } });
  document.getElementById('locate').addEventListener('click', function () {
    if (!navigator.geolocation) { say(T.no_geo); return; }
    say(T.locating);
    navigator.geolocation.getCurrentPosition(function (p) { query(p.coords.longitude, p.coords.latitude); },
      function () { say(T.no_geo); }, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
  });
  var places = document.getElementById('places');
  document.getElementById('search-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var q = document.getElementById('q').value.trim();
    if (!q) { return; }
    say(T.searching);
    getJSON('/api/public/search?q=' + encodeURIComponent(q)).then(function (j) {
      places.textContent = '';
      if (!j.places.length) { say(T.no_places); return; }
      say('');
      j.places.forEach(function (p) {
        var li = node('li'), b = node('button', 'place', p.label);
        b.type = 'button';
        b.addEventListener('click', function () { places.textContent = ''; query(p.lon, p.lat); });
        li.appendChild(b); places.appendChild(li);
      });
    }).catch(function (err) { say(T.error + err.message); });
  });
})();
