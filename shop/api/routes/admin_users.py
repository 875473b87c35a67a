"""Admin: user accounts (list, roles, disable) and the audit log. Every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from shop.api.deps import client_ip, require_permission
from shop.api.params import Offset, RowId, UserId
from shop.api.routes.products import PAGE_SIZE_CEILING, PAGE_SIZE_HELP, page_size
from shop.db import session_scope
from shop.services import audit, users
from shop.services.auth import CurrentUser as AuthUser

router = APIRouter(prefix="/api/admin", tags=["admin"])

UserManager = Annotated[AuthUser, Depends(require_permission("users:manage"))]
AuditReader = Annotated[AuthUser, Depends(require_permission("audit:read"))]


class UserOut(BaseModel):
    id: int
    email: str
    name: str | None
    email_verified: bool
    is_active: bool
    roles: list[str]
    created_at: str


class UserListOut(BaseModel):
    items: list[UserOut]
    total: int
    next_offset: int | None


class AuditEntryOut(BaseModel):
    id: int
    at: str
    actor_user_id: int | None
    actor_email: str | None
    action: str
    target: str | None
    ip: str | None
    details: dict[str, object]


class AuditListOut(BaseModel):
    items: list[AuditEntryOut]
    next_before_id: int | None


class AuditVerifyOut(BaseModel):
    ok: bool
    rows_checked: int
    first_bad_id: int | None
    problem: str | None


def _out(summary: users.UserSummary) -> UserOut:
    return UserOut(**summary.__dict__)


@router.get("/users", response_model=UserListOut)
def list_users(
    admin: UserManager,
    q: Annotated[str | None, Query(max_length=320)] = None,
    role: Annotated[str | None, Query(max_length=50)] = None,
    offset: Offset = 0,
    limit: Annotated[
        int | None, Query(ge=1, le=PAGE_SIZE_CEILING, description=PAGE_SIZE_HELP)
    ] = None,
) -> UserListOut:
    limit = page_size(limit, default=50)
    with session_scope() as session:
        items, total = users.list_users(session=session, q=q, role=role, offset=offset, limit=limit)
    next_offset = offset + limit if offset + limit < total else None
    return UserListOut(items=[_out(item) for item in items], total=total, next_offset=next_offset)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: UserId, admin: UserManager) -> UserOut:
    with session_scope() as session:
        user = users.get_user(session=session, user_id=user_id)
        return _out(users.summary(session=session, user=user))


@router.put("/users/{user_id}/roles/{role}", response_model=UserOut)
def grant_role(user_id: UserId, role: str, request: Request, admin: UserManager) -> UserOut:
    with session_scope() as session:
        user = users.get_user(session=session, user_id=user_id)
        users.grant_role(session=session, user=user, role=role, actor=admin, ip=client_ip(request))
        return _out(users.summary(session=session, user=user))


@router.delete("/users/{user_id}/roles/{role}", response_model=UserOut)
def revoke_role(user_id: UserId, role: str, request: Request, admin: UserManager) -> UserOut:
    with session_scope() as session:
        user = users.get_user(session=session, user_id=user_id)
        users.revoke_role(session=session, user=user, role=role, actor=admin, ip=client_ip(request))
        return _out(users.summary(session=session, user=user))


@router.post("/users/{user_id}/disable", response_model=UserOut)
def disable_user(user_id: UserId, request: Request, admin: UserManager) -> UserOut:
    with session_scope() as session:
        user = users.get_user(session=session, user_id=user_id)
        users.set_active(
            session=session, user=user, active=False, actor=admin, ip=client_ip(request)
        )
        return _out(users.summary(session=session, user=user))


@router.post("/users/{user_id}/enable", response_model=UserOut)
def enable_user(user_id: UserId, request: Request, admin: UserManager) -> UserOut:
    with session_scope() as session:
        user = users.get_user(session=session, user_id=user_id)
        users.set_active(
            session=session, user=user, active=True, actor=admin, ip=client_ip(request)
        )
        return _out(users.summary(session=session, user=user))


@router.get("/audit", response_model=AuditListOut)
def list_audit(
    reader: AuditReader,
    action: Annotated[str | None, Query(max_length=60)] = None,
    actor_email: Annotated[str | None, Query(max_length=320)] = None,
    before_id: Annotated[RowId | None, Query()] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=PAGE_SIZE_CEILING, description=PAGE_SIZE_HELP)
    ] = None,
) -> AuditListOut:
    limit = page_size(limit, default=50)
    with session_scope() as session:
        rows = audit.list_entries(
            session=session,
            action=action,
            actor_email=actor_email,
            before_id=before_id,
            limit=limit,
        )
    items = [
        AuditEntryOut(
            id=row.id,
            at=row.at.isoformat(),
            actor_user_id=row.actor_user_id,
            actor_email=row.actor_email,
            action=row.action,
            target=row.target,
            ip=row.ip,
            details=row.details,
        )
        for row in rows
    ]
    return AuditListOut(items=items, next_before_id=rows[-1].id if len(rows) == limit else None)


@router.get("/audit/verify", response_model=AuditVerifyOut)
def verify_audit(reader: AuditReader) -> AuditVerifyOut:
    with session_scope() as session:
        report = audit.verify_chain(session=session)
    return AuditVerifyOut(
        ok=report.ok,
        rows_checked=report.rows_checked,
        first_bad_id=report.first_bad_id,
        problem=report.problem,
    )
