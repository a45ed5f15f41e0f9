// Loaded first in <body>: lets NHS.UK styles for scripted components apply.
document.body.classList.add('js-enabled');
if ('noModule' in HTMLScriptElement.prototype) {
  document.body.classList.add('nhsuk-frontend-supported');
}
