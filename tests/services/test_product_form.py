"""The admin product form: dollars and empty boxes in, the service's fields out (and back)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from shop.services import products_admin
from shop.services.errors import InvalidInput
from shop.services.product_form import (
    form_field,
    form_values,
    humanize,
    parse_form,
    parse_price,
)
from tests.factories import make_category

FORM = {
    "name": "Night Sky Brushes",
    "slug": "",
    "description": "Twelve *brushes*.",
    "price": "19.99",
    "currency": "cad",
    "kind": "one_time",
    "interval": "",
    "category": "",
    "seo_title": "",
    "seo_description": "",
    "inventory": "",
    "download_limit": "",
    "download_days": "",
    "is_active": "on",
}


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("19.99", 1999),
        ("$19.99", 1999),
        (" 20 ", 2000),
        ("0.5", 50),
        ("1,234.50", 123450),
        ("999999.99", 99_999_999),
        # the French-Canadian way: a decimal comma, thousands apart by a space
        ("12,34", 1234),
        ("12,5", 1250),
        ("1 234,50", 123450),
        ("1 234", 123400),
        ("1,234", 123400),
    ],
)
def test_prices_typed_in_dollars_become_cents(text: str, cents: int):
    assert parse_price(text, "cad") == cents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a price."),
        ("abc", "Enter the price in dollars, like 19.99."),
        ("19.999", "Enter the price in dollars, like 19.99."),
        ("-5", "Enter the price in dollars, like 19.99."),
        ("1e3", "Enter the price in dollars, like 19.99."),
        ("1,2,3", "Enter the price in dollars, like 19.99."),
        ("1 234.50", "Enter the price in dollars, like 19.99."),
        ("12,34.5", "Enter the price in dollars, like 19.99."),
        ("0.00", "The price must be at least $0.01 CAD."),
        ("1000000", "The price must be at most $999,999.99 CAD."),
    ],
)
def test_bad_prices_are_refused_with_a_message_for_people(text: str, message: str):
    with pytest.raises(ValueError, match="^" + message.replace("$", r"\$").replace(".", r"\.")):
        parse_price(text, "cad")


def test_zero_decimal_currencies_take_whole_amounts():
    assert parse_price("1500", "jpy") == 1500
    with pytest.raises(ValueError, match="JPY has no cents"):
        parse_price("15.50", "jpy")


def test_a_filled_form_becomes_service_fields():
    # when a complete form is parsed
    parsed = parse_form({**FORM, "inventory": "0", "download_limit": "3", "download_days": "14"})
    # then the service gets cents, numbers, None for empty boxes and a bool for the checkbox
    assert parsed.errors == {}
    assert parsed.fields["price_amount"] == 1999
    assert parsed.fields["inventory_count"] == 0
    assert parsed.fields["download_limit"] == 3
    assert parsed.fields["download_days"] == 14
    assert parsed.fields["interval"] is None
    assert parsed.fields["category"] is None
    assert parsed.fields["is_active"] is True


def test_empty_boxes_mean_unlimited_and_shop_defaults_and_an_unchecked_box_is_inactive():
    form = {k: v for k, v in FORM.items() if k != "is_active"}
    parsed = parse_form(form)
    assert parsed.fields["inventory_count"] is None
    assert parsed.fields["download_limit"] is None
    assert parsed.fields["download_days"] is None
    assert parsed.fields["is_active"] is False


def test_the_tax_exempt_and_featured_boxes_set_their_flags_and_show_them_again(
    session: Session,
):
    # when the form is sent with "Tax-exempt" ticked and "Featured" not
    parsed = parse_form({**FORM, "is_tax_exempt": "on"})
    # then the service is told both, unticked meaning off
    assert parsed.fields["is_tax_exempt"] is True
    assert parsed.fields["is_featured"] is False
    # and a product saved so shows the boxes as they were
    product = products_admin.create_product(session=session, fields=parsed.fields)
    assert product.is_tax_exempt is True
    values = form_values(product)
    assert (values["is_tax_exempt"], values["is_featured"]) == ("true", "")


def test_every_bad_box_is_reported_at_once_next_to_its_field():
    parsed = parse_form(
        {**FORM, "price": "ten", "inventory": "-1", "download_days": "2.5", "kind": "subscription"}
    )
    assert set(parsed.errors) == {"price", "inventory", "download_days", "interval"}
    assert "price_amount" not in parsed.fields
    assert parsed.errors["inventory"].startswith("Enter a whole number")


def test_whole_numbers_in_other_scripts_digits_are_refused():
    # when the stock and download boxes hold Arabic-Indic and full-width digits
    parsed = parse_form({**FORM, "price": "١٩", "inventory": "٣", "download_limit": "５"})
    # then each is reported, and none becomes a number
    assert set(parsed.errors) == {"price", "inventory", "download_limit"}
    assert parsed.errors["inventory"].startswith("Enter a whole number")
    assert "inventory_count" not in parsed.fields


def test_a_one_time_product_drops_a_left_over_interval():
    parsed = parse_form({**FORM, "kind": "one_time", "interval": "month"})
    assert parsed.errors == {}
    assert parsed.fields["interval"] is None


def test_service_errors_land_next_to_the_matching_form_field(session: Session):
    # given a form whose SEO title is too long for the service
    parsed = parse_form({**FORM, "seo_title": "x" * 71})
    # when the service refuses it
    with pytest.raises(InvalidInput) as refused:
        products_admin.create_product(session=session, fields=parsed.fields)
    # then the message belongs to the "SEO title" field and reads with its label
    assert form_field(refused.value.field) == "seo_title"
    assert humanize(refused.value.message, refused.value.field) == (
        "SEO title must be at most 70 characters."
    )
    assert form_field("price.amount") == "price"
    assert form_field("inventory_count") == "inventory"
    assert form_field("price.currency") == "currency"
    assert form_field(None) == form_field("ordered_ids") == "form"


def test_a_currency_outside_iso_4217_shows_next_to_the_currency_box(session: Session):
    # given a form posted with a currency the select does not offer (a crafted event)
    parsed = parse_form({**FORM, "currency": "zzz"})
    # when the service refuses it
    with pytest.raises(InvalidInput) as refused:
        products_admin.create_product(session=session, fields=parsed.fields)
    # then the message sits next to "Currency" and reads with that label
    assert form_field(refused.value.field) == "currency"
    assert humanize(refused.value.message, refused.value.field) == (
        "Currency must be an ISO 4217 currency code such as 'cad'."
    )


def test_the_download_period_box_says_what_it_sets(session: Session):
    # given a form asking for a download period beyond the service's ten years
    parsed = parse_form({**FORM, "download_days": "4000"})
    # when the service refuses it
    with pytest.raises(InvalidInput) as refused:
        products_admin.create_product(session=session, fields=parsed.fields)
    # then the message names the box by what it sets: how long a purchase can be downloaded
    assert form_field(refused.value.field) == "download_days"
    assert humanize(refused.value.message, refused.value.field) == (
        "Link lifetime (days) must be between 1 and 3,650."
    )


def test_a_saved_product_fills_the_form_back_as_it_was_typed(session: Session):
    # given a product created from the form
    category = make_category(session, slug="brushes", name="Brushes")
    parsed = parse_form({**FORM, "category": "brushes", "inventory": "7", "price": "5"})
    product = products_admin.create_product(session=session, fields=parsed.fields)
    # when the edit form is filled from it
    values = form_values(product, category)
    # then it shows dollars and the same choices, and re-parsing changes nothing
    assert values["price"] == "5.00"
    assert values["category"] == "brushes"
    assert values["inventory"] == "7"
    assert values["download_limit"] == ""
    assert values["is_active"] == "true"
    again = parse_form(values)
    assert again.errors == {}
    changed = products_admin.update_product(
        session=session, product_id=product.id or 0, fields=again.fields
    )
    assert changed.sync_revision == product.sync_revision == 1
