// Send the CSRF token with every htmx request. The token is read from the
// <meta> tag at request time, so it stays current under hx-boost.
document.addEventListener('htmx:configRequest', function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers['X-CSRFToken'] = meta.getAttribute('content');
  }
});

// A list's search box asks for results as you type (templates/_paging.html). Each answer would add a
// step to the browser's history, so Back would step through every pause in the typing. An answer to
// typing that follows an answer to typing replaces the step instead: Back returns to the list as it was
// before the search. (htmx hands this event its own history record, so changing its type is enough.)
var typedSearchPath = null;
document.addEventListener('htmx:beforeHistoryUpdate', function (event) {
  var history = event.detail.history;
  var config = event.detail.requestConfig;
  var trigger = config && config.triggeringEvent;
  var typed = trigger && (trigger.type === 'input' || trigger.type === 'search');
  if (typed && history.type === 'push' && typedSearchPath === location.pathname + location.search) {
    history.type = 'replace';
  }
  typedSearchPath = typed ? history.path : null;
});

// "Accept all" on a decision (templates/review/decide.html) is a button of the decision form, so that with
// JavaScript off it sends what was typed and the form comes back with every choice left ticked and the typing kept.
// With JavaScript it ticks them in place, so what the supervisor has typed and any choice made stay as they are
// until they sign off, without a request. Listened to before htmx's boost sees the click. Screen readers hear what
// changed.
document.addEventListener('click', function (event) {
  var button = event.target.closest ? event.target.closest('button[data-accept-all]') : null;
  var form = button && button.form;
  if (!form) {
    return;
  }
  event.preventDefault();
  event.stopPropagation();
  // Only where nothing is chosen yet, as the server does without JavaScript (review/routes.py): never over a
  // "Not accepted" the supervisor chose.
  var ticked = 0;
  form.querySelectorAll('input[type="radio"][value="accepted"]').forEach(function (radio) {
    if (!form.querySelector('input[type="radio"][name="' + radio.name + '"]:checked')) {
      radio.checked = true;
      ticked += 1;
    }
  });
  var said = form.querySelector('[data-accept-all-status]');
  if (said) {
    said.textContent = ticked ? said.getAttribute('data-message') : said.getAttribute('data-nothing-left');
  }
}, true);

// The competences suggested on an evidence form are asked for again as the worker types (templates/evidence/form.html,
// on any input in the form). Ticking one is not typing: asked for then, the answer redrew the list a moment later, in
// a new order under the pointer (a second tick could land on another competence) and with keyboard focus lost. So a
// tick's input event stops here, before the form hears it; the ticks go with the next request as the worker types.
document.addEventListener('input', function (event) {
  if (event.target.closest && event.target.closest('[data-not-typing]')) {
    event.stopPropagation();
  }
}, true);
