/*
 * linli — the event pages' behaviours (templates events_*.html). Plain ES2017, no build step,
 * nothing from the internet; charts and the map use the ECharts bundle built into the binary.
 *
 * 1. Photo picker   [data-ep-photos]: uploads each chosen file through POST /api/v1/photos
 *                   (the session cookie plus the page's CSRF token) and keeps the reference in
 *                   a hidden `photos` field of the form. The form waits while uploads run.
 * 2. Map picker     [data-ep-map data-api data-lon data-lat data-clear]: draws the district's
 *                   boundary and roads; a tap fills the longitude and latitude fields. Typing
 *                   a building number clears the point (a building wins anyway), a tap clears
 *                   the building number. Sets data-state=ready|empty|error.
 * 3. Figures        #ep-dashboard[data-api data-refresh data-initial data-texts]: draws the
 *                   charts and re-reads the figures API every data-refresh seconds, updating
 *                   the cards, charts and the overdue list in place (data-refreshes counts).
 */
(function () {
  'use strict';

  function fmt(s, args) {
    return String(s || '').replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(args, k) ? String(args[k]) : m;
    });
  }

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  }

  // -------------------------------------------------------------------------------------
  // 1. Photos

  function initPhotos(box) {
    var input = box.querySelector('[data-ep-photo-input]');
    var list = box.querySelector('[data-ep-previews]');
    var status = box.querySelector('[data-ep-status]');
    var form = box.closest('form');
    var max = Number(box.dataset.max || 9);
    if (!input || !list) return;
    var busy = 0;

    function count() {
      return list.querySelectorAll('input[name="photos"]').length;
    }

    function setBusy(delta) {
      busy += delta;
      box.dataset.busy = busy > 0 ? '1' : '0';
      if (!form) return;
      form.querySelectorAll('button[type="submit"]').forEach(function (b) { b.disabled = busy > 0; });
    }

    function addPreview(file, ref) {
      var li = document.createElement('li');
      li.dataset.ref = ref;
      var hidden = document.createElement('input');
      hidden.type = 'hidden';
      hidden.name = 'photos';
      hidden.value = ref;
      var img = document.createElement('img');
      img.alt = file.name || ref;
      img.width = 96;
      img.height = 96;
      if (window.URL && URL.createObjectURL) img.src = URL.createObjectURL(file);
      var remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = '×';
      remove.title = box.dataset.tRemove || 'Remove';
      remove.setAttribute('aria-label', remove.title);
      remove.addEventListener('click', function () { li.remove(); });
      li.appendChild(hidden);
      li.appendChild(img);
      li.appendChild(remove);
      list.appendChild(li);
    }

    async function upload(file) {
      var res = await fetch('/api/v1/photos', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'X-CSRF-Token': csrf(),
          'Content-Type': file.type || 'application/octet-stream',
          'Accept': 'application/json'
        },
        body: file
      });
      var data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (!res.ok || !data || !data.photo) {
        var msg = data && data.error && data.error.message ? data.error.message : 'HTTP ' + res.status;
        throw new Error(msg);
      }
      return data.photo;
    }

    input.addEventListener('change', async function () {
      var files = Array.prototype.slice.call(input.files || []);
      input.value = '';
      if (!files.length) return;
      var room = max - count();
      var note = '';
      if (files.length > room) {
        note = box.dataset.tTooMany || '';
        files = files.slice(0, Math.max(room, 0));
      }
      setBusy(1);
      var failed = '';
      for (var i = 0; i < files.length; i++) {
        status.textContent = fmt(box.dataset.tUploading, { n: i + 1, total: files.length });
        try {
          addPreview(files[i], await upload(files[i]));
        } catch (e) {
          failed = (box.dataset.tFailed || '') + e.message;
        }
      }
      setBusy(-1);
      var done = fmt(box.dataset.tDone, { count: count() });
      status.textContent = [failed, note, done].filter(Boolean).join(' ');
      status.classList.toggle('field-error', !!failed);
    });

    if (form) {
      form.addEventListener('submit', function (e) {
        if (busy > 0) e.preventDefault();
      });
    }
  }

  // -------------------------------------------------------------------------------------
  // 2. Map picker

  // A Polygon / MultiPolygon geometry, Feature or FeatureCollection as one MultiPolygon.
  function toMultiPolygon(g) {
    if (!g || typeof g !== 'object') return null;
    if (g.type === 'Feature') return toMultiPolygon(g.geometry);
    var polys = [];
    if (g.type === 'FeatureCollection' || g.type === 'GeometryCollection') {
      (g.type === 'FeatureCollection' ? g.features || [] : g.geometries || []).forEach(function (p) {
        var m = toMultiPolygon(p);
        if (m) polys = polys.concat(m.coordinates);
      });
    } else if (g.type === 'Polygon' && Array.isArray(g.coordinates)) {
      polys = [g.coordinates];
    } else if (g.type === 'MultiPolygon' && Array.isArray(g.coordinates)) {
      polys = g.coordinates;
    }
    polys = polys.filter(function (p) { return Array.isArray(p) && p.length && Array.isArray(p[0]) && p[0].length >= 3; });
    return polys.length ? { type: 'MultiPolygon', coordinates: polys } : null;
  }

  // Roads in ECharts' flat "lines" format: count, x, y, x, y, count, …
  function packRoads(roads) {
    var size = 0, n = 0, i, j;
    var kept = [];
    for (i = 0; i < roads.length; i++) {
      var line = roads[i];
      if (!Array.isArray(line)) continue;
      var pts = line.filter(function (p) { return p && isFinite(p[0]) && isFinite(p[1]); });
      if (pts.length < 2) continue;
      kept.push(pts);
      size += 1 + pts.length * 2;
    }
    var flat = new Float64Array(size);
    var k = 0;
    for (i = 0; i < kept.length; i++) {
      flat[k++] = kept[i].length;
      for (j = 0; j < kept[i].length; j++) {
        flat[k++] = kept[i][j][0];
        flat[k++] = kept[i][j][1];
      }
      n++;
    }
    return { flat: flat, count: n };
  }

  function mapMessage(el, text, state) {
    el.innerHTML = '';
    var p = document.createElement('p');
    p.className = 'muted small';
    p.style.cssText = 'margin:0;height:100%;display:flex;align-items:center;justify-content:center;text-align:center;padding:1em;';
    p.textContent = text;
    el.appendChild(p);
    el.dataset.state = state;
  }

  function initMap(el) {
    var lonInput = document.getElementById(el.dataset.lon || '');
    var latInput = document.getElementById(el.dataset.lat || '');
    var clearInput = document.getElementById(el.dataset.clear || '');
    var picked = document.querySelector('[data-ep-picked]');
    if (!lonInput || !latInput) return;
    if (typeof window.echarts === 'undefined') {
      mapMessage(el, el.dataset.labelError || 'Map unavailable', 'error');
      return;
    }
    el.dataset.state = 'loading';
    fetch(el.dataset.api, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (data) { drawMap(el, data || {}, lonInput, latInput, clearInput, picked); })
      .catch(function (e) {
        if (window.console) console.error('linli map:', e);
        mapMessage(el, el.dataset.labelError || 'Map unavailable', 'error');
      });
  }

  function drawMap(el, data, lonInput, latInput, clearInput, picked) {
    var boundary = toMultiPolygon(data.boundary);
    var roads = packRoads(Array.isArray(data.roads) ? data.roads : []);
    var bb = Array.isArray(data.bbox) && data.bbox.length === 4 ? data.bbox : null;
    if (!boundary && !bb) {
      mapMessage(el, el.dataset.labelEmpty || 'No map', 'empty');
      return;
    }
    var frame = boundary || {
      type: 'Polygon',
      coordinates: [[[bb[0], bb[1]], [bb[2], bb[1]], [bb[2], bb[3]], [bb[0], bb[3]], [bb[0], bb[1]]]]
    };
    var midLat = bb ? (bb[1] + bb[3]) / 2 : 30;
    var name = 'ep-pick-' + ((data.region && data.region.code) || 'x');
    echarts.registerMap(name, {
      type: 'FeatureCollection',
      features: [{ type: 'Feature', properties: { name: 'area' }, geometry: frame }]
    });
    el.innerHTML = '';
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    function point() {
      var lon = parseFloat(lonInput.value), lat = parseFloat(latInput.value);
      return isFinite(lon) && isFinite(lat) ? [[lon, lat]] : [];
    }
    var series = [];
    if (roads.count) {
      series.push({
        type: 'lines', coordinateSystem: 'geo', polyline: true, large: true, largeThreshold: 500,
        silent: true, animation: false, lineStyle: { color: '#8e959d', width: 0.6, opacity: 0.8 },
        data: roads.flat
      });
    }
    series.push({
      id: 'pick', type: 'scatter', coordinateSystem: 'geo', symbol: 'pin', symbolSize: 34,
      itemStyle: { color: '#c8102e' }, silent: true, animation: false, data: point()
    });
    // Before setOption: the first render may finish inside it.
    chart.on('finished', function () { if (el.dataset.state !== 'ready') el.dataset.state = 'ready'; });
    chart.setOption({
      animation: false,
      geo: {
        map: name, roam: true, aspectScale: Math.max(0.1, Math.cos(midLat * Math.PI / 180)),
        layoutCenter: ['50%', '50%'], layoutSize: '95%', scaleLimit: { min: 0.8, max: 400 },
        selectedMode: false, label: { show: false }, emphasis: { disabled: true },
        itemStyle: boundary
          ? { areaColor: '#ffffff', borderColor: '#27415f', borderWidth: 1.2 }
          : { areaColor: 'rgba(0,0,0,0)', borderColor: 'rgba(0,0,0,0)' }
      },
      series: series
    });

    function show() {
      chart.setOption({ series: [{ id: 'pick', data: point() }] });
      if (picked) {
        picked.textContent = lonInput.value && latInput.value
          ? (el.dataset.labelPicked || '') + ' ' + lonInput.value + ', ' + latInput.value
          : '';
      }
    }
    chart.getZr().on('click', function (e) {
      var p = chart.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]);
      if (!p || !isFinite(p[0]) || !isFinite(p[1])) return;
      lonInput.value = p[0].toFixed(6);
      latInput.value = p[1].toFixed(6);
      if (clearInput) clearInput.value = '';
      show();
      el.dataset.picked = '1';
    });
    [lonInput, latInput].forEach(function (i) { i.addEventListener('change', show); });
    if (clearInput) {
      clearInput.addEventListener('input', function () {
        if (clearInput.value.trim()) {
          lonInput.value = '';
          latInput.value = '';
          show();
        }
      });
    }
    window.addEventListener('resize', function () { chart.resize(); });
    el.linliChart = chart;
  }

  // -------------------------------------------------------------------------------------
  // 3. Figures

  function initDashboard(root) {
    var texts = {}, data = null;
    try { texts = JSON.parse(root.dataset.texts || '{}'); } catch (e) { texts = {}; }
    try { data = JSON.parse(root.dataset.initial || 'null'); } catch (e) { data = null; }
    var every = Math.max(1, Number(root.dataset.refresh) || 30) * 1000;
    var stamp = document.getElementById('refreshed-at');
    var catEl = document.getElementById('chart-categories');
    var rateEl = document.getElementById('chart-rates');
    var charts = [];
    var catChart = null, rateChart = null;
    if (typeof window.echarts !== 'undefined') {
      if (catEl) { catChart = echarts.init(catEl, null, { renderer: 'canvas' }); charts.push(catChart); }
      if (rateEl) { rateChart = echarts.init(rateEl, null, { renderer: 'canvas' }); charts.push(rateChart); }
      window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
    }

    function cardText(v, kind) {
      if (v === null || v === undefined || !isFinite(v)) return '—';
      if (kind === 'rate') return Number(v).toFixed(1) + '%';
      if (kind === 'hours') return fmt(texts.hours, { h: Number(v).toFixed(1) });
      return String(Math.round(v));
    }

    function span(ms) {
      var minutes = Math.ceil(Math.max(ms, 0) / 60000);
      var d = Math.floor(minutes / 1440), h = Math.floor(minutes % 1440 / 60), m = minutes % 60;
      if (d > 0) return fmt(texts.days, { d: d, h: h });
      if (h > 0) return fmt(texts.hours_span, { h: h, m: m });
      return fmt(texts.minutes, { m: m });
    }

    function excerpt(s, n) {
      var flat = String(s || '').split(/\s+/).filter(Boolean).join(' ');
      var chars = Array.from(flat);
      return chars.length <= n ? flat : chars.slice(0, n).join('') + '…';
    }

    function updateCards(totals) {
      root.querySelectorAll('[data-kpi]').forEach(function (card) {
        var out = card.querySelector('[data-value]');
        var text = cardText(totals[card.dataset.kpi], card.dataset.kind);
        if (out.textContent !== text) {
          out.textContent = text;
          card.classList.remove('ep-flash-update');
          void card.offsetWidth; // restart the highlight
          card.classList.add('ep-flash-update');
        }
      });
    }

    function updateCharts(rows) {
      if (!catChart || !rateChart) return;
      // Most received first (as the API sorts), the top 12; the chart reads top-down.
      var top = rows.slice().sort(function (a, b) { return b.received - a.received; }).slice(0, 12).reverse();
      var names = top.map(function (r) { return r.category_name; });
      var empty = !top.length;
      var graphic = empty ? [{ type: 'text', left: 'center', top: 'middle', style: { text: texts.empty, fill: '#616e7c', fontSize: 14 } }] : [];
      var grid = { left: 8, right: 16, top: 36, bottom: 8, containLabel: true };
      var axisName = { width: 110, overflow: 'truncate' };
      catChart.setOption({
        animation: false,
        tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, confine: true },
        legend: { top: 0, data: [texts.received, texts.closed, texts.overdue] },
        grid: grid,
        xAxis: { type: 'value', minInterval: 1 },
        yAxis: { type: 'category', data: names, axisLabel: axisName },
        graphic: graphic,
        series: [
          { name: texts.received, type: 'bar', data: top.map(function (r) { return r.received; }), itemStyle: { color: '#0b5cad' } },
          { name: texts.closed, type: 'bar', data: top.map(function (r) { return r.closed; }), itemStyle: { color: '#1b7f3b' } },
          { name: texts.overdue, type: 'bar', data: top.map(function (r) { return r.overdue_now; }), itemStyle: { color: '#b42318' } }
        ]
      }, { replaceMerge: ['graphic'] });
      rateChart.setOption({
        animation: false,
        tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, confine: true, valueFormatter: function (v) { return v === null || v === undefined ? '—' : v + '%'; } },
        legend: { top: 0, data: [texts.on_time_rate, texts.satisfaction_rate] },
        grid: grid,
        xAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
        yAxis: { type: 'category', data: names, axisLabel: axisName },
        graphic: graphic,
        series: [
          { name: texts.on_time_rate, type: 'bar', data: top.map(function (r) { return r.on_time_rate; }), itemStyle: { color: '#1b7f3b' } },
          { name: texts.satisfaction_rate, type: 'bar', data: top.map(function (r) { return r.satisfaction_rate; }), itemStyle: { color: '#e0a100' } }
        ]
      }, { replaceMerge: ['graphic'] });
    }

    function updateWorst(list) {
      var table = document.getElementById('worst');
      var emptyNote = document.getElementById('worst-empty');
      if (!table || !Array.isArray(list)) return;
      var body = table.tBodies[0];
      // Keep the names the page gave for rows already shown; new rows use the API's.
      var known = {};
      Array.prototype.forEach.call(body.rows, function (tr) {
        var cell = tr.querySelector('[data-unit]');
        if (cell) known[tr.dataset.id] = cell.textContent;
      });
      var now = Date.now();
      body.innerHTML = '';
      list.forEach(function (e) {
        var tr = document.createElement('tr');
        tr.dataset.id = e.id;
        tr.dataset.dueAt = e.due_at;
        var cells = [
          null,
          e.category_name,
          excerpt(e.description, 30),
          known[e.id] !== undefined ? known[e.id] : (e.unit && e.unit.name) || '',
          span(now - Date.parse(e.due_at))
        ];
        cells.forEach(function (text, i) {
          var td = document.createElement('td');
          if (i === 0) {
            var a = document.createElement('a');
            a.className = 'mono';
            a.href = '/events/' + e.id;
            a.textContent = e.reference;
            td.appendChild(a);
          } else {
            td.textContent = text;
          }
          if (i === 2) td.className = 'ep-excerpt';
          if (i === 3) td.setAttribute('data-unit', '');
          if (i === 4) { td.className = 'ep-over'; td.setAttribute('data-over', ''); }
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      if (emptyNote) emptyNote.hidden = list.length > 0;
    }

    function render(d, full) {
      if (!d || !d.totals) return;
      updateCards(d.totals);
      updateCharts(Array.isArray(d.by_category) ? d.by_category : []);
      if (full) updateWorst(d.worst_overdue);
    }

    // China's time, as the server writes it, whatever the browser's zone.
    function clock() {
      var t = new Date(Date.now() + 8 * 3600 * 1000);
      var pad = function (n) { return (n < 10 ? '0' : '') + n; };
      return pad(t.getUTCHours()) + ':' + pad(t.getUTCMinutes()) + ':' + pad(t.getUTCSeconds());
    }

    var refreshes = 0;
    function refresh() {
      fetch(root.dataset.api, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (res) {
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.json();
        })
        .then(function (d) {
          render(d, true);
          refreshes++;
          root.dataset.refreshes = String(refreshes);
          root.dataset.state = 'fresh';
          if (stamp) stamp.textContent = clock();
        })
        .catch(function (e) {
          root.dataset.state = 'stale';
          if (stamp) stamp.textContent = clock() + ' · ' + (texts.failed || '') + ' (' + e.message + ')';
        })
        .then(function () { window.setTimeout(refresh, every); });
    }

    // The page came with the figures of the moment: draw them, then keep them fresh.
    render(data, false);
    root.dataset.refreshes = '0';
    root.dataset.state = 'drawn';
    window.setTimeout(refresh, every);
  }

  function start() {
    document.querySelectorAll('[data-ep-photos]').forEach(initPhotos);
    document.querySelectorAll('[data-ep-map]').forEach(initMap);
    var dash = document.getElementById('ep-dashboard');
    if (dash) initDashboard(dash);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
