"""The stripe.js stand-in, driven by Chromium from a page on another origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import PK, Server

pytestmark = [
    pytest.mark.browser,
]

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Pay</title>
<script src="%(sandbox)s/js/v3/stripe.js"></script></head><body>
<form id="pay"><div id="payment-element"></div><button type="submit">Pay</button></form>
<div id="changes"></div><output id="result"></output>
<script>
const params = new URLSearchParams(location.search);
const stripe = Stripe("%(pk)s");
const secret = params.get("secret");
const deferred = params.get("deferred") === "1";
const elements = deferred
  ? stripe.elements({mode: "payment", amount: 2000, currency: "usd"})
  : stripe.elements({clientSecret: secret});
const payment = elements.create("payment");
payment.mount("#payment-element");
payment.on("change", (e) => { document.getElementById("changes").textContent =
  e.complete ? "complete" : "incomplete"; });
document.getElementById("pay").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = document.getElementById("result");
  const {error: submitError} = await elements.submit();
  if (submitError) { out.textContent = "error:" + submitError.code; return; }
  const redirect = params.get("redirect") || "if_required";
  const res = await stripe.confirmPayment({
    elements, clientSecret: deferred ? secret : undefined, redirect,
    confirmParams: {return_url: location.origin + "/done"},
  });
  if (res.error) { out.textContent = "error:" + (res.error.decline_code || res.error.code); }
  else { out.textContent = "status:" + res.paymentIntent.status; }
});
</script></body></html>"""


@pytest.fixture(scope="module")
def page_origin(shared: Server) -> Iterator[str]:
    html = (PAGE % {"sandbox": shared.url, "pk": PK}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = html if self.path.startswith("/pay") else b"<h1>Thanks</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def intent(shared: Server, amount: int = 2000) -> Any:
    return shared.client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "automatic_payment_methods": {"enabled": True}}
    )


def fill(page: Any, number: str, expiry: str = "12 / 34", cvc: str = "123") -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiration date").fill(expiry)
    page.get_by_label("CVC", exact=True).fill(cvc)


def test_card_payment_succeeds(shared: Server, page_origin: str, page: Any) -> None:
    pi = intent(shared)
    page.goto(f"{page_origin}/pay?secret={pi.client_secret}")
    page.get_by_role("button", name="Pay").click()
    page.get_by_text("error:incomplete_number").wait_for()
    # The inputs are named exactly "Card number", "Expiration date" and "CVC" (issue 3).
    page.get_by_label("Card number", exact=True).fill("4242 4242 4242 4242")
    page.get_by_label("Expiration date", exact=True).fill("12 / 34")
    page.get_by_label("CVC", exact=True).fill("123")
    page.get_by_text("complete", exact=True).wait_for()
    page.get_by_role("button", name="Pay").click()
    page.get_by_text("status:succeeded").wait_for()
    done = shared.client.v1.payment_intents.retrieve(pi.id, params={"expand": ["payment_method"]})
    assert done.status == "succeeded"
    assert done.payment_method.card.last4 == "4242"  # type: ignore[union-attr]


def test_decline_is_reported(shared: Server, page_origin: str, page: Any) -> None:
    pi = intent(shared)
    page.goto(f"{page_origin}/pay?secret={pi.client_secret}")
    fill(page, "4000000000009995")
    page.get_by_role("button", name="Pay").click()
    page.get_by_text("error:insufficient_funds").wait_for()
    assert shared.client.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"


@pytest.mark.parametrize(
    ("button", "expected", "status"),
    [
        ("Complete authentication", "status:succeeded", "succeeded"),
        (
            "Fail authentication",
            "error:payment_intent_authentication_failure",
            "requires_payment_method",
        ),
    ],
)
def test_three_d_secure_challenge(
    shared: Server, page_origin: str, page: Any, button: str, expected: str, status: str
) -> None:
    pi = intent(shared)
    page.goto(f"{page_origin}/pay?secret={pi.client_secret}")
    fill(page, "4000002760003184")
    page.get_by_role("button", name="Pay").click()
    dialog = page.get_by_role("dialog", name="3D Secure authentication")
    dialog.wait_for()
    dialog.get_by_role("button", name=button).click()
    page.get_by_text(expected).wait_for()
    assert dialog.count() == 0
    assert shared.client.v1.payment_intents.retrieve(pi.id).status == status


def test_deferred_intent_and_redirect(shared: Server, page_origin: str, page: Any) -> None:
    pi = intent(shared)
    page.goto(f"{page_origin}/pay?deferred=1&redirect=always&secret={pi.client_secret}")
    fill(page, "5555555555554444")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(f"{page_origin}/done?*")
    assert f"payment_intent={pi.id}" in page.url
    assert "redirect_status=succeeded" in page.url
    assert shared.client.v1.payment_intents.retrieve(pi.id).status == "succeeded"
