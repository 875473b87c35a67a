"""Every setting is documented where operators look: .env.example and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

from shop.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _undocumented(text: str) -> list[str]:
    return [
        name.upper()
        for name in Settings.model_fields
        if not re.search(rf"(?<![A-Z_]){name.upper()}(?![A-Z_])", text)
    ]


def test_every_setting_is_in_env_example():
    # given the settings object and the example environment file
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    # when each setting is looked up, then none is missing
    assert _undocumented(text) == []


def test_every_setting_is_in_the_readme_table():
    # given the README's configuration table
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in readme.splitlines() if line.startswith("| `"))
    # when each setting is looked up, then none is missing
    assert _undocumented(table) == []


def test_the_production_env_example_names_only_real_settings():
    # given the deployment's example settings file
    text = (ROOT / "deploy" / "leaseweb" / "shop.env.example").read_text(encoding="utf-8")
    assigned = re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE)
    # when each name is looked up among the settings, then every one is a setting
    known = {name.upper() for name in Settings.model_fields}
    assert assigned
    assert [name for name in assigned if name not in known] == []


def test_the_deployment_guide_subscribes_the_webhook_to_every_handled_event():
    # given the deployment guide's list of webhook events and the shop's dispatch table
    from shop.services.webhooks import HANDLERS

    guide = (ROOT / "deploy" / "leaseweb" / "README.md").read_text(encoding="utf-8")
    listed = re.search(
        r"<!-- webhook-events: begin -->(.*?)<!-- webhook-events: end -->", guide, re.DOTALL
    )
    assert listed is not None
    # when the events are read from it
    events = re.findall(r"^\s*- `([a-z_.]+)`\s*$", listed.group(1), re.MULTILINE)
    # then they are exactly the types the shop acts on, each once
    assert sorted(events) == sorted(HANDLERS)
    assert len(events) == len(set(events))
