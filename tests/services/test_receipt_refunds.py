"""A receipt read after a refund shows it: on the page, in the PDF and in a mail sent again.
Refunded in full, it no longer points at downloads that are gone."""

from __future__ import annotations

import re
import zlib

from sqlmodel import Session

from shop.models import Order
from shop.services import receipts, refunds
from shop.services.receipt_pdf import receipt_pdf
from shop.services.stripe_api import RefundInfo
from tests.download_factories import make_purchase
from tests.factories import make_user


def _refund(session: Session, order: Order, amount: int, refund_id: str) -> None:
    refunds.record_refund(
        session=session,
        refund=RefundInfo(
            id=refund_id,
            amount=amount,
            currency=order.currency,
            status="succeeded",
            payment_intent_id=order.stripe_payment_intent_id,
            charge_id=None,
            reason=None,
            metadata={},
            created=1_795_000_000,  # 2026-11-18
        ),
    )
    session.refresh(order)


def _pdf_text(data: bytes) -> str:
    """The page contents, inflated where they are compressed."""

    def inflate(stream: bytes) -> bytes:
        try:
            return zlib.decompress(stream)
        except zlib.error:
            return stream

    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S)
    return b"".join(inflate(s) for s in streams).decode("latin-1")


def test_a_partly_refunded_order_lists_its_refund_and_keeps_its_downloads(session: Session):
    # given a paid order of $22.60, $5.00 of it refunded
    order = make_purchase(session, make_user(session)).order
    _refund(session, order, 500, "re_part")
    # when its receipt is read
    figures = receipts.receipt_figures(session=session, order=order)
    mail = receipts.build_receipt(session=session, order=order, to="buyer@example.com")
    # then the refund is listed after the total, and the downloads are still offered
    assert figures.refunds == (("Refunded 2026-11-18", "-$5.00 CAD"),)
    assert figures.refunded_in_full is False
    assert "Refunded 2026-11-18" in mail.text
    assert "Download your files:" in mail.text
    assert "Refunded 2026-11-18" in _pdf_text(receipt_pdf(figures))


def test_a_fully_refunded_order_says_so_instead_of_offering_downloads(session: Session):
    # given a paid order refunded in full
    order = make_purchase(session, make_user(session)).order
    _refund(session, order, order.total_amount, "re_all")
    # when its receipt is read, as a PDF and as a mail sent again
    figures = receipts.receipt_figures(session=session, order=order)
    pdf = _pdf_text(receipt_pdf(figures))
    mail = receipts.build_receipt(session=session, order=order, to="buyer@example.com")
    # then each says the downloads are gone, and none offers them
    gone = "Refunded in full: this order's downloads are no longer available."
    assert figures.refunded_in_full is True
    assert gone in pdf
    assert "Download your files" not in pdf
    assert gone in mail.text
    assert "Download your files" not in mail.html
