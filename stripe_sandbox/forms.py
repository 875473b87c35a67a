"""Decode form bodies with Stripe's bracket notation into nested dicts and lists."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = 12
MAX_PAIRS = 5000


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    if len(pairs) > MAX_PAIRS:
        raise invalid_request("Too many parameters in the request.")
    for raw_key, value in pairs:
        m = _KEY.match(raw_key)
        if not m:
            raise invalid_request(f"Invalid parameter name: {raw_key[:80]}", param=raw_key[:80])
        parts = [m.group(1), *_PART.findall(m.group(2))]
        if len(parts) > MAX_DEPTH:
            raise invalid_request("Parameters are nested too deeply.", param=parts[0])
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[] appends
                if not isinstance(node, dict):
                    raise invalid_request(f"Invalid array: {raw_key[:80]}", param=parts[0])
                part = str(_next_index(node))
            if not isinstance(node, dict):
                raise invalid_request(
                    f"Invalid parameter structure: {raw_key[:80]}", param=parts[0]
                )
            if last:
                if part in node and isinstance(node[part], dict):
                    raise invalid_request(
                        f"Invalid parameter structure: {raw_key[:80]}", param=parts[0]
                    )
                node[part] = value
            else:
                nxt = node.get(part)
                if nxt is None:
                    nxt = node[part] = {}
                elif not isinstance(nxt, dict):
                    if nxt == "":
                        nxt = node[part] = {}
                    else:
                        raise invalid_request(
                            f"Invalid parameter structure: {raw_key[:80]}", param=parts[0]
                        )
                node = nxt
    return {k: _listify(v) for k, v in root.items()}


def _next_index(node: dict[str, Any]) -> int:
    n = 0
    while str(n) in node:
        n += 1
    return n


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all 0..n-1 into lists."""
    if isinstance(node, dict):
        conv = {k: _listify(v) for k, v in node.items()}
        if conv and all(k.isdigit() for k in conv):
            idx = sorted(int(k) for k in conv)
            if idx == list(range(len(idx))):
                return [conv[str(i)] for i in idx]
        return conv
    return node


def parse_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_request("Request body is not valid UTF-8.") from exc
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise invalid_request("Invalid request body.") from exc
    return parse_pairs(pairs)


def parse_query(qs: str) -> dict[str, Any]:
    if not qs:
        return {}
    return parse_pairs(parse_qsl(qs, keep_blank_values=True))
