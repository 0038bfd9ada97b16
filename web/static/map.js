/*
 * linli — region map, drawn offline with ECharts (no tiles, no CDN).
 *
 * Markup contract (see web/templates):
 *   <div id="map" data-code="330102" data-api="/api/v1/regions/330102/map"
 *        data-label-boundary="区界" data-label-roads="道路" data-label-grids="网格"
 *        data-label-empty="本区域还没有导入地图数据。"
 *        data-label-error="地图数据加载失败"   (optional)
 *        style="height:70vh"></div>
 *   <script src="/static/vendor/echarts.min.js"></script><script src="/static/map.js"></script>
 *
 * The API answers { region, bbox, boundary, roads, grids, attribution } (see DESIGN/API docs).
 * When done, #map gets data-state="ready" | "empty" | "error" (tests wait for it).
 *
 * Plain ES2017, no modules, no build step.
 */
(function () {
  'use strict';

  // The boundary fill must stand out from whatever background #map has (see pickBoundaryFill).
  var BOUNDARY_FILL = '#eef2f7';
  var BOUNDARY_LINE = '#27415f';
  var ROAD_COLOR = '#8e959d';
  // Translucent fills for grids; borders use the same hue, stronger.
  var GRID_HUES = [
    [64, 120, 200], [230, 126, 34], [39, 174, 96], [192, 57, 43],
    [142, 68, 173], [22, 160, 133], [211, 84, 0], [41, 128, 185],
    [243, 156, 18], [127, 140, 141]
  ];

  function rgba(c, a) {
    return 'rgba(' + c[0] + ',' + c[1] + ',' + c[2] + ',' + a + ')';
  }

  function escapeHtml(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (ch) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[ch];
    });
  }

  function isFiniteNumber(v) {
    return typeof v === 'number' && isFinite(v);
  }

  // Accepts a Polygon / MultiPolygon geometry, a Feature, or a FeatureCollection;
  // returns a MultiPolygon geometry or null when there is nothing to draw.
  function toMultiPolygon(g) {
    if (!g || typeof g !== 'object') return null;
    if (g.type === 'Feature') return toMultiPolygon(g.geometry);
    var polys = [];
    if (g.type === 'FeatureCollection' || g.type === 'GeometryCollection') {
      var parts = g.type === 'FeatureCollection' ? (g.features || []) : (g.geometries || []);
      parts.forEach(function (p) {
        var m = toMultiPolygon(p);
        if (m) polys = polys.concat(m.coordinates);
      });
    } else if (g.type === 'Polygon' && Array.isArray(g.coordinates)) {
      polys = [g.coordinates];
    } else if (g.type === 'MultiPolygon' && Array.isArray(g.coordinates)) {
      polys = g.coordinates;
    }
    polys = polys.filter(function (poly) {
      return Array.isArray(poly) && poly.length > 0 && Array.isArray(poly[0]) && poly[0].length >= 3;
    });
    return polys.length ? { type: 'MultiPolygon', coordinates: polys } : null;
  }

  function Extent() {
    this.minX = Infinity; this.minY = Infinity; this.maxX = -Infinity; this.maxY = -Infinity;
  }
  Extent.prototype.add = function (x, y) {
    if (x < this.minX) this.minX = x;
    if (x > this.maxX) this.maxX = x;
    if (y < this.minY) this.minY = y;
    if (y > this.maxY) this.maxY = y;
  };
  Extent.prototype.addMultiPolygon = function (mp) {
    var self = this;
    mp.coordinates.forEach(function (poly) {
      // The exterior ring bounds the polygon.
      poly[0].forEach(function (p) { self.add(p[0], p[1]); });
    });
  };
  Extent.prototype.valid = function () {
    return this.minX <= this.maxX && this.minY <= this.maxY;
  };

  // Point-in-polygon for a MultiPolygon (even-odd over all rings, so holes count),
  // with a bounding-box pre-check per polygon.
  function makeInside(mp) {
    if (!mp) return null;
    var polys = mp.coordinates.map(function (poly) {
      var e = new Extent();
      poly[0].forEach(function (p) { e.add(p[0], p[1]); });
      return { rings: poly, e: e };
    });
    return function (x, y) {
      var inside = false;
      for (var i = 0; i < polys.length; i++) {
        var e = polys[i].e;
        if (x < e.minX || x > e.maxX || y < e.minY || y > e.maxY) continue;
        var rings = polys[i].rings;
        for (var r = 0; r < rings.length; r++) {
          var ring = rings[r];
          for (var a = 0, b = ring.length - 1; a < ring.length; b = a++) {
            var ya = ring[a][1], yb = ring[b][1];
            if ((ya > y) !== (yb > y) &&
                x < (ring[b][0] - ring[a][0]) * (y - ya) / (yb - ya) + ring[a][0]) {
              inside = !inside;
            }
          }
        }
      }
      return inside;
    };
  }

  // Packs polylines into ECharts' flat "lines" format:
  //   count | x | y | x | y | count | x | y | ...
  // which avoids one object per road (there can be tens of thousands).
  // With `inside`, roads whose middle lies outside the boundary go to a second, fainter set.
  function packRoads(roads, extent, inside) {
    var sets = [{ lines: [], size: 0 }, { lines: [], size: 0 }];
    for (var i = 0; i < roads.length; i++) {
      var line = roads[i];
      if (!Array.isArray(line)) continue;
      var pts = [];
      for (var j = 0; j < line.length; j++) {
        var p = line[j];
        if (p && isFiniteNumber(p[0]) && isFiniteNumber(p[1])) pts.push(p);
      }
      if (pts.length < 2) continue;
      var set = sets[0];
      if (inside) {
        var m = pts.length >> 1;
        var q = pts[m - 1 + (pts.length & 1)];
        if (!inside((pts[m][0] + q[0]) / 2, (pts[m][1] + q[1]) / 2)) set = sets[1];
      }
      set.lines.push(pts);
      set.size += 1 + pts.length * 2;
    }
    return sets.map(function (set) {
      var flat = new Float64Array(set.size);
      var k = 0;
      for (var n = 0; n < set.lines.length; n++) {
        var ptsN = set.lines[n];
        flat[k++] = ptsN.length;
        for (var c = 0; c < ptsN.length; c++) {
          flat[k++] = ptsN[c][0];
          flat[k++] = ptsN[c][1];
          if (extent) extent.add(ptsN[c][0], ptsN[c][1]);
        }
      }
      return { flat: flat, count: set.lines.length };
    });
  }

  // A light grey-blue on a white (or transparent) page, white on a tinted container.
  function pickBoundaryFill(el) {
    var bg = window.getComputedStyle ? window.getComputedStyle(el).backgroundColor : '';
    var m = /rgba?\(\s*(\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)/.exec(bg || '');
    if (!m || (m[4] !== undefined && Number(m[4]) < 0.1)) return '#eef2f7';
    var white = Number(m[1]) > 245 && Number(m[2]) > 245 && Number(m[3]) > 245;
    return white ? '#eef2f7' : '#ffffff';
  }

  function setState(el, state) {
    el.dataset.state = state;
  }

  function showMessage(el, cls, text, role) {
    el.innerHTML = '';
    var p = document.createElement('p');
    p.className = cls;
    if (role) p.setAttribute('role', role);
    p.textContent = text;
    // Minimal inline layout so the message is readable without any stylesheet.
    p.style.cssText = 'margin:0;height:100%;display:flex;align-items:center;justify-content:center;' +
      'text-align:center;padding:1em;box-sizing:border-box;color:' + (cls === 'map-error' ? '#a61b1b' : '#555') + ';';
    el.appendChild(p);
  }

  // `extra` (optional): { series: [...], legend: [...] } drawn over the layers on the same geo
  // (the health-check portrait adds its buildings and sites). Returns the chart.
  function draw(el, data, extra) {
    var labels = {
      boundary: el.dataset.labelBoundary || 'Boundary',
      roads: el.dataset.labelRoads || 'Roads',
      grids: el.dataset.labelGrids || 'Grids',
      empty: el.dataset.labelEmpty || 'No map data.'
    };
    BOUNDARY_FILL = pickBoundaryFill(el);
    var region = data.region || {};
    var code = el.dataset.code || region.code || 'region';

    var boundary = toMultiPolygon(data.boundary);
    var grids = (Array.isArray(data.grids) ? data.grids : []).map(function (g) {
      return { code: String(g.code), name: g.name || String(g.code), kind: g.kind, geom: toMultiPolygon(g.boundary) };
    }).filter(function (g) { return g.geom; });
    var polyExtent = new Extent();
    if (boundary) polyExtent.addMultiPolygon(boundary);
    grids.forEach(function (g) { polyExtent.addMultiPolygon(g.geom); });
    var roadExtent = new Extent();
    var roadSets = packRoads(Array.isArray(data.roads) ? data.roads : [], roadExtent, makeInside(boundary));
    var roadCount = roadSets[0].count + roadSets[1].count;

    // Points another script draws over the map (extra.points, [[lon, lat], …]) frame it when
    // nothing else does.
    var extraPoints = (extra && Array.isArray(extra.points)) ? extra.points : [];
    if (!boundary && !grids.length && !roadCount && !extraPoints.length) {
      showMessage(el, 'map-empty', labels.empty);
      setState(el, 'empty');
      return;
    }

    // The view: the polygons when there are any, else the bbox, else the roads.
    var extent = polyExtent;
    var bb = data.bbox;
    if (!extent.valid() && Array.isArray(bb) && bb.length === 4 && bb.every(isFiniteNumber)) {
      extent = new Extent();
      extent.add(bb[0], bb[1]);
      extent.add(bb[2], bb[3]);
    }
    if (!extent.valid()) extent = roadExtent;
    if (!extent.valid()) {
      extent = new Extent();
      extraPoints.forEach(function (p) { extent.add(p[0], p[1]); });
    }
    // extra.frame ([minLon, minLat, maxLon, maxLat]) shows that part of the layers only.
    var frame = extra && Array.isArray(extra.frame) && extra.frame.length === 4 &&
      extra.frame.every(isFiniteNumber) ? extra.frame : null;
    if (frame) {
      extent = new Extent();
      extent.add(frame[0], frame[1]);
      extent.add(frame[2], frame[3]);
    }
    if (extent.maxX - extent.minX < 1e-6) { extent.minX -= 0.001; extent.maxX += 0.001; }
    if (extent.maxY - extent.minY < 1e-6) { extent.minY -= 0.001; extent.maxY += 0.001; }
    var midLat = (extent.minY + extent.maxY) / 2;
    var aspectScale = Math.max(0.1, Math.cos(midLat * Math.PI / 180));

    // Feature names are keys (grid names repeat across communities); labels come from `names`.
    var features = [];
    var names = {};
    var BOUNDARY_KEY = 'b:' + code;
    var EXTENT_KEY = 'x:extent';
    if (boundary) {
      features.push({ type: 'Feature', properties: { name: BOUNDARY_KEY }, geometry: boundary });
      names[BOUNDARY_KEY] = escapeHtml(region.name || code);
    } else {
      // Nothing outlines the area: an invisible rectangle gives the geo its frame.
      features.push({
        type: 'Feature', properties: { name: EXTENT_KEY },
        geometry: { type: 'Polygon', coordinates: [[
          [extent.minX, extent.minY], [extent.maxX, extent.minY], [extent.maxX, extent.maxY],
          [extent.minX, extent.maxY], [extent.minX, extent.minY]]] }
      });
    }
    grids.forEach(function (g, i) {
      var key = 'g:' + g.code + ':' + i;
      g.key = key;
      g.hue = GRID_HUES[i % GRID_HUES.length];
      features.push({ type: 'Feature', properties: { name: key }, geometry: g.geom });
      names[key] = '<b>' + escapeHtml(g.name) + '</b><br><span style="color:#777">' + escapeHtml(g.code) + '</span>';
    });

    var mapName = 'linli-' + code;
    echarts.registerMap(mapName, { type: 'FeatureCollection', features: features });

    var visible = { boundary: true, roads: true, grids: true };
    function buildRegions() {
      var out = [];
      if (boundary) {
        out.push({
          name: BOUNDARY_KEY,
          itemStyle: visible.boundary
            ? { areaColor: BOUNDARY_FILL, borderColor: BOUNDARY_LINE, borderWidth: 1.6 }
            : { areaColor: 'rgba(0,0,0,0)', borderColor: 'rgba(0,0,0,0)', borderWidth: 0 },
          emphasis: { disabled: true },
          select: { disabled: true },
          tooltip: { show: visible.boundary }
        });
      } else {
        out.push({
          name: EXTENT_KEY, silent: true,
          itemStyle: { areaColor: 'rgba(0,0,0,0)', borderColor: 'rgba(0,0,0,0)', borderWidth: 0 },
          emphasis: { disabled: true }, select: { disabled: true }, tooltip: { show: false }
        });
      }
      grids.forEach(function (g) {
        out.push({
          name: g.key,
          silent: !visible.grids,
          itemStyle: visible.grids
            ? { areaColor: rgba(g.hue, 0.28), borderColor: rgba(g.hue, 0.9), borderWidth: 1 }
            : { areaColor: 'rgba(0,0,0,0)', borderColor: 'rgba(0,0,0,0)', borderWidth: 0 },
          emphasis: {
            disabled: !visible.grids,
            label: { show: false },
            itemStyle: { areaColor: rgba(g.hue, 0.5), borderColor: rgba(g.hue, 1), borderWidth: 2 }
          },
          select: { disabled: true },
          tooltip: { show: visible.grids }
        });
      });
      return out;
    }

    var legendData = [];
    var series = [];
    if (boundary) {
      legendData.push({ name: labels.boundary, icon: 'rect',
        itemStyle: { color: BOUNDARY_FILL, borderColor: BOUNDARY_LINE, borderWidth: 1.5 } });
      // Placeholder series so the legend can toggle the boundary drawn by the geo component.
      series.push({ name: labels.boundary, type: 'scatter', coordinateSystem: 'geo', data: [],
        itemStyle: { color: BOUNDARY_FILL }, silent: true });
    }
    if (grids.length) {
      legendData.push({ name: labels.grids, icon: 'rect',
        itemStyle: { color: rgba(GRID_HUES[0], 0.35), borderColor: rgba(GRID_HUES[0], 0.9), borderWidth: 1 } });
      series.push({ name: labels.grids, type: 'scatter', coordinateSystem: 'geo', data: [],
        itemStyle: { color: rgba(GRID_HUES[0], 0.35) }, silent: true });
    }
    if (roadCount) {
      legendData.push({ name: labels.roads, icon: 'path://M0,4 L16,4 L16,6 L0,6 Z',
        itemStyle: { color: ROAD_COLOR } });
      // Both sets share the legend name, so one legend entry toggles them together.
      roadSets.forEach(function (set, i) {
        if (!set.count) return;
        series.push({
          name: labels.roads,
          type: 'lines',
          coordinateSystem: 'geo',
          polyline: true,
          large: true,
          largeThreshold: 500,
          progressive: 20000,
          progressiveThreshold: 50000,
          silent: true,
          animation: false,
          lineStyle: { color: ROAD_COLOR, width: i === 0 ? 0.7 : 0.5, opacity: i === 0 ? 0.9 : 0.35 },
          data: set.flat
        });
      });
    }

    if (extra) {
      (extra.legend || []).forEach(function (l) { legendData.push(l); });
      (extra.series || []).forEach(function (sr) { series.push(sr); });
    }

    // Fit the map into the chart, below the title/legend row and above the attribution.
    var aspect = (extent.maxX - extent.minX) / (extent.maxY - extent.minY) * aspectScale;
    function computeLayout() {
      var w = Math.max(el.clientWidth, 50), h = Math.max(el.clientHeight, 50);
      var top = 44, bottom = 28, side = 16;
      var bw = Math.max(w - 2 * side, 10), bh = Math.max(h - top - bottom, 10);
      var size = aspect > 1 ? Math.min(bw, bh * aspect) : Math.min(bh, bw / aspect);
      return { center: [w / 2, top + bh / 2], size: size };
    }
    var layout = computeLayout();

    var attribution = (Array.isArray(data.attribution) ? data.attribution : [])
      .filter(function (s) { return s; }).join(' · ');

    var option = {
      animation: false,
      title: {
        text: region.name || '',
        left: 12, top: 8,
        textStyle: { fontSize: 15, fontWeight: 'bold', color: '#1f2d3d' }
      },
      tooltip: { trigger: 'item', confine: true, transitionDuration: 0 },
      legend: {
        data: legendData,
        top: 10, right: 56,
        itemWidth: 16, itemHeight: 10, itemGap: 14,
        textStyle: { color: '#333', fontSize: 12 },
        backgroundColor: 'rgba(255,255,255,0.8)', borderRadius: 4, padding: [4, 8]
      },
      toolbox: { right: 12, top: 8, feature: { restore: {} } },
      geo: {
        map: mapName,
        roam: true,
        aspectScale: aspectScale,
        // left/top/right/bottom together would stretch the map; center + size keep its aspect.
        layoutCenter: layout.center,
        layoutSize: layout.size,
        boundingCoords: frame ? [[frame[0], frame[3]], [frame[2], frame[1]]] : null,
        scaleLimit: { min: 0.5, max: 200 },
        selectedMode: false,
        label: { show: false },
        emphasis: { label: { show: false } },
        select: { disabled: true, label: { show: false } },
        itemStyle: { areaColor: BOUNDARY_FILL, borderColor: BOUNDARY_LINE, borderWidth: 1 },
        tooltip: {
          show: true,
          formatter: function (p) { return names[p.name] || ''; }
        },
        regions: buildRegions()
      },
      graphic: attribution ? [{
        type: 'text', right: 8, bottom: 6, z: 100, silent: true,
        style: {
          text: attribution, fill: '#555', font: '11px sans-serif',
          backgroundColor: 'rgba(255,255,255,0.8)', padding: [2, 5], borderRadius: 3
        }
      }] : [],
      series: series
    };

    el.innerHTML = '';
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    var done = false;
    chart.on('finished', function () {
      if (!done) {
        done = true;
        setState(el, 'ready');
      }
    });
    // The boundary and grids live in the geo component, so their legend entries restyle it.
    function onLegend(e) {
      var sel = (e && e.selected) || {};
      var b = sel[labels.boundary] !== false;
      var g = sel[labels.grids] !== false;
      if (b !== visible.boundary || g !== visible.grids) {
        visible.boundary = b;
        visible.grids = g;
        chart.setOption({ geo: { regions: buildRegions() } });
      }
    }
    ['legendselectchanged', 'legendselected', 'legendunselected', 'legendselectall',
      'legendinverseselect'].forEach(function (name) { chart.on(name, onLegend); });
    chart.setOption(option);

    var pending = 0;
    function onResize() {
      if (pending) return;
      pending = window.requestAnimationFrame(function () {
        pending = 0;
        chart.resize();
        var l = computeLayout();
        chart.setOption({ geo: { layoutCenter: l.center, layoutSize: l.size } });
      });
    }
    window.addEventListener('resize', onResize);
    if (typeof ResizeObserver === 'function') new ResizeObserver(onResize).observe(el);
    el.linliChart = chart; // handy for debugging and tests
    return chart;
  }

  function start() {
    var el = document.getElementById('map');
    if (!el) return;
    var errorLabel = el.dataset.labelError || '地图数据加载失败 / Map data could not be loaded';
    var fail = function (detail) {
      showMessage(el, 'map-error', errorLabel + (detail ? ' (' + detail + ')' : ''), 'alert');
      setState(el, 'error');
    };
    if (typeof window.echarts === 'undefined') {
      fail('echarts.min.js not loaded');
      return;
    }
    var api = el.dataset.api;
    if (!api) {
      fail('data-api missing');
      return;
    }
    setState(el, 'loading');
    fetch(api, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (!res.ok) {
          var err = new Error('HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : ''));
          throw err;
        }
        return res.json();
      })
      .then(function (data) {
        draw(el, data || {});
      })
      .catch(function (err) {
        if (window.console) console.error('linli map:', err);
        fail(err && err.message ? err.message : String(err));
      });
  }

  // For other pages' scripts: draw(el, data, extra) and the empty-state check it makes.
  window.linliMap = { draw: draw, showMessage: showMessage };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
