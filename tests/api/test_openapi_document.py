"""/api/openapi.json tells the truth: the error shape the API answers, and who must sign in."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from shop.api.errors import ErrorOut
from tests.api.test_auth_matrix import PUBLIC, _operations, _requirements, _route_for

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _document(client: TestClient) -> dict[str, Any]:
    return client.get("/api/openapi.json").json()


def _schema_of(response: dict[str, Any]) -> dict[str, Any]:
    return response["content"]["application/json"]["schema"]


def test_every_422_is_documented_as_the_error_shape_the_api_answers(api_client: TestClient):
    # given the document
    document = _document(api_client)
    documented = [
        (path, method, operation["responses"]["422"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "422" in operation["responses"]
    ]
    assert len(documented) >= 20
    # then every 422 points at ErrorOut, and FastAPI's {"detail": [...]} shape is gone
    assert [(p, m) for p, m, r in documented if _schema_of(r) != ERROR_REF] == []
    assert "HTTPValidationError" not in document["components"]["schemas"]
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message", "field", "details"} <= set(detail["properties"])
    assert set(detail["required"]) == {"code", "message"}


def test_a_real_422_fits_the_documented_schema(api_client: TestClient):
    # when a request breaks the documented body of POST /api/auth/login
    answer = api_client.post("/api/auth/login", json={"email": "someone@example.com"})
    # then the answer is an ErrorOut with the field at fault and every problem listed
    assert answer.status_code == 422
    error = ErrorOut.model_validate(answer.json()).error
    assert error.code == "invalid_input"
    assert error.field == "password"
    assert error.details is not None
    assert [problem.field for problem in error.details] == ["password"]


def test_the_bearer_token_and_the_session_cookie_are_security_schemes(api_client: TestClient):
    schemes = _document(api_client)["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["sessionCookie"]["type"] == "apiKey"
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["sessionCookie"]["name"] == "shop_session"


def test_operations_that_need_sign_in_say_so_with_401_and_403(api_client: TestClient):
    # given every operation and what its dependencies require
    document = _document(api_client)
    wrong = []
    signed_in = permission = 0
    for method, path in _operations(api_client):
        operation = document["paths"][path][method.lower()]
        needs_user, permissions = _requirements(_route_for(api_client.app, method, path))
        responses = operation["responses"]
        if not needs_user:
            # then an operation anyone may call asks for no credentials
            if "security" in operation:
                wrong.append(f"{method} {path} is documented as needing sign-in")
            continue
        # then one that needs a user names both ways in and documents 401 as ErrorOut
        signed_in += 1
        if operation.get("security") != [{"bearerAuth": []}, {"sessionCookie": []}]:
            wrong.append(f"{method} {path}: security {operation.get('security')}")
        if _schema_of(responses.get("401", {"content": {"application/json": {"schema": {}}}})) != (
            ERROR_REF
        ):
            wrong.append(f"{method} {path}: no 401")
        # and one that needs a permission documents 403 naming it
        if permissions:
            permission += 1
            forbidden = responses.get("403", {})
            if not all(p in forbidden.get("description", "") for p in permissions):
                wrong.append(f"{method} {path}: 403 does not name {sorted(permissions)}")
    assert wrong == []
    assert signed_in >= 20
    assert permission >= 10


def test_public_operations_are_not_marked_as_needing_sign_in(api_client: TestClient):
    document = _document(api_client)
    for method, path in [("GET", "/api/products"), ("POST", "/api/auth/login")]:
        assert (method, path) in PUBLIC
        assert "security" not in document["paths"][path][method.lower()]
