"""Stripe behaviours an integration relies on, found by an outside-in audit (API 2026-10-28)."""

from __future__ import annotations

import uuid

import pytest
import stripe

from .conftest import RETURN_URL, SK, Server


def test_payment_method_types_is_refused_with_its_own_code(client: stripe.StripeClient) -> None:
    # given the endive API version, which removed the writable `payment_method_types`
    params = {"amount": 1000, "currency": "usd", "payment_method_types": ["card"]}
    # when an intent is created with it
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]
    # then Stripe answers its dedicated code, not "unknown parameter"
    assert exc.value.http_status == 400
    assert exc.value.code == "payment_method_types_no_longer_supported"
    assert exc.value.error.param == "payment_method_types"  # type: ignore[union-attr]


def test_allowed_types_and_automatic_payment_methods_are_mutually_exclusive(
    client: stripe.StripeClient,
) -> None:
    # given both ways of choosing payment methods
    params = {
        "amount": 1000,
        "currency": "usd",
        "allowed_payment_method_types": ["card"],
        "automatic_payment_methods": {"enabled": True},
    }
    # when the intent is created
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]
    # then it is refused
    assert exc.value.error.param == "automatic_payment_methods"  # type: ignore[union-attr]


def test_allowed_types_drop_what_cannot_be_used(client: stripe.StripeClient) -> None:
    # when an intent allows cards and a type the account cannot offer here
    pi = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card", "link"]}
    )
    # then the usable subset is what the intent offers, without dynamic payment methods
    assert pi.payment_method_types == ["card"]
    assert pi.automatic_payment_methods is None


def test_server_side_confirm_without_a_return_url_goes_through_as_only_cards_exist_here(
    client: stripe.StripeClient,
) -> None:
    # given an intent with dynamic payment methods (the default)
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd"})
    # when it is confirmed with a secret key and no return_url (Stripe would ask for one,
    # because some of its methods redirect; the sandbox has cards only, see its README)
    done = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    # then the card is charged
    assert done.status == "succeeded"


def test_redirects_never_and_card_only_intents_confirm_without_a_return_url(
    client: stripe.StripeClient,
) -> None:
    # when intents that cannot redirect are confirmed on create without a return_url
    never = client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    cards = client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    # then both succeed
    assert never.status == "succeeded"
    assert cards.status == "succeeded"


def test_three_d_secure_next_action_is_a_redirect_only_with_a_return_url(
    client: stripe.StripeClient,
) -> None:
    # given card-only intents and a card that always asks for 3-D Secure
    def confirmed(**extra: object) -> stripe.PaymentIntent:
        return client.v1.payment_intents.create(
            params={
                "amount": 2500,
                "currency": "usd",
                "allowed_payment_method_types": ["card"],
                "payment_method": "pm_card_authenticationRequired",
                "confirm": True,
                **extra,  # type: ignore[typeddict-item]
            }
        )

    # when they are confirmed with a return_url, without one, and as Stripe.js does
    with_return = confirmed(return_url=RETURN_URL)
    without_return = confirmed()
    by_stripe_js = confirmed(use_stripe_sdk=True)
    # then the first redirects to the challenge page and knows where to come back; with
    # nowhere to come back to, Stripe leaves the challenge to Stripe.js (handleNextAction),
    # as it does when Stripe.js confirms
    assert with_return.next_action.type == "redirect_to_url"  # type: ignore[union-attr]
    assert with_return.next_action.redirect_to_url.return_url == RETURN_URL  # type: ignore[union-attr]
    assert "/3ds/" in with_return.next_action.redirect_to_url.url  # type: ignore[union-attr]
    assert without_return.next_action.type == "use_stripe_sdk"  # type: ignore[union-attr]
    assert by_stripe_js.next_action.type == "use_stripe_sdk"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (
            lambda c: c.v1.coupons.create(params={"percent_off": 10, "duration": "sometimes"}),
            "duration",
        ),
        (
            lambda c: c.v1.payment_intents.create(
                params={"amount": 1000, "currency": "usd", "capture_method": "later"}
            ),
            "capture_method",
        ),
        (
            lambda c: c.v1.payment_intents.cancel(
                c.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"}).id,
                params={"cancellation_reason": "changed_my_mind"},
            ),
            "cancellation_reason",
        ),
    ],
)
def test_enum_parameters_refuse_values_stripe_does_not_define(
    client: stripe.StripeClient, call, param: str
) -> None:
    # when a parameter the API defines as an enum gets another value
    with pytest.raises(stripe.InvalidRequestError) as exc:
        call(client)
    # then the request is refused, naming the parameter
    assert exc.value.http_status == 400
    assert exc.value.error.param == param  # type: ignore[union-attr]


def test_after_a_partial_capture_the_whole_captured_amount_can_be_refunded(
    client: stripe.StripeClient,
) -> None:
    # given 20.00 authorised and 15.00 captured
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "capture_method": "manual",
            "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    pi = client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 1500})
    # when the captured 15.00 is refunded in two parts
    client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 600})
    last = client.v1.refunds.create(params={"payment_intent": pi.id})
    # then the second refund is the remaining 9.00 and the charge is fully refunded
    assert last.amount == 900
    ch = client.v1.charges.retrieve(pi.latest_charge)  # type: ignore[arg-type]
    assert ch.amount_captured == 1500
    assert ch.amount_refunded == 2000  # the released 5.00 and the refunded 15.00
    assert ch.refunded is True
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1})
    assert exc.value.code == "charge_already_refunded"


@pytest.mark.parametrize("given", [None, "automatic", "automatic_async"])
def test_payment_intents_capture_automatically_by_default(
    client: stripe.StripeClient, given: str | None
) -> None:
    # when an intent is created without a capture method, or with either automatic one
    extra = {"capture_method": given} if given else {}
    pi = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", **extra}  # type: ignore[typeddict-item]
    )
    # then Stripe's default is automatic_async, and each is captured when confirmed
    assert pi.capture_method == (given or "automatic_async")
    pi = client.v1.payment_intents.confirm(
        pi.id, params={"payment_method": "pm_card_visa", "return_url": RETURN_URL}
    )
    assert pi.status == "succeeded"
    assert pi.amount_received == 1000


def test_payment_intent_update_sets_capture_method(client: stripe.StripeClient) -> None:
    # given an automatic-capture intent
    pi = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    # when it is switched to manual capture and confirmed
    pi = client.v1.payment_intents.update(pi.id, params={"capture_method": "manual"})
    pi = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    # then it waits for capture
    assert pi.capture_method == "manual"
    assert pi.status == "requires_capture"
    assert pi.amount_capturable == 1000


def test_a_missing_payment_intent_is_named_as_stripe_names_it(
    client: stripe.StripeClient,
) -> None:
    # when an unknown intent is retrieved
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    # then the 404 reads as Stripe's does
    assert exc.value.http_status == 404
    assert exc.value.code == "resource_missing"
    assert str(exc.value.user_message) == "No such payment_intent: 'pi_doesnotexist'"


def test_customer_email_must_look_like_an_email(client: stripe.StripeClient) -> None:
    # when a customer is created, or updated, with something that is not an email address
    with pytest.raises(stripe.InvalidRequestError) as created:
        client.v1.customers.create(params={"email": "not-an-email"})
    cus = client.v1.customers.create(params={"email": "ok@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as updated:
        client.v1.customers.update(cus.id, params={"email": "still wrong"})
    # then both are refused with Stripe's code, and the customer keeps its address
    assert created.value.code == "email_invalid"
    assert created.value.error.param == "email"  # type: ignore[union-attr]
    assert updated.value.code == "email_invalid"
    assert client.v1.customers.retrieve(cus.id).email == "ok@example.com"


def test_customer_created_with_a_test_card_as_its_default(client: stripe.StripeClient) -> None:
    # when a customer is created the way Stripe's billing docs do it
    cus = client.v1.customers.create(
        params={
            "email": "billing@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    # then the default is the card just attached
    default = cus.invoice_settings.default_payment_method  # type: ignore[union-attr]
    assert isinstance(default, str)
    assert default.startswith("pm_")
    attached = client.v1.customers.payment_methods.list(cus.id)
    assert [pm.id for pm in attached.data] == [default]


def test_customer_search_with_metadata_exact_and_substring_clauses(
    client: stripe.StripeClient,
) -> None:
    # given five customers sharing a metadata tag
    tag = f"t{uuid.uuid4().hex[:10]}"
    for i in range(5):
        client.v1.customers.create(
            params={
                "email": f"s{i}-{tag}@example.com",
                "name": f"Searchable {i}",
                "metadata": {"tag": tag},
            }
        )
    # when they are searched by tag, a page of two at a time
    first = client.v1.customers.search(params={"query": f"metadata['tag']:'{tag}'", "limit": 2})
    everyone = list(
        client.v1.customers.search(
            params={"query": f"metadata['tag']:'{tag}'", "limit": 2}
        ).auto_paging_iter()
    )
    # then the answer is a search result that pages to all five, newest first
    assert first.object == "search_result"
    assert first.has_more is True
    assert first.next_page
    assert [c.email for c in everyone] == [f"s{i}-{tag}@example.com" for i in range(4, -1, -1)]
    # and exact (case-insensitive), substring, OR and negated clauses narrow it
    one = client.v1.customers.search(params={"query": f"email:'S3-{tag}@EXAMPLE.com'"})
    assert [c.email for c in one.data] == [f"s3-{tag}@example.com"]
    some = client.v1.customers.search(
        params={"query": f"name~'able 1' AND metadata['tag']:'{tag}'"}
    )
    assert [c.name for c in some.data] == ["Searchable 1"]
    either = client.v1.customers.search(
        params={"query": f"email:'s0-{tag}@example.com' OR email:'s4-{tag}@example.com'"}
    )
    assert len(either.data) == 2
    rest = client.v1.customers.search(
        params={"query": f"metadata['tag']:'{tag}' AND -name:'Searchable 0'"}
    )
    assert len(rest.data) == 4


def test_payment_intent_search_compares_amounts(client: stripe.StripeClient) -> None:
    # given two intents of one customer
    cus = client.v1.customers.create(params={"email": "amounts@example.com"})
    for amount in (1200, 5200):
        client.v1.payment_intents.create(
            params={"amount": amount, "currency": "usd", "customer": cus.id}
        )
    # when intents above 50.00 of that customer are searched
    found = client.v1.payment_intents.search(
        params={"query": f"customer:'{cus.id}' AND amount>5000"}
    )
    # then only the bigger one is found
    assert [pi.amount for pi in found.data] == [5200]


@pytest.mark.parametrize(
    "query",
    ["foo:'bar'", "email:'a' OR email:'b' AND name:'c'", "((("],
)
def test_search_refuses_unknown_fields_mixed_joins_and_bad_syntax(
    client: stripe.StripeClient, query: str
) -> None:
    # when a query Stripe cannot run is sent
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.search(params={"query": query})
    # then it is a 400 about the query
    assert exc.value.http_status == 400
    assert exc.value.error.param == "query"  # type: ignore[union-attr]


def test_idempotent_replay_names_the_original_request(shared: Server) -> None:
    # given a customer created with an idempotency key
    key = f"audit-{uuid.uuid4()}"
    headers = {"Authorization": f"Bearer {SK}", "Idempotency-Key": key}
    first = shared.http.post("/v1/customers", data={"email": "o@example.com"}, headers=headers)
    # when the same request is sent again
    again = shared.http.post("/v1/customers", data={"email": "o@example.com"}, headers=headers)
    # then the replay is a new request that points at the first one
    assert first.headers["Original-Request"] == first.headers["Request-Id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Request-Id"] != first.headers["Request-Id"]
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert again.json()["id"] == first.json()["id"]


def test_an_idempotency_key_is_bound_to_its_endpoint(client: stripe.StripeClient) -> None:
    # given a key used to create a customer
    key = f"audit-{uuid.uuid4()}"
    client.v1.customers.create(params={"email": "k@example.com"}, options={"idempotency_key": key})
    # when it is reused for another endpoint
    with pytest.raises(stripe.IdempotencyError) as exc:
        client.v1.products.create(params={"name": "Other"}, options={"idempotency_key": key})
    # then Stripe says the key belongs to the first endpoint
    assert exc.value.http_status == 400
    assert "same endpoint" in str(exc.value.user_message)


def test_promotion_codes_list_matches_the_code_case_insensitively(
    client: stripe.StripeClient,
) -> None:
    # given a promotion code in capitals
    coupon = client.v1.coupons.create(params={"percent_off": 5})
    code = f"SPRING{uuid.uuid4().hex[:8].upper()}"
    promo = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": code}
    )
    # when the list is filtered with the code as a customer typed it
    found = client.v1.promotion_codes.list(params={"code": code.lower()})
    # then the code is found
    assert [p.id for p in found.data] == [promo.id]


def test_a_succeeded_card_refund_cannot_be_canceled(client: stripe.StripeClient) -> None:
    # given a refunded card payment
    pi = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "allowed_payment_method_types": ["card"],
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    refund = client.v1.refunds.create(params={"payment_intent": pi.id})
    # when the refund is canceled
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.cancel(refund.id)
    # then Stripe refuses (only refunds awaiting an action can be), and the refund stands
    assert exc.value.http_status == 400
    assert client.v1.refunds.retrieve(refund.id).status == "succeeded"
