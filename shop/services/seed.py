"""The demo catalog that `make seed` (and `make run`) puts in an empty shop; safe to re-run."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from shop.models import Category, Product, ProductFile, ProductKind
from shop.services import sample_files, storage
from shop.services.permissions import ensure_roles
from shop.settings import get_settings


@dataclass(frozen=True)
class DemoProduct:
    slug: str
    name: str
    category: str
    price: int
    description: str
    file_name: str
    colors: tuple[str, str]
    kind: str = ProductKind.ONE_TIME.value
    interval: str | None = None
    featured: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    # For a description longer than search engines show (products_admin.SEO_DESCRIPTION_MAX).
    seo_description: str | None = None

    @property
    def seo_text(self) -> str:
        return self.seo_description or self.description


DEMO_CATEGORIES = [
    ("guides", "Guides & E-books"),
    ("templates", "Templates & Tools"),
    ("audio", "Audio & Music"),
    ("memberships", "Memberships"),
]

DEMO_PRODUCTS = [
    DemoProduct(
        "small-batch-bakers-handbook",
        "The Small-Batch Baker's Handbook",
        "guides",
        1999,
        "Forty tested recipes scaled for one loaf, six rolls or a single pie. "
        "Weights in grams, timings for a home oven, and a troubleshooting chapter for "
        "dense crumbs and pale crusts.",
        "small-batch-bakers-handbook.pdf",
        ("#9a3412", "#f59e0b"),
        featured=True,
        seo_description="Forty tested recipes scaled for one loaf, six rolls or a single pie, "
        "with weights in grams and fixes for dense crumbs and pale crusts.",
    ),
    DemoProduct(
        "freelancer-tax-primer",
        "Canadian Freelancer Tax Primer",
        "guides",
        1499,
        "A plain-language guide to GST/HST registration, quarterly instalments, "
        "deductible expenses and record keeping for self-employed Canadians.",
        "freelancer-tax-primer.pdf",
        ("#1e3a8a", "#38bdf8"),
        featured=True,
    ),
    DemoProduct(
        "paddlers-guide-georgian-bay",
        "Paddler's Guide to Georgian Bay",
        "guides",
        2400,
        "Routes, campsites and put-ins for twelve multi-day canoe and kayak trips, "
        "with wind notes and emergency exits for each leg.",
        "paddlers-guide-georgian-bay.pdf",
        ("#065f46", "#34d399"),
    ),
    DemoProduct(
        "invoice-quote-template-pack",
        "Invoice & Quote Template Pack",
        "templates",
        1200,
        "Twelve clean invoice, quote and receipt templates with GST/HST and QST lines "
        "ready to fill in, as editable text and CSV files.",
        "invoice-quote-template-pack.zip",
        ("#334155", "#94a3b8"),
        featured=True,
    ),
    DemoProduct(
        "household-budget-kit",
        "Household Budget Planner Kit",
        "templates",
        900,
        "A month-by-month budget, a debt snowball tracker and a sinking-funds sheet, "
        "as CSV files that open in any spreadsheet.",
        "household-budget-kit.zip",
        ("#7c2d12", "#fb923c"),
    ),
    DemoProduct(
        "wedding-stationery-kit",
        "Wedding Stationery Design Kit",
        "templates",
        2500,
        "Invitation, RSVP, menu and place-card layouts with a matching colour palette "
        "and wording samples in English and French.",
        "wedding-stationery-kit.zip",
        ("#831843", "#f9a8d4"),
    ),
    DemoProduct(
        "northern-lights-ambient-loops",
        "Northern Lights Ambient Loops",
        "audio",
        2900,
        "Slow evolving pads and chimes for videos, podcasts and games, royalty-free "
        "for commercial use.",
        "northern-lights-ambient-loops.wav",
        ("#312e81", "#22d3ee"),
        featured=True,
    ),
    DemoProduct(
        "morning-birdsong-recording",
        "Morning Birdsong Field Recording",
        "audio",
        750,
        "A dawn chorus recorded at the edge of a Laurentian lake: warblers, "
        "white-throated sparrows and a distant loon.",
        "morning-birdsong-recording.wav",
        ("#14532d", "#bef264"),
    ),
    DemoProduct(
        "guided-morning-meditation",
        "Guided Meditation for Busy Mornings",
        "audio",
        1100,
        "Three short guided sessions of five, ten and fifteen minutes to start the "
        "day calm and focused.",
        "guided-morning-meditation.wav",
        ("#4c1d95", "#c4b5fd"),
    ),
    DemoProduct(
        "maple-club-monthly",
        "Maple Club — Monthly",
        "memberships",
        900,
        "Every new guide, template and recording the month it comes out, plus the "
        "members' archive.",
        "maple-club-welcome.txt",
        ("#b91c1c", "#fca5a5"),
        kind=ProductKind.SUBSCRIPTION.value,
        interval="month",
    ),
    DemoProduct(
        "maple-club-yearly",
        "Maple Club — Yearly",
        "memberships",
        9000,
        "Everything in the monthly membership, with two months free over the year.",
        "maple-club-welcome.txt",
        ("#991b1b", "#fde68a"),
        kind=ProductKind.SUBSCRIPTION.value,
        interval="year",
    ),
]


def _sample_file(product: DemoProduct) -> bytes:
    name = product.file_name
    if name.endswith(".pdf"):
        return sample_files.make_pdf(
            product.name,
            [
                "Sample edition shipped with the demo shop.",
                *[product.description[i : i + 80] for i in range(0, len(product.description), 80)],
            ],
        )
    if name.endswith(".zip"):
        return sample_files.make_zip(
            {
                "README.txt": f"{product.name}\n\n{product.description}\n".encode(),
                "template-1.csv": b"item,quantity,unit price,GST/HST\nConsulting,1,100.00,13.00\n",
                "template-2.csv": b"month,income,expenses\nJanuary,4200,3650\n",
            }
        )
    if name.endswith(".wav"):
        return sample_files.make_wav(seconds=3.0, notes=[261.63, 329.63, 392.0, 523.25])
    return f"Welcome to {product.name}!\n\n{product.description}\n".encode()


def _write_cover(product: DemoProduct, category_name: str) -> str:
    relative = f"products/{product.slug}.webp"
    path = get_settings().media_dir() / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample_files.make_cover(product.name, category_name, product.colors))
    return relative


def seed_demo(*, session: Session) -> int:
    """Create what is missing of the demo catalog; returns how many products were added."""
    ensure_roles(session=session)
    categories = {c.slug: c for c in session.exec(select(Category)).all()}
    for position, (slug, name) in enumerate(DEMO_CATEGORIES):
        if slug not in categories:
            categories[slug] = Category(slug=slug, name=name, position=position)
            session.add(categories[slug])
    session.flush()

    added = 0
    for demo in DEMO_PRODUCTS:
        product = session.exec(select(Product).where(Product.slug == demo.slug)).first()
        category = categories[demo.category]
        if product is None:
            product = Product(
                slug=demo.slug,
                name=demo.name,
                description=demo.description,
                price_amount=demo.price,
                currency="cad",
                kind=demo.kind,
                interval=demo.interval,
                category_id=category.id,
                is_featured=demo.featured,
                seo_description=demo.seo_text,
            )
            session.add(product)
            session.flush()
            added += 1
        elif product.seo_description == demo.description != demo.seo_text:
            # Shops seeded before the SEO text was shortened could not save this product.
            product.seo_description = demo.seo_text
            session.add(product)
        if product.image_path is None:
            product.image_path = _write_cover(demo, category.name)
            session.add(product)
        has_file = session.exec(
            select(ProductFile.id).where(ProductFile.product_id == product.id)
        ).first()
        if has_file is None:
            stored = storage.store_bytes(_sample_file(demo), suffix="")
            session.add(
                ProductFile(
                    product_id=product.id or 0,
                    storage_key=stored.key,
                    original_name=demo.file_name,
                    content_type=_content_type(demo.file_name),
                    size_bytes=stored.size_bytes,
                    sha256=stored.sha256,
                )
            )
    session.flush()
    return added


def _content_type(file_name: str) -> str:
    return {
        ".pdf": "application/pdf",
        ".zip": "application/zip",
        ".wav": "audio/wav",
        ".txt": "text/plain; charset=utf-8",
    }[file_name[file_name.rindex(".") :]]
