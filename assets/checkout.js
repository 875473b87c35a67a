/* The checkout page's payment step (served from our own origin: the page's CSP allows no
 * inline or eval'd script). The server renders #payment-element (with the Stripe.js URL,
 * publishable key, amount and currency as data attributes), #payment-message and #pay-button
 * (with the billing country, province and applied promo code); this script
 *   1. loads Stripe.js (js.stripe.com, or the offline sandbox's stand-in) and mounts the
 *      Payment Element in deferred-intent mode;
 *   2. on "Pay": validates the card fields (elements.submit), asks POST /api/payments/intent
 *      for the order and its PaymentIntent — the server prices the cart again; the total shown
 *      goes along as `expected_total` only so that a total the customer did not see is refused
 *      (409 total_changed) instead of charged — and confirms with
 *      stripe.confirmPayment({redirect: "if_required"}); 3-D Secure runs inside Stripe.js;
 *   3. shows a refusal in #payment-message and keeps the same order and PaymentIntent for the
 *      next try, or goes to /checkout/success. Stripe.js's card_error messages are written for
 *      cardholders; any other error (a failed 3-D Secure) is put in customer words by the
 *      server (GET /api/payments/status → payment_error), so the wording lives in one place.
 *   On total_changed it shows the server's message and clicks #checkout-requote, which has
 *      the page's state price the cart again; "Pay" then pays the new total.
 * The session and cart cookies are HttpOnly: fetch sends them, this script never sees them. */
(function () {
  "use strict";
  var stripe = null;
  var elements = null;
  var mountedHost = null;
  var mountingHost = null; // the host whose Payment Element is waiting for Stripe.js
  var lastAmount = 0;
  var loading = null;
  var broken = false; // Stripe.js failed to load: say so once, do not retry in a loop
  var busy = false;
  var pending = null; // {key, orderId, clientSecret}: reused while the checkout is unchanged

  function $(id) { return document.getElementById(id); }

  function say(text) {
    var box = $("payment-message");
    if (!box) return;
    box.textContent = text || "";
    box.hidden = !text;
  }

  function loadStripe(src) {
    if (window.Stripe) return Promise.resolve();
    if (loading) return loading;
    loading = new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = function () { resolve(); };
      script.onerror = function () {
        loading = null;
        reject(new Error("The payment form could not be loaded. Reload the page to try again."));
      };
      document.head.appendChild(script);
    });
    return loading;
  }

  function mount() {
    var host = $("payment-element");
    if (!host || !host.dataset.stripeJs || !host.dataset.publishableKey || broken) return;
    // While Stripe.js loads the host is still empty: page updates then (a province chosen)
    // must not start a second Payment Element beside the first.
    if (host === mountingHost) return;
    if (host === mountedHost && host.childElementCount > 0) {
      var amount = parseInt(host.dataset.amount, 10);
      if (elements && amount > 0 && lastAmount !== amount) {
        elements.update({ amount: amount });
        lastAmount = amount;
      }
      return;
    }
    mountedHost = host;
    mountingHost = host;
    loadStripe(host.dataset.stripeJs).then(function () {
      mountingHost = null;
      if (!stripe) stripe = window.Stripe(host.dataset.publishableKey);
      var amount = parseInt(host.dataset.amount, 10) || 100;
      elements = stripe.elements({
        mode: "payment",
        amount: amount,
        currency: (host.dataset.currency || "cad").toLowerCase(),
        paymentMethodTypes: ["card"], // as the server's PaymentIntents allow
      });
      lastAmount = amount;
      elements.create("payment").mount(host);
    }).catch(function (error) {
      mountingHost = null;
      broken = true;
      say(error.message);
    });
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { ok: response.ok, status: response.status, json: json };
      });
    });
  }

  function shownTotal() {
    var host = $("payment-element");
    var amount = host ? parseInt(host.dataset.amount, 10) : NaN;
    return amount >= 0 ? amount : null;
  }

  function requote() {
    var button = $("checkout-requote");
    if (button) button.click();
  }

  // Stripe's card_error texts are for cardholders; other errors are for developers, so the
  // server (which holds the customer wording) is asked what to say about this order.
  function customerError(error, orderId) {
    if (error && (error.type === "card_error" || error.type === "validation_error") && error.message) {
      return Promise.resolve(error.message);
    }
    var fallback = "The payment was not completed. Try again or use another card.";
    return fetch("/api/payments/status/" + encodeURIComponent(orderId), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    }).then(function (r) { return r.json(); }).then(function (json) {
      // An order closed meanwhile (replaced by another tab, or its hold expired) is never
      // paid: the next "Pay" starts a new one, and the customer is told why.
      if (json && json.status && json.status !== "pending" && json.status !== "failed") {
        pending = null;
      }
      return (json && json.payment_error && json.payment_error.message) || fallback;
    }).catch(function () { return fallback; });
  }

  function errorText(json, fallback) {
    return (json && json.error && json.error.message) || fallback;
  }

  function startOrder(button) {
    var billing = { country: button.dataset.country || "CA" };
    if (button.dataset.region) billing.region = button.dataset.region;
    var promo = button.dataset.promo || null;
    return fetch("/api/cart", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (cart) {
        var items = (cart.items || []).map(function (line) {
          return { product_id: line.product_id, quantity: line.quantity };
        });
        var shown = shownTotal();
        var key = JSON.stringify([items, billing, promo, shown]);
        if (pending && pending.key === key) return pending;
        var body = { items: items, billing: billing };
        if (promo) body.promo_code = promo;
        if (shown !== null) body.expected_total = shown;
        // Asked even for an empty cart: without a session the cart reads empty (the visitor's
        // own), and the server's 401 tells a session ended elsewhere from a cart emptied.
        return postJson("/api/payments/intent", body).then(function (res) {
          if (res.status === 401) {
            window.location.assign("/login?next=" + encodeURIComponent("/checkout"));
            return new Promise(function () {});  // the page is going away
          }
          if (!items.length) throw new Error("Your cart is empty.");
          if (res.status === 409 && res.json && res.json.error && res.json.error.code === "total_changed") {
            pending = null;
            requote();
          }
          if (!res.ok) throw new Error(errorText(res.json, "The payment could not be started."));
          pending = { key: key, orderId: res.json.order_id, clientSecret: res.json.client_secret };
          return pending;
        });
      });
  }

  function pay(button) {
    if (busy || button.disabled) return;
    if (!stripe || !elements) { say("The payment form is still loading."); return; }
    busy = true;
    button.setAttribute("aria-busy", "true");
    say("");
    elements.submit().then(function (checked) {
      if (checked.error) throw new Error(checked.error.message);
      return startOrder(button);
    }).then(function (order) {
      var done = window.location.origin + "/checkout/success?order=" + encodeURIComponent(order.orderId);
      return stripe.confirmPayment({
        elements: elements,
        clientSecret: order.clientSecret,
        confirmParams: { return_url: done },
        redirect: "if_required",
      }).then(function (result) {
        if (result.error) {
          return customerError(result.error, order.orderId).then(function (text) {
            throw new Error(text);
          });
        }
        var status = result.paymentIntent && result.paymentIntent.status;
        if (status === "succeeded" || status === "processing" || status === "requires_capture") {
          window.location.assign(done);
          return;
        }
        throw new Error("The payment was not completed. Try again or use another card.");
      });
    }).catch(function (error) {
      say(error.message || String(error));
    }).then(function () {
      busy = false;
      button.removeAttribute("aria-busy");
    });
  }

  // "Check again" (shown while other checkouts hold what the cart needs) goes away once the
  // hold has cleared; the keyboard focus it had then moves to "Pay", not to the page's start.
  var refocusPay = false;

  function followCheckAgain() {
    if (!refocusPay || $("check-again")) return;
    refocusPay = false;
    var button = $("pay-button");
    if (button && !button.disabled) button.focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target && event.target.closest ? event.target : null;
    var button = target && target.closest("#pay-button");
    if (button) {
      event.preventDefault();
      pay(button);
    } else if (target && target.closest("#check-again")) {
      refocusPay = true;
    }
  });

  new MutationObserver(function () {
    mount();
    followCheckAgain();
  }).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-amount", "disabled"],
  });
  mount();
})();
