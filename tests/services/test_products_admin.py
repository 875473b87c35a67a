"""Catalog administration services: products, categories, Markdown, audit and cache hooks."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from shop.models import AuditLog, Category, Order, OrderItem, Product, PromoCode, Subscription
from shop.services import categories, products_admin
from shop.services.catalog_cache import local_catalog_version
from shop.services.errors import Conflict, InvalidInput, NotFound
from shop.services.markdown import render_description_html
from shop.services.slugs import slugify
from shop.settings import get_settings
from tests.factories import make_category, make_product, make_user

BASE = {"name": "Night Sky Brushes", "price_amount": 1500, "currency": "CAD"}


def test_slugify_makes_ascii_lower_case_hyphenated_slugs():
    assert slugify("Café Déjà Vu — Vol. 2!", max_length=160) == "cafe-deja-vu-vol-2"
    assert slugify("a" * 300, max_length=160) == "a" * 160


def test_create_product_generates_a_unique_slug_and_normalises_currency(session: Session):
    # given a product already called "Night Sky Brushes"
    first = products_admin.create_product(session=session, fields=BASE)
    # when a second one gets the same name
    second = products_admin.create_product(session=session, fields=BASE)
    # then slugs differ and the currency is stored lower case
    assert (first.slug, second.slug) == ("night-sky-brushes", "night-sky-brushes-2")
    assert first.currency == "cad"
    assert first.sync_status == "pending"


def test_a_name_of_digits_still_gets_a_slug_with_a_letter(session: Session):
    product = products_admin.create_product(session=session, fields={**BASE, "name": "2026"})
    assert product.slug == "product-2026"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": None}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"price_amount": None}, "price.amount"),
        ({"price_amount": 0}, "price.amount"),
        ({"price_amount": -5}, "price.amount"),
        ({"price_amount": 100_000_000}, "price.amount"),
        ({"price_amount": 19.99}, "price.amount"),
        ({"price_amount": True}, "price.amount"),
        ({"currency": "ca"}, "price.currency"),
        ({"currency": "c4d"}, "price.currency"),
        ({"currency": "ZZZ"}, "price.currency"),
        ({"kind": "subscription"}, "interval"),
        ({"kind": "subscription", "interval": "week"}, "interval"),
        ({"interval": "month"}, "interval"),
        ({"description": "x" * 20_001}, "description"),
        ({"inventory_count": -1}, "inventory_count"),
        ({"download_limit": 1001}, "download_limit"),
        ({"download_days": 3651}, "download_days"),
        ({"is_active": "yes"}, "is_active"),
        ({"category": "missing"}, "category"),
        ({"stripe_price_id": "price_x"}, "stripe_price_id"),
    ],
)
def test_create_product_refuses_bad_input_naming_the_field(session: Session, fields, field):
    # when a product is created with one bad value
    with pytest.raises(InvalidInput) as refused:
        products_admin.create_product(session=session, fields={**BASE, **fields})
    # then the refusal names that field and nothing was written
    assert refused.value.field == field
    assert session.exec(select(Product)).all() == []


def test_every_problem_of_a_new_product_is_reported_at_once_in_form_order(session: Session):
    # given a category and a product that already uses a slug
    make_category(session, slug="brushes")
    make_product(session, slug="taken")
    # when a product is created with no name or price, a taken slug, a bad download period
    # and a category that does not exist
    with pytest.raises(InvalidInput) as refused:
        products_admin.create_product(
            session=session,
            fields={"slug": "taken", "category": "missing", "download_days": 0},
        )
    # then one refusal lists them all, top to bottom as the form shows them
    problems = [(p.field, p.message) for p in refused.value.problems]
    assert problems == [
        ("name", "name is required."),
        ("slug", "Another product already uses the slug 'taken'."),
        ("price.amount", "price.amount is required."),
        ("category", "No category 'missing'."),
        ("download_days", "download_days must be between 1 and 3,650."),
    ]
    # and the first one stays the error's field, for callers that show one problem
    assert refused.value.field == "name"
    assert refused.value.message.startswith("name is required. Another product")
    assert [p.slug for p in session.exec(select(Product)).all()] == ["taken"]


def test_an_update_with_several_bad_fields_lists_each_and_changes_nothing(session: Session):
    # given a product
    product = products_admin.create_product(session=session, fields=BASE)
    session.commit()
    # when an edit empties the name and breaks the SEO title and the stock
    with pytest.raises(InvalidInput) as refused:
        products_admin.update_product(
            session=session,
            product_id=product.id,
            fields={"name": " ", "seo_title": "x" * 71, "inventory_count": -1, "kind": "gift"},
        )
    session.rollback()
    # then each is named, and the product is as it was
    assert [p.field for p in refused.value.problems] == [
        "name",
        "kind",
        "seo_title",
        "inventory_count",
    ]
    session.refresh(product)
    assert (product.name, product.seo_title, product.inventory_count) == (BASE["name"], None, None)


def test_checking_a_form_writes_nothing_and_finds_what_saving_would_refuse(session: Session):
    # given a product
    product = products_admin.create_product(session=session, fields=BASE)
    session.commit()
    # when fields with an empty name and a long SEO description are checked
    fields = {"name": "", "seo_description": "y" * 161, "inventory_count": 3}
    found = products_admin.check_product(session=session, product_id=product.id, fields=fields)
    new = products_admin.check_product(session=session, product_id=None, fields={"name": "A"})
    # then the problems are those a save would meet, and nothing changed
    assert [p.field for p in found] == ["name", "seo_description"]
    assert [p.field for p in new] == ["price.amount"]
    assert products_admin.check_product(session=session, product_id=product.id, fields={}) == ()
    session.commit()
    session.refresh(product)
    assert (product.name, product.inventory_count) == (BASE["name"], None)
    assert len(session.exec(select(Product)).all()) == 1


def test_free_products_are_refused_and_one_cent_is_accepted(session: Session):
    with pytest.raises(InvalidInput):
        products_admin.create_product(session=session, fields={**BASE, "price_amount": 0})
    product = products_admin.create_product(session=session, fields={**BASE, "price_amount": 1})
    assert product.price_amount == 1


def test_a_given_slug_that_is_taken_is_a_conflict(session: Session):
    make_product(session, slug="taken")
    with pytest.raises(Conflict) as refused:
        products_admin.create_product(session=session, fields={**BASE, "slug": "taken"})
    assert refused.value.field == "slug"


def test_update_sets_only_given_fields_and_bumps_the_sync_revision(session: Session):
    # given a product
    product = products_admin.create_product(session=session, fields={**BASE, "seo_title": "Stars"})
    revision = product.sync_revision
    # when only the inventory changes
    products_admin.update_product(
        session=session, product_id=product.id, fields={"inventory_count": 0}
    )
    # then the rest stays, and the product waits for a Stripe sync again
    assert (product.inventory_count, product.seo_title, product.name) == (0, "Stars", BASE["name"])
    assert product.sync_revision == revision + 1


def test_an_update_that_changes_nothing_writes_no_audit_entry(session: Session):
    product = products_admin.create_product(session=session, fields=BASE)
    before = len(session.exec(select(AuditLog)).all())
    products_admin.update_product(
        session=session, product_id=product.id, fields={"name": BASE["name"]}
    )
    assert len(session.exec(select(AuditLog)).all()) == before


def test_category_is_chosen_by_slug_or_id_and_can_be_cleared(session: Session):
    shelf = make_category(session, slug="brushes")
    product = products_admin.create_product(session=session, fields={**BASE, "category": "brushes"})
    assert product.category_id == shelf.id
    products_admin.update_product(session=session, product_id=product.id, fields={"category": None})
    assert product.category_id is None
    products_admin.update_product(
        session=session, product_id=product.id, fields={"category": shelf.id}
    )
    assert product.category_id == shelf.id


def test_download_policy_falls_back_to_the_settings(session: Session):
    product = products_admin.create_product(session=session, fields={**BASE, "download_days": 30})
    settings = get_settings()
    assert products_admin.download_policy(product) == (settings.default_download_limit, 30)


def test_delete_refers_to_orders_and_subscriptions_before_deleting(session: Session):
    # given one product on an order, one on a subscription, one unused
    ordered, subscribed, unused = (make_product(session) for _ in range(3))
    order = Order(status="paid")
    session.add(order)
    session.flush()
    session.add(
        OrderItem(order_id=order.id, product_id=ordered.id, product_name="x", price_at_time=1)
    )
    buyer = make_user(session, password=None)
    session.add(
        Subscription(
            user_id=buyer.id,
            product_id=subscribed.id,
            stripe_subscription_id="sub_1",
            status="active",
        )
    )
    session.flush()
    # when each is deleted
    outcomes = [
        products_admin.delete_product(session=session, product_id=p.id).outcome
        for p in (ordered, subscribed, unused)
    ]
    # then the used ones are archived and only the unused one is gone
    assert outcomes == ["archived", "archived", "deleted"]
    assert ordered.is_active is False
    assert subscribed.is_active is False
    assert session.get(Product, unused.id) is None


def test_a_product_a_promo_code_is_limited_to_is_archived_not_deleted(session: Session):
    # given a promo code limited to one product (a deleted product's id can be given again)
    product = make_product(session)
    session.add(PromoCode(code="ONLYTHIS", percent_off="50", product_ids=[product.id]))
    session.flush()
    # when the product is deleted
    outcome = products_admin.delete_product(session=session, product_id=product.id)
    # then it is archived, so no later product can take its id and the code's discount
    assert outcome.outcome == "archived"
    assert "promo codes" in outcome.message
    assert session.get(Product, product.id) is not None


def test_every_change_is_audited_with_the_actor(session: Session):
    # given an admin
    admin = make_user(session, roles=("admin",), password=None)
    # when they create, archive and delete a product
    product = products_admin.create_product(session=session, fields=BASE, actor=admin)
    products_admin.archive_product(session=session, product_id=product.id, actor=admin)
    products_admin.delete_product(session=session, product_id=product.id, actor=admin)
    # then each change is in the audit log under their name
    rows = session.exec(select(AuditLog).where(AuditLog.target == f"product:{product.id}")).all()
    assert [(r.action, r.actor_email) for r in rows] == [
        ("catalog.product.create", admin.email),
        ("catalog.product.archive", admin.email),
        ("catalog.product.delete", admin.email),
    ]


def test_the_catalog_version_moves_only_when_the_change_commits(session: Session):
    # given the current catalog version
    before = local_catalog_version()
    # when a product is created but not yet committed, then readers still see the old version
    products_admin.create_product(session=session, fields=BASE)
    assert local_catalog_version() == before
    # when it commits, then the version moves
    session.commit()
    assert local_catalog_version() != before


def test_a_rolled_back_change_leaves_nothing(session: Session):
    products_admin.create_product(session=session, fields=BASE)
    session.rollback()
    assert session.exec(select(Product)).all() == []
    assert session.exec(select(AuditLog)).all() == []


def test_missing_products_are_not_found(session: Session):
    with pytest.raises(NotFound):
        products_admin.update_product(session=session, product_id=4242, fields={"name": "x"})


def test_clean_file_name_drops_folders_and_control_characters():
    assert products_admin.clean_file_name("../../etc/pass\x00wd") == "passwd"
    assert products_admin.clean_file_name("C:\\Users\\me\\Pack.zip") == "Pack.zip"
    assert products_admin.clean_file_name("..") == "download"
    long = "a" * 300 + ".zip"
    assert products_admin.clean_file_name(long).endswith(".zip")
    assert len(products_admin.clean_file_name(long)) == 255


# --- categories ------------------------------------------------------------------------------


def test_categories_are_created_at_the_end_renamed_and_reordered(session: Session):
    # given two categories
    audio = categories.create_category(session=session, name="Audio")
    video = categories.create_category(session=session, name="Video & Film")
    assert (audio.slug, video.slug) == ("audio", "video-film")
    assert audio.position < video.position
    # when one is renamed and the order is reversed
    categories.rename_category(session=session, category_id=audio.id, name="Sound", slug="sound")
    categories.reorder_categories(session=session, ordered_ids=[video.id, audio.id])
    # then names, slugs and positions follow
    listed = session.exec(select(Category).order_by(Category.position)).all()
    assert [(c.slug, c.name) for c in listed] == [
        ("video-film", "Video & Film"),
        ("sound", "Sound"),
    ]


def test_reorder_must_list_every_category_once(session: Session):
    a = categories.create_category(session=session, name="A")
    categories.create_category(session=session, name="B")
    with pytest.raises(InvalidInput):
        categories.reorder_categories(session=session, ordered_ids=[a.id])
    with pytest.raises(InvalidInput):
        categories.reorder_categories(session=session, ordered_ids=[a.id, a.id])


def test_a_category_is_deleted_only_when_empty(session: Session):
    # given a category holding an archived product
    shelf = categories.create_category(session=session, name="Fonts")
    make_product(session, category=shelf, is_active=False)
    # when it is deleted, then that is refused
    with pytest.raises(Conflict):
        categories.delete_category(session=session, category_id=shelf.id)
    # when it is empty, then it goes
    empty = categories.create_category(session=session, name="Empty")
    categories.delete_category(session=session, category_id=empty.id)
    assert session.get(Category, empty.id) is None


def test_category_slugs_are_unique(session: Session):
    categories.create_category(session=session, name="Fonts")
    # another name that makes the same slug gets the next free one
    assert categories.create_category(session=session, name="Fonts!").slug == "fonts-2"
    with pytest.raises(Conflict):
        categories.create_category(session=session, name="Other", slug="fonts")


# --- Markdown --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<img src="x" onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "![x](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<style>body{display:none}</style>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<iframe src=https://evil.example></iframe>",
        '<svg onload="alert(1)"></svg>',
    ],
)
def test_markdown_never_lets_script_through(markdown: str):
    from tests.api.test_admin_products import dangerous_parts

    html = render_description_html(f"Intro\n\n{markdown}\n\nOutro")
    assert dangerous_parts(html) == []
    assert "Intro" in html
    assert "Outro" in html


def test_markdown_keeps_formatting_links_and_tables():
    html = render_description_html(
        "## Features\n\n- **Fast**\n- *Small*\n\n[Docs](https://example.com/docs)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<h3>Features</h3>" in html  # one level down: the page's <h1> is the product name
    assert "<strong>Fast</strong>" in html
    assert "<em>Small</em>" in html
    assert '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">Docs</a>' in html
    assert "<table>" in html


def test_a_rolled_back_delete_keeps_the_files_even_if_the_session_commits_later(
    session: Session, shop_env
):
    # given a product with a stored file
    from shop.models import ProductFile
    from shop.services import storage

    product = make_product(session)
    stored = storage.store_bytes(b"keep me")
    session.add(
        ProductFile(
            product_id=product.id,
            storage_key=stored.key,
            original_name="a.txt",
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
        )
    )
    session.commit()
    # when its deletion is rolled back and the same session later commits something else
    products_admin.delete_product(session=session, product_id=product.id)
    session.rollback()
    categories.create_category(session=session, name="Later")
    session.commit()
    # then the product and its file are still there
    assert session.get(Product, product.id) is not None
    assert storage.read_bytes(stored.key) == b"keep me"


def test_after_commit_callbacks_survive_a_savepoint_rollback(session: Session):
    # given a change inside the transaction and a savepoint that rolls back
    before = local_catalog_version()
    products_admin.create_product(session=session, fields=BASE)
    nested = session.begin_nested()
    nested.rollback()
    # when the transaction commits, then the catalog version still moves
    session.commit()
    assert local_catalog_version() != before
