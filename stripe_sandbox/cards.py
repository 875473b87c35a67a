"""Stripe's test cards and test PaymentMethod ids, with the behaviour of each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    # When the card asks for 3-D Secure: "ok" (never); "decline" (never; charges fail with
    # decline_code); "3ds" (on session; off-session payments go through); "3ds_unless_setup"
    # (always, except off-session once the card was set up for future use); "3ds_always"
    # (always; off-session payments fail with authentication_required)
    behavior: str = "ok"
    # Charges fail with this code (after authentication, for the 3-D Secure kinds).
    decline_code: str | None = None
    # Attaching runs a card check that the issuer declines; some cards only decline charges.
    attach_declines: bool = True
    # Radar's verdict: "highest" makes the block an outcome of type "blocked".
    risk_level: str = "normal"

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


CARDS: dict[str, Card] = {
    c.number: c
    for c in [
        Card("4242424242424242", "visa"),
        Card("4000056655665556", "visa", funding="debit"),
        Card("5555555555554444", "mastercard"),
        Card("2223003122003222", "mastercard"),
        Card("5200828282828210", "mastercard", funding="debit"),
        Card("378282246310005", "amex"),
        Card("6011111111111117", "discover"),
        Card("4000001240000000", "visa", country="CA"),
        Card("5105105105105100", "mastercard", funding="prepaid"),
        Card("3566002020360505", "jcb", country="JP"),
        Card("6200000000000005", "unionpay", country="CN"),
        Card("3056930009020004", "diners"),
        Card("4000000000000002", "visa", behavior="decline", decline_code="generic_decline"),
        Card("4000000000009995", "visa", behavior="decline", decline_code="insufficient_funds"),
        Card("4000000000009987", "visa", behavior="decline", decline_code="lost_card"),
        Card("4000000000009979", "visa", behavior="decline", decline_code="stolen_card"),
        Card("4000000000000069", "visa", behavior="decline", decline_code="expired_card"),
        Card("4000000000000127", "visa", behavior="decline", decline_code="incorrect_cvc"),
        Card("4000000000000119", "visa", behavior="decline", decline_code="processing_error"),
        Card(
            "4000000000000341",
            "visa",
            behavior="decline",
            decline_code="generic_decline",
            attach_declines=False,
        ),
        Card("4000000000006975", "visa", behavior="decline", decline_code="card_velocity_exceeded"),
        # Radar blocks these before the issuer sees them; a card check on attach passes.
        Card(
            "4100000000000019",
            "visa",
            behavior="decline",
            decline_code="fraudulent",
            attach_declines=False,
            risk_level="highest",
        ),
        Card(
            "4000000000004954",
            "visa",
            behavior="decline",
            decline_code="fraudulent",
            attach_declines=False,
            risk_level="highest",
        ),
        Card("4000002500003155", "visa", behavior="3ds_unless_setup"),
        Card("4000002760003184", "visa", behavior="3ds_always"),
        Card("4000000000003063", "visa", behavior="3ds_always"),
        Card("4000008260003178", "visa", behavior="3ds_always", decline_code="insufficient_funds"),
        Card("4000000000003220", "visa", behavior="3ds_always"),
        Card("4000003800000446", "visa", behavior="3ds"),
    ]
}

TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_us": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_mastercard_debit": "5200828282828210",
    "pm_card_mastercard_prepaid": "5105105105105100",
    "pm_card_jcb": "3566002020360505",
    "pm_card_unionpay": "6200000000000005",
    "pm_card_diners": "3056930009020004",
    "pm_card_amex": "378282246310005",
    "pm_card_discover": "6011111111111117",
    "pm_card_ca": "4000001240000000",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_visa_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_visa_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedFraudulent": "4100000000000019",
    "pm_card_radarBlock": "4100000000000019",
    "pm_card_riskLevelHighest": "4000000000004954",
    "pm_card_chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_threeDSecureRequired": "4000000000003063",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
}
# tok_visa, tok_chargeDeclined, ... (card[token]=tok_...)
TEST_TOKENS: dict[str, str] = {
    "tok_" + k[len("pm_card_") :]: v for k, v in TEST_PAYMENT_METHODS.items()
}

DECLINES: dict[str, tuple[str, str]] = {
    # decline_code: (error code, message)
    "generic_decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "lost_card": ("card_declined", "Your card was declined."),
    "fraudulent": ("card_declined", "Your card was declined."),
    "card_velocity_exceeded": (
        "card_declined",
        "Your card was declined for making repeated attempts too frequently or exceeding its "
        "amount limit.",
    ),
    "stolen_card": ("card_declined", "Your card was declined."),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "processing_error": (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "authentication_required": (
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_for_number(number: str) -> Card | None:
    number = number.replace(" ", "").replace("-", "")
    if number in CARDS:
        return CARDS[number]
    if not luhn_ok(number):
        return None
    brand = "unknown"
    if number.startswith("4"):
        brand = "visa"
    elif number[:2] in ("51", "52", "53", "54", "55") or number[:2] == "22":
        brand = "mastercard"
    elif number[:2] in ("34", "37"):
        brand = "amex"
    elif number.startswith("6011"):
        brand = "discover"
    elif number[:2] == "35":
        brand = "jcb"
    elif number[:2] in ("30", "36", "38"):
        brand = "diners"
    elif number[:2] == "62":
        brand = "unionpay"
    return Card(number, brand)
