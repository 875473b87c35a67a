"""The receipt as a PDF (fpdf2, pure Python), from the same figures as the email and the page.

The built-in PDF fonts cover Latin-1 only: other characters (e.g. in a product name) are
written as their closest Latin-1 form (`latin1.to_latin1`) rather than failing.
"""

from __future__ import annotations

from fpdf import FPDF

from shop.services.latin1 import to_latin1 as _latin1
from shop.services.receipts import ReceiptFigures, closing_line


def receipt_pdf(figures: ReceiptFigures) -> bytes:
    """A one-page (or more) A4 receipt: shop, order number, date, items, tax lines, total."""
    pdf = FPDF(format="A4")
    # Uncompressed: a receipt is a few kB either way, and its text stays searchable as is.
    pdf.set_compression(False)
    pdf.set_title(_latin1(f"Receipt {figures.order_number}"))
    pdf.set_author(_latin1(figures.shop_name))
    pdf.set_creator("shop")
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(width, 10, _latin1(figures.shop_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(
        width,
        7,
        _latin1(f"Receipt for order {figures.order_number}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    details = []
    if figures.paid_on:
        details.append(f"Paid {figures.paid_on}")
    if figures.customer_email:
        details.append(f"Customer: {figures.customer_email}")
    if figures.billing:
        details.append(f"Billing: {figures.billing}")
    for line in details:
        pdf.cell(width, 6, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def row(label: str, amount: str, *, bold: bool = False) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", 11)
        pdf.multi_cell(width * 0.72, 7, _latin1(label), new_x="RIGHT", new_y="TOP")
        pdf.multi_cell(width * 0.28, 7, _latin1(amount), align="R", new_x="LMARGIN", new_y="NEXT")

    for label, amount in figures.rows:
        row(label, amount)
    pdf.ln(2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(2)
    for n, (label, amount) in enumerate(figures.totals):
        row(label, amount, bold=n == len(figures.totals) - 1)
    if figures.refunds:
        pdf.ln(2)
        for label, amount in figures.refunds:
            row(label, amount)
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(width, 6, _latin1(closing_line(figures)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
