/*
 * Amazon Pay demo storefront for Saleor: plain JavaScript, no build step, no framework.
 *
 * Everything goes through Saleor's GraphQL API, anonymously, exactly as documented in
 * docs/storefront-guide.md (checkoutComplete flow) and docs/transactions-api.md
 * (Transactions API flow). One page, four steps chosen by the path:
 *
 *   /          products; "Buy" creates a checkout (email, line, shipping address,
 *              delivery method)
 *   /checkout  the summary and the Amazon Pay button
 *   /review    Amazon's sign-in brings the buyer back here (?amazonCheckoutSessionId=):
 *              read the buyer's details through Saleor, fill the checkout, "Place order"
 *              sends the buyer to Amazon to confirm (amazonPayRedirectUrl)
 *   /result    Amazon brings the buyer back here: complete, show the order
 *
 * The checkout id and the chosen flow are kept in localStorage between the steps.
 */
(function () {
  "use strict";

  var CFG = window.STOREFRONT || {};
  var GATEWAY = CFG.gatewayId || "saleor.payments.amazonpay";
  var STORE_KEY = "saleorAmazonPayDemo:" + (CFG.channel || "");
  var SESSION_PARAM = "amazonCheckoutSessionId";

  // -- GraphQL documents (copy-pasteable; the same as in the docs) ---------------------

  var MONEY = "{ amount currency }";
  var CHECKOUT_FIELDS = [
    "fragment CheckoutFields on Checkout {",
    "  id token email",
    "  lines { id quantity variant { id name product { name } } totalPrice { gross " + MONEY + " } }",
    "  subtotalPrice { gross " + MONEY + " }",
    "  shippingPrice { gross " + MONEY + " }",
    "  totalPrice { gross " + MONEY + " }",
    "  shippingAddress { firstName lastName streetAddress1 streetAddress2 city postalCode countryArea country { code } }",
    "  billingAddress { firstName lastName streetAddress1 city postalCode country { code } }",
    "  deliveryMethod { __typename ... on ShippingMethod { id name } }",
    "  shippingMethods { id name price " + MONEY + " }",
    "}"
  ].join("\n");
  var ERRORS = "errors { field code message }";

  var Q = {
    products: "query Products($channel: String!) {\n" +
      "  products(first: 12, channel: $channel) {\n" +
      "    edges { node { id name thumbnail { url alt }\n" +
      "      variants { id name pricing { price { gross " + MONEY + " } } } } }\n" +
      "  }\n}",
    checkout: "query Checkout($id: ID!) { checkout(id: $id) { ...CheckoutFields } }\n" + CHECKOUT_FIELDS,
    gateways: "query Gateways($id: ID!) {\n" +
      "  checkout(id: $id) { availablePaymentGateways { id name config { field value } } }\n}",
    checkoutCreate: "mutation CheckoutCreate($input: CheckoutCreateInput!) {\n" +
      "  checkoutCreate(input: $input) { checkout { ...CheckoutFields } " + ERRORS + " }\n}\n" + CHECKOUT_FIELDS,
    deliveryMethodUpdate: "mutation Delivery($id: ID!, $deliveryMethodId: ID!) {\n" +
      "  checkoutDeliveryMethodUpdate(id: $id, deliveryMethodId: $deliveryMethodId) {\n" +
      "    checkout { ...CheckoutFields } " + ERRORS + " }\n}\n" + CHECKOUT_FIELDS,
    emailUpdate: "mutation Email($id: ID!, $email: String!) {\n" +
      "  checkoutEmailUpdate(id: $id, email: $email) { checkout { id } " + ERRORS + " }\n}",
    shippingAddressUpdate: "mutation Shipping($id: ID!, $address: AddressInput!) {\n" +
      "  checkoutShippingAddressUpdate(id: $id, shippingAddress: $address) {\n" +
      "    checkout { ...CheckoutFields } " + ERRORS + " }\n}\n" + CHECKOUT_FIELDS,
    billingAddressUpdate: "mutation Billing($id: ID!, $address: AddressInput!) {\n" +
      "  checkoutBillingAddressUpdate(id: $id, billingAddress: $address) { checkout { id } " + ERRORS + " }\n}",
    // checkoutComplete flow (docs/storefront-guide.md)
    buyerDetails: "mutation BuyerDetails($channel: String!, $data: JSONString!) {\n" +
      "  paymentInitialize(gateway: \"" + GATEWAY + "\", channel: $channel, paymentData: $data) {\n" +
      "    initializedPayment { data } " + ERRORS + " }\n}",
    paymentCreate: "mutation Pay($id: ID!, $sessionId: String!, $amount: PositiveDecimal!) {\n" +
      "  checkoutPaymentCreate(id: $id, input: {gateway: \"" + GATEWAY + "\", token: $sessionId, amount: $amount}) {\n" +
      "    payment { id } " + ERRORS + " }\n}",
    complete: "mutation Complete($id: ID!, $paymentData: JSONString) {\n" +
      "  checkoutComplete(id: $id, paymentData: $paymentData) {\n" +
      "    order { id number status paymentStatus total { gross " + MONEY + " }\n" +
      "      payments { gateway pspReference chargeStatus } }\n" +
      "    confirmationNeeded confirmationData " + ERRORS + " }\n}",
    // Transactions API flow (docs/transactions-api.md)
    gatewayInitialize: "mutation AmazonPayButton($checkoutId: ID!) {\n" +
      "  paymentGatewayInitialize(id: $checkoutId, paymentGateways: [{id: \"" + GATEWAY + "\"}]) {\n" +
      "    gatewayConfigs { id data errors { field message code } }\n" +
      "    errors { field message code }\n  }\n}",
    // `data` is passed as a whole variable: a variable inside a JSON literal
    // ({amazonCheckoutSessionId: $sessionId}) reaches Saleor as null.
    transactionInitialize: "mutation AmazonPayStart($checkoutId: ID!, $key: String!, $data: JSON!) {\n" +
      "  transactionInitialize(\n    id: $checkoutId\n    idempotencyKey: $key\n" +
      "    paymentGateway: {id: \"" + GATEWAY + "\", data: $data}\n  ) {\n" +
      "    transaction { id token pspReference }\n" +
      "    transactionEvent { type message pspReference }\n" +
      "    data\n    errors { field message code }\n  }\n}",
    transactionProcess: "mutation AmazonPayFinish($transactionId: ID!, $data: JSON) {\n" +
      "  transactionProcess(id: $transactionId, data: $data) {\n" +
      "    transaction { id pspReference chargedAmount { amount } authorizedAmount { amount } }\n" +
      "    transactionEvent { type message pspReference }\n" +
      "    data\n    errors { field message code }\n  }\n}",
    completeTransactions: "mutation CompleteTx($id: ID!) {\n" +
      "  checkoutComplete(id: $id) {\n" +
      "    order { id number status paymentStatus chargeStatus authorizeStatus total { gross " + MONEY + " } }\n" +
      "    " + ERRORS + " }\n}"
  };

  // -- small helpers ------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attrs[name]; } else { node.setAttribute(name, attrs[name]); }
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function money(m) {
    if (!m) { return ""; }
    return Number(m.amount).toFixed(m.currency === "JPY" ? 0 : 2) + " " + m.currency;
  }

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE_KEY)) || {}; } catch (e) { return {}; }
  }

  function save(state) { window.localStorage.setItem(STORE_KEY, JSON.stringify(state)); }

  function update(changes) { var s = load(); Object.assign(s, changes); save(s); return s; }

  function param(name) { return new URLSearchParams(window.location.search).get(name); }

  function showError(message) {
    var box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  function busy(on) { $("busy").hidden = !on; }

  /** The operations of this purchase, kept across the pages (Amazon's redirects). */
  function logLine(entry) {
    $("log").appendChild(el("li", {"class": entry.ok === false ? "failed" : entry.ok === "note" ? "warn" : "ok"}, [
      el("span", {"class": "step", text: entry.step}), " ", el("code", {text: entry.op}), " " + (entry.outcome || "")
    ]));
  }

  function log(operation, outcome, ok) {
    var entry = {step: window.location.pathname, op: operation, outcome: outcome || "",
                 ok: ok === "note" ? "note" : ok !== false};
    var state = load();
    state.log = (state.log || []).concat([entry]).slice(-100);
    save(state);
    logLine(entry);
  }

  function operationName(query) {
    var found = /(query|mutation)\s+\w+[^{]*{\s*(\w+)/.exec(query);
    return found ? found[2] : "graphql";
  }

  /** POST one GraphQL document; throw on transport or GraphQL errors. */
  async function gql(query, variables) {
    var name = operationName(query);
    var response;
    try {
      response = await fetch(CFG.graphqlUrl, {
        method: "POST",
        headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify({query: query, variables: variables || {}})
      });
    } catch (e) {
      log(name, "network error", false);
      throw new Error("Cannot reach the Saleor API (" + CFG.graphqlUrl + "): " + e.message);
    }
    var body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!body) {
      log(name, "HTTP " + response.status, false);
      throw new Error("Saleor answered HTTP " + response.status + " without JSON");
    }
    if (body.errors && body.errors.length) {
      log(name, body.errors[0].message, false);
      throw new Error(body.errors.map(function (e) { return e.message; }).join("; "));
    }
    return body.data;
  }

  /** A mutation whose payload has `errors`: throw them as one message. */
  async function mutate(query, variables, field, quiet) {
    var data = await gql(query, variables);
    var payload = data[field];
    if (payload.errors && payload.errors.length) {
      if (!quiet) {
        log(field, payload.errors.map(function (e) {
          return (e.field ? e.field + ": " : "") + e.message;
        }).join("; "), false);
      }
      var error = new Error(payload.errors.map(function (e) { return e.message; }).join("; "));
      error.errors = payload.errors;
      throw error;
    }
    return payload;
  }

  function flow() {
    var checked = document.querySelector("input[name=flow]:checked");
    return checked ? checked.value : "checkoutComplete";
  }

  function setFlow(value, locked) {
    var input = document.querySelector("input[name=flow][value=" + (value || "checkoutComplete") + "]");
    if (input) { input.checked = true; }
    document.querySelectorAll("input[name=flow]").forEach(function (i) { i.disabled = !!locked; });
  }

  function flowLabel(value) {
    return value === "transactions" ? "Transactions API (transactionInitialize / transactionProcess)"
      : "checkoutComplete (Payment API)";
  }

  function show(step) {
    ["shop", "checkout", "review", "result"].forEach(function (name) {
      $("step-" + name).hidden = name !== step;
    });
  }

  function summary(checkout) {
    var rows = checkout.lines.map(function (line) {
      return el("tr", {}, [el("td", {text: line.quantity + " × " + line.variant.product.name +
        (line.variant.name ? " (" + line.variant.name + ")" : "")}), el("td", {text: money(line.totalPrice.gross)})]);
    });
    var delivery = checkout.deliveryMethod && checkout.deliveryMethod.name;
    rows.push(el("tr", {}, [el("td", {text: "Shipping" + (delivery ? " (" + delivery + ")" : "")}),
                            el("td", {text: money(checkout.shippingPrice.gross)})]));
    rows.push(el("tr", {"class": "total"}, [el("td", {text: "Total"}),
      el("td", {id: "checkout-total", text: money(checkout.totalPrice.gross)})]));
    var address = checkout.shippingAddress;
    var parts = [el("table", {}, rows)];
    if (checkout.email) { parts.push(el("p", {text: "Email: " + checkout.email})); }
    if (address) {
      parts.push(el("p", {id: "shipping-address", text: "Ship to: " + [address.firstName + " " + address.lastName,
        address.streetAddress1, address.streetAddress2, address.city, address.countryArea, address.postalCode,
        address.country.code].filter(Boolean).join(", ")}));
    }
    return el("div", {}, parts);
  }

  function fill(container, node) { container.innerHTML = ""; container.appendChild(node); }

  function buyerAddress() {
    var form = new FormData($("buyer-form"));
    var address = {};
    ["firstName", "lastName", "streetAddress1", "city", "postalCode", "country", "countryArea"].forEach(function (k) {
      address[k] = String(form.get(k) || "").trim();
    });
    address.country = address.country.toUpperCase();
    return {email: String(form.get("email") || "").trim(), address: address};
  }

  // -- 1. shop ------------------------------------------------------------------------

  async function shopStep() {
    show("shop");
    setFlow(param("flow") || load().flow || "checkoutComplete", false);
    var data = await gql(Q.products, {channel: CFG.channel});
    log("products", data.products.edges.length + " product(s) in channel " + CFG.channel);
    var list = $("products");
    list.innerHTML = "";
    var buyable = data.products.edges.filter(function (e) { return e.node.variants && e.node.variants.length; });
    $("no-products").hidden = buyable.length > 0;
    buyable.forEach(function (edge, index) {
      var product = edge.node;
      var variant = product.variants[0];
      var price = variant.pricing && variant.pricing.price ? money(variant.pricing.price.gross) : "";
      var button = el("button", {type: "button", "class": "primary buy", id: "buy-" + index,
                                 "data-variant-id": variant.id, text: "Buy"});
      button.addEventListener("click", function () { buy(variant.id, button); });
      var children = [];
      if (product.thumbnail) { children.push(el("img", {src: product.thumbnail.url, alt: product.thumbnail.alt || ""})); }
      children.push(el("h3", {"class": "product-name", text: product.name}), el("p", {text: price}), button);
      list.appendChild(el("li", {"class": "product"}, children));
    });
  }

  async function buy(variantId, button) {
    showError("");
    button.disabled = true;
    busy(true);
    try {
      var buyer = buyerAddress();
      var created = await mutate(Q.checkoutCreate, {input: {
        channel: CFG.channel, email: buyer.email, lines: [{variantId: variantId, quantity: 1}],
        shippingAddress: buyer.address, billingAddress: buyer.address
      }}, "checkoutCreate");
      var checkout = created.checkout;
      update({log: []});
      $("log").innerHTML = "";
      log("checkoutCreate", "checkout " + checkout.id);
      checkout = await chooseDelivery(checkout);
      update({checkoutId: checkout.id, flow: flow(), transactionId: null, sessionId: null, order: null});
      window.location.href = "/checkout";
    } catch (e) {
      showError(e.message);
      button.disabled = false;
    } finally {
      busy(false);
    }
  }

  /** Keep the current shipping method if it is still offered; else take the first. */
  async function chooseDelivery(checkout) {
    var methods = checkout.shippingMethods || [];
    var current = checkout.deliveryMethod && checkout.deliveryMethod.id;
    if (current && methods.some(function (m) { return m.id === current; })) { return checkout; }
    if (!methods.length) { throw new Error("No shipping method delivers to this address in channel " + CFG.channel); }
    var updated = await mutate(Q.deliveryMethodUpdate, {id: checkout.id, deliveryMethodId: methods[0].id},
                               "checkoutDeliveryMethodUpdate");
    log("checkoutDeliveryMethodUpdate", methods[0].name);
    return updated.checkout;
  }

  async function currentCheckout() {
    var state = load();
    if (!state.checkoutId) { throw new Error("No checkout in progress: pick a product first."); }
    var data = await gql(Q.checkout, {id: state.checkoutId});
    if (!data.checkout) { throw new Error("The checkout no longer exists (already completed?): pick a product."); }
    return data.checkout;
  }

  // -- 2. checkout: the Amazon Pay button ---------------------------------------------

  function loadScript(url) {
    return new Promise(function (resolve, reject) {
      if (window.amazon && window.amazon.Pay) { resolve(); return; }
      var script = document.createElement("script");
      script.src = url;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("Cannot load the Amazon Pay button script " + url)); };
      document.head.appendChild(script);
    });
  }

  /** checkoutComplete flow: availablePaymentGateways { config } (docs/storefront-guide.md). */
  async function buttonFromGateways(checkoutId) {
    var data = await gql(Q.gateways, {id: checkoutId});
    var gateway = (data.checkout.availablePaymentGateways || []).filter(function (g) { return g.id === GATEWAY; })[0];
    if (!gateway) {
      throw new Error("Amazon Pay is not available for this checkout (is the plugin active and configured for " +
                      "channel " + CFG.channel + " and its currency?)");
    }
    log("availablePaymentGateways", "Amazon Pay button configuration");
    var cfg = {};
    gateway.config.forEach(function (c) { cfg[c.field] = c.value; });
    return {
      scriptUrl: cfg.buttonScriptUrl,
      options: {
        merchantId: cfg.merchantId, publicKeyId: cfg.publicKeyId, ledgerCurrency: cfg.ledgerCurrency,
        checkoutLanguage: cfg.checkoutLanguage, productType: cfg.productType, placement: cfg.placement,
        sandbox: cfg.sandbox === "true", buttonColor: "Gold",
        // payloadJSON exactly as received: the signature covers those bytes.
        createCheckoutSessionConfig: JSON.parse(cfg.createCheckoutSessionConfig)
      }
    };
  }

  /** Transactions API flow: paymentGatewayInitialize (docs/transactions-api.md). */
  async function buttonFromGatewayInitialize(checkoutId) {
    var payload = await mutate(Q.gatewayInitialize, {checkoutId: checkoutId}, "paymentGatewayInitialize");
    var config = (payload.gatewayConfigs || []).filter(function (g) { return g.id === GATEWAY; })[0];
    if (!config || (config.errors && config.errors.length)) {
      throw new Error("paymentGatewayInitialize: " + (config && config.errors.length ? config.errors[0].message
        : "Amazon Pay is not available for this checkout"));
    }
    var data = typeof config.data === "string" ? JSON.parse(config.data) : config.data;
    log("paymentGatewayInitialize", "Amazon Pay button configuration");
    // The standard button (sign in, then this storefront's review page). The gateway's
    // createCheckoutSessionConfig may instead be the one-trip ProcessOrder variant.
    var session = data.reviewCheckoutSessionConfig || data.createCheckoutSessionConfig;
    return {
      scriptUrl: data.buttonScriptUrl,
      options: {
        merchantId: data.merchantId, publicKeyId: data.publicKeyId, ledgerCurrency: data.ledgerCurrency,
        checkoutLanguage: data.checkoutLanguage, productType: data.productType, placement: data.placement,
        sandbox: data.sandbox === true || data.sandbox === "true", buttonColor: "Gold",
        estimatedOrderAmount: data.estimatedOrderAmount,
        createCheckoutSessionConfig: typeof session === "string" ? JSON.parse(session) : session
      }
    };
  }

  async function checkoutStep() {
    show("checkout");
    var state = load();
    setFlow(state.flow, true);
    var checkout = await currentCheckout();
    fill($("checkout-summary"), summary(checkout));
    var button = state.flow === "transactions" ? await buttonFromGatewayInitialize(checkout.id)
      : await buttonFromGateways(checkout.id);
    if (!button.scriptUrl) { throw new Error("The gateway configuration has no buttonScriptUrl"); }
    var emulated = /\/_emulator\/checkout\.js(\?|$)/.test(button.scriptUrl);
    $("button-script").textContent = "Button script: " + button.scriptUrl +
      (emulated ? " (the Amazon Pay emulator: its buyer pages stand in for Amazon's)" : " (Amazon Pay)");
    await loadScript(button.scriptUrl);
    Object.keys(button.options).forEach(function (k) {
      if (button.options[k] === undefined || button.options[k] === "") { delete button.options[k]; }
    });
    window.amazon.Pay.renderButton("#AmazonPayButton", button.options);
  }

  // -- 3. review: read the buyer's details, fill the checkout -------------------------

  async function buyerDetails(sessionId) {
    var payload = await mutate(Q.buyerDetails, {channel: CFG.channel, data: JSON.stringify({
      action: "checkoutSessionDetails", amazonCheckoutSessionId: sessionId})}, "paymentInitialize");
    var details = JSON.parse(payload.initializedPayment.data);
    log("paymentInitialize", "checkoutSessionDetails: " + details.state);
    return details;
  }

  function addressInput(address) {
    var input = {};
    ["firstName", "lastName", "companyName", "streetAddress1", "streetAddress2", "city", "cityArea", "postalCode",
     "country", "countryArea", "phone"].forEach(function (k) {
      if (address[k] !== undefined && address[k] !== null) { input[k] = address[k]; }
    });
    return input;
  }

  /** Amazon's phone numbers do not always pass Saleor's validation: retry without one. */
  async function setAddress(query, field, checkoutId, address) {
    var input = addressInput(address);
    try {
      return await mutate(query, {id: checkoutId, address: input}, field, true);
    } catch (e) {
      var phoneRejected = (e.errors || []).some(function (err) { return err.field === "phone"; });
      if (!phoneRejected || !input.phone) {
        log(field, e.message, false);
        throw e;
      }
      log(field, "Saleor rejected Amazon's phone number " + JSON.stringify(input.phone) +
          ": sending the address without it", "note");
      delete input.phone;
      return await mutate(query, {id: checkoutId, address: input}, field);
    }
  }

  function describeDetails(details) {
    var buyer = details.buyer || {};
    var a = details.shippingAddress || details.billingAddress || {};
    return el("div", {}, [
      el("h2", {text: "From Amazon Pay"}),
      el("p", {id: "amazon-buyer", text: (buyer.name || "") + " <" + (buyer.email || "") + ">"}),
      el("p", {id: "amazon-address", text: [a.firstName + " " + a.lastName, a.streetAddress1, a.streetAddress2,
        a.city, a.countryArea, a.postalCode, a.country].filter(Boolean).join(", ")}),
      el("p", {id: "amazon-payment-descriptor", text: "Payment: " + (details.paymentDescriptor || "")}),
      el("p", {"class": "small", text: "Amazon checkoutSessionId: " + details.checkoutSessionId})
    ]);
  }

  async function reviewStep() {
    show("review");
    var state = load();
    setFlow(state.flow, true);
    var sessionId = param(SESSION_PARAM);
    if (!sessionId) { throw new Error("The review page needs ?" + SESSION_PARAM + "= (Amazon adds it)."); }
    if (!state.checkoutId) { throw new Error("No checkout in progress in this browser: pick a product first."); }
    update({sessionId: sessionId});

    var details = await buyerDetails(sessionId);
    fill($("amazon-details"), describeDetails(details));
    if (details.buyer && details.buyer.email) {
      await mutate(Q.emailUpdate, {id: state.checkoutId, email: details.buyer.email}, "checkoutEmailUpdate");
      log("checkoutEmailUpdate", details.buyer.email);
    }
    var checkout = null;
    if (details.shippingAddress) {
      checkout = (await setAddress(Q.shippingAddressUpdate, "checkoutShippingAddressUpdate", state.checkoutId,
                                   details.shippingAddress)).checkout;
      log("checkoutShippingAddressUpdate", details.shippingAddress.city + ", " + details.shippingAddress.country);
    }
    if (details.billingAddress) {
      await setAddress(Q.billingAddressUpdate, "checkoutBillingAddressUpdate", state.checkoutId,
                       details.billingAddress);
      log("checkoutBillingAddressUpdate", details.billingAddress.country);
    }
    checkout = await chooseDelivery(checkout || await currentCheckout());
    fill($("review-summary"), summary(checkout));

    var place = $("place-order");
    place.disabled = false;
    place.onclick = function () {
      place.disabled = true;
      showError("");
      busy(true);
      var go = state.flow === "transactions" ? placeOrderTransactions : placeOrderPaymentApi;
      go(checkout, sessionId).catch(function (e) {
        showError(e.message);
        place.disabled = false;
      }).finally(function () { busy(false); });
    };
  }

  function redirectToAmazon(url) {
    if (!url) { throw new Error("Saleor did not return amazonPayRedirectUrl"); }
    log("redirect", "to Amazon Pay to confirm the payment");
    window.location.href = url;
  }

  /** checkoutComplete flow: checkoutPaymentCreate(token: sessionId) + checkoutComplete. */
  async function placeOrderPaymentApi(checkout, sessionId) {
    var total = checkout.totalPrice.gross.amount;
    await mutate(Q.paymentCreate, {id: checkout.id, sessionId: sessionId, amount: total}, "checkoutPaymentCreate");
    log("checkoutPaymentCreate", "token = checkoutSessionId, amount " + money(checkout.totalPrice.gross));
    var result = await mutate(Q.complete, {id: checkout.id}, "checkoutComplete");
    if (result.order) { showOrder(result.order, sessionId, "checkoutComplete"); return; }
    if (!result.confirmationNeeded) { throw new Error("checkoutComplete returned neither an order nor a confirmation"); }
    var confirmation = JSON.parse(result.confirmationData || "{}");
    log("checkoutComplete", "confirmationNeeded: amazonPayRedirectUrl");
    redirectToAmazon(confirmation.amazonPayRedirectUrl);
  }

  /** Transactions API flow: transactionInitialize with the session id. */
  async function placeOrderTransactions(checkout, sessionId) {
    // A stable idempotency key per attempt (a new button click is a new session, a new key):
    // repeating the call returns the same transaction instead of creating another.
    var payload = await mutate(Q.transactionInitialize, {checkoutId: checkout.id, key: sessionId,
                                                         data: {amazonCheckoutSessionId: sessionId}},
                               "transactionInitialize");
    var event = payload.transactionEvent || {};
    log("transactionInitialize", (event.type || "") + (payload.transaction ? " transaction " + payload.transaction.id : ""));
    if (!payload.transaction) { throw new Error(event.message || "transactionInitialize created no transaction"); }
    update({transactionId: payload.transaction.id});
    var data = payload.data || {};
    if (typeof data === "string") { data = JSON.parse(data); }
    if (/FAILURE/.test(event.type || "")) { throw new Error(event.message || "The payment was refused."); }
    if (data.amazonPayRedirectUrl) { redirectToAmazon(data.amazonPayRedirectUrl); return; }
    if (/_SUCCESS$|_REQUEST$/.test(event.type || "")) {
      // Nothing left to confirm on Amazon (the one-trip button): the order can be placed.
      await completeTransactions(load().checkoutId, sessionId, payload.transaction, event);
      return;
    }
    throw new Error("transactionInitialize returned no amazonPayRedirectUrl (" + (event.type || "no event") + ")");
  }

  // -- 4. result: complete and show the order -----------------------------------------

  function showOrder(order, sessionId, flowName, extra) {
    extra = extra || {};
    show("result");
    var payment = (order.payments || []).filter(function (p) { return p.gateway === GATEWAY; })[0] || {};
    $("result-title").textContent = "Thank you! Order #" + order.number + " is placed.";
    $("order-number").textContent = order.number;
    $("order-status").textContent = order.status;
    $("order-payment-status").textContent = order.paymentStatus +
      (order.chargeStatus ? " (charge " + order.chargeStatus + ", authorize " + order.authorizeStatus + ")" : "");
    $("order-total").textContent = money(order.total.gross);
    $("order-flow").textContent = flowLabel(flowName);
    $("amazon-checkout-session-id").textContent = sessionId || "";
    $("amazon-charge-id").textContent = extra.pspReference || payment.pspReference ||
      "not visible to the buyer (see below)";
    $("payment-state").textContent = extra.state || "";
    $("payment-state").hidden = $("payment-state-label").hidden = !extra.state;
    $("order").hidden = false;
    $("staff-where").textContent = flowName === "transactions"
      ? "the Amazon Pay transaction's metadata and events, which Saleor shows to staff only: Dashboard → Orders → " +
        "this order → the Amazon Pay transaction, or order { transactions { pspReference metadata events } } " +
        "with MANAGE_ORDERS or HANDLE_PAYMENTS"
      : "the Amazon Pay payment's metadata, which Saleor shows to staff only: Dashboard → Orders → this order → " +
        "the Amazon Pay payment, or order { payments { metadata } } with MANAGE_ORDERS";
    $("staff-note").hidden = false;
    $("back-to-checkout").hidden = true;
    update({checkoutId: null, transactionId: null, order: {order: order, sessionId: sessionId, flow: flowName,
                                                           extra: extra}});
  }

  async function resultStep() {
    show("result");
    var state = load();
    setFlow(state.flow, true);
    var sessionId = param(SESSION_PARAM);
    if (state.order && state.order.sessionId === sessionId && !state.checkoutId) {
      // A reload of the result page: the checkout is already an order.
      showOrder(state.order.order, sessionId, state.order.flow, state.order.extra);
      return;
    }
    if (!sessionId) { throw new Error("The result page needs ?" + SESSION_PARAM + "= (Amazon adds it)."); }
    if (!state.checkoutId) { throw new Error("No checkout in progress in this browser."); }
    $("back-to-checkout").hidden = false;
    if (state.flow === "transactions") {
      await resultTransactions(state, sessionId);
    } else {
      var result = await mutate(Q.complete, {id: state.checkoutId,
        paymentData: JSON.stringify({amazonCheckoutSessionId: sessionId})}, "checkoutComplete");
      if (!result.order) { throw new Error("checkoutComplete did not create the order"); }
      log("checkoutComplete", "order #" + result.order.number);
      showOrder(result.order, sessionId, "checkoutComplete");
    }
  }

  function sleep(ms) { return new Promise(function (resolve) { window.setTimeout(resolve, ms); }); }

  async function resultTransactions(state, sessionId) {
    if (!state.transactionId) { throw new Error("No transaction in progress in this browser."); }
    for (var attempt = 1; ; attempt++) {
      var processed = await mutate(Q.transactionProcess, {transactionId: state.transactionId,
                                                          data: {amazonCheckoutSessionId: sessionId}},
                                   "transactionProcess");
      var event = processed.transactionEvent || {};
      var data = processed.data || {};
      if (typeof data === "string") { data = JSON.parse(data); }
      log("transactionProcess", event.type || "");
      if (/FAILURE/.test(event.type || "")) { throw new Error(event.message || "The payment was refused."); }
      if (/_ACTION_REQUIRED$/.test(event.type || "")) {
        if (data.amazonPayRedirectUrl) { redirectToAmazon(data.amazonPayRedirectUrl); return; }
        // Amazon's answer was lost; the payment may have gone through: ask again, never start over.
        if (data.retry && attempt < 5) { await sleep(2000 * attempt); continue; }
        throw new Error("Amazon Pay has not confirmed the payment yet. Reload this page in a moment.");
      }
      await completeTransactions(state.checkoutId, sessionId, processed.transaction, event);
      return;
    }
  }

  async function completeTransactions(checkoutId, sessionId, transaction, event) {
    var result = await mutate(Q.completeTransactions, {id: checkoutId}, "checkoutComplete");
    if (!result.order) { throw new Error("checkoutComplete did not create the order"); }
    log("checkoutComplete", "order #" + result.order.number);
    showOrder(result.order, sessionId, "transactions", {
      pspReference: (transaction && transaction.pspReference) || event.pspReference, state: event.type});
  }

  // -- start ----------------------------------------------------------------------------

  async function main() {
    $("api-info").textContent = "Saleor " + CFG.apiUrl + " · channel " + CFG.channel +
      (CFG.proxied ? " (via this server)" : "");
    document.querySelectorAll("input[name=flow]").forEach(function (input) {
      input.addEventListener("change", function () { update({flow: flow()}); });
    });
    var path = window.location.pathname.replace(/\/+$/, "") || "/";
    if (path !== "/") { (load().log || []).forEach(logLine); }
    var steps = {"/": shopStep, "/checkout": checkoutStep, "/review": reviewStep, "/result": resultStep};
    busy(true);
    try {
      await (steps[path] || shopStep)();
    } catch (e) {
      showError(e.message);
      if (path === "/result") { $("result-title").textContent = "Your order was not placed"; }
    } finally {
      busy(false);
      document.body.setAttribute("data-ready", "true");
    }
  }

  main();
})();
