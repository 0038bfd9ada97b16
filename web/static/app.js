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
