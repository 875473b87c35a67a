"""Search endpoints (`GET /v1/<resource>/search`) with Stripe's search query language.

Clauses are `field:value` (exact, case-insensitive), `field~"value"` (substring, 3+
characters), `field>value` / `<` / `>=` / `<=` (numbers), `-` in front negates,
`metadata["key"]:"value"`, `field:null`; clauses join with `AND` or with `OR` (not both), at
most 10. Results are newest first; `page` takes the `next_page` of the previous answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .core import Ctx, as_int, render
from .errors import invalid_request
from .resources import route

# resource -> (object type, url, searchable fields: name -> path in the object)
_RESOURCES: dict[str, tuple[str, dict[str, str]]] = {
    "customers": (
        "customer",
        {"created": "created", "email": "email", "name": "name", "phone": "phone"},
    ),
    "products": (
        "product",
        {
            "active": "active",
            "created": "created",
            "description": "description",
            "name": "name",
            "shippable": "shippable",
            "url": "url",
        },
    ),
    "prices": (
        "price",
        {
            "active": "active",
            "currency": "currency",
            "lookup_key": "lookup_key",
            "product": "product",
            "type": "type",
            "created": "created",
        },
    ),
    "payment_intents": (
        "payment_intent",
        {
            "amount": "amount",
            "created": "created",
            "currency": "currency",
            "customer": "customer",
            "status": "status",
        },
    ),
    "charges": (
        "charge",
        {
            "amount": "amount",
            "billing_details.address.postal_code": "billing_details.address.postal_code",
            "created": "created",
            "currency": "currency",
            "customer": "customer",
            "disputed": "disputed",
            "payment_method_details.card.last4": "payment_method_details.card.last4",
            "payment_method_details.card.brand": "payment_method_details.card.brand",
            "payment_method_details.card.exp_month": "payment_method_details.card.exp_month",
            "payment_method_details.card.exp_year": "payment_method_details.card.exp_year",
            "payment_method_details.card.fingerprint": "payment_method_details.card.fingerprint",
            "payment_intent": "payment_intent",
            "refunded": "refunded",
            "status": "status",
        },
    ),
    "subscriptions": (
        "subscription",
        {"created": "created", "status": "status", "canceled_at": "canceled_at"},
    ),
    "invoices": (
        "invoice",
        {
            "created": "created",
            "currency": "currency",
            "customer": "customer",
            "number": "number",
            "receipt_number": "receipt_number",
            "status": "status",
            "subscription": "subscription",
            "total": "total",
        },
    ),
}

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?
    (?P<field>metadata\[\s*(?P<mq>["'])(?P<mkey>.*?)(?P=mq)\s*\]|[a-z_][a-z0-9_.]*)
    \s*(?P<op>:|~|>=|<=|>|<)\s*
    (?:(?P<q>["'])(?P<qval>(?:\\.|(?!(?P=q)).)*)(?P=q)|(?P<val>[^\s"']+))""",
    re.X,
)
MAX_CLAUSES = 10


def _syntax_error(query: str, detail: str) -> Exception:
    return invalid_request(
        f"We were unable to parse your search query. {detail} Query: {query[:200]}",
        param="query",
        code="parameter_invalid",
    )


def _lookup(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
        if isinstance(cur, dict) and "id" in cur and part in ("customer", "product"):
            cur = cur["id"]
    return cur


def _as_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _compile(resource: str, query: str) -> Callable[[dict[str, Any]], bool]:
    _, fields = _RESOURCES[resource]
    q = query.strip()
    if not q:
        raise _syntax_error(query, "The query is empty.")
    clauses: list[Callable[[dict[str, Any]], bool]] = []
    joins: set[str] = set()
    pos = 0
    while True:
        m = _CLAUSE.match(q, pos)
        if not m:
            raise _syntax_error(query, f"Unexpected input at position {pos}.")
        clauses.append(_clause(resource, fields, m))
        pos = m.end()
        rest = q[pos:]
        if not rest.strip():
            break
        j = re.match(r"\s+(AND|OR)\s+", rest)
        if not j:
            raise _syntax_error(query, "Clauses must be joined with AND or OR.")
        joins.add(j.group(1))
        pos += j.end()
    if len(joins) > 1:
        raise invalid_request(
            "Search queries may not mix AND and OR.", param="query", code="parameter_invalid"
        )
    if len(clauses) > MAX_CLAUSES:
        raise invalid_request(
            f"Search queries can have at most {MAX_CLAUSES} clauses.",
            param="query",
            code="parameter_invalid",
        )
    if joins == {"OR"}:
        return lambda o: any(c(o) for c in clauses)
    return lambda o: all(c(o) for c in clauses)


def _clause(
    resource: str, fields: dict[str, str], m: re.Match[str]
) -> Callable[[dict[str, Any]], bool]:
    field, op = m.group("field"), m.group("op")
    quoted = m.group("q") is not None
    value = m.group("qval") if quoted else m.group("val")
    value = re.sub(r"\\(.)", r"\1", value or "")
    negate = bool(m.group("neg"))
    if m.group("mkey") is not None:
        key = m.group("mkey")

        def get(o: dict[str, Any]) -> Any:
            return (o.get("metadata") or {}).get(key)

    else:
        if field not in fields:
            raise invalid_request(
                f"Field `{field}` is an unsupported search field for resource `{resource}`. "
                f"See http://stripe.com/docs/search#query-fields-for-{resource.replace('_', '-')} "
                "for a list of supported fields.",
                param="query",
                code="parameter_invalid",
            )
        path = fields[field]

        def get(o: dict[str, Any]) -> Any:
            return _lookup(o, path)

    if op == ":":
        if value == "null" and not quoted:

            def test(o: dict[str, Any]) -> bool:
                return get(o) in (None, "")

        else:
            want = value.lower()

            def test(o: dict[str, Any]) -> bool:
                return _as_text(get(o)).lower() == want

    elif op == "~":
        if len(value) < 3:
            raise invalid_request(
                "Substring matching (`~`) needs at least 3 characters.",
                param="query",
                code="parameter_invalid",
            )
        want = value.lower()

        def test(o: dict[str, Any]) -> bool:
            return want in _as_text(get(o)).lower()

    else:
        try:
            number = float(value)
        except ValueError:
            raise invalid_request(
                f"`{op}` compares numbers; `{value[:40]}` is not one.",
                param="query",
                code="parameter_invalid",
            ) from None
        cmp = {
            ">": lambda a: a > number,
            "<": lambda a: a < number,
            ">=": lambda a: a >= number,
            "<=": lambda a: a <= number,
        }[op]

        def test(o: dict[str, Any]) -> bool:
            v = get(o)
            return isinstance(v, int | float) and not isinstance(v, bool) and cmp(v)

    if negate:
        return lambda o: not test(o)
    return test


def _search(ctx: Ctx, resource: str) -> dict[str, Any]:
    type_, _ = _RESOURCES[resource]
    query = ctx.p("query")
    if query in (None, ""):
        raise invalid_request(
            "Missing required param: query.", param="query", code="parameter_missing"
        )
    match = _compile(resource, str(query))
    limit = as_int(ctx.p("limit"), "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise invalid_request(
            "Invalid limit: must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    page = ctx.p("page")
    offset = 0
    if page not in (None, ""):
        m = re.fullmatch(r"page_(\d{1,9})", str(page))
        if not m:
            raise invalid_request("Invalid page token.", param="page", code="parameter_invalid")
        offset = int(m.group(1))
    hits = [o for _, o in ctx.store.iter_type(type_) if not o.get("_deleted") and match(o)]
    chunk = hits[offset : offset + limit]
    has_more = len(hits) > offset + limit
    return {
        "object": "search_result",
        "data": [render(o) for o in chunk],
        "has_more": has_more,
        "next_page": f"page_{offset + limit}" if has_more else None,
        "url": f"/v1/{resource}/search",
    }


def _register(resource: str, params: str) -> None:
    @route("GET", f"/v1/{resource}/search", params)
    def handler(ctx: Ctx) -> dict[str, Any]:
        return _search(ctx, resource)

    handler.__name__ = f"{resource}_search"


for _res, _params in (
    ("customers", "CustomerSearchParams"),
    ("products", "ProductSearchParams"),
    ("prices", "PriceSearchParams"),
    ("payment_intents", "PaymentIntentSearchParams"),
    ("charges", "ChargeSearchParams"),
    ("subscriptions", "SubscriptionSearchParams"),
    ("invoices", "InvoiceSearchParams"),
):
    _register(_res, _params)
