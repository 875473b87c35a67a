"""`GET /api/orders/{reference}/receipt.pdf`: the printable receipt as a PDF (owner or staff)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from shop.api.deps import DbSession, require_any_permission
from shop.api.params import OrderReference
from shop.services import orders, receipts
from shop.services.auth import CurrentUser as AuthUser
from shop.services.errors import Conflict
from shop.services.receipt_pdf import receipt_pdf

router = APIRouter(tags=["payments"])

READ_OWN = "orders:read_own"
READ_ALL = "orders:read_all"
OrderViewer = Annotated[AuthUser, Depends(require_any_permission(READ_OWN, READ_ALL))]


@router.get(
    "/api/orders/{reference}/receipt.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def receipt_as_pdf(reference: OrderReference, user: OrderViewer, session: DbSession) -> Response:
    order = orders.find_order(
        session=session, reference=reference, user_id=user.id, see_all=user.can(READ_ALL)
    )
    if order.paid_at is None:
        raise Conflict(f"Order {order.number} is not paid; there is no receipt yet.")
    figures = receipts.receipt_figures(session=session, order=order)
    return Response(
        receipt_pdf(figures),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="receipt-{order.number}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
