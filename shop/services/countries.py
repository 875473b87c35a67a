"""Countries by their ISO 3166-1 alpha-2 code (the codes Stripe and the billing address use),
from the pycountry package's copy of the ISO standard."""

from __future__ import annotations

from functools import cache

import pycountry

HOME = "CA"  # listed first: most of the shop's buyers are Canadian


@cache
def country_names() -> dict[str, str]:
    """Code → common name, the home country first and the rest by name."""
    names = {
        country.alpha_2: getattr(country, "common_name", None) or country.name
        for country in pycountry.countries
    }
    ordered = sorted(names.items(), key=lambda item: item[1])
    return {HOME: names[HOME], **{code: name for code, name in ordered if code != HOME}}


def is_country(code: str) -> bool:
    return code in country_names()
