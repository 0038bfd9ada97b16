// Small page behaviours: CSRF token on htmx requests, confirmation before deleting.
(function () {
  'use strict';
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener('htmx:configRequest', function (e) {
    if (meta) e.detail.headers['X-CSRF-Token'] = meta.content;
  });
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) e.preventDefault();
  });
})();

// ---- Registry pages (registry_pages/) ----
// An htmx request that fails leaves the page as it was; say so, in the words the page gave
// (data-rp-error, from the translation table), rather than nothing happening.
(function () {
  'use strict';
  document.body.addEventListener('htmx:responseError', function (e) {
    var elt = e.detail && e.detail.elt;
    var holder = elt && elt.closest ? elt.closest('[data-rp-error]') : null;
    if (!holder) return;
    var box = holder.querySelector('.rp-htmx-error');
    if (!box) {
      box = document.createElement('p');
      box.className = 'flash error rp-htmx-error';
      box.setAttribute('role', 'alert');
      holder.appendChild(box);
    }
    box.textContent = holder.getAttribute('data-rp-error') + ' (HTTP ' + e.detail.xhr.status + ')';
  });
})();
