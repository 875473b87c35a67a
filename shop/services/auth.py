"""Accounts and sign-in: registration, sessions, access and refresh tokens, emailed tokens.

One set of functions for the REST API and the Reflex UI. Sessions are opaque random tokens
(the `shop_session` cookie) stored only as SHA-256 hashes in `user_sessions`; access tokens are
short JWTs naming a session (`sid`); refresh tokens are single-use, hashed, and grouped in a
family per session. Every request re-reads the session row and the user's roles, so sign-out,
a password change, a disabled account or a changed role take effect on the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.requests import cookie_parser

from shop.models import (
    AccountToken,
    AuditLog,
    RefreshToken,
    Role,
    TokenPurpose,
    User,
    UserRole,
    UserSession,
    utcnow,
)
from shop.services import audit, passwords, throttle
from shop.services.addresses import canonical_email, normalize_email
from shop.services.errors import Conflict, InvalidInput, NotFound, ShopError
from shop.services.mail import Mail, send_after_commit
from shop.services.permissions import ensure_roles
from shop.settings import get_settings

SESSION_COOKIE = "shop_session"
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "shop"
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
RESET_MAIL_INTERVAL = timedelta(seconds=60)
# At most one "you already have an account" mail per address in this interval.
EXISTING_ACCOUNT_MAIL_INTERVAL = timedelta(seconds=60)
EXISTING_ACCOUNT_MAILED = "user.existing_account_mailed"
VERIFY_MAILS_PER_HOUR = 5


class Unauthorized(ShopError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ShopError):
    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class CurrentUser:
    """Who is making this request, as read from the database just now."""

    id: int
    email: str
    name: str | None
    email_verified: bool
    roles: tuple[str, ...]
    permissions: frozenset[str]
    session_id: int

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def is_staff(self) -> bool:
        return "admin" in self.roles or "support" in self.roles


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


@dataclass(frozen=True)
class SignedIn:
    """A new session: `session_token` goes into the HttpOnly cookie, never into JS."""

    user: CurrentUser
    session_token: str
    tokens: Tokens
    session_expires_at: datetime


@dataclass(frozen=True)
class RefreshOutcome:
    tokens: Tokens | None
    reused: bool = False


@dataclass
class UserPage:
    items: list[tuple[User, list[str]]] = field(default_factory=list)
    next_offset: int | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


def safe_next_path(target: str | None, default: str = "/account") -> str:
    """Where to continue after signing in: a local path only, never another site.

    Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so a path
    like "/<tab>/evil.example" or "/<backslash>evil.example" would lead to another host:
    control characters and backslashes are refused along with "//"."""
    if (
        not target
        or len(target) > 500
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)
    ):
        return default
    return target


def find_user(*, session: Session, email: str) -> User | None:
    address = canonical_email(email)
    user = session.exec(select(User).where(User.email == address)).first()
    legacy = (email or "").strip().lower()
    if user is None and legacy != address:
        # Stored before addresses were normalised (e.g. a unicode domain, not yet punycode).
        user = session.exec(select(User).where(User.email == legacy)).first()
    return user


def roles_of(*, session: Session, user_id: int) -> list[Role]:
    return list(
        session.exec(
            select(Role)
            .join(UserRole, col(UserRole.role_id) == col(Role.id))
            .where(UserRole.user_id == user_id)
            .order_by(col(Role.name))
        ).all()
    )


def _current_user(session: Session, user: User, user_session: UserSession) -> CurrentUser:
    roles = roles_of(session=session, user_id=user.id)  # type: ignore[arg-type]
    return CurrentUser(
        id=user.id,  # type: ignore[arg-type]
        email=user.email,
        name=user.name,
        email_verified=user.email_verified,
        roles=tuple(role.name for role in roles),
        permissions=frozenset(p for role in roles for p in role.permissions),
        session_id=user_session.id,  # type: ignore[arg-type]
    )


# --- users -------------------------------------------------------------------------------


def create_user(
    *,
    session: Session,
    email: str,
    password: str | None,
    name: str | None = None,
    roles: tuple[str, ...] = ("customer",),
    email_verified: bool = False,
    check_password: bool = True,
) -> User:
    """Create an account with these roles; refuses a taken email (Conflict), also when two
    requests race for it (the unique index decides)."""
    email = normalize_email(email)
    if password is not None and check_password:
        passwords.check_policy(password, email=email)
    if find_user(session=session, email=email) is not None:
        raise Conflict("An account with this email exists.", field="email")
    user = User(
        email=email,
        name=(name or "").strip()[:200] or None,
        hashed_password=passwords.hash_password(password) if password is not None else None,
        email_verified=email_verified,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise Conflict("An account with this email exists.", field="email") from None
    known = ensure_roles(session=session)
    for role_name in roles:
        if role_name not in known:
            raise InvalidInput(f"Unknown role {role_name!r}.", field="role")
        session.add(UserRole(user_id=user.id, role_id=known[role_name].id))  # type: ignore[arg-type]
    session.flush()
    return user


def register(
    *, session: Session, email: str, password: str, name: str | None = None, ip: str | None = None
) -> User | None:
    """Self-service sign-up as a customer; emails a verification link after commit.

    An email that already has an account gets a "you already have an account" email instead
    and the caller sees the same answer, so sign-up does not reveal who is a customer.
    """
    email = normalize_email(email)
    passwords.check_policy(password, email=email)
    settings = get_settings()
    user: User | None = None
    owner = find_user(session=session, email=email)
    if owner is None:
        try:
            user = create_user(session=session, email=email, password=password, name=name)
        except Conflict:
            user = None  # registered a moment ago by a parallel request
    else:
        passwords.burn_verify_time(password)  # same time as hashing a new password
    if user is None:
        owner = owner or find_user(session=session, email=email)
        if owner is not None and not _may_mail_existing_account(session, owner, ip):
            return None  # sign-up repeated for one address must not flood its inbox
        send_after_commit(
            session,
            Mail(
                to=email,
                subject=f"Your {settings.shop_name} account",
                text=(
                    "Someone (maybe you) tried to create an account with this email address, "
                    "but you already have one.\n\n"
                    f"Sign in: {settings.public_url}/login\n"
                    f"Forgot your password? {settings.public_url}/forgot-password\n"
                ),
            ),
        )
        return None
    audit.record(
        session=session, action="user.registered", actor=user, target=f"user:{user.id}", ip=ip
    )
    _send_verification(session, user)
    return user


def _may_mail_existing_account(session: Session, owner: User, ip: str | None) -> bool:
    """Whether to tell `owner` of another sign-up with their address, noting it when so: the
    audit log keeps who tried from where, and brakes these mails to one per interval."""
    target = f"user:{owner.id}"
    recent = session.exec(
        select(AuditLog.id).where(
            AuditLog.action == EXISTING_ACCOUNT_MAILED,
            AuditLog.target == target,
            col(AuditLog.at) > utcnow() - EXISTING_ACCOUNT_MAIL_INTERVAL,
        )
    ).first()
    if recent is not None:
        return False
    audit.record(session=session, action=EXISTING_ACCOUNT_MAILED, target=target, ip=ip)
    return True


def register_and_sign_in(
    *,
    session: Session,
    email: str,
    password: str,
    name: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> SignedIn | None:
    """Sign-up from the web form: the new customer is signed in at once. None when the
    address already has an account (`register` then mails its owner; nobody is signed in)."""
    user = register(session=session, email=email, password=password, name=name, ip=ip)
    if user is None:
        return None
    signed_in = start_session(session=session, user=user, ip=ip, user_agent=user_agent)
    audit.record(
        session=session,
        action="auth.sign_in",
        actor=user,
        target=f"session:{signed_in.user.session_id}",
        ip=ip,
        details={"via": "registration"},
    )
    return signed_in


def _issue_account_token(
    session: Session, user: User, purpose: TokenPurpose, ttl: timedelta
) -> str:
    token = new_token()
    now = utcnow()
    session.add(
        AccountToken(
            user_id=user.id,  # type: ignore[arg-type]
            purpose=purpose.value,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token


def _send_verification(session: Session, user: User) -> None:
    settings = get_settings()
    token = _issue_account_token(
        session,
        user,
        TokenPurpose.VERIFY_EMAIL,
        timedelta(hours=settings.email_verification_hours),
    )
    send_after_commit(
        session,
        Mail(
            to=user.email,
            subject=f"Confirm your email for {settings.shop_name}",
            text=(
                "Welcome! Confirm your email address by opening this link:\n\n"
                f"{settings.public_url}/verify-email?token={token}\n\n"
                f"The link works once and expires in {settings.email_verification_hours} hours.\n"
            ),
        ),
    )


def resend_verification(*, session: Session, user_id: int) -> bool:
    """Mail a new confirmation link; False (nothing sent) when the address is confirmed
    already or VERIFY_MAILS_PER_HOUR links went out in the last hour (no inbox flooding)."""
    user = session.get(User, user_id)
    if user is None or user.email_verified:
        return False
    recent = session.exec(
        select(func.count())
        .select_from(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == TokenPurpose.VERIFY_EMAIL.value,
            col(AccountToken.created_at) > utcnow() - timedelta(hours=1),
        )
    ).one()
    if recent >= VERIFY_MAILS_PER_HOUR:
        return False
    _send_verification(session, user)
    return True


def _spend_account_token(session: Session, token: str, purpose: TokenPurpose) -> User:
    now = utcnow()
    row = session.exec(
        select(AccountToken).where(
            AccountToken.token_hash == hash_token(token or ""),
            AccountToken.purpose == purpose.value,
        )
    ).first()
    invalid = InvalidInput(
        "This link is invalid or has expired.", code="invalid_token", field="token"
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise invalid
    # Conditional update: of two concurrent uses, exactly one wins.
    spent = session.execute(
        update(AccountToken)
        .where(col(AccountToken.id) == row.id, col(AccountToken.used_at).is_(None))
        .values(used_at=now)
    )
    if not spent.rowcount:  # type: ignore[attr-defined]
        raise invalid
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise invalid
    return user


def verify_email(*, session: Session, token: str, ip: str | None = None) -> User:
    user = _spend_account_token(session, token, TokenPurpose.VERIFY_EMAIL)
    user.email_verified = True
    session.add(user)
    audit.record(
        session=session, action="user.email_verified", actor=user, target=f"user:{user.id}", ip=ip
    )
    session.flush()
    return user


def request_password_reset(*, session: Session, email: str, ip: str | None = None) -> None:
    """Email a single-use reset link if the account exists; the caller always says "sent"."""
    settings = get_settings()
    user = find_user(session=session, email=email)
    if user is None or not user.is_active:
        return
    recent = session.exec(
        select(AccountToken).where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == TokenPurpose.RESET_PASSWORD.value,
            col(AccountToken.created_at) > utcnow() - RESET_MAIL_INTERVAL,
        )
    ).first()
    if recent is not None:
        return  # one mail a minute is enough; don't let anyone flood an inbox
    token = _issue_account_token(
        session,
        user,
        TokenPurpose.RESET_PASSWORD,
        timedelta(minutes=settings.password_reset_minutes),
    )
    audit.record(
        session=session,
        action="user.password_reset_requested",
        actor=user,
        target=f"user:{user.id}",
        ip=ip,
    )
    send_after_commit(
        session,
        Mail(
            to=user.email,
            subject=f"Reset your {settings.shop_name} password",
            text=(
                "To choose a new password, open this link:\n\n"
                f"{settings.public_url}/reset-password?token={token}\n\n"
                f"The link works once and expires in {settings.password_reset_minutes} minutes. "
                "If you did not ask for it, ignore this email; your password stays as it is.\n"
            ),
        ),
    )


def _notify_password_changed(session: Session, user: User) -> None:
    settings = get_settings()
    send_after_commit(
        session,
        Mail(
            to=user.email,
            subject=f"Your {settings.shop_name} password was changed",
            text=(
                "The password of your account was just changed.\n\n"
                "If this was not you, reset it now and review your account: "
                f"{settings.public_url}/forgot-password\n"
            ),
        ),
    )


def _void_reset_links(session: Session, user_id: int) -> None:
    """A new password makes every reset link still in a mailbox worthless: whoever once saw
    an older reset email must not set the password after its owner did."""
    session.execute(
        update(AccountToken)
        .where(
            col(AccountToken.user_id) == user_id,
            col(AccountToken.purpose) == TokenPurpose.RESET_PASSWORD.value,
            col(AccountToken.used_at).is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def wrong_current_password() -> InvalidInput:
    return InvalidInput(
        "The current password is not right.", code="wrong_password", field="current_password"
    )


def reset_password(
    *, session: Session, token: str, new_password: str, ip: str | None = None
) -> User:
    """Set a new password from an emailed link; ends every session of the account."""
    user = _spend_account_token(session, token, TokenPurpose.RESET_PASSWORD)
    passwords.check_policy(new_password, email=user.email, field="new_password")
    user.hashed_password = passwords.hash_password(new_password)
    user.email_verified = True  # they proved they read this inbox
    session.add(user)
    _void_reset_links(session, user.id)  # type: ignore[arg-type]
    ended = revoke_user_sessions(session=session, user_id=user.id, reason="password_reset")  # type: ignore[arg-type]
    _notify_password_changed(session, user)
    audit.record(
        session=session,
        action="user.password_reset",
        actor=user,
        target=f"user:{user.id}",
        ip=ip,
        details={"sessions_ended": ended},
    )
    return user


def change_password(
    *,
    session: Session,
    current: CurrentUser,
    current_password: str,
    new_password: str,
    end_other_sessions: bool = True,
    ip: str | None = None,
) -> int | None:
    """Change the signed-in user's password; returns how many other sessions were ended.

    None when `current_password` is wrong. That is a guess at the account's password, made
    with a stolen cookie or token maybe: it counts against the account and this IP like a
    failed sign-in, and is audited, so commit anyway and answer `wrong_current_password()`.
    Raises Throttled (429) when guesses must wait, as sign-in does."""
    user = session.get(User, current.id)
    if user is None:
        raise NotFound("No such user.")
    keys = throttle.ThrottleKeys.of(ip=ip, email=user.email)
    throttle.check(session=session, keys=keys)
    if not user.hashed_password or not passwords.verify_password(
        user.hashed_password, current_password
    ):
        throttle.record_failure(session=session, keys=keys)
        audit.record(
            session=session,
            action="user.password_change_failed",
            actor=current,
            target=f"user:{user.id}",
            ip=ip,
            details={"reason": "wrong_current_password"},
        )
        return None
    passwords.check_policy(new_password, email=user.email, field="new_password")
    user.hashed_password = passwords.hash_password(new_password)
    session.add(user)
    _void_reset_links(session, user.id)  # type: ignore[arg-type]
    ended = 0
    if end_other_sessions:
        ended = revoke_user_sessions(
            session=session,
            user_id=current.id,
            reason="password_changed",
            keep_session_id=current.session_id,
        )
    _notify_password_changed(session, user)
    audit.record(
        session=session,
        action="user.password_changed",
        actor=current,
        target=f"user:{user.id}",
        ip=ip,
        details={"other_sessions_ended": ended},
    )
    return ended


PROFILE_FIELDS = frozenset({"name", "email"})


def update_profile(*, session: Session, current: CurrentUser, changes: Mapping[str, Any]) -> User:
    """Change the profile fields in `changes`; a field left out stays as it is.

    `name`: text, empty or None clears it. `email` may be given as it is (a client sending
    back what it read) but not changed: a new address would have to be confirmed before the
    account moves to it, and the shop has no such flow yet."""
    user = session.get(User, current.id)
    if user is None:
        raise NotFound("No such user.")
    unknown = sorted(set(changes) - PROFILE_FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not a profile field.", field=unknown[0])
    if "email" in changes:
        email = changes["email"]
        if not isinstance(email, str) or canonical_email(email) != user.email:
            raise InvalidInput("The email address of an account cannot be changed.", field="email")
    if "name" in changes:
        name = changes["name"]
        if name is not None and not isinstance(name, str):
            raise InvalidInput("name must be text.", field="name")
        user.name = (name or "").strip()[:200] or None
        session.add(user)
        session.flush()
    return user


# --- sessions and tokens -----------------------------------------------------------------


def make_access_token(*, user_id: int, session_id: int) -> tuple[str, int]:
    settings = get_settings()
    lifetime = settings.access_token_minutes * 60
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "iss": JWT_ISSUER,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
    }
    return jwt.encode(claims, settings.effective_secret_key, algorithm=JWT_ALGORITHM), lifetime


def _issue_refresh(session: Session, user_session: UserSession) -> str:
    token = new_token()
    session.add(RefreshToken(session_id=user_session.id, token_hash=hash_token(token)))  # type: ignore[arg-type]
    session.flush()
    return token


def _tokens_for(session: Session, user_session: UserSession) -> Tokens:
    access, lifetime = make_access_token(
        user_id=user_session.user_id,
        session_id=user_session.id,  # type: ignore[arg-type]
    )
    return Tokens(
        access_token=access,
        refresh_token=_issue_refresh(session, user_session),
        expires_in=lifetime,
    )


def start_session(
    *, session: Session, user: User, ip: str | None = None, user_agent: str | None = None
) -> SignedIn:
    """Open a session for a user whose identity is already proven."""
    settings = get_settings()
    token = new_token()
    now = utcnow()
    user_session = UserSession(
        user_id=user.id,  # type: ignore[arg-type]
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(minutes=settings.session_absolute_minutes),
        ip=(ip or None) and ip[:64],
        user_agent=(user_agent or None) and user_agent[:400],
    )
    session.add(user_session)
    session.flush()
    return SignedIn(
        user=_current_user(session, user, user_session),
        session_token=token,
        tokens=_tokens_for(session, user_session),
        session_expires_at=user_session.expires_at,
    )


def sign_in(
    *,
    session: Session,
    email: str,
    password: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> SignedIn | None:
    """Check the password and open a session; None for wrong credentials (commit it anyway:
    the failure is counted and audited). Raises Throttled when this attempt must wait."""
    keys = throttle.ThrottleKeys.of(ip=ip, email=email or "")
    throttle.check(session=session, keys=keys)
    # Looked up, not validated: an account made under older, looser rules still signs in.
    address = canonical_email(email) if email else None
    user = find_user(session=session, email=address) if address else None
    if user is None or not user.hashed_password:
        passwords.burn_verify_time(password)
        ok = False
    else:
        ok = passwords.verify_password(user.hashed_password, password)
    if not ok or user is None or not user.is_active:
        throttle.record_failure(session=session, keys=keys)
        audit.record(
            session=session,
            action="auth.sign_in_failed",
            actor_email=address or (email or "")[:320],
            target=f"user:{user.id}" if user else None,
            ip=ip,
            details={"reason": "inactive" if ok and user else "bad_credentials"},
        )
        return None
    if passwords.needs_rehash(user.hashed_password):  # type: ignore[arg-type]
        user.hashed_password = passwords.hash_password(password)
        session.add(user)
    throttle.record_success(session=session, keys=keys)
    signed_in = start_session(session=session, user=user, ip=ip, user_agent=user_agent)
    audit.record(
        session=session,
        action="auth.sign_in",
        actor=user,
        target=f"session:{signed_in.user.session_id}",
        ip=ip,
    )
    return signed_in


def _live_session(session: Session, user_session: UserSession | None) -> CurrentUser | None:
    """The user behind a session row if it is still good; ends it when it has timed out."""
    if user_session is None or user_session.revoked_at is not None:
        return None
    settings = get_settings()
    now = utcnow()
    idle_limit = user_session.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if user_session.expires_at <= now or idle_limit <= now:
        user_session.revoked_at = now
        user_session.revoked_reason = "expired" if user_session.expires_at <= now else "idle"
        session.add(user_session)
        session.flush()
        return None
    user = session.get(User, user_session.user_id)
    if user is None or not user.is_active:
        return None
    if now - user_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        user_session.last_seen_at = now
        session.add(user_session)
        session.flush()
    return _current_user(session, user, user_session)


def resolve_session_token(*, session: Session, token: str | None) -> CurrentUser | None:
    """The user of a session cookie value, or None."""
    if not token or len(token) > 200:
        return None
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == hash_token(token))
    ).first()
    return _live_session(session, row)


def resolve_access_token(*, session: Session, token: str | None) -> CurrentUser | None:
    """The user of a bearer access token, or None; the session it names must still be live."""
    if not token or len(token) > 4096:
        return None
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.effective_secret_key,
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            options={"require": ["exp", "sub", "sid", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access" or not isinstance(claims.get("sid"), int):
        return None
    row = session.get(UserSession, claims["sid"])
    if row is None or str(row.user_id) != claims["sub"]:
        return None
    return _live_session(session, row)


def session_token_from_cookie_header(cookie_header: str | None) -> str | None:
    """Our cookie's value from a raw Cookie header, parsed the way Starlette parses request
    cookies (lenient: a malformed neighbour cookie does not hide ours)."""
    if not cookie_header:
        return None
    return cookie_parser(cookie_header).get(SESSION_COOKIE) or None


def resolve_session_from_cookie_header(cookie_header: str | None) -> CurrentUser | None:
    """For the Reflex UI: the signed-in user from the websocket handshake's Cookie header.

    Opens its own short transaction; call it at the start of every event handler that reads
    or changes protected data (it is cheap: two indexed reads)."""
    from shop.db import session_scope

    token = session_token_from_cookie_header(cookie_header)
    if token is None:
        return None
    with session_scope() as session:
        return resolve_session_token(session=session, token=token)


def refresh(*, session: Session, refresh_token: str, ip: str | None = None) -> RefreshOutcome:
    """Rotate a refresh token. A spent one coming back means it was stolen: the whole family
    (the session, its cookie and its access tokens) is revoked."""
    row = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token or ""))
    ).first()
    if row is None:
        return RefreshOutcome(tokens=None)
    user_session = session.get(UserSession, row.session_id)
    now = utcnow()
    spent = session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.id) == row.id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
    )
    if not spent.rowcount:  # type: ignore[attr-defined]
        if user_session is not None and user_session.revoked_at is None:
            user_session.revoked_at = now
            user_session.revoked_reason = "refresh_reuse"
            session.add(user_session)
            user = session.get(User, user_session.user_id)
            audit.record(
                session=session,
                action="auth.refresh_token_reused",
                actor=user,
                target=f"session:{user_session.id}",
                ip=ip,
            )
        session.flush()
        return RefreshOutcome(tokens=None, reused=True)
    current = _live_session(session, user_session)
    if current is None or user_session is None:
        return RefreshOutcome(tokens=None)
    return RefreshOutcome(tokens=_tokens_for(session, user_session))


def sign_out(*, session: Session, current: CurrentUser, ip: str | None = None) -> None:
    _revoke(session, current.session_id, "signed_out")
    audit.record(
        session=session,
        action="auth.sign_out",
        actor=current,
        target=f"session:{current.session_id}",
        ip=ip,
    )


def sign_out_token(*, session: Session, session_token: str | None, ip: str | None = None) -> bool:
    """Sign-out by cookie value (for the UI); True when a live session was ended."""
    current = resolve_session_token(session=session, token=session_token)
    if current is None:
        return False
    sign_out(session=session, current=current, ip=ip)
    return True


def sign_out_refresh_token(*, session: Session, refresh_token: str, ip: str | None = None) -> bool:
    """Sign-out by refresh token (an API client holding no access token any more): ends the
    session the token belongs to. True when a live session was ended."""
    row = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token))
    ).first()
    if row is None:
        return False
    current = _live_session(session, session.get(UserSession, row.session_id))
    if current is None:
        return False
    sign_out(session=session, current=current, ip=ip)
    return True


def _revoke(session: Session, session_id: int, reason: str) -> None:
    session.execute(
        update(UserSession)
        .where(col(UserSession.id) == session_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


def revoke_user_sessions(
    *, session: Session, user_id: int, reason: str, keep_session_id: int | None = None
) -> int:
    statement = (
        update(UserSession)
        .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    if keep_session_id is not None:
        statement = statement.where(col(UserSession.id) != keep_session_id)
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def list_sessions(*, session: Session, user_id: int) -> list[UserSession]:
    return list(
        session.exec(
            select(UserSession)
            .where(UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None))
            .order_by(col(UserSession.created_at).desc())
        ).all()
    )


def end_session(
    *, session: Session, current: CurrentUser, session_id: int, ip: str | None = None
) -> bool:
    """End one of the signed-in user's own sessions ("End session" on the account page).

    Another user's session, an unknown id or one already ended changes nothing (False), so the
    answer does not tell whether someone else's session exists."""
    ended = session.execute(
        update(UserSession)
        .where(
            col(UserSession.id) == session_id,
            col(UserSession.user_id) == current.id,
            col(UserSession.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason="ended_by_user")
    )
    if not ended.rowcount:  # type: ignore[attr-defined]
        return False
    audit.record(
        session=session,
        action="auth.session_ended",
        actor=current,
        target=f"session:{session_id}",
        ip=ip,
    )
    return True


@dataclass(frozen=True)
class PurgeReport:
    sessions: int
    refresh_tokens: int
    account_tokens: int
    throttles: int


def purge_stale_records(
    *, session: Session, retention: timedelta | None = None, now: datetime | None = None
) -> PurgeReport:
    """Housekeeping: delete what can no longer sign anyone in, once `retention` has passed.

    Sessions that were revoked, passed their absolute expiry or sat idle past the idle limit
    (with their refresh tokens), spent refresh tokens, and used or expired emailed tokens go
    once they have been dead for longer than `retention` (AUTH_RECORD_RETENTION_DAYS); until
    then the account page and support can still see them. Stale throttle counters go too.
    The audit log keeps its own rows: it names sessions, it does not point at them."""
    settings = get_settings()
    now = now or utcnow()
    cutoff = now - (retention or timedelta(days=settings.auth_record_retention_days))
    idle_cutoff = cutoff - timedelta(minutes=settings.session_idle_minutes)
    dead_sessions = select(UserSession.id).where(
        (col(UserSession.revoked_at) < cutoff)
        | (col(UserSession.expires_at) < cutoff)
        | (col(UserSession.last_seen_at) < idle_cutoff)
    )
    # Children first: no reliance on ON DELETE CASCADE (SQLite needs a pragma for it).
    refresh_of_dead = session.execute(
        delete(RefreshToken).where(col(RefreshToken.session_id).in_(dead_sessions))
    )
    spent_refresh = session.execute(delete(RefreshToken).where(col(RefreshToken.used_at) < cutoff))
    sessions = session.execute(delete(UserSession).where(col(UserSession.id).in_(dead_sessions)))
    account_tokens = session.execute(
        delete(AccountToken).where(
            (col(AccountToken.expires_at) < cutoff) | (col(AccountToken.used_at) < cutoff)
        )
    )
    throttles = throttle.forget_old(session=session, now=now)
    return PurgeReport(
        sessions=int(sessions.rowcount or 0),  # type: ignore[attr-defined]
        refresh_tokens=int(
            (refresh_of_dead.rowcount or 0) + (spent_refresh.rowcount or 0)  # type: ignore[attr-defined]
        ),
        account_tokens=int(account_tokens.rowcount or 0),  # type: ignore[attr-defined]
        throttles=throttles,
    )
