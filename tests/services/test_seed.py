import io
import wave
import zipfile
from pathlib import Path

from sqlmodel import Session, select

from shop.models import Category, Product, ProductFile
from shop.services import sample_files, storage
from shop.services.seed import seed_demo


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
