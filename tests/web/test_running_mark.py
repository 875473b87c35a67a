"""The production app marks its data dir as in use while it serves, so a restore waits."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from shop.services import backups


def test_the_app_marks_its_data_dir_in_use_while_it_serves(
    shop_env: Path, web_app, fake_build: Path, monkeypatch: pytest.MonkeyPatch
):
    # given the production app, not yet started
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(fake_build.parent.parent))
    assert not backups.shop_is_running()

    # when it starts serving, then the data dir is in use; when it stops, no longer
    with TestClient(web_app, base_url="http://shop.test") as client:
        assert client.get("/api/health").status_code == 200
        assert backups.shop_is_running()
    assert not backups.shop_is_running()
