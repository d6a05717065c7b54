/*
 * Amazon Pay checkout.js stand-in, served by the emulator at /_emulator/checkout.js.
 *
 * Implements the part of Amazon's button API a web shop uses:
 *   amazon.Pay.renderButton(selector, options) -> {onClick(cb), initCheckout(cfg)}
 *   amazon.Pay.initCheckout(options)
 *   amazon.Pay.bindChangeAction(selector, {amazonCheckoutSessionId, changeAction})
 *   amazon.Pay.signout()
 * Clicking the button POSTs the signed createCheckoutSessionConfig to the emulator's
 * sign-in page, which verifies the signature exactly as Amazon does.
 */
(function () {
  "use strict";
  // Injected by the emulator when it serves this file (its public URL).
  var ORIGIN = AMAZON_PAY_EMULATOR_ORIGIN;

  function post(url, fields) {
    var form = document.createElement("form");
    form.method = "POST";
    form.action = url;
    form.style.display = "none";
    Object.keys(fields).forEach(function (name) {
      if (fields[name] === undefined || fields[name] === null) { return; }
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = String(fields[name]);
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function goToApproval(checkoutSessionId) {
    window.location.href = ORIGIN + "/_emulator/buyer/approve?checkoutSessionId=" + encodeURIComponent(checkoutSessionId);
  }

  function startCheckout(options, config) {
    config = config || options.createCheckoutSessionConfig;
    if (config && config.payloadJSON) {
      post(ORIGIN + "/_emulator/buyer/signin", {
        payloadJSON: config.payloadJSON,
        signature: config.signature,
        publicKeyId: config.publicKeyId || options.publicKeyId,
        algorithm: config.algorithm || "",
        merchantId: options.merchantId,
        ledgerCurrency: options.ledgerCurrency,
        checkoutLanguage: options.checkoutLanguage,
        productType: options.productType,
        placement: options.placement,
        sandbox: options.sandbox === undefined ? "true" : String(options.sandbox)
      });
      return;
    }
    // Older integration: the merchant's endpoint creates the session via the API.
    var endpoint = options.createCheckoutSession;
    if (endpoint && endpoint.url) {
      fetch(endpoint.url, {method: endpoint.method || "POST", credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) { goToApproval(data.checkoutSessionId); });
      return;
    }
    if (options.checkoutSessionId) { goToApproval(options.checkoutSessionId); return; }
    throw new Error("amazon.Pay: createCheckoutSessionConfig {payloadJSON, signature, publicKeyId} is required");
  }

  function renderButton(selector, options) {
    var container = typeof selector === "string" ? document.querySelector(selector) : selector;
    if (!container) { throw new Error("amazon.Pay.renderButton: no element matches " + selector); }
    options = options || {};
    var button = document.createElement("button");
    button.type = "button";
    button.className = "amazonpay-button";
    if (!document.getElementById("amazonpay-button")) { button.id = "amazonpay-button"; }
    button.setAttribute("data-emulator", "amazon-pay");
    button.textContent = "Amazon Pay (emulator)";
    button.style.cssText = "background:#ffd814;border:1px solid #fcd200;border-radius:8px;padding:.6em 1.4em;font-size:1em;cursor:pointer";
    var clickHandler = null;
    var api = {
      onClick: function (callback) { clickHandler = callback; },
      initCheckout: function (init) {
        startCheckout(options, (init && init.createCheckoutSessionConfig) || options.createCheckoutSessionConfig);
      }
    };
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (clickHandler) { clickHandler(event); } else { api.initCheckout(); }
    });
    container.appendChild(button);
    return api;
  }

  function bindChangeAction(selector, options) {
    var element = typeof selector === "string" ? document.querySelector(selector) : selector;
    if (!element) { return; }
    element.addEventListener("click", function (event) {
      event.preventDefault();
      goToApproval(options.amazonCheckoutSessionId);
    });
  }

  window.amazon = window.amazon || {};
  window.amazon.Pay = {
    renderButton: renderButton,
    initCheckout: function (options) { startCheckout(options || {}, (options || {}).createCheckoutSessionConfig); },
    bindChangeAction: bindChangeAction,
    signout: function () {},
    emulatorOrigin: ORIGIN
  };
})();
