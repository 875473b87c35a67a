"""The membership pages without a browser: /subscribe/[slug] prices one period for the buyer's
province on the server and hands over to Stripe Checkout; /account/subscriptions shows the
customer's own memberships as Stripe last reported them, and acts only on their own.

Stripe itself is not called here (`subscriptions.start`, `cancel`, `change` and `portal_url`
are replaced where a handler would reach it): tests/payments/test_subscriptions_api.py and the
browser test tests/e2e/test_subscriptions.py run them against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from shop import db
from shop.models import Product, Subscription, User
from shop.models.catalog import SyncStatus
from shop.pages import account_subscriptions as page_module
from shop.pages import subscribe as subscribe_module
from shop.pages.account_subscriptions import (
    CHECKOUT_CANCELED,
    THANKS,
    AccountSubscriptionsState,
    checkout_notice,
    current_ids,
    started_lately,
    subscription_card,
    when_text,
)
from shop.pages.subscribe import (
    SubscribeState,
    billed,
    per_interval,
    period_tax,
    plan_view,
    refusal_text,
)
from shop.services import subscriptions, users
from shop.services.auth import SESSION_COOKIE
from shop.services.payments import UNREACHABLE_MESSAGE, PaymentServiceUnavailable
from tests.factories import make_category, make_product, make_user, sign_in_as
from tests.state.harness import page_state, run, run_through

pytestmark = pytest.mark.usefixtures("shop_env")


def _cookie(session: Session, user: User) -> str:
    token = sign_in_as(session, user).session_token
    session.commit()  # the handlers read in their own transactions
    return f"{SESSION_COOKIE}={token}"


def _plan(
    session: Session, *, slug: str, interval: str = "month", price: int = 900, category=None
) -> Product:
    return make_product(
        session,
        name=f"Club {slug}",
        slug=slug,
        price_amount=price,
        kind="subscription",
        interval=interval,
        category=category,
        stripe_product_id=f"prod_{slug}",
        stripe_price_id=f"price_{slug}",
        sync_status=SyncStatus.SYNCED.value,
    )


def _subscription(
    session: Session,
    user: User,
    product: Product,
    *,
    status: str = "active",
    cancel_at_period_end: bool = False,
    period_end: datetime | None = None,
) -> Subscription:
    row = Subscription(
        user_id=user.id,  # type: ignore[arg-type]
        product_id=product.id,
        stripe_subscription_id=f"sub_{product.slug}_{user.id}_{status}",
        status=status,
        current_period_end=period_end or datetime(2026, 12, 29, 15, tzinfo=UTC),
        cancel_at_period_end=cancel_at_period_end,
        price_amount=product.price_amount,
        currency="cad",
        interval=product.interval,
    )
    session.add(row)
    session.flush()
    return row


def _redirect_path(answer: Any) -> str | None:
    args = {str(name): value for name, value in getattr(answer, "args", ())}
    return args["path"]._var_value if "path" in args else None


def _collect(handler_updates: Any) -> list[Any]:
    """Run an async-generator handler to its end; what it yielded."""
    seen: list[Any] = []

    async def drain() -> None:
        async for update in handler_updates:
            seen.append(update)

    run(drain())
    return seen


# --- page data ---------------------------------------------------------------------------------


def test_intervals_are_said_as_people_say_them():
    assert (per_interval("month"), billed("month")) == ("per month", "Billed monthly")
    assert (per_interval("year"), billed("year")) == ("per year", "Billed yearly")
    assert (per_interval(None), billed(None)) == ("", "")


def test_a_plan_and_a_one_time_product_as_the_subscribe_page_shows_them(session: Session):
    # given a monthly plan and a one-time product
    _plan(session, slug="club-monthly")
    make_product(session, slug="field-guide", name="Field Guide")
    # then the plan is one, with its price per month; the product is not; a stranger slug is None
    plan = plan_view(session, "club-monthly")
    assert plan is not None
    assert (plan["price"], plan["per"], plan["is_plan"]) == ("$9.00 CAD", "per month", "yes")
    guide = plan_view(session, "field-guide")
    assert guide is not None
    assert guide["is_plan"] == ""
    assert plan_view(session, "no-such-plan") is None


def test_the_tax_of_one_period_follows_the_province(session: Session):
    # given a $9.00 monthly plan
    plan = _plan(session, slug="club-tax")
    assert plan.id is not None
    # when priced for Ontario, Quebec, a Canadian address without province and the US
    ontario = period_tax(session, product_id=plan.id, country="CA", region="ON")
    quebec = period_tax(session, product_id=plan.id, country="CA", region="QC")
    unsure = period_tax(session, product_id=plan.id, country="CA", region="")
    abroad = period_tax(session, product_id=plan.id, country="US", region="")
    # then Ontario's HST 13 %, Quebec's GST and QST, a hint instead of a total, no tax abroad
    assert ontario["lines"] == [{"label": "HST 13%", "amount": "$1.17 CAD"}]
    assert ontario["total"] == "$10.17 CAD"
    assert [line["label"] for line in quebec["lines"]] == ["GST 5%", "QST 9.975%"]
    assert (unsure["lines"], unsure["total"]) == ([], "")
    assert "province" in unsure["hint"]
    assert (abroad["lines"], abroad["total"], abroad["hint"]) == ([], "$9.00 CAD", "")


def test_refusals_are_said_without_the_api_advice():
    held = subscriptions.AlreadySubscribed(
        "You already subscribe to Club Yearly; switch plans instead "
        "(PUT /api/subscriptions/{id} with product_id)."
    )
    assert refusal_text(held) == "You already subscribe to Club Yearly."
    assert refusal_text(PaymentServiceUnavailable(UNREACHABLE_MESSAGE)) == UNREACHABLE_MESSAGE


def test_a_card_says_renews_ends_or_ended_on_the_shops_day(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    # given the shop in Toronto, and a period that ends at 02:00 UTC on 30 Dec (29 Dec there)
    from shop.settings import get_settings

    monkeypatch.setenv("SHOP_TIME_ZONE", "America/Toronto")
    get_settings.cache_clear()
    buyer = make_user(session)
    plan = _plan(session, slug="club-days")
    end = datetime(2026, 12, 30, 2, tzinfo=UTC)
    active = _subscription(session, buyer, plan, period_end=end)
    ending = _subscription(session, buyer, plan, status="past_due", cancel_at_period_end=True)
    ending.current_period_end = end
    ended = _subscription(session, buyer, plan, status="canceled")
    waiting = _subscription(session, buyer, plan, status="incomplete")

    def card(row: Subscription) -> dict[str, str]:
        return subscription_card(subscriptions.SubscriptionDetail(row, plan.name))

    # then each card says what its subscription does next, on the shop's calendar
    assert when_text(subscriptions.SubscriptionDetail(active, plan.name)) == "Renews on 29 Dec 2026"
    assert card(active) | {"id": ""} == {
        "id": "",
        "name": plan.name,
        "status": "active",
        "status_label": "Active",
        "tone": "paid",
        "price": "$9.00 CAD per month",
        "when": "Renews on 29 Dec 2026",
        "can_cancel": "yes",
        "can_resume": "",
        "note": "",
    }
    assert (card(ending)["status_label"], card(ending)["when"]) == (
        "Past due",
        "Ends on 29 Dec 2026",
    )
    assert (card(ending)["can_cancel"], card(ending)["can_resume"]) == ("", "yes")
    assert card(ending)["note"].endswith("update your card with Manage billing.")
    assert (card(ended)["status_label"], card(ended)["when"], card(ended)["tone"]) == (
        "Canceled",
        "Ended",
        "failed",
    )
    assert (card(ended)["can_cancel"], card(ended)["can_resume"]) == ("", "")
    assert (card(waiting)["status_label"], card(waiting)["when"]) == ("Incomplete", "")
    assert current_ids([card(active), card(ended)]) == {str(active.id)}


def test_the_way_back_from_checkout_is_said_once():
    assert checkout_notice("") == ""
    assert checkout_notice("canceled") == CHECKOUT_CANCELED
    assert checkout_notice("cs_test_123") == THANKS


# --- /subscribe/[slug] -------------------------------------------------------------------------


def test_strangers_are_sent_to_sign_in_and_back(session: Session):
    _plan(session, slug="club-strangers")
    session.commit()
    state = page_state(SubscribeState, url="/subscribe/club-strangers")
    answer = run(state.load())
    assert _redirect_path(answer) == "/login?next=/subscribe/club-strangers"
    assert state.plan == {}


def test_the_subscribe_page_prices_the_period_for_the_chosen_province(session: Session):
    # given a customer on the monthly plan's subscribe page
    buyer = make_user(session)
    _plan(session, slug="club-ontario")
    state = page_state(
        SubscribeState, url="/subscribe/club-ontario", cookie=_cookie(session, buyer)
    )
    run(state.load())
    assert (state.plan["name"], state.plan["per"]) == ("Club club-ontario", "per month")
    # then before a province is chosen there is no total, and no way on
    assert (state.total, state.can_continue, state.problem) == ("", False, "")
    assert "province" in state.hint
    # when they choose Ontario
    run(state.choose_region("ON"))
    # then the HST line and the total per month, and "Continue to payment" is open
    assert state.tax_lines == [{"label": "HST 13%", "amount": "$1.17 CAD"}]
    assert (state.total, state.can_continue) == ("$10.17 CAD", True)
    # and a crafted province or country is not believed
    run(state.choose_region("XX"))
    assert (state.region, state.total) == ("", "")
    run(state.choose_country("Narnia"))
    assert state.country == "CA"
    run(state.choose_country("US"))
    assert (state.country, state.region, state.tax_lines, state.total) == (
        "US",
        "",
        [],
        "$9.00 CAD",
    )


def test_continue_to_payment_starts_checkout_for_the_page_plan_and_goes_to_stripe(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    # given a customer in Ontario on the yearly plan's page
    buyer = make_user(session)
    plan = _plan(session, slug="club-go", interval="year", price=9000)
    state = page_state(SubscribeState, url="/subscribe/club-go", cookie=_cookie(session, buyer))
    run(state.load())
    run(state.choose_region("ON"))
    calls: list[dict[str, Any]] = []

    def start(**kwargs: Any) -> subscriptions.CheckoutStarted:
        calls.append(kwargs)
        return subscriptions.CheckoutStarted("http://stripe.test/checkout/cs_1", "cs_1")

    monkeypatch.setattr(subscriptions, "start", start)
    # when they continue to payment
    updates = _collect(state.continue_to_payment())
    # then the service was asked for a Checkout Session of this plan, for them, without a card
    assert len(calls) == 1
    assert (calls[0]["user_id"], calls[0]["product_id"], calls[0]["payment_method"]) == (
        buyer.id,
        plan.id,
        None,
    )
    assert (calls[0]["billing"].country, calls[0]["billing"].region) == ("CA", "ON")
    # and the browser is sent to Stripe's page
    assert _redirect_path(updates[-1]) == "http://stripe.test/checkout/cs_1"
    assert state.problem == ""


@pytest.mark.parametrize(
    ("refused", "code"),
    [
        (subscriptions.PlanUnavailable("Club cannot be subscribed to yet."), "plan_unavailable"),
        (PaymentServiceUnavailable(UNREACHABLE_MESSAGE), "payment_service_unavailable"),
        (
            subscriptions.AlreadySubscribed("You already subscribe to Club; switch plans instead."),
            "already_subscribed",
        ),
    ],
)
def test_a_refusal_is_shown_in_the_alert_and_nothing_is_redirected(
    session: Session, monkeypatch: pytest.MonkeyPatch, refused: Exception, code: str
):
    buyer = make_user(session)
    _plan(session, slug=f"club-refused-{code}")
    cookie = _cookie(session, buyer)
    state = page_state(SubscribeState, url=f"/subscribe/club-refused-{code}", cookie=cookie)
    run(state.load())
    run(state.choose_region("ON"))

    def start(**_: Any) -> None:
        raise refused

    monkeypatch.setattr(subscriptions, "start", start)
    updates = _collect(state.continue_to_payment())
    assert all(_redirect_path(u) is None for u in updates)
    assert state.problem_code == code
    assert state.problem.startswith(str(refused).split(";")[0])
    assert not state.starting
    # an "already subscribed" refusal closes the button (and the page links to the list)
    assert state.can_continue is (code != "already_subscribed")


def test_a_member_is_told_at_once_that_they_hold_the_membership(session: Session):
    # given a customer who holds the monthly plan of a membership
    buyer = make_user(session)
    club = make_category(session, slug="club-family", name="Club")
    monthly = _plan(session, slug="club-family-monthly", category=club)
    _plan(session, slug="club-family-yearly", interval="year", category=club)
    _subscription(session, buyer, monthly)
    cookie = _cookie(session, buyer)
    # when they open the yearly plan's subscribe page
    state = page_state(SubscribeState, url="/subscribe/club-family-yearly", cookie=cookie)
    run(state.load())
    # then the page says they already subscribe, and offers no way on
    assert state.problem == "You already subscribe to Club club-family-monthly."
    assert state.already_subscribed
    run(state.choose_region("ON"))
    assert state.total != ""
    assert not state.can_continue
    assert state.problem_code == "already_subscribed"


def test_a_one_time_product_or_an_unknown_slug_is_not_a_plan(session: Session):
    buyer = make_user(session)
    make_product(session, slug="plain-guide", name="Plain Guide")
    cookie = _cookie(session, buyer)
    guide = page_state(SubscribeState, url="/subscribe/plain-guide", cookie=cookie)
    run(guide.load())
    assert (guide.is_plan, guide.problem_code) == (False, "not_a_plan")
    assert guide.problem == "Plain Guide is not a membership: buy it through the cart."
    unknown = page_state(SubscribeState, url="/subscribe/nothing-here", cookie=cookie)
    run(unknown.load())
    assert (unknown.plan_found, unknown.plan_loaded) == (False, True)


def test_subscribing_is_refused_once_the_roles_are_revoked(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    buyer = make_user(session)
    _plan(session, slug="club-revoked")
    cookie = _cookie(session, buyer)
    state = page_state(SubscribeState, url="/subscribe/club-revoked", cookie=cookie)
    run(state.load())
    run(state.choose_region("ON"))
    users.revoke_role(session=session, user=buyer, role="customer")
    session.commit()
    monkeypatch.setattr(subscriptions, "start", lambda **_: pytest.fail("no Stripe call"))
    run_through(state.continue_to_payment())
    assert state.refused
    assert (state.plan, state.total) == ({}, "")


# --- /account/subscriptions --------------------------------------------------------------------


def test_the_list_shows_only_the_customers_own_memberships(session: Session):
    # given two customers with a membership each, one of them with a Stripe customer
    buyer, other = make_user(session), make_user(session)
    plan = _plan(session, slug="club-own")
    mine = _subscription(session, buyer, plan)
    _subscription(session, other, plan, status="past_due")
    buyer.stripe_customer_id = "cus_test_own"
    session.add(buyer)
    state = page_state(
        AccountSubscriptionsState, url="/account/subscriptions", cookie=_cookie(session, buyer)
    )
    # when the buyer opens their subscriptions
    assert run(state.load()) is None
    # then they see theirs alone, with "Manage billing"
    assert [c["id"] for c in state.cards] == [str(mine.id)]
    assert state.cards[0]["when"].startswith("Renews on ")
    assert (state.has_billing, state.notice, state.following) == (True, "", False)


def test_back_from_checkout_the_page_thanks_and_follows_or_says_it_was_canceled(
    session: Session,
):
    buyer = make_user(session)
    cookie = _cookie(session, buyer)
    back = page_state(
        AccountSubscriptionsState, url="/account/subscriptions?checkout=cs_test_9", cookie=cookie
    )
    answer = run(back.load())
    assert back.notice == THANKS
    assert back.following
    assert answer == AccountSubscriptionsState.follow_checkout
    assert (back.cards, back.has_billing) == ([], False)  # no Stripe customer: no portal button
    canceled = page_state(
        AccountSubscriptionsState, url="/account/subscriptions?checkout=canceled", cookie=cookie
    )
    assert run(canceled.load()) is None
    assert (canceled.notice, canceled.following) == (CHECKOUT_CANCELED, False)


def test_back_from_checkout_after_the_webhook_the_page_does_not_wait(session: Session):
    # given a membership that Stripe reported (by webhook) before the browser came back
    buyer = make_user(session)
    _subscription(session, buyer, _plan(session, slug="club-early"))
    cookie = _cookie(session, buyer)
    state = page_state(
        AccountSubscriptionsState,
        url="/account/subscriptions?checkout=cs_test_early",
        cookie=cookie,
    )
    # when the page loads, then it thanks them and shows it, without following anything
    assert run(state.load()) is None
    assert (state.notice, state.following, len(state.cards)) == (THANKS, False, 1)


def test_only_a_current_membership_started_lately_is_the_one_just_paid_for(session: Session):
    buyer = make_user(session)
    plan = _plan(session, slug="club-lately")
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    row = _subscription(session, buyer, plan)
    row.created_at = now - timedelta(minutes=5)
    ended = _subscription(session, buyer, plan, status="canceled")
    ended.created_at = now

    def lately(*rows: Subscription) -> bool:
        return started_lately([subscriptions.SubscriptionDetail(r, plan.name) for r in rows], now)

    assert lately(row)
    assert not lately(ended)
    row.created_at = now - timedelta(hours=2)
    assert not lately(row, ended)


def test_cancel_asks_first_then_cancels_at_the_period_end_and_resume_undoes_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    # given a customer with an active membership
    buyer = make_user(session)
    plan = _plan(session, slug="club-cancel")
    row = _subscription(session, buyer, plan)
    state = page_state(
        AccountSubscriptionsState, url="/account/subscriptions", cookie=_cookie(session, buyer)
    )
    run(state.load())
    asked: list[tuple[str, int, int]] = []

    name = plan.name

    def switch(kind: str, cancel_at_period_end: bool):
        """What the service does once Stripe has answered: the row as Stripe now has it."""

        def call(*, user_id: int, subscription_id: int, **_: Any):
            asked.append((kind, user_id, subscription_id))
            with db.session_scope() as own:
                stored = own.get(Subscription, subscription_id)
                assert stored is not None
                stored.cancel_at_period_end = cancel_at_period_end
                own.add(stored)
                own.flush()
                copy = Subscription.model_validate(stored.model_dump())
            return subscriptions.SubscriptionDetail(copy, name)

        return call

    monkeypatch.setattr(subscriptions, "cancel", switch("cancel", True))
    monkeypatch.setattr(subscriptions, "change", switch("resume", False))
    # when they press "Cancel subscription", the card asks first; "Keep" puts it back
    run(state.ask_cancel(str(row.id)))
    assert state.confirming == str(row.id)
    run(state.keep())
    assert state.confirming == ""
    # when they confirm the cancellation
    run(state.ask_cancel(str(row.id)))
    run(state.cancel(str(row.id)))
    # then it ends at the period end, and the card says so and offers "Resume"
    assert asked == [("cancel", buyer.id, row.id)]
    assert state.cards[0]["when"] == "Ends on 29 Dec 2026"
    assert (state.cards[0]["can_cancel"], state.cards[0]["can_resume"]) == ("", "yes")
    assert "You keep access until then (29 Dec 2026)" in state.notice
    # when they resume it, it renews again
    run(state.resume(str(row.id)))
    assert asked[-1] == ("resume", buyer.id, row.id)
    assert state.cards[0]["when"] == "Renews on 29 Dec 2026"
    assert state.notice.endswith("Renews on 29 Dec 2026.")


def test_someone_elses_subscription_cannot_be_canceled_from_the_page(session: Session):
    # given a customer, and another customer's subscription id
    buyer, other = make_user(session), make_user(session)
    plan = _plan(session, slug="club-theirs")
    theirs = _subscription(session, other, plan)
    state = page_state(
        AccountSubscriptionsState, url="/account/subscriptions", cookie=_cookie(session, buyer)
    )
    run(state.load())
    # when the page is made to cancel it (the service looks it up among the buyer's own first)
    run(state.cancel(str(theirs.id)))
    run(state.resume(str(theirs.id)))
    # then it is "not found", and unchanged
    assert state.error == f"No subscription {theirs.id}."
    session.refresh(theirs)
    assert (theirs.status, theirs.cancel_at_period_end) == ("active", False)
    # and crafted ids are ignored
    for crafted in ("²", "", "-1", "9" * 40):
        state.error = ""
        run(state.cancel(crafted))
        run(state.ask_cancel(crafted))
        assert (state.error, state.confirming) == ("", "")


def test_manage_billing_goes_to_the_portal_or_says_there_is_no_billing_account(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    buyer = make_user(session)
    state = page_state(
        AccountSubscriptionsState, url="/account/subscriptions", cookie=_cookie(session, buyer)
    )
    run(state.load())
    # without a Stripe customer the service refuses (the button is hidden anyway)
    assert run(state.manage_billing()) is None
    assert state.error.startswith("You have no billing account yet")
    # with one, the browser goes to the portal's address
    monkeypatch.setattr(subscriptions, "portal_url", lambda **_: "http://stripe.test/portal/x")
    assert _redirect_path(run(state.manage_billing())) == "http://stripe.test/portal/x"
    assert state.error == ""


def test_the_subscriptions_page_is_refused_once_the_roles_are_revoked(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    buyer = make_user(session)
    plan = _plan(session, slug="club-gone")
    row = _subscription(session, buyer, plan)
    buyer.stripe_customer_id = "cus_test_gone"
    session.add(buyer)
    state = page_state(
        AccountSubscriptionsState, url="/account/subscriptions", cookie=_cookie(session, buyer)
    )
    run(state.load())
    assert state.cards != []
    users.revoke_role(session=session, user=buyer, role="customer")
    session.commit()

    def no_stripe(**_: Any) -> None:
        pytest.fail("no Stripe call for a refused account")

    for name in ("cancel", "change", "portal_url"):
        monkeypatch.setattr(subscriptions, name, no_stripe)
    answers = [
        run(state.load()),
        run(state.refresh()),
        run(state.cancel(str(row.id))),
        run(state.resume(str(row.id))),
        run(state.manage_billing()),
    ]
    assert answers == [None] * 5
    assert state.refused
    assert (state.cards, state.has_billing) == ([], False)


@pytest.mark.parametrize("module", [page_module, subscribe_module])
def test_the_pages_read_no_table_and_call_no_stripe_themselves(module: Any):
    # DESIGN §8: pages call services; neither module holds SQL or a Stripe call of its own
    source = Path(module.__file__).read_text(encoding="utf-8")
    for forbidden in ("select(", "session.exec", "session.get(", "stripe_api", "import stripe"):
        assert forbidden not in source
