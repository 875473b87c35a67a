"""Canadian sales tax for an order: which taxes, on what base, rounded how.

Everything goes through `calculate_tax`, the one entry point, so a Stripe Tax mode
(`TAX_MODE=stripe`) can later replace this engine behind the same signature.

The rules, in order:

1. Buyers outside Canada pay no Canadian tax. A Canadian buyer must name a province or
   territory: the shop sells digital products and treats the buyer's billing province as
   the place of supply.
2. The taxes are the rows of `tax_rates.TAX_RATES` in force on the order's day for "CA" and for
   the buyer's province; where the province has HST, HST replaces GST.
3. A tax is collected only if the merchant is registered for it (`TaxRegistrations`): GST and
   HST need the GST/HST number, QST the QST number, each PST/RST that province's number. An
   unregistered merchant must not charge a tax it cannot remit.
4. The order discount is applied before tax, spread over all lines, taxable and exempt, in
   proportion to their amounts: a promo code that takes 25 % off the order takes 25 % off each
   line, so it cannot shrink the taxable base by more than the taxable lines' share. It is
   split in two steps so the cents add up exactly and tax never falls when the cart grows:
   first between the taxable and the exempt lines as two groups (to the nearest cent; an exact
   half goes to the taxable group), then within each group line by line (largest remainder).
   `allocate_discount_to_lines` gives that per-line split to store on the order. A promo code
   restricted to some products is not an order discount: the caller reduces those lines'
   amounts itself and passes `discount=0`.
5. Each tax is `base × rate` rounded half-up to the minor unit, once per tax on the whole
   taxable base (not per line), so per-line rounding errors cannot add up on a large order.
6. No tax lines when the taxable base is zero (only exempt lines, or a discount covering the
   taxable ones). A positive base keeps its lines even when a tax rounds to 0 (13 % of $0.03):
   the sale is taxable, and the receipt says which taxes apply to it.

Not modelled: product categories other than "exempt" (e.g. BC/SK/MB rules for particular
digital services), the temporary 2024-12-14 to 2025-02-15 GST/HST holiday (it covered listed
physical goods such as printed books, toys and physical video games; e-books and downloads
did not qualify), and small-supplier thresholds
(the registrations say what the merchant collects).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from shop.services.countries import is_country
from shop.services.errors import InvalidInput
from shop.services.tax_rates import (
    COUNTRY,
    PROVINCES,
    RATES_COMPLETE_FROM,
    TAX_RATES,
    TaxRate,
)

__all__ = [
    "PROVINCES",
    "TaxLine",
    "TaxRegistrations",
    "TaxResult",
    "TaxableLine",
    "allocate_discount",
    "allocate_discount_to_lines",
    "calculate_tax",
    "demo_registrations",
    "format_rate",
    "rates_in_force",
    "tax_line_label",
]

FEDERAL_JURISDICTION = COUNTRY


@dataclass(frozen=True, slots=True)
class TaxRegistrations:
    """The merchant's sales-tax registration numbers; `None` (or blank) means not registered."""

    gst_hst_number: str | None = None
    qst_number: str | None = None
    bc_pst_number: str | None = None
    sk_pst_number: str | None = None
    mb_rst_number: str | None = None


@dataclass(frozen=True, slots=True)
class TaxableLine:
    """One order line as tax sees it: its total in minor units (price × quantity)."""

    amount: int
    tax_exempt: bool = False


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One tax charged on the order, as stored on it and printed on the receipt."""

    name: str  # "GST", "HST", "PST", "QST" or "RST"
    jurisdiction: str  # "CA" for federal GST, "CA-ON" etc. for provincial taxes
    rate: Decimal  # a fraction: Decimal("0.13") is 13 %
    amount: int  # minor units of the order's currency
    registration_number: str | None  # the merchant's number for this tax, for the receipt


@dataclass(frozen=True, slots=True)
class TaxResult:
    lines: list[TaxLine]
    total_tax: int
    taxable_base: int  # discounted subtotal of non-exempt lines; 0 when no Canadian tax applies


def demo_registrations() -> TaxRegistrations:
    """Registered for everything, with MADE-UP numbers for the demo shop only.

    They are well-formed (GST/HST: 9-digit business number with a valid check digit + "RT0001";
    QST: 10 digits + "TQ0001"; BC: "PST-" + 8 digits; SK and MB: 7 digits) so receipts look
    real, but they belong to no business: never use them for a store that sells for real.
    """
    return TaxRegistrations(
        gst_hst_number="123456782 RT0001",
        qst_number="1234567890 TQ0001",
        bc_pst_number="PST-1234-5678",
        sk_pst_number="1234567",
        mb_rst_number="7654321",
    )


def format_rate(rate: Decimal) -> str:
    """`format_rate(Decimal("0.09975"))` → `"9.975%"`, for checkout lines and receipts."""
    percent = (rate * 100).normalize()
    return f"{percent:f}%"


def tax_line_label(*, name: str, rate: Decimal | str, jurisdiction: str | None = None) -> str:
    """`GST 5% (CA)`, `PST 7% (CA-BC)`: one tax line named the same way wherever an order is
    shown (receipt, the customer's order page, the admin); without `jurisdiction`, `GST 5%`."""
    label = f"{name} {format_rate(Decimal(rate))}"
    return f"{label} ({jurisdiction})" if jurisdiction else label


def allocate_discount(*, amounts: list[int], discount: int) -> list[int]:
    """Split `discount` over lines in proportion to `amounts`, exactly, in whole minor units.

    Each line first gets the floor of its exact share; the cents left over go one each to the
    lines with the largest remainders (ties to the earlier line), so the shares sum to
    `discount` and no share exceeds its line (`discount <= sum(amounts)` is required).
    """
    subtotal = sum(amounts)
    if discount < 0 or discount > subtotal:
        raise InvalidInput(
            "The discount must be between zero and the order subtotal.", field="discount"
        )
    if discount == 0:
        return [0] * len(amounts)
    shares = [discount * amount // subtotal for amount in amounts]
    remainders = [discount * amount % subtotal for amount in amounts]
    leftover = discount - sum(shares)
    by_largest_remainder = sorted(range(len(amounts)), key=lambda i: (-remainders[i], i))
    for index in by_largest_remainder[:leftover]:
        shares[index] += 1
    return shares


def allocate_discount_to_lines(*, lines: list[TaxableLine], discount: int) -> list[int]:
    """The order discount per line, as the tax base uses it (rule 4 of the module docstring).

    Splitting per line in one pass would let a price rise on an exempt line move a stray cent
    of discount onto a taxable line, so a dearer cart could pay a cent less tax. Splitting
    between the two groups first keeps the taxable share a nearest-cent function of the group
    totals, which only moves the right way as either grows.
    """
    taxable_indexes = [i for i, line in enumerate(lines) if not line.tax_exempt]
    exempt_indexes = [i for i, line in enumerate(lines) if line.tax_exempt]
    group_discounts = allocate_discount(
        amounts=[
            sum(lines[i].amount for i in taxable_indexes),
            sum(lines[i].amount for i in exempt_indexes),
        ],
        discount=discount,
    )
    shares = [0] * len(lines)
    for indexes, group_discount in zip(
        (taxable_indexes, exempt_indexes), group_discounts, strict=True
    ):
        group_shares = allocate_discount(
            amounts=[lines[i].amount for i in indexes], discount=group_discount
        )
        for i, share in zip(indexes, group_shares, strict=True):
            shares[i] = share
    return shares


def rates_in_force(*, region: str, on: date) -> list[TaxRate]:
    """The tax rows that apply to a sale into province `region` (e.g. "ON") on day `on`."""
    if on < RATES_COMPLETE_FROM:
        raise InvalidInput(
            f"Tax rates are only recorded from {RATES_COMPLETE_FROM.isoformat()}.", field="on"
        )
    provincial_jurisdiction = f"{COUNTRY}-{region}"
    provincial = [
        rate
        for rate in TAX_RATES
        if rate.jurisdiction == provincial_jurisdiction and rate.in_force_on(on)
    ]
    federal = [
        rate
        for rate in TAX_RATES
        if rate.jurisdiction == FEDERAL_JURISDICTION and rate.in_force_on(on)
    ]
    # HST already contains the federal 5 %: charging GST too would tax the buyer twice.
    if any(rate.name == "HST" for rate in provincial):
        federal = [rate for rate in federal if rate.name != "GST"]
    return federal + provincial


def calculate_tax(
    *,
    lines: list[TaxableLine],
    discount: int,
    currency: str,
    country: str,
    region: str | None,
    registrations: TaxRegistrations,
    on: date,
) -> TaxResult:
    """The taxes on an order: one `TaxLine` per tax collected, amounts in minor units.

    `discount` is the order-level discount in minor units (0 when none), applied before tax.
    `currency` only has to be a currency code: rates are fractions, so the arithmetic is the
    same in any currency's minor units. Raises `InvalidInput` for bad amounts, an unknown
    country or province, or a Canadian address without one.
    """
    _check_lines(lines)
    _check_currency(currency)
    allocated = allocate_discount_to_lines(lines=lines, discount=discount)

    buyer_country = _normalized_code(country)
    if not buyer_country:
        raise InvalidInput("Choose a country.", field="country")
    if not is_country(buyer_country):
        raise InvalidInput(
            f"{buyer_country} is not a country code (ISO 3166-1 alpha-2, such as CA or US).",
            field="country",
        )
    if buyer_country != COUNTRY:
        return TaxResult(lines=[], total_tax=0, taxable_base=0)
    province = _province_code(region)

    taxable_base = sum(
        line.amount - line_discount
        for line, line_discount in zip(lines, allocated, strict=True)
        if not line.tax_exempt
    )
    tax_lines = []
    if taxable_base == 0:
        # Nothing taxable (only exempt lines, or a discount that covers them): no tax lines,
        # as for a buyer outside Canada, rather than "HST 13% $0.00".
        return TaxResult(lines=[], total_tax=0, taxable_base=0)
    for rate in rates_in_force(region=province, on=on):
        number = _registration_number(rate=rate, registrations=registrations)
        if number is None:
            continue
        tax_lines.append(
            TaxLine(
                name=rate.name,
                jurisdiction=rate.jurisdiction,
                rate=rate.rate,
                amount=_round_half_up(Decimal(taxable_base) * rate.rate),
                registration_number=number,
            )
        )
    return TaxResult(
        lines=tax_lines,
        total_tax=sum(line.amount for line in tax_lines),
        taxable_base=taxable_base,
    )


def _round_half_up(value: Decimal) -> int:
    # Amounts are already in minor units, so "to the cent" means to the nearest integer.
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _registration_number(*, rate: TaxRate, registrations: TaxRegistrations) -> str | None:
    """The merchant's number for this tax, or None when it is not registered to collect it."""
    if rate.name in ("GST", "HST"):
        number = registrations.gst_hst_number
    elif rate.name == "QST":
        number = registrations.qst_number
    else:
        provincial_numbers = {
            ("CA-BC", "PST"): registrations.bc_pst_number,
            ("CA-SK", "PST"): registrations.sk_pst_number,
            ("CA-MB", "RST"): registrations.mb_rst_number,
        }
        key = (rate.jurisdiction, rate.name)
        if key not in provincial_numbers:
            # A new row in the rate table needs its registration here; failing loudly beats
            # silently collecting (or silently not collecting) a tax.
            raise LookupError(f"no registration field for {rate.name} in {rate.jurisdiction}")
        number = provincial_numbers[key]
    if number is None or not number.strip():
        return None
    return number.strip()


def _normalized_code(code: str | None) -> str:
    return (code or "").strip().upper()


def _province_code(region: str | None) -> str:
    code = _normalized_code(region).removeprefix(f"{COUNTRY}-")
    if not code:
        raise InvalidInput(
            "Choose a province or territory for a Canadian billing address.", field="region"
        )
    if code not in PROVINCES:
        raise InvalidInput(
            f"Unknown Canadian province or territory: {region!r}. "
            f"Use one of {', '.join(sorted(PROVINCES))}.",
            field="region",
        )
    return code


def _check_lines(lines: list[TaxableLine]) -> None:
    for line in lines:
        # bool is an int subclass; True as an amount is always a bug upstream.
        if isinstance(line.amount, bool) or not isinstance(line.amount, int) or line.amount < 0:
            raise InvalidInput(
                "Line amounts must be whole non-negative minor units.", field="lines"
            )


def _check_currency(currency: str) -> None:
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput("The currency must be a three-letter code.", field="currency")
