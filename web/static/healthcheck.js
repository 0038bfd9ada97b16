/*
 * linli — the health-check pages (社区体检): the live progress line of a running check, the
 * portrait's map of buildings coloured by walking distance, and siting.
 *
 * Markup contract (web/templates/healthcheck_*.html):
 *   #hc-page[data-texts]           words from the translation table, as JSON
 *   #hc-progress[data-api][data-run]  a running check: polled until it ends, then the page
 *                                  reloads; gets data-state="running" | "done" | "failed"
 *   #hc-map[data-api][data-hc-api] the region map API and the health-check map API; gets
 *                                  data-state (as map.js), data-type and data-within, the
 *                                  buildings within the chosen type's radius
 *   #hc-map-type                   the type the map colours by
 *   #hc-siting[data-api][data-residents]  the siting form; fills #hc-sites and marks the
 *                                  sites on the map; #hc-sites gets data-state="ready"
 *
 * Plain ES2017, no modules, no build step; needs map.js (window.linliMap) and ECharts on the
 * portrait.
 */
(function () {
  'use strict';

  var page = document.getElementById('hc-page');
  if (!page) return;
  var texts = {};
  try { texts = JSON.parse(page.dataset.texts || '{}'); } catch (e) { texts = {}; }

  function text(key, args) {
    var s = texts[key] || key;
    Object.keys(args || {}).forEach(function (k) { s = s.split('{' + k + '}').join(String(args[k])); });
    return s;
  }

  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (!res.ok) {
            var msg = body && body.error && body.error.message ? body.error.message : 'HTTP ' + res.status;
            throw new Error(msg);
          }
          return body;
        });
      });
  }

  // ---- The live progress line --------------------------------------------------------
  function followProgress() {
    var line = document.getElementById('hc-progress');
    if (!line) return;
    var bar = document.getElementById('hc-progress-bar');
    var label = document.getElementById('hc-progress-text');
    var runId = Number(line.dataset.run);
    line.dataset.state = 'running';
    function tick() {
      getJson(line.dataset.api).then(function (run) {
        if (run.id === runId && run.state === 'running') {
          bar.max = Math.max(run.total, 1);
          bar.value = run.done;
          label.textContent = text('hc.running', { stage: run.stage_name, done: run.done, total: run.total });
          window.setTimeout(tick, 500);
          return;
        }
        // Ended (or a newer run took its place): the page shows the latest results.
        var failed = run.id === runId && run.state === 'failed';
        line.dataset.state = failed ? 'failed' : 'done';
        bar.value = bar.max;
        label.textContent = failed ? text('hp.progress.failed') + (run.error || '') : text('hp.progress.done');
        window.setTimeout(function () { window.location.reload(); }, failed ? 1500 : 300);
      }).catch(function () {
        label.textContent = text('hp.progress.lost');
        window.setTimeout(tick, 2000);
      });
    }
    tick();
  }

  // ---- The portrait's map ------------------------------------------------------------
  var BANDS = [
    { id: 'within', color: '#1a9850' },
    { id: 'near', color: '#fdae61' },
    { id: 'far', color: '#d73027' },
    { id: 'none', color: '#7b1010' },
    { id: 'off', color: '#9aa1a9' }
  ];

  function band(meters, placed, radius) {
    if (meters === null || meters === undefined) return placed ? 'none' : 'off';
    if (meters <= radius) return 'within';
    return meters <= 2 * radius ? 'near' : 'far';
  }

  function dotSize(residents) {
    return Math.min(18, 4 + 1.2 * Math.sqrt(Math.max(residents || 0, 0)));
  }

  var portrait = null; // { el, chart, hc, typeIndex }

  function bandSeries(hc, t) {
    var radius = hc.types[t].radius_m;
    var meters = hc.meters[t] || [];
    var data = {};
    BANDS.forEach(function (b) { data[b.id] = []; });
    hc.buildings.forEach(function (b, i) {
      // [id, lon, lat, residents, placed]
      var m = meters[i];
      data[band(m, b[4], radius)].push([b[1], b[2], b[3], m === null || m === undefined ? null : m, b[0]]);
    });
    var series = BANDS.map(function (b) {
      return {
        id: 'hc-' + b.id,
        name: text('hp.map.' + b.id),
        type: 'scatter',
        coordinateSystem: 'geo',
        data: data[b.id],
        symbolSize: function (v) { return dotSize(v[2]); },
        itemStyle: { color: b.color, borderColor: '#fff', borderWidth: 0.6, opacity: 0.9 },
        emphasis: { scale: 1.4 },
        z: 5,
        tooltip: {
          formatter: function (p) {
            var v = p.value;
            var where = v[3] === null ? text('hp.map.' + b.id) : text('hp.map.meters', { m: v[3] });
            return text('hp.map.residents', { n: v[2] }) + '<br>' + where;
          }
        }
      };
    });
    return { series: series, within: data.within.length, counts: data };
  }

  function legendEntries() {
    return BANDS.map(function (b) {
      return { name: text('hp.map.' + b.id), icon: 'circle', itemStyle: { color: b.color } };
    }).concat([{ name: text('hp.map.sites'), icon: 'pin', itemStyle: { color: '#0b5cad' } }]);
  }

  function sitesSeries(sites) {
    return {
      id: 'hc-sites',
      name: text('hp.map.sites'),
      type: 'scatter',
      coordinateSystem: 'geo',
      symbol: 'pin',
      symbolSize: 34,
      z: 10,
      itemStyle: { color: '#0b5cad' },
      label: { show: true, formatter: function (p) { return String(p.dataIndex + 1); }, color: '#fff', fontWeight: 'bold' },
      tooltip: {
        formatter: function (p) {
          return text('hp.site.row', { i: p.dataIndex + 1 }) + '<br>+' + text('hp.map.residents', { n: p.value[2] });
        }
      },
      data: sites.map(function (s) { return [s.lon, s.lat, s.residents]; })
    };
  }

  // The community's buildings with room around them (about 400 m), so that the map shows
  // the community rather than the district whose boundary it may borrow.
  function frameOf(buildings) {
    if (!buildings.length) return null;
    var f = [Infinity, Infinity, -Infinity, -Infinity];
    buildings.forEach(function (b) {
      f[0] = Math.min(f[0], b[1]); f[1] = Math.min(f[1], b[2]);
      f[2] = Math.max(f[2], b[1]); f[3] = Math.max(f[3], b[2]);
    });
    var pad = 0.004;
    return [f[0] - pad, f[1] - pad, f[2] + pad, f[3] + pad];
  }

  function typeIndex(hc, code) {
    for (var i = 0; i < hc.types.length; i++) if (hc.types[i].type === code) return i;
    return 0;
  }

  function colourBy(code) {
    if (!portrait) return;
    var t = typeIndex(portrait.hc, code);
    var drawn = bandSeries(portrait.hc, t);
    portrait.chart.setOption({ series: drawn.series });
    portrait.el.dataset.type = portrait.hc.types[t].type;
    portrait.el.dataset.within = String(drawn.within);
  }

  function drawPortrait() {
    var el = document.getElementById('hc-map');
    if (!el) return;
    var select = document.getElementById('hc-map-type');
    var fail = function (err) {
      var msg = (el.dataset.labelError || '') + (err && err.message ? ' (' + err.message + ')' : '');
      if (window.linliMap) window.linliMap.showMessage(el, 'map-error', msg, 'alert');
      else el.textContent = msg;
      el.dataset.state = 'error';
    };
    if (!window.linliMap || typeof window.echarts === 'undefined') {
      fail(new Error('map.js / echarts not loaded'));
      return;
    }
    el.dataset.state = 'loading';
    Promise.all([getJson(el.dataset.api), getJson(el.dataset.hcApi)]).then(function (got) {
      var region = got[0] || {};
      var hc = got[1];
      var t = typeIndex(hc, select ? select.value : '');
      var drawn = bandSeries(hc, t);
      var chart = window.linliMap.draw(el, region, {
        series: drawn.series.concat([sitesSeries([])]),
        legend: legendEntries(),
        points: hc.buildings.map(function (b) { return [b[1], b[2]]; }),
        frame: frameOf(hc.buildings)
      });
      if (!chart) return; // map.js showed the empty state
      portrait = { el: el, chart: chart, hc: hc };
      el.dataset.type = hc.types[t].type;
      el.dataset.within = String(drawn.within);
      if (select) select.addEventListener('change', function () { colourBy(select.value); });
    }).catch(fail);
  }

  // ---- Siting ------------------------------------------------------------------------
  function siting() {
    var form = document.getElementById('hc-siting');
    if (!form) return;
    var table = document.getElementById('hc-sites');
    var status = document.getElementById('hc-siting-status');
    var residents = Number(form.dataset.residents) || 0;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var type = form.elements.type.value;
      var option = form.elements.type.selectedOptions[0];
      var covered = Number(option && option.dataset.covered) || 0;
      var url = form.dataset.api + '?type=' + encodeURIComponent(type) + '&k=' + encodeURIComponent(form.elements.k.value);
      table.dataset.state = 'loading';
      status.textContent = '…';
      getJson(url).then(function (answer) {
        var body = table.tBodies[0];
        body.innerHTML = '';
        var sum = covered;
        answer.sites.forEach(function (s, i) {
          sum += s.residents;
          var tr = document.createElement('tr');
          tr.dataset.residents = String(s.residents);
          [String(i + 1), s.lon.toFixed(5) + ', ' + s.lat.toFixed(5), '+' + s.residents,
            residents ? (100 * sum / residents).toFixed(1) + '%' : '—'].forEach(function (v, j) {
            var td = document.createElement('td');
            if (j !== 1) td.className = 'num';
            td.textContent = v;
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
        table.hidden = answer.sites.length === 0;
        status.textContent = answer.sites.length ? '' : text('hp.site.none');
        var mapType = document.getElementById('hc-map-type');
        if (mapType && mapType.value !== type) {
          mapType.value = type;
          colourBy(type);
        }
        if (portrait) portrait.chart.setOption({ series: [sitesSeries(answer.sites)] });
        table.dataset.state = 'ready';
      }).catch(function (err) {
        status.textContent = text('hp.site.failed') + (err && err.message ? err.message : '');
        table.dataset.state = 'error';
      });
    });
  }

  function start() {
    followProgress();
    drawPortrait();
    siting();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
