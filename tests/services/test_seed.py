import io
import wave
import zipfile
from pathlib import Path

from sqlmodel import Session, col, select

from shop.models import Category, Product, ProductFile
from shop.services import products_admin, sample_files, storage
from shop.services.errors import ShopError
from shop.services.product_form import form_values, parse_form
from shop.services.seed import DEMO_PRODUCTS, seed_demo


def test_seed_builds_the_demo_catalog_once(session: Session, shop_env: Path):
    # when the demo seed runs twice
    first = seed_demo(session=session)
    second = seed_demo(session=session)
    # then the catalog is there once: 8+ products in 3+ categories, 2 subscription plans
    products = session.exec(select(Product)).all()
    assert first == len(products)
    assert second == 0
    assert len([p for p in products if p.kind == "one_time"]) >= 8
    assert {p.interval for p in products if p.kind == "subscription"} == {"month", "year"}
    assert len(session.exec(select(Category)).all()) >= 3
    assert all(p.currency == "cad" and p.price_amount > 0 for p in products)
    files = session.exec(select(ProductFile)).all()
    assert len(files) == len(products)


def test_seeded_files_are_real_documents(session: Session, shop_env: Path):
    seed_demo(session=session)
    kinds = set()
    for row in session.exec(select(ProductFile)).all():
        data = storage.read_bytes(row.storage_key)
        assert len(data) == row.size_bytes > 0
        if row.original_name.endswith(".pdf"):
            assert data.startswith(b"%PDF-1.4")
            assert data.rstrip().endswith(b"%%EOF")
        elif row.original_name.endswith(".zip"):
            assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
        elif row.original_name.endswith(".wav"):
            with wave.open(io.BytesIO(data)) as audio:
                assert audio.getnframes() > 22_050
        kinds.add(row.original_name.rsplit(".", 1)[1])
        # stored outside the public media folder, under a generated name
        assert row.original_name not in row.storage_key
        assert storage.path_for(row.storage_key).is_relative_to(shop_env / "files")
    assert {"pdf", "zip", "wav"} <= kinds


def test_seeded_products_have_cover_images(session: Session, shop_env: Path):
    seed_demo(session=session)
    for product in session.exec(select(Product)).all():
        assert product.image_path
        cover = shop_env / "media" / product.image_path
        assert cover.read_bytes()[8:12] == b"WEBP"


def test_a_cover_title_with_typographic_dashes_and_quotes_prints_as_plain_ones():
    # given a product name with a long dash and a curly apostrophe, which the built-in font lacks
    # when its cover is drawn
    fancy = sample_files.make_cover("Maple Club — Baker’s", "Memberships", ("#aa3311", "#331111"))
    # then it is the cover of the same name in plain characters (no boxes for missing glyphs)
    plain = sample_files.make_cover("Maple Club - Baker's", "Memberships", ("#aa3311", "#331111"))
    assert fancy == plain


def test_every_seeded_product_can_be_saved_unchanged_from_the_admin_form(
    session: Session, shop_env: Path
):
    # given the demo catalog
    seed_demo(session=session)
    session.commit()
    products = session.exec(select(Product).order_by(col(Product.id))).all()
    for product in products:
        assert product.id is not None
        # when the owner opens its edit form and presses "Save changes" without typing
        category = products_admin.product_category(session=session, product=product)
        parsed = parse_form(form_values(product, category))
        # then the form and the product rules accept every seeded field
        assert parsed.errors == {}, product.slug
        try:
            products_admin.update_product(
                session=session, product_id=product.id, fields=parsed.fields
            )
        except ShopError as exc:
            raise AssertionError(f"{product.slug}: {exc.field}: {exc.message}") from exc
    assert len(products) == len(DEMO_PRODUCTS)


def test_reseeding_shortens_an_seo_description_seeded_too_long_and_keeps_the_owners(
    session: Session, shop_env: Path
):
    # given a shop seeded when the first demo product's SEO text was its whole description,
    # and a second demo product whose SEO text the owner rewrote
    seed_demo(session=session)
    first, second = DEMO_PRODUCTS[0], DEMO_PRODUCTS[1]
    assert len(first.description) > products_admin.SEO_DESCRIPTION_MAX
    old = session.exec(select(Product).where(Product.slug == first.slug)).one()
    old.seo_description = first.description
    edited = session.exec(select(Product).where(Product.slug == second.slug)).one()
    edited.seo_description = "The owner's words."
    session.add_all([old, edited])
    session.flush()
    # when the seed runs again
    seed_demo(session=session)
    # then the too-long text is replaced by one the product rules accept, the owner's kept
    session.refresh(old)
    session.refresh(edited)
    assert old.seo_description == first.seo_text
    assert len(old.seo_description) <= products_admin.SEO_DESCRIPTION_MAX
    assert edited.seo_description == "The owner's words."
