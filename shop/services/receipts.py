"""The receipt: built from the stored order (never recomputed), emailed once, after commit.

`queue_receipt` is called by fulfilment inside its transaction. It inserts the order's one
`order_emails` row (unique per order and kind, so a second call inserts nothing and sends
nothing) and hands the message to the session, which sends it only once the transaction has
committed and then stamps `sent_at`. A rolled-back fulfilment sends nothing.

A receipt that could not go out then (the mail server was down, the process stopped between
commit and sending) stays owed: `send_unsent_receipts`, run by the `receipts` job, sends it
once it is `RETRY_AFTER` old, so it never races the first attempt.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, update
from sqlmodel import Session, col, select

from shop.db import after_unlock, writer_turn
from shop.models import (
    Order,
    OrderEmail,
    OrderItem,
    OrderStatus,
    OrderTaxLine,
    RefundStatus,
    User,
    utcnow,
)
from shop.services import clock, mail, refunds
from shop.services.money import format_money
from shop.services.tax import tax_line_label
from shop.settings import get_settings

log = logging.getLogger("shop.receipts")
_PENDING_KEY = "shop_pending_receipts"
_LISTENING_KEY = "shop_receipts_listening"
RETRY_AFTER = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Receipt:
    to: str
    subject: str
    text: str
    html: str


def downloads_url() -> str:
    return f"{get_settings().public_url}/account/downloads"


@dataclass(frozen=True, slots=True)
class ReceiptFigures:
    """What every form of the receipt shows (email, page, PDF), read from the stored order."""

    shop_name: str
    order_number: str
    status: str
    paid_on: str | None
    customer_email: str | None
    billing: str
    rows: list[tuple[str, str]]  # (item, amount)
    totals: list[tuple[str, str]]  # subtotal, discount, each tax with its number, total
    total: str
    downloads_url: str
    # Money given back since: ("Refunded 2026-11-30", "-$10.00 CAD"), oldest first.
    refunds: tuple[tuple[str, str], ...] = ()
    refunded_in_full: bool = False  # then its downloads are gone too


def receipt_figures(*, session: Session, order: Order) -> ReceiptFigures:
    settings = get_settings()
    items = session.exec(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)  # type: ignore[arg-type]
    ).all()
    taxes = session.exec(
        select(OrderTaxLine)
        .where(OrderTaxLine.order_id == order.id)
        .order_by(OrderTaxLine.position)  # type: ignore[arg-type]
    ).all()
    currency = order.currency

    def money(amount: int) -> str:
        return format_money(amount, currency)

    rows: list[tuple[str, str]] = []
    for item in items:
        label = (
            item.product_name if item.quantity == 1 else f"{item.product_name} × {item.quantity}"
        )
        rows.append((label, money(item.price_at_time * item.quantity)))
    totals: list[tuple[str, str]] = [("Subtotal", money(order.subtotal_amount))]
    if order.discount_amount:
        totals.append(("Discount", money(-order.discount_amount)))
    for tax in taxes:
        label = tax_line_label(name=tax.name, rate=tax.rate)
        if tax.registration_number:
            label += f" (reg. {tax.registration_number})"
        totals.append((label, money(tax.amount)))
    totals.append(("Total", money(order.total_amount)))
    user = session.get(User, order.user_id) if order.user_id is not None else None
    billing = ", ".join(part for part in (order.billing_region, order.billing_country) if part)
    return ReceiptFigures(
        shop_name=settings.shop_name,
        order_number=order.number or "",
        status=order.status,
        paid_on=clock.format_day(order.paid_at) if order.paid_at else None,
        customer_email=user.email if user else None,
        billing=billing,
        rows=rows,
        totals=totals,
        total=money(order.total_amount),
        downloads_url=downloads_url(),
        refunds=tuple(
            (f"Refunded {r.created_at:%Y-%m-%d}", money(-r.amount))
            for r in refunds.refunds_of(session=session, order_id=order.id)  # type: ignore[arg-type]
            if r.status in RefundStatus.COUNTED
        ),
        refunded_in_full=order.status == OrderStatus.REFUNDED.value,
    )


def closing_line(figures: ReceiptFigures) -> str:
    """Where the files are, or why they are not any more."""
    if figures.refunded_in_full:
        return "Refunded in full: this order's downloads are no longer available."
    return f"Download your files: {figures.downloads_url}"


def build_receipt(*, session: Session, order: Order, to: str) -> Receipt:
    """The receipt of a stored order: number, items, tax lines with the merchant's registration
    numbers, total and where to download."""
    figures = receipt_figures(session=session, order=order)
    rows, totals = figures.rows, figures.totals
    paid_on = figures.paid_on or clock.today().isoformat()
    subject = f"Your {figures.shop_name} receipt for order {order.number}"
    downloads = figures.downloads_url

    width = max(len(label) for label, _ in rows + totals) + 2
    lines = [
        f"Thank you for your order from {figures.shop_name}.",
        "",
        f"Order {order.number} — paid {paid_on}",
        "",
    ]
    lines += [f"{label:<{width}}{amount}" for label, amount in rows]
    lines.append("")
    lines += [f"{label:<{width}}{amount}" for label, amount in totals]
    if figures.refunds:
        lines += [""] + [f"{label:<{width}}{amount}" for label, amount in figures.refunds]
    lines += ["", closing_line(figures), ""]
    text = "\n".join(lines)

    def table(pairs: list[tuple[str, str]], *, bold_last: bool = False) -> str:
        cells = []
        for n, (label, amount) in enumerate(pairs):
            weight = "font-weight:bold;" if bold_last and n == len(pairs) - 1 else ""
            cells.append(
                f'<tr><td style="padding:4px 12px 4px 0;{weight}">{html.escape(label)}</td>'
                f'<td style="padding:4px 0;text-align:right;{weight}">{html.escape(amount)}</td>'
                f"</tr>"
            )
        return "".join(cells)

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>"
        '<body style="font-family:system-ui,sans-serif;color:#1b1b1b">'
        f"<p>Thank you for your order from {html.escape(figures.shop_name)}.</p>"
        f'<h1 style="font-size:20px">Order {html.escape(order.number or "")}</h1>'
        f"<p>Paid {paid_on}</p>"
        f"<table>{table(rows)}</table><hr>"
        f"<table>{table(totals, bold_last=True)}</table>"
        + (f"<table>{table(list(figures.refunds))}</table>" if figures.refunds else "")
        + (
            f"<p>{html.escape(closing_line(figures))}</p>"
            if figures.refunded_in_full
            else f'<p><a href="{html.escape(downloads)}">Download your files</a></p>'
        )
        + "</body></html>"
    )
    return Receipt(to=to, subject=subject, text=text, html=body)


def queue_receipt(*, session: Session, order: Order, now: datetime | None = None) -> bool:
    """Owe the order's receipt (once) and send it after commit; False when already owed."""
    from shop.services.fulfilment import RECEIPT, insert_ignoring_conflicts

    user = session.get(User, order.user_id) if order.user_id is not None else None
    if user is None:
        log.warning("paid order without a customer email", extra={"order_id": order.id})
        return False
    inserted = insert_ignoring_conflicts(
        session,
        OrderEmail,
        {
            "order_id": order.id,
            "kind": RECEIPT,
            "to_address": user.email,
            "created_at": now or utcnow(),
        },
    )
    if not inserted:
        return False
    receipt = build_receipt(session=session, order=order, to=user.email)
    _send_after_commit(session, order.id, receipt)  # type: ignore[arg-type]
    return True


def send_receipt_again(*, session: Session, order: Order, to: str) -> None:
    """Send the order's receipt to `to` after commit (and stamp it sent), e.g. when the
    merchant resends it."""
    _send_after_commit(session, order.id, build_receipt(session=session, order=order, to=to))  # type: ignore[arg-type]


def send_unsent_receipts(*, session: Session, now: datetime | None = None, limit: int = 100) -> int:
    """Send the receipts still owed at least `RETRY_AFTER` after they were queued (after
    commit, each stamped when it has gone); returns how many were tried."""
    from shop.services.fulfilment import RECEIPT

    cutoff = (now or utcnow()) - RETRY_AFTER
    owed = session.exec(
        select(OrderEmail)
        .where(
            OrderEmail.kind == RECEIPT,
            col(OrderEmail.sent_at).is_(None),
            col(OrderEmail.created_at) <= cutoff,
        )
        .order_by(col(OrderEmail.id))
        .limit(limit)
    ).all()
    for row in owed:
        order = session.get(Order, row.order_id)
        if order is not None:
            send_receipt_again(session=session, order=order, to=row.to_address)
    return len(owed)


def _send_after_commit(session: Session, order_id: int, receipt: Receipt) -> None:
    # Listeners stay for the session's life: removing one while SQLAlchemy runs it would fail.
    if not session.info.get(_LISTENING_KEY):
        session.info[_LISTENING_KEY] = True
        event.listen(session, "after_commit", _flush)
        event.listen(session, "after_rollback", _drop)
    session.info.setdefault(_PENDING_KEY, []).append((order_id, receipt))


def _flush(session: Session) -> None:
    pending: list[tuple[int, Receipt]] = session.info.pop(_PENDING_KEY, [])
    if pending:
        bind = session.get_bind()
        after_unlock(session, lambda: _send(bind, pending))


def _send(bind: Any, pending: list[tuple[int, Receipt]]) -> None:
    for order_id, receipt in pending:
        try:
            mail.send_mail(
                mail.Mail(
                    to=receipt.to, subject=receipt.subject, text=receipt.text, html=receipt.html
                )
            )
        except Exception:  # committed already: the unsent row stays for a resend
            log.exception("sending the receipt failed", extra={"order_id": order_id})
            continue
        try:
            with writer_turn(bind), Session(bind) as stamp:
                stamp.execute(
                    update(OrderEmail)
                    .where(col(OrderEmail.order_id) == order_id, col(OrderEmail.kind) == "receipt")
                    .values(sent_at=utcnow())
                )
                stamp.commit()
        except Exception:
            log.exception("could not record the sent receipt", extra={"order_id": order_id})


def _drop(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
