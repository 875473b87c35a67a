"""Managing accounts: roles, disabling, listing, and the admin bootstrap. Every change is audited."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from shop.models import Role, User, UserRole
from shop.services import audit, passwords
from shop.services.auth import (
    create_user,
    find_user,
    normalize_email,
    revoke_user_sessions,
    roles_of,
)
from shop.services.errors import InvalidInput, NotFound
from shop.services.permissions import ROLE_PERMISSIONS, ensure_roles
from shop.settings import get_settings

DEMO_ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    name: str | None
    email_verified: bool
    is_active: bool
    roles: list[str]
    created_at: str


def summary(*, session: Session, user: User) -> UserSummary:
    return UserSummary(
        id=user.id,  # type: ignore[arg-type]
        email=user.email,
        name=user.name,
        email_verified=user.email_verified,
        is_active=user.is_active,
        roles=[role.name for role in roles_of(session=session, user_id=user.id)],  # type: ignore[arg-type]
        created_at=user.created_at.isoformat(),
    )


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def user_by_email(*, session: Session, email: str) -> User:
    user = find_user(session=session, email=email)
    if user is None:
        raise NotFound(f"No user with email {email}.", field="email")
    return user


def list_users(
    *,
    session: Session,
    q: str | None = None,
    role: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[UserSummary], int]:
    query = select(User)
    if q:
        query = query.where(col(User.email).contains(q.strip().lower()))
    if role:
        query = (
            query.join(UserRole, col(UserRole.user_id) == col(User.id))
            .join(Role, col(Role.id) == col(UserRole.role_id))
            .where(Role.name == role)
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    users = session.exec(query.order_by(col(User.id)).offset(offset).limit(limit)).all()
    return [summary(session=session, user=user) for user in users], int(total)


def _role(session: Session, name: str) -> Role:
    roles = ensure_roles(session=session)
    if name not in roles:
        raise InvalidInput(
            f"Unknown role {name!r}; roles are {', '.join(sorted(ROLE_PERMISSIONS))}.", field="role"
        )
    return roles[name]


def grant_role(
    *, session: Session, user: User, role: str, actor: Any = None, ip: str | None = None
) -> bool:
    """Give `user` the role; False when they already had it."""
    row = _role(session, role)
    if session.get(UserRole, (user.id, row.id)) is not None:
        return False
    session.add(UserRole(user_id=user.id, role_id=row.id))  # type: ignore[arg-type]
    session.flush()
    audit.record(
        session=session,
        action="user.role_granted",
        actor=actor,
        actor_email=None if actor else "cli",
        target=f"user:{user.id}",
        ip=ip,
        details={"role": role, "email": user.email},
    )
    return True


def revoke_role(
    *, session: Session, user: User, role: str, actor: Any = None, ip: str | None = None
) -> bool:
    """Take the role away; False when they did not have it."""
    row = _role(session, role)
    link = session.get(UserRole, (user.id, row.id))
    if link is None:
        return False
    if role == "admin":
        _refuse_removing_last_admin(session, user)
    session.delete(link)
    session.flush()
    audit.record(
        session=session,
        action="user.role_revoked",
        actor=actor,
        actor_email=None if actor else "cli",
        target=f"user:{user.id}",
        ip=ip,
        details={"role": role, "email": user.email},
    )
    return True


def _refuse_removing_last_admin(session: Session, user: User) -> None:
    admins = session.exec(
        select(func.count())
        .select_from(UserRole)
        .join(Role, col(Role.id) == col(UserRole.role_id))
        .join(User, col(User.id) == col(UserRole.user_id))
        .where(Role.name == "admin", col(User.is_active).is_(True), col(User.id) != user.id)
    ).one()
    if not admins:
        raise InvalidInput("This is the last active admin; make another admin first.")


def set_active(
    *, session: Session, user: User, active: bool, actor: Any = None, ip: str | None = None
) -> None:
    """Disable (ending every session at once) or re-enable an account."""
    if user.is_active == active:
        return
    if not active and "admin" in [r.name for r in roles_of(session=session, user_id=user.id)]:  # type: ignore[arg-type]
        _refuse_removing_last_admin(session, user)
    user.is_active = active
    session.add(user)
    ended = 0
    if not active:
        ended = revoke_user_sessions(session=session, user_id=user.id, reason="disabled")  # type: ignore[arg-type]
    audit.record(
        session=session,
        action="user.enabled" if active else "user.disabled",
        actor=actor,
        actor_email=None if actor else "cli",
        target=f"user:{user.id}",
        ip=ip,
        details={"email": user.email, "sessions_ended": ended},
    )
    session.flush()


def create_account(
    *,
    session: Session,
    email: str,
    password: str | None,
    roles: tuple[str, ...] = ("customer",),
    name: str | None = None,
    actor: Any = None,
    ip: str | None = None,
) -> User:
    """An account made by the CLI or an admin (no verification mail: the address is trusted)."""
    for role in roles:
        _role(session, role)
    user = create_user(
        session=session, email=email, password=password, name=name, roles=roles, email_verified=True
    )
    audit.record(
        session=session,
        action="user.created",
        actor=actor,
        actor_email=None if actor else "cli",
        target=f"user:{user.id}",
        ip=ip,
        details={"email": user.email, "roles": list(roles)},
    )
    return user


def bootstrap_admin(*, session: Session) -> User | None:
    """Create or update the admin named by SHOP_ADMIN_EMAIL / SHOP_ADMIN_PASSWORD (if both set).

    Idempotent: safe at every start. The password is (re)set only when it no longer matches,
    so restarts don't rehash it or end the admin's sessions."""
    settings = get_settings()
    if not settings.shop_admin_email or not settings.shop_admin_password:
        return None
    email = normalize_email(settings.shop_admin_email, field_name="SHOP_ADMIN_EMAIL")
    password = settings.shop_admin_password
    passwords.check_policy(password, email=email, field="SHOP_ADMIN_PASSWORD")
    ensure_roles(session=session)
    user = find_user(session=session, email=email)
    if user is None:
        return create_account(session=session, email=email, password=password, roles=("admin",))
    changed = []
    if not user.hashed_password or not passwords.verify_password(user.hashed_password, password):
        user.hashed_password = passwords.hash_password(password)
        revoke_user_sessions(session=session, user_id=user.id, reason="password_reset")  # type: ignore[arg-type]
        changed.append("password")
    if not user.is_active:
        user.is_active = True
        changed.append("enabled")
    user.email_verified = True
    session.add(user)
    session.flush()
    if changed:
        audit.record(
            session=session,
            action="user.bootstrap_admin_updated",
            actor_email="bootstrap",
            target=f"user:{user.id}",
            details={"changed": changed},
        )
    grant_role(session=session, user=user, role="admin")
    return user


def bootstrap_demo_admin(*, session: Session) -> tuple[str, str] | None:
    """Without configured admin credentials: create admin@example.com with a random password.

    Returns (email, password) only when it created the account, so it is printed once."""
    ensure_roles(session=session)
    if find_user(session=session, email=DEMO_ADMIN_EMAIL) is not None:
        return None
    password = secrets.token_urlsafe(12)
    create_account(session=session, email=DEMO_ADMIN_EMAIL, password=password, roles=("admin",))
    return DEMO_ADMIN_EMAIL, password
