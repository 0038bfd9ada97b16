// linli — the care pages (care_pages/): the alarm console's live list and its actions
// without leaving the page, and the devices page's copy button. Every word comes from the
// page (data-text-* attributes and rows rendered by the server from the translation table).
(function () {
  'use strict';

  // ---- Copy a credential -------------------------------------------------------------
  document.addEventListener('click', function (e) {
    var button = e.target.closest ? e.target.closest('button.cp-copy') : null;
    if (!button) return;
    var source = document.querySelector(button.getAttribute('data-copy'));
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () {
      button.textContent = button.getAttribute('data-text-copied');
      button.setAttribute('data-copied', 'yes');
    };
    // The clipboard API needs a secure context; an intranet over plain HTTP falls back to
    // selecting the text and the older copy command.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { legacyCopy(source) && done(); });
    } else if (legacyCopy(source)) {
      done();
    }
  });

  function legacyCopy(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { return document.execCommand('copy'); } catch (err) { return false; }
  }

  // ---- The alarm console ---------------------------------------------------------------
  var list = document.getElementById('alarms');
  if (!list) return;
  var FRAGMENT = { 'x-linli-fragment': '1' };
  var total = document.getElementById('alarms-total');
  var empty = document.getElementById('alarms-empty');
  var status = document.getElementById('live-status');
  var lost = document.getElementById('live-lost');
  var cue = document.getElementById('new-alarm');
  var sound = document.getElementById('sound-toggle');
  var SOUND_KEY = 'linli.care.sound';

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }

  function parse(html) {
    var t = document.createElement('template');
    t.innerHTML = html.trim();
    return t.content.querySelector('li.cp-alarm');
  }

  function setTotal(n) {
    if (!total) return;
    total.setAttribute('data-total', String(n));
    total.textContent = fill(total.getAttribute('data-text'), { count: n });
  }

  function refreshEmpty() {
    if (empty) empty.hidden = list.querySelector('li.cp-alarm') !== null;
  }

  // How long ago, in the page's words.
  function age(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var min = Math.floor(s / 60);
    var text;
    if (min < 1) text = fill(list.dataset.ageS, { n: s });
    else if (min < 60) text = fill(list.dataset.ageM, { n: min });
    else if (min < 1440) text = fill(list.dataset.ageH, { h: Math.floor(min / 60), m: min % 60 });
    else text = fill(list.dataset.ageD, { d: Math.floor(min / 1440), h: Math.floor(min / 60) % 24 });
    return fill(list.dataset.textAge, { age: text });
  }

  function tickAges() {
    var now = Date.now();
    list.querySelectorAll('li.cp-alarm').forEach(function (li) {
      var at = Number(li.getAttribute('data-raised'));
      var node = li.querySelector('.cp-age');
      if (at && node) node.textContent = age(now - at);
    });
  }
  setInterval(tickAges, 30000);

  // ---- Sound (optional, remembered) ----
  if (sound) {
    try { sound.checked = localStorage.getItem(SOUND_KEY) === '1'; } catch (err) { /* private mode */ }
    sound.addEventListener('change', function () {
      try { localStorage.setItem(SOUND_KEY, sound.checked ? '1' : '0'); } catch (err) { /* private mode */ }
    });
  }

  function beep(critical) {
    if (!sound || !sound.checked) return;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      var ctx = new Ctx();
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.frequency.value = critical ? 880 : 660;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + (critical ? 0.6 : 0.25));
      osc.onended = function () { ctx.close(); };
    } catch (err) { /* no audio: the visible cue stays */ }
  }

  function announce(li) {
    var kind = li.querySelector('.cp-kind');
    var place = li.querySelector('.cp-household');
    if (cue) {
      cue.textContent = fill(list.dataset.textNew, {
        kind: kind ? kind.textContent.trim() : '',
        place: place ? place.textContent.trim() : '',
      });
      cue.className = 'flash cp-cue cp-cue-' + li.getAttribute('data-severity');
      cue.hidden = false;
      clearTimeout(announce.timer);
      announce.timer = setTimeout(function () { cue.hidden = true; }, 15000);
    }
    li.classList.add('cp-new');
    beep(li.getAttribute('data-severity') === 'critical');
  }

  // Puts a row in its place: the most severe first, then the latest.
  function insert(li) {
    var rank = Number(li.getAttribute('data-rank'));
    var raised = Number(li.getAttribute('data-raised'));
    var rows = list.querySelectorAll('li.cp-alarm');
    for (var i = 0; i < rows.length; i++) {
      var r = Number(rows[i].getAttribute('data-rank'));
      var at = Number(rows[i].getAttribute('data-raised'));
      if (rank < r || (rank === r && raised >= at)) {
        list.insertBefore(li, rows[i]);
        return;
      }
    }
    list.appendChild(li);
  }

  // The row of alarm `id` as the server renders it now; null when it is gone from view.
  function fetchRow(id) {
    return fetch('/care/alarms/' + id + '/row', { headers: FRAGMENT, credentials: 'same-origin' })
      .then(function (res) { return res.ok ? res.text().then(parse) : null; });
  }

  // Shows what the stream said of one alarm.
  function apply(alarm, polls) {
    fetchRow(alarm.id).then(function (li) {
      if (!li) return;
      var old = document.getElementById('alarm-' + alarm.id);
      if (old) {
        // Leave a row alone while its form is being filled in, unless its state moved.
        if (old.contains(document.activeElement) &&
            old.getAttribute('data-state') === li.getAttribute('data-state') &&
            old.getAttribute('data-event') === li.getAttribute('data-event')) return;
        old.replaceWith(li);
      } else if (li.getAttribute('data-state') !== 'resolved') {
        insert(li);
        setTotal(Number(total ? total.getAttribute('data-total') : 0) + 1);
        announce(li);
      }
      refreshEmpty();
      // A new alarm becomes an event a moment later (the timer makes it), and the stream
      // does not say when: look again until it has one, so that it can be acknowledged.
      if (li.getAttribute('data-state') === 'open' && !li.getAttribute('data-event') && (polls || 0) < 20) {
        setTimeout(function () { apply(alarm, (polls || 0) + 1); }, 1500);
      }
    }).catch(function () { /* the next event or resync brings it */ });
  }

  // The whole list again (after a resync or a reconnection: news may have been missed).
  function reload() {
    return fetch(list.dataset.rowsUrl, { headers: FRAGMENT, credentials: 'same-origin' })
      .then(function (res) {
        if (!res.ok) return;
        var n = res.headers.get('x-linli-total');
        return res.text().then(function (html) {
          // Keep a row whose form is being filled in.
          var busy = list.querySelector('li.cp-alarm:focus-within');
          list.innerHTML = html;
          if (busy) {
            var fresh = document.getElementById(busy.id);
            if (fresh && fresh.getAttribute('data-state') === busy.getAttribute('data-state')) fresh.replaceWith(busy);
          }
          if (n !== null) setTotal(Number(n));
          refreshEmpty();
          list.querySelectorAll('li.cp-alarm[data-state=open][data-event=""]').forEach(function (li) {
            apply({ id: Number(li.getAttribute('data-id')) }, 0);
          });
        });
      })
      .catch(function () { /* still offline: the reconnection reloads again */ });
  }

  // ---- Acting from the list ----
  list.addEventListener('submit', function (e) {
    var form = e.target.closest('form.cp-act');
    if (!form) return;
    e.preventDefault();
    var li = form.closest('li.cp-alarm');
    var error = li.querySelector('.cp-error');
    var button = form.querySelector('button[type=submit]');
    button.disabled = true;
    error.hidden = true;
    fetch(form.action, {
      method: 'POST',
      headers: FRAGMENT,
      credentials: 'same-origin',
      body: new URLSearchParams(new FormData(form)),
    }).then(function (res) {
      return res.text().then(function (text) {
        if (res.ok) {
          var fresh = parse(text);
          if (fresh) li.replaceWith(fresh);
          // Not a row: the session ended and the answer is the sign-in page.
          else window.location.reload();
          return;
        }
        button.disabled = false;
        error.textContent = fill(list.dataset.textFailed, { message: text.trim() || ('HTTP ' + res.status) });
        error.hidden = false;
      });
    }).catch(function () {
      button.disabled = false;
      error.textContent = list.dataset.textNetwork;
      error.hidden = false;
    });
  });

  // ---- The live stream ----
  if (list.dataset.live !== 'on' || !window.EventSource) return;
  var source = null;
  var retry = null;

  function setStatus(state) {
    list.setAttribute('data-connected', state === 'on' ? 'yes' : 'no');
    if (status) {
      status.setAttribute('data-state', state);
      status.textContent = status.getAttribute(state === 'on' ? 'data-text-on' : 'data-text-connecting');
    }
    if (lost) lost.hidden = state !== 'lost';
  }

  function connect() {
    retry = null;
    source = new EventSource(list.dataset.stream, { withCredentials: true });
    source.addEventListener('open', function () {
      setStatus('on');
      // What happened between the page's rendering (or the break) and now.
      reload();
    });
    source.addEventListener('alarm', function (e) {
      try { apply(JSON.parse(e.data), 0); } catch (err) { /* not an alarm: ignore */ }
    });
    source.addEventListener('resync', reload);
    source.addEventListener('error', function () {
      setStatus('lost');
      // The browser retries by itself unless the server closed the stream for good (it
      // answered an error, or it restarted): then start a new one a little later.
      if (source.readyState === EventSource.CLOSED && !retry) {
        source.close();
        retry = setTimeout(connect, 5000);
      }
    });
  }

  setStatus('connecting');
  connect();
  window.addEventListener('pagehide', function () { if (source) source.close(); });
})();

// ---- The visit rules editor (care_rules.html) ----
// Without the script the form offers two blank rows and ignores blank ones; with it, rows are
// added and removed in place (renumbered so that the store's message "rule N" matches what
// the page shows), and the "use the rules above" button asks first.
(function () {
  'use strict';
  var form = document.querySelector('[data-cp-rules]');
  if (!form) return;
  var rows = form.querySelector('#rule-rows');
  var add = form.querySelector('[data-cp-add-row]');
  var template = rows && rows.lastElementChild ? rows.lastElementChild.cloneNode(true) : null;

  function renumber() {
    Array.prototype.forEach.call(rows.children, function (li, i) {
      li.dataset.row = String(i);
      li.querySelectorAll('[name]').forEach(function (el) {
        el.name = el.name.replace(/^r\d+\./, 'r' + i + '.');
      });
      var legend = li.querySelector('legend');
      if (legend) legend.textContent = legend.textContent.replace(/\d+/, String(i + 1));
    });
    if (add) add.disabled = rows.children.length >= Number(add.dataset.max || 20);
  }

  function wire(li) {
    var remove = li.querySelector('[data-cp-remove-row]');
    if (!remove) return;
    remove.hidden = false;
    remove.addEventListener('click', function () { li.remove(); renumber(); });
  }

  Array.prototype.forEach.call(rows.children, wire);
  if (add && template) {
    add.hidden = false;
    add.addEventListener('click', function () {
      var li = template.cloneNode(true);
      li.querySelectorAll('input[type=checkbox]').forEach(function (c) { c.checked = false; });
      li.querySelectorAll('input[type=number]').forEach(function (c) { c.value = ''; });
      li.querySelectorAll('select').forEach(function (s) { s.selectedIndex = 0; });
      rows.appendChild(li);
      wire(li);
      renumber();
    });
  }
  form.querySelectorAll('button[data-confirm]').forEach(function (b) {
    b.addEventListener('click', function (e) {
      if (!window.confirm(b.dataset.confirm)) e.preventDefault();
    });
  });
})();
