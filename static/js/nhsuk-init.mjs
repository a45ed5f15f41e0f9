// Start the NHS.UK components, and again on content htmx swaps in.
import { initAll } from '../vendor/nhsuk/nhsuk-frontend.min.js';

// initAll only looks inside its scope, never at the scope itself: a swapped-in
// element that is a component (the header after boosted navigation, which
// replaces the whole body) is set up from its parent. Components already set
// up there say so by throwing an InitError, which is expected and ignored.
function ignoreAlreadyStarted(error) {
  if (error.name !== 'InitError') {
    console.log(error);
  }
}

initAll();
document.addEventListener('htmx:load', function (event) {
  const element = event.detail.elt;
  if (element !== document.body) {
    initAll({ scope: element.parentElement || element, onError: ignoreAlreadyStarted });
  }
});

// After boosted navigation, move focus to the new page's heading so that a
// screen reader announces the page, as a full page load would. A page with an
// error summary keeps the focus the summary takes for itself.
document.addEventListener('htmx:afterSettle', function (event) {
  if (!event.detail.boosted || event.detail.elt !== document.body) {
    return;
  }
  if (document.querySelector('.nhsuk-error-summary')) {
    return;
  }
  const heading = document.querySelector('main h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
});
