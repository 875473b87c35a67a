"""Ids, offsets and counts the pages read from URLs, forms and event arguments: a crafted one
("²", which str.isdigit() accepts and int() refuses, or a number beyond what SQLite holds) is
not found or ignored, as non-numeric text is, instead of crashing the handler."""

from __future__ import annotations

from sqlmodel import Session

from shop.models import Category, DownloadGrant, User
from shop.pages.account import AccountState
from shop.pages.account_downloads import AccountDownloadsState
from shop.pages.admin_audit import AuditState
from shop.pages.admin_categories import AdminCategoriesState
from shop.pages.admin_customers import AdminCustomersState, AdminCustomerState
from shop.pages.admin_orders import AdminOrdersState, AdminOrderState
from shop.pages.admin_products import AdminProductEditState, AdminProductsState
from shop.pages.admin_promo_codes import AdminPromoCodesState
from shop.pages.cart import CartState
from shop.pages.catalog import CatalogState
from shop.services import audit
from shop.services import cart as carts
from shop.services.auth import SESSION_COOKIE
from tests.download_factories import make_purchase
from tests.factories import make_category, make_product, make_user, sign_in_as
from tests.state.harness import page_state, run, run_through

BEYOND_64_BITS = "99999999999999999999999"
CRAFTED = ["²", "١٢", BEYOND_64_BITS, "9" * 5000, "-1", ""]


def _cookie(session: Session, user: User) -> str:
    token = sign_in_as(session, user).session_token
    session.commit()  # the handlers read in their own transactions
    return f"{SESSION_COOKIE}={token}"


def _admin_cookie(session: Session) -> str:
    return _cookie(session, make_user(session, roles=("admin",)))


# --- the cart ----------------------------------------------------------------------------------


def test_the_cart_ignores_a_crafted_product_id_or_quantity(session: Session):
    # given an anonymous cart holding 2 of a product
    product = make_product(session)
    assert product.id is not None
    token = carts.new_cart_token()
    cart = carts.get_or_create_cart(session=session, token=token)
    carts.add_item(session=session, cart=cart, product_id=product.id, quantity=2)
    session.commit()
    state = page_state(CartState, url="/cart", cookie=f"{carts.CART_COOKIE}={token}")
    run(state.load())
    # when the page's events name crafted product ids and quantities
    for crafted in CRAFTED:
        run(state.change_quantity(crafted, "1"))
        run(state.change_quantity(str(product.id), crafted))
        run(state.remove(crafted))
    # then they are ignored: the line is as it was
    run(state.load())
    assert [(line["product_id"], line["quantity"]) for line in state.lines] == [
        (str(product.id), "2")
    ]
    assert state.cart_message == ""
    # and a plain id and quantity still work (above the limit means the limit, 0 removes)
    run(state.change_quantity(str(product.id), "3"))
    assert state.lines[0]["quantity"] == "3"
    run(state.change_quantity(str(product.id), "0"))
    assert state.lines == []


# --- admin: customers --------------------------------------------------------------------------


def test_a_customer_page_with_a_crafted_id_is_not_found(session: Session):
    # given a staff member and a customer
    cookie = _admin_cookie(session)
    customer = make_user(session)
    session.commit()
    for crafted in ["²", "١٢", BEYOND_64_BITS, "9" * 5000, "0"]:
        # when the customer page's URL names a crafted id
        state = page_state(AdminCustomerState, url=f"/admin/customers/{crafted}", cookie=cookie)
        run(state.load())
        # then the page says not found, and ending its sessions is refused, not crashed
        assert (state.loaded, state.found) == (True, False), crafted
        run(state.end_sessions())
        assert state.error == "You are not allowed to do this.", crafted
    # and the customer's own id still finds them
    state = page_state(AdminCustomerState, url=f"/admin/customers/{customer.id}", cookie=cookie)
    run(state.load())
    assert state.found
    assert state.customer["email"] == customer.email


def test_the_customer_list_reads_a_crafted_offset_as_the_first_page(session: Session):
    # given a staff member (who is a customer row too)
    cookie = _admin_cookie(session)
    for crafted in ["²", "١٢", BEYOND_64_BITS, "-50"]:
        # when the list's URL carries a crafted offset
        state = page_state(
            AdminCustomersState, url=f"/admin/customers?offset={crafted}", cookie=cookie
        )
        run(state.load())
        # then it shows the first page
        assert state.loaded, crafted
        assert (state.total, len(state.rows)) == (1, 1), crafted
        assert state.prev_href == "", crafted
    # and an offset past the end is an empty page with a link back
    state = page_state(AdminCustomersState, url="/admin/customers?offset=100", cookie=cookie)
    run(state.load())
    assert state.rows == []
    assert state.prev_href == "/admin/customers?offset=50"


# --- admin: orders and their download grants ---------------------------------------------------


def test_the_order_list_reads_a_crafted_offset_as_the_first_page(session: Session):
    # given a staff member and one order
    cookie = _admin_cookie(session)
    make_purchase(session, make_user(session))
    session.commit()
    for crafted in ["²", BEYOND_64_BITS]:
        # when the list's URL carries a crafted offset
        state = page_state(AdminOrdersState, url=f"/admin/orders?offset={crafted}", cookie=cookie)
        run(state.load())
        # then it shows the first page
        assert (state.loaded, state.total, len(state.rows)) == (True, 1, 1), crafted


def test_a_crafted_grant_id_or_day_count_is_refused_like_any_non_number(session: Session):
    # given a staff member on the page of an order with a download grant
    cookie = _admin_cookie(session)
    purchase = make_purchase(session, make_user(session))
    grant_id = purchase.grant.id
    session.commit()
    state = page_state(AdminOrderState, url=f"/admin/orders/{purchase.order.id}", cookie=cookie)
    run(state.load())
    assert state.found
    for crafted in ["²", "١٢", BEYOND_64_BITS, "9" * 5000]:
        # when the grant buttons send a crafted grant id, or a crafted number of days
        run(state.reset_grant(crafted))
        # then resetting ignores it
        assert (state.message, state.error) == ("", ""), crafted
        # and extending says what it says for any non-number
        run(state.extend_grant({"grant_id": crafted, "days": "7"}))
        assert state.error == "Extend by a whole number of days.", crafted
        state.error = ""
        run(state.extend_grant({"grant_id": str(grant_id), "days": crafted}))
        assert state.error == "Extend by a whole number of days.", crafted
        state.error = ""
    # and the real grant is untouched, then extended by a plain number of days
    session.expire_all()
    before = session.get(DownloadGrant, grant_id)
    assert before is not None
    expires = before.expires_at
    run(state.extend_grant({"grant_id": str(grant_id), "days": "7"}))
    assert state.error == ""
    assert state.message.startswith("Download now available until")
    session.expire_all()
    after = session.get(DownloadGrant, grant_id)
    assert after is not None
    assert after.expires_at > expires
    # and a count outside 1..365 still gets the service's own answer
    run(state.extend_grant({"grant_id": str(grant_id), "days": "400"}))
    assert state.error == "Extend by 1 to 365 days."


# --- the customer's own pages ------------------------------------------------------------------


def test_a_crafted_grant_id_on_the_downloads_page_is_ignored(session: Session):
    # given a buyer with a download
    buyer = make_user(session)
    purchase = make_purchase(session, buyer)
    cookie = _cookie(session, buyer)
    state = page_state(AccountDownloadsState, url="/account/downloads", cookie=cookie)
    for crafted in CRAFTED:
        # when the download button sends a crafted grant id
        answer = run(state.download(crafted))
        # then nothing is handed out and nothing is said
        assert answer is None, crafted
        assert state.download_error == "", crafted
    # and the buyer's own grant still gives a link
    assert run(state.download(str(purchase.grant.id))) is not None
    assert state.download_error == ""


def test_a_crafted_session_id_or_count_on_the_account_page_is_ignored(session: Session):
    # given a signed-in customer whose password was just changed
    cookie = _cookie(session, make_user(session))
    for crafted in ["²", "١٢", BEYOND_64_BITS, "9" * 5000, "0"]:
        state = page_state(
            AccountState, url=f"/account?password=changed&ended={crafted}", cookie=cookie
        )
        # when the URL carries a crafted count of ended sessions
        run(state.load())
        # then the page does not repeat it
        assert state.password_notice == "Your password is changed.", crafted
        # and ending a session by a crafted id does nothing
        assert run(state.end_session(crafted)) is None
        assert state.sessions_notice == "", crafted
        assert len(state.sessions) == 1
    state = page_state(AccountState, url="/account?password=changed&ended=2", cookie=cookie)
    run(state.load())
    assert state.password_notice == "Your password is changed. Other sessions ended: 2."


# --- admin: audit log --------------------------------------------------------------------------


def test_crafted_audit_cursors_show_the_newest_page(session: Session):
    # given a staff member and a few audit entries
    cookie = _admin_cookie(session)
    for n in range(3):
        audit.record(session=session, action=f"test.entry_{n}", actor_email="a@example.com")
    session.commit()
    newest = page_state(AuditState, url="/admin/audit", cookie=cookie)
    run(newest.load())
    assert newest.entries
    for crafted in ["²", "١٢", BEYOND_64_BITS]:
        # when the log's URL carries crafted cursors
        state = page_state(AuditState, url=f"/admin/audit?before={crafted}", cookie=cookie)
        run(state.load())
        # then it shows the newest page, as without a cursor
        assert state.loaded, crafted
        assert state.entries == newest.entries, crafted
        state = page_state(AuditState, url=f"/admin/audit?after={crafted}", cookie=cookie)
        run(state.load())
        assert state.entries == newest.entries, crafted


# --- admin: catalog ----------------------------------------------------------------------------


def test_catalog_admin_buttons_ignore_a_crafted_id(session: Session):
    # given a staff member and a category
    cookie = _admin_cookie(session)
    category = make_category(session)
    session.commit()
    categories = page_state(AdminCategoriesState, url="/admin/categories", cookie=cookie)
    products = page_state(AdminProductsState, url="/admin/products", cookie=cookie)
    promos = page_state(AdminPromoCodesState, url="/admin/promo-codes", cookie=cookie)
    for crafted in CRAFTED:
        # when the buttons send crafted ids
        run(categories.delete(crafted))
        run(categories.move(crafted, 1))
        run(categories.rename({"category_id": crafted, "name": "Renamed"}))
        run(products.retry_sync(crafted))
        run(promos.set_active(crafted, False))
        # then they are ignored (renaming asks which category, as for an empty choice)
        assert categories.message == "", crafted
        assert categories.rename_error == "Choose the category to rename.", crafted
        assert products.message == "", crafted
        assert promos.message == "", crafted
    session.expire_all()
    assert session.get(Category, category.id) is not None


def test_a_product_page_with_a_crafted_id_is_not_found(session: Session):
    cookie = _admin_cookie(session)
    for crafted in ["²", "١٢", BEYOND_64_BITS, "9" * 5000, "0"]:
        state = page_state(AdminProductEditState, url=f"/admin/products/{crafted}", cookie=cookie)
        run_through(state.load())
        assert (state.product_id, state.found) == (0, False), crafted


def test_the_catalog_reads_a_crafted_page_number_as_the_first_page(session: Session):
    for i in range(13):  # two pages of 12: page 2 exists
        make_product(session, name=f"Paged {i}")
    session.commit()
    for crafted, page_number in [("²", 1), ("١٢", 1), (BEYOND_64_BITS, 1), ("2", 2), ("0", 1)]:
        state = page_state(CatalogState, url=f"/products?page={crafted}")
        run(state.load())
        assert state.page_number == page_number, crafted
