/* stripe.js stand-in served by the Stripe sandbox (offline). Implements the subset of
 * Stripe.js v3 used by a payment page: Stripe(pk), elements(), the Payment Element with
 * "Card number", "Expiration date" and "CVC" inputs, confirmPayment, confirmCardPayment,
 * handleNextAction, retrievePaymentIntent, createPaymentMethod, and a 3-D Secure challenge
 * overlay with "Complete authentication" / "Fail authentication" buttons. */
(function () {
  "use strict";
  var BASE = "__SANDBOX_BASE__";
  var uid = 0;

  function encode(obj, prefix, out) {
    out = out || [];
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      var key = prefix ? prefix + "[" + k + "]" : k;
      if (v === undefined || v === null) return;
      if (Array.isArray(v)) {
        v.forEach(function (item, i) {
          if (typeof item === "object") encode(item, key + "[" + i + "]", out);
          else out.push(encodeURIComponent(key + "[" + i + "]") + "=" + encodeURIComponent(item));
        });
      } else if (typeof v === "object") {
        encode(v, key, out);
      } else {
        out.push(encodeURIComponent(key) + "=" + encodeURIComponent(String(v)));
      }
    });
    return out.join("&");
  }

  function request(pk, method, path, params) {
    var url = BASE + path;
    var init = { method: method, headers: { Authorization: "Bearer " + pk } };
    var body = encode(params || {});
    if (method === "GET") {
      if (body) url += "?" + body;
    } else {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = body;
    }
    return fetch(url, init).then(function (r) {
      return r.json().then(function (json) {
        return { ok: r.ok, status: r.status, json: json };
      });
    }, function (e) {
      return { ok: false, status: 0, json: { error: { type: "api_connection_error",
        message: "Could not reach the Stripe sandbox: " + e } } };
    });
  }

  function intentId(secret) {
    if (typeof secret !== "string" || secret.indexOf("_secret_") < 0) return null;
    return secret.split("_secret_")[0];
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  /* ---- the Payment Element --------------------------------------------------------------- */
  function PaymentElement(elements, type, options) {
    this._elements = elements;
    this._type = type;
    this._options = options || {};
    this._handlers = {};
    this._root = null;
    this._inputs = null;
  }

  PaymentElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    if (!host) throw new Error("stripe.js sandbox: mount target not found: " + target);
    var n = ++uid;
    var root = el("div", { "class": "StripeElement StripeSandboxElement", "data-sandbox": "payment-element" });
    var style = "display:block;width:100%;padding:.4rem;margin:.15rem 0 .6rem;font:inherit;box-sizing:border-box";
    var fields = [
      ["number", "Card number", "cc-number", "1234 1234 1234 1234", "numeric"],
      ["expiry", "Expiration date", "cc-exp", "MM / YY", "numeric"],
      ["cvc", "CVC", "cc-csc", "CVC", "numeric"],
    ];
    var inputs = {};
    var self = this;
    fields.forEach(function (f) {
      var id = "stripe-sandbox-" + f[0] + "-" + n;
      var label = el("label", { "for": id }, f[1]);
      var input = el("input", { id: id, name: f[0], autocomplete: f[2], placeholder: f[3],
        inputmode: f[4], type: "text", "aria-invalid": "false", style: style });
      input.addEventListener("input", function () { self._emitChange(); });
      input.addEventListener("focus", function () { self._emit("focus", { elementType: self._type }); });
      input.addEventListener("blur", function () { self._emit("blur", { elementType: self._type }); });
      root.appendChild(label);
      root.appendChild(input);
      inputs[f[0]] = input;
    });
    // Stripe's element lives in an iframe, out of the page's accessibility tree: the page's own
    // alert is where errors are announced, so this box only speaks politely, as a live region.
    var err = el("div", { "aria-live": "polite", "class": "StripeSandboxError", style: "color:#b00020" });
    root.appendChild(err);
    host.appendChild(root);
    this._root = root;
    this._inputs = inputs;
    this._error = err;
    var me = this;
    setTimeout(function () { me._emit("ready", { elementType: me._type }); }, 0);
    return this;
  };

  PaymentElement.prototype.unmount = function () {
    if (this._root && this._root.parentNode) this._root.parentNode.removeChild(this._root);
  };
  PaymentElement.prototype.destroy = PaymentElement.prototype.unmount;
  PaymentElement.prototype.update = function (o) { Object.assign(this._options, o || {}); };
  PaymentElement.prototype.focus = function () { if (this._inputs) this._inputs.number.focus(); };
  PaymentElement.prototype.blur = function () { if (document.activeElement) document.activeElement.blur(); };
  PaymentElement.prototype.clear = function () {
    if (!this._inputs) return;
    var i = this._inputs; i.number.value = ""; i.expiry.value = ""; i.cvc.value = "";
    this._emitChange();
  };
  PaymentElement.prototype.on = function (event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
    return this;
  };
  PaymentElement.prototype.off = function (event, handler) {
    var hs = this._handlers[event] || [];
    this._handlers[event] = handler ? hs.filter(function (h) { return h !== handler; }) : [];
    return this;
  };
  PaymentElement.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).forEach(function (h) { try { h(payload); } catch (e) { console.error(e); } });
  };

  PaymentElement.prototype._values = function () {
    var i = this._inputs;
    var number = (i.number.value || "").replace(/[\s-]/g, "");
    var exp = (i.expiry.value || "").replace(/\s/g, "");
    var m = exp.match(/^(\d{1,2})\/?(\d{2}|\d{4})$/);
    return { number: number, exp_month: m ? parseInt(m[1], 10) : null,
      exp_year: m ? parseInt(m[2].length === 2 ? "20" + m[2] : m[2], 10) : null,
      cvc: (i.cvc.value || "").trim(), rawExpiry: exp };
  };

  PaymentElement.prototype._validate = function () {
    if (!this._inputs) return { type: "validation_error", code: "incomplete", message: "The payment element is not mounted." };
    var v = this._values();
    var e = null;
    if (!v.number) e = ["incomplete_number", "Your card number is incomplete.", "number"];
    else if (!/^\d{12,19}$/.test(v.number) || !luhn(v.number)) e = ["invalid_number", "Your card number is invalid.", "number"];
    else if (!v.rawExpiry) e = ["incomplete_expiry", "Your card's expiration date is incomplete.", "expiry"];
    else if (!v.exp_month || v.exp_month > 12 || v.exp_month < 1) e = ["invalid_expiry_month", "Your card's expiration date is invalid.", "expiry"];
    else if (!v.cvc) e = ["incomplete_cvc", "Your card's security code is incomplete.", "cvc"];
    else if (!/^\d{3,4}$/.test(v.cvc)) e = ["invalid_cvc", "Your card's security code is invalid.", "cvc"];
    var i = this._inputs;
    ["number", "expiry", "cvc"].forEach(function (k) { i[k].setAttribute("aria-invalid", e && e[2] === k ? "true" : "false"); });
    if (!e) { this._error.textContent = ""; return null; }
    this._error.textContent = e[1];
    return { type: "validation_error", code: e[0], message: e[1] };
  };

  PaymentElement.prototype._emitChange = function () {
    var v = this._values();
    var empty = !v.number && !v.rawExpiry && !v.cvc;
    var complete = /^\d{12,19}$/.test(v.number) && luhn(v.number) && !!v.exp_month && v.exp_month <= 12 && /^\d{3,4}$/.test(v.cvc);
    this._emit("change", { elementType: this._type, empty: empty, complete: complete,
      collapsed: false, value: { type: "card" } });
  };

  function luhn(num) {
    var sum = 0;
    for (var i = 0; i < num.length; i++) {
      var d = parseInt(num.charAt(num.length - 1 - i), 10);
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  /* ---- Elements group ------------------------------------------------------------------- */
  function Elements(stripe, options) {
    this._stripe = stripe;
    this._options = options || {};
    this._clientSecret = this._options.clientSecret || null;
    this._elements = {};
    this._submitted = false;
  }
  Elements.prototype.create = function (type, options) {
    if (type !== "payment" && type !== "card") throw new Error("stripe.js sandbox supports the 'payment' and 'card' elements only");
    var e = new PaymentElement(this, type, options);
    this._elements[type] = e;
    return e;
  };
  Elements.prototype.getElement = function (type) { return this._elements[type] || null; };
  Elements.prototype.update = function (o) { Object.assign(this._options, o || {}); };
  Elements.prototype.fetchUpdates = function () { return Promise.resolve({}); };
  Elements.prototype._element = function () { return this._elements.payment || this._elements.card || null; };
  Elements.prototype.submit = function () {
    var e = this._element();
    if (!e) return Promise.resolve({ error: { type: "validation_error", code: "no_element", message: "No payment element was created." } });
    var err = e._validate();
    this._submitted = !err;
    return Promise.resolve(err ? { error: err } : {});
  };

  /* ---- the 3-D Secure challenge ----------------------------------------------------------- */
  function challenge(pi) {
    return new Promise(function (resolve) {
      var overlay = el("div", { role: "dialog", "aria-modal": "true", "aria-label": "3D Secure authentication",
        "data-sandbox": "three-d-secure",
        style: "position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483647" });
      var box = el("div", { style: "background:#fff;color:#111;padding:1.5rem;border-radius:8px;max-width:26rem;font-family:system-ui,sans-serif" });
      box.appendChild(el("h2", {}, "3D Secure test payment"));
      var amount = (pi.amount / 100).toFixed(2) + " " + String(pi.currency || "").toUpperCase();
      box.appendChild(el("p", {}, "Sandbox — payments are simulated. Authenticate a payment of " + amount + "."));
      var ok = el("button", { type: "button", style: "margin:.3rem;padding:.5rem 1rem" }, "Complete authentication");
      var no = el("button", { type: "button", style: "margin:.3rem;padding:.5rem 1rem" }, "Fail authentication");
      box.appendChild(ok); box.appendChild(no);
      overlay.appendChild(box);
      document.body.appendChild(overlay);
      function done(outcome) {
        ok.disabled = true; no.disabled = true;
        fetch(BASE + "/_sandbox/3ds/" + encodeURIComponent(pi.id), {
          method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ client_secret: pi.client_secret, outcome: outcome }),
        }).then(function (r) { return r.json(); }).then(function (json) {
          overlay.parentNode && overlay.parentNode.removeChild(overlay);
          resolve(json);
        }, function (e) {
          overlay.parentNode && overlay.parentNode.removeChild(overlay);
          resolve({ error: { type: "api_connection_error", message: String(e) } });
        });
      }
      ok.addEventListener("click", function () { done("complete"); });
      no.addEventListener("click", function () { done("fail"); });
      ok.focus();
    });
  }

  /* ---- Stripe --------------------------------------------------------------------------- */
  function StripeSandbox(pk, options) {
    if (!(this instanceof StripeSandbox)) return new StripeSandbox(pk, options);
    if (typeof pk !== "string" || pk.indexOf("pk_test_") !== 0) {
      throw new Error("Invalid publishable key: the Stripe sandbox accepts pk_test_... keys only.");
    }
    this._pk = pk;
    this._options = options || {};
  }

  StripeSandbox.prototype.elements = function (options) { return new Elements(this, options); };

  StripeSandbox.prototype._retrieve = function (secret) {
    var id = intentId(secret);
    if (!id) return Promise.resolve({ error: { type: "invalid_request_error", code: "parameter_invalid", message: "Invalid client_secret." } });
    return request(this._pk, "GET", "/v1/payment_intents/" + id, { client_secret: secret }).then(function (r) {
      return r.ok ? { paymentIntent: r.json } : { error: r.json.error };
    });
  };

  StripeSandbox.prototype.retrievePaymentIntent = function (secret) { return this._retrieve(secret); };

  StripeSandbox.prototype._createPM = function (element, billing) {
    var err = element._validate();
    if (err) return Promise.resolve({ error: err });
    var v = element._values();
    var params = { type: "card", card: { number: v.number, exp_month: v.exp_month, exp_year: v.exp_year, cvc: v.cvc } };
    if (billing) params.billing_details = billing;
    return request(this._pk, "POST", "/v1/payment_methods", params).then(function (r) {
      return r.ok ? { paymentMethod: r.json } : { error: r.json.error };
    });
  };

  StripeSandbox.prototype.createPaymentMethod = function (opts) {
    opts = opts || {};
    var element = opts.elements ? opts.elements._element() : opts.card || opts.element;
    if (!element) return Promise.resolve({ error: { type: "validation_error", message: "No card element." } });
    var billing = (opts.params && opts.params.billing_details) || opts.billing_details;
    return this._createPM(element, billing);
  };

  // Confirm the intent, run the challenge if one is needed, and give back the outcome.
  StripeSandbox.prototype._confirm = function (secret, pmId, returnUrl, extra) {
    var self = this;
    var id = intentId(secret);
    var params = Object.assign({ client_secret: secret, payment_method: pmId, use_stripe_sdk: "true" }, extra || {});
    if (returnUrl) params.return_url = returnUrl;
    return request(this._pk, "POST", "/v1/payment_intents/" + id + "/confirm", params).then(function (r) {
      if (!r.ok) return { error: r.json.error };
      return self._afterConfirm(r.json);
    });
  };

  StripeSandbox.prototype._afterConfirm = function (pi) {
    var self = this;
    if (pi.status !== "requires_action") return Promise.resolve({ paymentIntent: pi });
    return challenge(pi).then(function (res) {
      if (res && res.error) return { error: res.error };
      return self._retrieve(pi.client_secret).then(function (out) {
        if (out.error) return out;
        var p = out.paymentIntent;
        if (p.status === "requires_payment_method" && p.last_payment_error) {
          var e = Object.assign({}, p.last_payment_error, { payment_intent: p });
          return { error: e };
        }
        return { paymentIntent: p };
      });
    });
  };

  StripeSandbox.prototype.confirmPayment = function (opts) {
    var self = this;
    opts = opts || {};
    var elements = opts.elements;
    var secret = opts.clientSecret || (elements && elements._clientSecret);
    var confirmParams = opts.confirmParams || {};
    var redirect = opts.redirect || "always";
    if (!secret) return Promise.resolve({ error: { type: "invalid_request_error", code: "missing_client_secret", message: "confirmPayment needs a clientSecret (pass it to elements() or to confirmPayment())." } });
    if (redirect !== "if_required" && !confirmParams.return_url) {
      return Promise.resolve({ error: { type: "invalid_request_error", code: "parameter_missing", message: "confirmParams.return_url is required unless redirect is 'if_required'." } });
    }
    var element = elements && elements._element();
    var pmPromise;
    if (confirmParams.payment_method) pmPromise = Promise.resolve({ paymentMethod: { id: confirmParams.payment_method } });
    else if (element) pmPromise = self._createPM(element, confirmParams.payment_method_data && confirmParams.payment_method_data.billing_details);
    else return Promise.resolve({ error: { type: "validation_error", message: "No payment element." } });
    return pmPromise.then(function (res) {
      if (res.error) return res;
      var extra = {};
      if (confirmParams.receipt_email) extra.receipt_email = confirmParams.receipt_email;
      return self._confirm(secret, res.paymentMethod.id, confirmParams.return_url, extra);
    }).then(function (out) {
      if (out.error || redirect === "if_required") return out;
      var pi = out.paymentIntent;
      var u = new URL(confirmParams.return_url, window.location.href);
      u.searchParams.set("payment_intent", pi.id);
      u.searchParams.set("payment_intent_client_secret", pi.client_secret);
      u.searchParams.set("redirect_status", pi.status === "succeeded" || pi.status === "requires_capture" ? "succeeded" : pi.status);
      window.location.assign(u.toString());
      return new Promise(function () {});
    });
  };

  StripeSandbox.prototype.confirmCardPayment = function (secret, data, options) {
    var self = this;
    data = data || {};
    var pm = data.payment_method;
    var pmPromise;
    if (typeof pm === "string") pmPromise = Promise.resolve({ paymentMethod: { id: pm } });
    else if (pm && pm.card) pmPromise = self._createPM(pm.card, pm.billing_details);
    else {
      return self._retrieve(secret).then(function (out) {
        if (out.error) return out;
        if (!out.paymentIntent.payment_method) return { error: { type: "invalid_request_error", code: "payment_intent_unexpected_state", message: "A payment method is required." } };
        return self._confirm(secret, out.paymentIntent.payment_method, data.return_url);
      });
    }
    return pmPromise.then(function (res) {
      if (res.error) return res;
      return self._confirm(secret, res.paymentMethod.id, data.return_url);
    });
  };

  StripeSandbox.prototype.handleNextAction = function (opts) {
    var self = this;
    return this._retrieve(opts && opts.clientSecret).then(function (out) {
      if (out.error) return out;
      return self._afterConfirm(out.paymentIntent);
    });
  };
  StripeSandbox.prototype.handleCardAction = function (secret) { return this.handleNextAction({ clientSecret: secret }); };

  window.Stripe = StripeSandbox;
  window.Stripe.version = 3;
  window.Stripe.sandbox = true;
})();
