// Send the CSRF token with every htmx request. The token is read from the
// <meta> tag at request time, so it stays current under hx-boost.
document.addEventListener('htmx:configRequest', function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers['X-CSRFToken'] = meta.getAttribute('content');
  }
});
