// Passkeys (WebAuthn): shows the passkey buttons when the browser can use
// them, and runs the ceremonies with options fetched from the server.
// Without this script (or without WebAuthn) the buttons stay hidden and
// one-time codes still work. Loaded on every page because hx-boost swaps
// page bodies without running their scripts; the listeners are delegated.
(function () {
  'use strict';

  function supported() {
    return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials && window.isSecureContext;
  }

  function reveal(root) {
    if (!supported()) return;
    root.querySelectorAll('[data-passkey-support]').forEach(function (el) { el.hidden = false; });
    root.querySelectorAll('[data-passkey-fallback]').forEach(function (el) { el.hidden = true; });
  }

  // base64url <-> ArrayBuffer, as py_webauthn's options_to_json writes them.
  function toBytes(value) {
    var base64 = value.replace(/-/g, '+').replace(/_/g, '/');
    while (base64.length % 4) base64 += '=';
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = '';
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBytes(c.id) }); });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBytes(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) out.authenticatorAttachment = credential.authenticatorAttachment;
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) out.response.transports = response.getTransports();
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      out.response.userHandle = toText(response.userHandle);
    }
    return out;
  }

  function post(url, token, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRFToken': token },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.message || 'Something went wrong. Try again');
        return data;
      });
    });
  }

  function showError(form, message) {
    var box = form.querySelector('[data-passkey-error]');
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
  }

  function run(form) {
    var token = form.querySelector('input[name="csrf_token"]').value;
    var box = form.querySelector('[data-passkey-error]');
    if (box) box.hidden = true;
    var kind = form.getAttribute('data-passkey');
    var optionsUrl = form.getAttribute('data-options-url');
    var nameInput = form.querySelector('input[name="name"]');
    var name = nameInput ? nameInput.value : '';
    var ceremony;
    if (kind === 'register') {
      ceremony = post(optionsUrl, token, { name: name }).then(function (json) {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      });
    } else {
      ceremony = post(optionsUrl, token).then(function (json) {
        return navigator.credentials.get({ publicKey: requestOptions(json) });
      });
    }
    return ceremony
      .then(function (credential) {
        return post(form.action, token, { name: name, credential: credentialJSON(credential) });
      })
      .then(function (data) { window.location.assign(data.redirect); })
      .catch(function (error) {
        // The browser's own errors (cancelled, timed out) are not for people to read.
        var message = error && error.name === 'Error' ? error.message : 'The passkey was not used. Try again, or use another way to sign in';
        showError(form, message);
      });
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-passkey')) return;
    event.preventDefault();
    run(form);
  });

  document.addEventListener('DOMContentLoaded', function () { reveal(document); });
  document.addEventListener('htmx:load', function (event) { reveal(event.target); });
})();
