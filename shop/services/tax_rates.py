"""Canadian sales-tax rates as data: one row per (jurisdiction, tax, rate, period in force).

A rate change is a new row plus a `valid_to` on the old one, never an edit of history: orders
keep being recomputable for the day they were placed. `valid_to` is the last day the rate
applies (inclusive); `None` means still in force.

Rates are fractions (`Decimal("0.13")` is 13 %), written as strings so no float ever enters.

Sources checked when these rows were written (2026-11): Nova Scotia's HST cut to 14 % from
2025-04-01 (N.S. Finance and CRA transitional notices); Manitoba's RST cut to 7 % from
2019-07-01 (the 2020 plan for 6 % was postponed and never took effect); Saskatchewan's PST
rise to 6 % from 2017-03-23; QST at 9.975 % on the price excluding GST since 2013-01-01;
NB and NL HST 15 % from 2016-07-01, PEI from 2016-10-01; 2026 rate tables (CRA, TaxTips.ca)
list no other change. The table deliberately starts where it is complete: before
`RATES_COMPLETE_FROM` Saskatchewan was at 5 % and older regimes (BC's HST, PEI's PST charged on
GST-inclusive prices) are not modelled, so the engine refuses such dates instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

COUNTRY = "CA"

# For the UI's "Province" select: all 10 provinces and 3 territories, ordered by name.
PROVINCES: dict[str, str] = {
    "AB": "Alberta",
    "BC": "British Columbia",
    "MB": "Manitoba",
    "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador",
    "NT": "Northwest Territories",
    "NS": "Nova Scotia",
    "NU": "Nunavut",
    "ON": "Ontario",
    "PE": "Prince Edward Island",
    "QC": "Quebec",
    "SK": "Saskatchewan",
    "YT": "Yukon",
}

# The first day for which every province's and territory's full regime is in `TAX_RATES`
# (Saskatchewan's 6 % PST began then; the row before it is not recorded).
RATES_COMPLETE_FROM = date(2017, 3, 23)


@dataclass(frozen=True, slots=True)
class TaxRate:
    """One tax at one rate in one jurisdiction ("CA" is federal, "CA-ON" a province)."""

    jurisdiction: str
    name: str  # GST, HST, PST, QST or RST: what the receipt calls it
    rate: Decimal
    valid_from: date
    valid_to: date | None  # last day in force, inclusive; None while still in force

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _row(jurisdiction: str, name: str, rate: str, valid_from: str, valid_to: str | None) -> TaxRate:
    return TaxRate(
        jurisdiction=jurisdiction,
        name=name,
        rate=Decimal(rate),
        valid_from=date.fromisoformat(valid_from),
        valid_to=date.fromisoformat(valid_to) if valid_to else None,
    )


# HST rows replace the federal GST in their province (HST is GST plus the provincial part),
# so the engine drops GST wherever an HST row is in force; see `tax.rates_in_force`.
TAX_RATES: tuple[TaxRate, ...] = (
    # Federal GST, everywhere in Canada (5 % since 2008-01-01).
    _row("CA", "GST", "0.05", "2008-01-01", None),
    # Harmonized sales tax provinces.
    _row("CA-ON", "HST", "0.13", "2010-07-01", None),
    _row("CA-NB", "HST", "0.15", "2016-07-01", None),
    _row("CA-NL", "HST", "0.15", "2016-07-01", None),
    _row("CA-PE", "HST", "0.15", "2016-10-01", None),
    _row("CA-NS", "HST", "0.15", "2010-07-01", "2025-03-31"),
    _row("CA-NS", "HST", "0.14", "2025-04-01", None),
    # Provinces with their own sales tax on top of GST, each on the price before GST.
    _row("CA-BC", "PST", "0.07", "2013-04-01", None),
    _row("CA-SK", "PST", "0.06", "2017-03-23", None),
    _row("CA-MB", "RST", "0.08", "2013-07-01", "2019-06-30"),
    _row("CA-MB", "RST", "0.07", "2019-07-01", None),
    _row("CA-QC", "QST", "0.09975", "2013-01-01", None),
    # AB, NT, NU and YT have no provincial or territorial sales tax: GST only.
)
