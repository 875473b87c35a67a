"""The Canadian tax engine: rates per province, registrations, exemptions, discounts, rounding."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop.services.errors import InvalidInput
from shop.services.tax import (
    PROVINCES,
    TaxableLine,
    TaxRegistrations,
    allocate_discount,
    allocate_discount_to_lines,
    calculate_tax,
    demo_registrations,
    format_rate,
    rates_in_force,
)
from shop.services.tax_rates import RATES_COMPLETE_FROM, TAX_RATES

A_DAY_IN_2026 = date(2026, 6, 15)
TEN_DOLLARS = 1000


def tax_on(
    amounts: list[int] | None = None,
    *,
    region: str | None = "ON",
    country: str = "CA",
    discount: int = 0,
    exempt: list[bool] | None = None,
    registrations: TaxRegistrations | None = None,
    on: date = A_DAY_IN_2026,
):
    amounts = [TEN_DOLLARS] if amounts is None else amounts
    exempt = exempt or [False] * len(amounts)
    return calculate_tax(
        lines=[
            TaxableLine(amount=amount, tax_exempt=is_exempt)
            for amount, is_exempt in zip(amounts, exempt, strict=True)
        ],
        discount=discount,
        currency="cad",
        country=country,
        region=region,
        registrations=registrations or demo_registrations(),
        on=on,
    )


def charged(result) -> list[tuple[str, str, int]]:
    return [(line.name, line.jurisdiction, line.amount) for line in result.lines]


# Tax on one $10.00 item, merchant registered for everything, on 2026-06-15.
TEN_DOLLAR_ITEM_TAX = {
    "AB": [("GST", "CA", 50)],
    "BC": [("GST", "CA", 50), ("PST", "CA-BC", 70)],
    "MB": [("GST", "CA", 50), ("RST", "CA-MB", 70)],
    "NB": [("HST", "CA-NB", 150)],
    "NL": [("HST", "CA-NL", 150)],
    "NS": [("HST", "CA-NS", 140)],
    "NT": [("GST", "CA", 50)],
    "NU": [("GST", "CA", 50)],
    "ON": [("HST", "CA-ON", 130)],
    "PE": [("HST", "CA-PE", 150)],
    "QC": [("GST", "CA", 50), ("QST", "CA-QC", 100)],  # 99.75 cents rounds half-up to 100
    "SK": [("GST", "CA", 50), ("PST", "CA-SK", 60)],
    "YT": [("GST", "CA", 50)],
}


def test_the_expected_table_covers_every_province_and_territory():
    assert sorted(TEN_DOLLAR_ITEM_TAX) == sorted(PROVINCES)
    assert len(PROVINCES) == 13


@pytest.mark.parametrize(("region", "expected"), sorted(TEN_DOLLAR_ITEM_TAX.items()))
def test_tax_on_a_ten_dollar_item_in_each_province_and_territory(region, expected):
    # given a $10.00 taxable item and a merchant registered for every tax
    # when a buyer in that province checks out
    result = tax_on([TEN_DOLLARS], region=region)

    # then exactly the province's taxes are charged, each on the full $10.00
    assert charged(result) == expected
    assert result.total_tax == sum(amount for _, _, amount in expected)
    assert result.taxable_base == TEN_DOLLARS


def test_nova_scotia_hst_is_15_percent_until_march_2025_and_14_percent_from_april():
    # given a $10.00 item sold into Nova Scotia
    # when it is sold on the last day of the old rate and the first day of the new one
    before = tax_on([TEN_DOLLARS], region="NS", on=date(2025, 3, 31))
    after = tax_on([TEN_DOLLARS], region="NS", on=date(2025, 4, 1))

    # then the rate changes overnight
    assert charged(before) == [("HST", "CA-NS", 150)]
    assert before.lines[0].rate == Decimal("0.15")
    assert charged(after) == [("HST", "CA-NS", 140)]
    assert after.lines[0].rate == Decimal("0.14")


def test_manitoba_rst_was_8_percent_until_june_2019():
    # given a $10.00 item sold into Manitoba on both sides of the 2019 rate cut
    before = tax_on([TEN_DOLLARS], region="MB", on=date(2019, 6, 30))
    after = tax_on([TEN_DOLLARS], region="MB", on=date(2019, 7, 1))

    # then the RST follows its effective dates and GST is unchanged
    assert charged(before) == [("GST", "CA", 50), ("RST", "CA-MB", 80)]
    assert charged(after) == [("GST", "CA", 50), ("RST", "CA-MB", 70)]


def test_a_buyer_outside_canada_pays_no_tax():
    # given a US buyer (with a US state as region) and a merchant registered for everything
    # when they buy a $10.00 item
    for country in ("US", "us", "GB"):
        result = tax_on([TEN_DOLLARS], country=country, region="NY")

        # then no Canadian tax is charged at all
        assert result.lines == []
        assert result.total_tax == 0
        assert result.taxable_base == 0


def test_a_buyer_outside_canada_needs_no_region():
    # given a buyer in France who gave no region
    result = tax_on([TEN_DOLLARS], country="FR", region=None)

    # then that is fine: no tax, no error
    assert result.total_tax == 0


def test_without_a_qst_number_a_quebec_buyer_pays_gst_only():
    # given a merchant registered for GST/HST but not for QST
    registrations = TaxRegistrations(gst_hst_number="123456782 RT0001")

    # when a Quebec buyer buys a $10.00 item
    result = tax_on([TEN_DOLLARS], region="QC", registrations=registrations)

    # then only GST is collected
    assert charged(result) == [("GST", "CA", 50)]


def test_without_a_gst_hst_number_only_the_provincial_taxes_are_collected():
    # given a merchant with only provincial registrations
    registrations = TaxRegistrations(qst_number="1234567890 TQ0001", bc_pst_number="PST-1234-5678")

    # then Quebec gets QST only, BC gets PST only, and Ontario's HST is not collected
    assert charged(tax_on(region="QC", registrations=registrations)) == [("QST", "CA-QC", 100)]
    assert charged(tax_on(region="BC", registrations=registrations)) == [("PST", "CA-BC", 70)]
    assert charged(tax_on(region="ON", registrations=registrations)) == []


def test_each_provincial_sales_tax_needs_that_provinces_number():
    # given a merchant registered for GST/HST and BC PST only
    registrations = TaxRegistrations(
        gst_hst_number="123456782 RT0001", bc_pst_number="PST-1234-5678"
    )

    # then BC buyers pay PST but Saskatchewan and Manitoba buyers pay GST only
    assert charged(tax_on(region="BC", registrations=registrations)) == [
        ("GST", "CA", 50),
        ("PST", "CA-BC", 70),
    ]
    assert charged(tax_on(region="SK", registrations=registrations)) == [("GST", "CA", 50)]
    assert charged(tax_on(region="MB", registrations=registrations)) == [("GST", "CA", 50)]


def test_an_unregistered_merchant_collects_nothing_but_a_blank_number_counts_as_unregistered():
    # given a merchant with no numbers, and one whose settings left the numbers blank
    for registrations in (TaxRegistrations(), TaxRegistrations(gst_hst_number="  ", qst_number="")):
        # when a Quebec buyer checks out
        result = tax_on(region="QC", registrations=registrations)

        # then no tax is collected, though the base is still known
        assert result.lines == []
        assert result.total_tax == 0
        assert result.taxable_base == TEN_DOLLARS


def test_tax_lines_carry_the_merchants_registration_numbers_for_the_receipt():
    registrations = demo_registrations()

    result = tax_on(region="QC", registrations=registrations)

    assert [(line.name, line.registration_number) for line in result.lines] == [
        ("GST", registrations.gst_hst_number),
        ("QST", registrations.qst_number),
    ]
    assert [line.rate for line in result.lines] == [Decimal("0.05"), Decimal("0.09975")]


def test_tax_exempt_lines_are_not_taxed():
    # given a $10.00 taxable line and a $5.00 exempt line
    # when an Ontario buyer checks out
    result = tax_on([1000, 500], exempt=[False, True], region="ON")

    # then only the taxable line is in the base
    assert result.taxable_base == 1000
    assert charged(result) == [("HST", "CA-ON", 130)]


def test_an_order_of_only_exempt_lines_has_no_tax_lines():
    # given only exempt lines, for a BC buyer (GST and PST both collected)
    result = tax_on([1000, 250], exempt=[True, True], region="BC")

    # then no "GST 5% $0.00" lines: nothing is taxed, as for a buyer outside Canada
    assert result.taxable_base == 0
    assert result.lines == []
    assert result.total_tax == 0


def test_a_discount_covering_the_taxable_lines_leaves_no_tax_lines():
    # given one taxable line entirely discounted
    result = tax_on([1000], discount=1000, region="QC")

    assert result.taxable_base == 0
    assert result.lines == []


def test_an_exempt_only_order_still_needs_a_province():
    with pytest.raises(InvalidInput):
        tax_on([1000], exempt=[True], region=None)


def test_a_taxable_base_whose_tax_rounds_to_zero_keeps_its_lines():
    # given a taxable base of $0.03 in Ontario (13 % is 0.39 of a cent)
    result = tax_on([3, 1000], exempt=[False, True], region="ON")

    # then the HST line stays, at $0.00: the sale is taxable, the amount just rounds away
    assert result.taxable_base == 3
    assert charged(result) == [("HST", "CA-ON", 0)]


def test_the_discount_is_applied_before_tax():
    # given a single $10.00 item with a $2.00 discount
    result = tax_on([1000], discount=200, region="ON")

    # then HST is 13 % of $8.00
    assert result.taxable_base == 800
    assert charged(result) == [("HST", "CA-ON", 104)]


def test_the_discount_is_shared_proportionally_between_taxable_and_exempt_lines():
    # given a $10.00 taxable line, a $10.00 exempt line and a $5.00 order discount
    # when an Ontario buyer checks out
    result = tax_on([1000, 1000], exempt=[False, True], discount=500, region="ON")

    # then half the discount reduces the taxable line (base $7.50, HST 97.5 → 98 cents),
    # not all of it (which would wrongly give a $5.00 base and 65 cents)
    assert result.taxable_base == 750
    assert charged(result) == [("HST", "CA-ON", 98)]


def test_discount_allocation_gives_leftover_cents_to_the_largest_remainders():
    # 100 over 333/333/334 is 33.3/33.3/33.4 exactly: floors 33 each, the spare cent to 33.4
    assert allocate_discount(amounts=[333, 333, 334], discount=100) == [33, 33, 34]
    # equal remainders: the earlier line gets the cent
    assert allocate_discount(amounts=[1, 1, 1], discount=2) == [1, 1, 0]
    assert allocate_discount(amounts=[700, 300], discount=1000) == [700, 300]
    assert allocate_discount(amounts=[], discount=0) == []
    assert allocate_discount(amounts=[0, 0], discount=0) == [0, 0]


def test_a_dearer_exempt_line_never_moves_a_stray_cent_of_discount_onto_taxable_lines():
    # given taxable lines of 1 and 15 cents, exempt lines of 208 and 0 or 1 cents, 65 off;
    # a one-pass largest-remainder split gives the taxable lines 4 cents of discount in the
    # first order and 5 in the second, so the dearer order would pay tax on a smaller base
    cheaper = [
        TaxableLine(amount=0, tax_exempt=True),
        TaxableLine(amount=1),
        TaxableLine(amount=15),
        TaxableLine(amount=208, tax_exempt=True),
    ]
    dearer = [TaxableLine(amount=1, tax_exempt=True), *cheaper[1:]]

    # when the discount is split first between the taxable and exempt groups
    cheaper_shares = allocate_discount_to_lines(lines=cheaper, discount=65)
    dearer_shares = allocate_discount_to_lines(lines=dearer, discount=65)

    # then the taxable lines get 5 cents (65 × 16/224 = 4.64) in both, and the base holds
    assert cheaper_shares == [0, 0, 5, 60]
    assert dearer_shares == [0, 0, 5, 60]
    assert (
        tax_on([0, 1, 15, 208], exempt=[True, False, False, True], discount=65).taxable_base == 11
    )
    assert (
        tax_on([1, 1, 15, 208], exempt=[True, False, False, True], discount=65).taxable_base == 11
    )


def test_a_discount_larger_than_the_subtotal_or_negative_is_refused():
    for discount in (1001, -1):
        with pytest.raises(InvalidInput) as refused:
            tax_on([1000], discount=discount)
        assert refused.value.field == "discount"


def test_rounding_is_half_up_to_the_cent():
    # given 50 cents in Alberta: GST is exactly 2.5 cents
    # then it rounds up to 3 (banker's rounding would give 2)
    assert charged(tax_on([50], region="AB")) == [("GST", "CA", 3)]
    # given 50 cents in Ontario: HST is exactly 6.5 cents → 7
    assert charged(tax_on([50], region="ON")) == [("HST", "CA-ON", 7)]
    # just under half rounds down: 9.975 % of 5 cents is 0.49875 → 0
    assert charged(tax_on([5], region="QC")) == [("GST", "CA", 0), ("QST", "CA-QC", 0)]


def test_each_tax_is_rounded_once_on_the_whole_base_not_per_line():
    # given two 10-cent lines in Alberta: per line GST would be 0.5 → 1 each, 2 in all
    result = tax_on([10, 10], region="AB")

    # then the tax is 5 % of 20 cents = exactly 1
    assert charged(result) == [("GST", "CA", 1)]


def test_an_unknown_province_is_refused_with_the_region_field():
    for region in ("XX", "Ontario", "CA-ZZ", "NY"):
        with pytest.raises(InvalidInput) as refused:
            tax_on(region=region, country="CA")
        assert refused.value.field == "region"
        assert "province" in refused.value.message


def test_a_canadian_buyer_must_give_a_province():
    for region in (None, "", "   "):
        with pytest.raises(InvalidInput) as refused:
            tax_on(region=region, country="CA")
        assert refused.value.field == "region"
        assert "province" in refused.value.message.lower()


def test_province_codes_are_accepted_in_lower_case_or_with_the_country_prefix():
    assert charged(tax_on(region="on", country="ca")) == [("HST", "CA-ON", 130)]
    assert charged(tax_on(region="CA-QC")) == [("GST", "CA", 50), ("QST", "CA-QC", 100)]


def test_bad_amounts_currency_and_country_are_refused():
    with pytest.raises(InvalidInput) as negative:
        tax_on([-1])
    assert negative.value.field == "lines"

    with pytest.raises(InvalidInput) as boolean:
        calculate_tax(
            lines=[TaxableLine(amount=True)],
            discount=0,
            currency="cad",
            country="CA",
            region="ON",
            registrations=demo_registrations(),
            on=A_DAY_IN_2026,
        )
    assert boolean.value.field == "lines"

    with pytest.raises(InvalidInput) as currency:
        calculate_tax(
            lines=[TaxableLine(amount=1000)],
            discount=0,
            currency="dollars",
            country="CA",
            region="ON",
            registrations=demo_registrations(),
            on=A_DAY_IN_2026,
        )
    assert currency.value.field == "currency"

    with pytest.raises(InvalidInput) as country:
        tax_on(country=" ")
    assert country.value.field == "country"


def test_a_country_code_outside_iso_3166_is_refused_not_taxed_as_abroad():
    for country in ("ZZ", "XX", "UK", "EU", "00", "c1"):
        with pytest.raises(InvalidInput) as refused:
            tax_on(country=country, region=None)
        assert refused.value.field == "country"
        assert "not a country code" in refused.value.message

    # a real country abroad pays no Canadian tax
    assert tax_on(country="br", region=None).lines == []


def test_dates_before_the_rate_table_is_complete_are_refused():
    # given a day before Saskatchewan's 6 % PST, where older regimes are not recorded
    with pytest.raises(InvalidInput) as refused:
        tax_on(region="SK", on=RATES_COMPLETE_FROM - timedelta(days=1))

    # then the engine refuses rather than guess
    assert refused.value.field == "on"
    assert charged(tax_on(region="SK", on=RATES_COMPLETE_FROM))[1] == ("PST", "CA-SK", 60)


def test_every_province_has_gst_or_hst_but_never_both_on_any_day_the_table_covers():
    days = sorted({RATES_COMPLETE_FROM, A_DAY_IN_2026} | {row.valid_from for row in TAX_RATES})
    days += [row.valid_to for row in TAX_RATES if row.valid_to]
    for day in days:
        if day < RATES_COMPLETE_FROM:
            continue
        for region in PROVINCES:
            names = [rate.name for rate in rates_in_force(region=region, on=day)]
            assert (names.count("GST") + names.count("HST")) == 1, (region, day, names)
            # and every tax in force maps to a registration (this raises if a row has none)
            tax_on(region=region, on=day)


def test_rate_rows_for_the_same_tax_never_overlap_or_leave_gaps():
    by_tax: dict[tuple[str, str], list] = {}
    for row in TAX_RATES:
        assert row.valid_to is None or row.valid_from <= row.valid_to
        assert Decimal(0) < row.rate < Decimal(1)
        by_tax.setdefault((row.jurisdiction, row.name), []).append(row)
    for rows in by_tax.values():
        rows.sort(key=lambda row: row.valid_from)
        for earlier, later in zip(rows, rows[1:], strict=False):
            assert earlier.valid_to == later.valid_from - timedelta(days=1)
        assert rows[-1].valid_to is None  # every tax is still in force today


def test_demo_registrations_are_registered_for_everything_and_well_formed():
    demo = demo_registrations()

    assert re.fullmatch(r"\d{9} RT\d{4}", demo.gst_hst_number or "")
    assert luhn_valid((demo.gst_hst_number or "")[:9])
    assert re.fullmatch(r"\d{10} TQ\d{4}", demo.qst_number or "")
    assert re.fullmatch(r"PST-\d{4}-\d{4}", demo.bc_pst_number or "")
    assert re.fullmatch(r"\d{7}", demo.sk_pst_number or "")
    assert re.fullmatch(r"\d{7}", demo.mb_rst_number or "")


def test_format_rate_shows_percentages_for_people():
    assert format_rate(Decimal("0.13")) == "13%"
    assert format_rate(Decimal("0.09975")) == "9.975%"
    assert format_rate(Decimal("0.05")) == "5%"


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


# Property tests for the arithmetic.

amounts_strategy = st.integers(min_value=0, max_value=10_000_000)
line_strategy = st.builds(TaxableLine, amount=amounts_strategy, tax_exempt=st.booleans())
lines_strategy = st.lists(line_strategy, max_size=8)
region_strategy = st.sampled_from(sorted(PROVINCES))
day_strategy = st.dates(min_value=RATES_COMPLETE_FROM, max_value=date(2030, 12, 31))


@st.composite
def order_strategy(draw):
    lines = draw(lines_strategy)
    subtotal = sum(line.amount for line in lines)
    discount = draw(st.integers(min_value=0, max_value=subtotal))
    return lines, discount


def independent_half_up(base: int, rate: Decimal) -> int:
    # floor(x + 1/2) is half-up for non-negative x, written without quantize/ROUND_HALF_UP
    return int((Decimal(base) * rate + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR))


@given(order=order_strategy(), region=region_strategy, on=day_strategy)
def test_property_each_tax_is_the_base_times_the_rate_rounded_half_up(order, region, on):
    lines, discount = order

    result = calculate_tax(
        lines=lines,
        discount=discount,
        currency="cad",
        country="CA",
        region=region,
        registrations=demo_registrations(),
        on=on,
    )

    subtotal = sum(line.amount for line in lines)
    assert 0 <= result.taxable_base <= subtotal - discount
    if not any(line.tax_exempt for line in lines):
        assert result.taxable_base == subtotal - discount
    # tax lines exactly when something is taxable (the demo store is registered for all)
    assert (result.lines == []) == (result.taxable_base == 0)
    for tax in result.lines:
        assert isinstance(tax.amount, int)
        assert tax.amount >= 0
        assert tax.amount == independent_half_up(result.taxable_base, tax.rate)
    assert result.total_tax == sum(tax.amount for tax in result.lines)


@given(
    amounts=st.lists(amounts_strategy, max_size=10),
    fraction=st.fractions(min_value=0, max_value=1),
)
def test_property_discount_allocation_is_exact_and_never_makes_a_line_negative(amounts, fraction):
    subtotal = sum(amounts)
    discount = int(subtotal * fraction)

    shares = allocate_discount(amounts=amounts, discount=discount)

    assert sum(shares) == discount
    for amount, share in zip(amounts, shares, strict=True):
        assert 0 <= share <= amount
        # each share is within one cent of the exact proportional share
        if subtotal:
            assert abs(share * subtotal - discount * amount) < subtotal


@given(order=order_strategy())
def test_property_per_line_discounts_add_up_and_split_the_groups_to_the_nearest_cent(order):
    lines, discount = order

    shares = allocate_discount_to_lines(lines=lines, discount=discount)

    assert sum(shares) == discount
    for line, share in zip(lines, shares, strict=True):
        assert 0 <= share <= line.amount
    subtotal = sum(line.amount for line in lines)
    taxable_total = sum(line.amount for line in lines if not line.tax_exempt)
    taxable_share = sum(s for line, s in zip(lines, shares, strict=True) if not line.tax_exempt)
    if subtotal:
        # |taxable_share - discount * taxable_total / subtotal| <= 1/2
        assert 2 * abs(taxable_share * subtotal - discount * taxable_total) <= subtotal


@given(
    order=order_strategy(),
    index=st.integers(min_value=0, max_value=7),
    increase=st.integers(min_value=1, max_value=100_000),
    region=region_strategy,
)
def test_property_tax_never_falls_when_the_subtotal_rises(order, index, increase, region):
    # given any order with a fixed discount in a fixed province
    lines, discount = order
    if not lines:
        lines = [TaxableLine(amount=0)]
    index %= len(lines)

    # when one line (taxable or exempt) gets dearer
    dearer = list(lines)
    dearer[index] = TaxableLine(
        amount=lines[index].amount + increase, tax_exempt=lines[index].tax_exempt
    )
    before = tax_on(
        [line.amount for line in lines],
        exempt=[line.tax_exempt for line in lines],
        discount=discount,
        region=region,
    )
    after = tax_on(
        [line.amount for line in dearer],
        exempt=[line.tax_exempt for line in dearer],
        discount=discount,
        region=region,
    )

    # then neither the taxable base nor the tax falls
    assert after.taxable_base >= before.taxable_base
    assert after.total_tax >= before.total_tax
