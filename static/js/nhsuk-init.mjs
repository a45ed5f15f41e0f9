// Start the NHS.UK components, and again inside content htmx swaps in.
import { initAll } from '../vendor/nhsuk/nhsuk-frontend.min.js';

initAll();
document.addEventListener('htmx:load', function (event) {
  if (event.detail.elt !== document.body) {
    initAll({ scope: event.detail.elt });
  }
});
