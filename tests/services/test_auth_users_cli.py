"""Admin bootstrap, the `users` CLI, and the mail port."""

from __future__ import annotations

import email
import email.policy
import io
from pathlib import Path

import pytest
from sqlmodel import Session, select

from shop import db
from shop.__main__ import main as cli
from shop.models import AuditLog, User
from shop.services import auth, mail, users
from shop.services.errors import InvalidInput
from shop.settings import get_settings
from tests.factories import make_user


def _roles(session: Session, email_address: str) -> list[str]:
    session.expire_all()
    user = session.exec(select(User).where(User.email == email_address)).one()
    return [role.name for role in auth.roles_of(session=session, user_id=user.id)]


def test_bootstrap_admin_creates_then_updates_the_configured_admin(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    # given SHOP_ADMIN_EMAIL / SHOP_ADMIN_PASSWORD
    monkeypatch.setenv("SHOP_ADMIN_EMAIL", "Owner@Shop.test")
    monkeypatch.setenv("SHOP_ADMIN_PASSWORD", "first owner passphrase")
    get_settings.cache_clear()
    # when the app starts, then the admin exists and can sign in
    admin = users.bootstrap_admin(session=session)
    assert admin is not None
    assert admin.email == "owner@shop.test"
    assert _roles(session, "owner@shop.test") == ["admin"]
    assert auth.sign_in(session=session, email="owner@shop.test", password="first owner passphrase")
    # when it starts again unchanged, nothing is re-hashed
    before = admin.hashed_password
    users.bootstrap_admin(session=session)
    assert admin.hashed_password == before
    # when the password setting changes, the next start updates it
    monkeypatch.setenv("SHOP_ADMIN_PASSWORD", "second owner passphrase")
    get_settings.cache_clear()
    users.bootstrap_admin(session=session)
    assert auth.sign_in(
        session=session, email="owner@shop.test", password="second owner passphrase"
    )
    assert (
        auth.sign_in(session=session, email="owner@shop.test", password="first owner passphrase")
        is None
    )


def test_bootstrap_admin_refuses_a_weak_configured_password(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SHOP_ADMIN_EMAIL", "owner@shop.test")
    monkeypatch.setenv("SHOP_ADMIN_PASSWORD", "password")
    get_settings.cache_clear()
    with pytest.raises(InvalidInput):
        users.bootstrap_admin(session=session)


def test_without_settings_the_demo_admin_is_created_and_printed_once(shop_env: Path, capsys):
    # when `bootstrap-admin --demo` runs twice
    assert cli(["bootstrap-admin", "--demo"]) == 0
    first = capsys.readouterr().out
    assert cli(["bootstrap-admin", "--demo"]) == 0
    second = capsys.readouterr().out
    # then the credentials are printed the first time only, and they work
    assert "admin@example.com / password: " in first
    password = first.split("password: ")[1].split()[0]
    assert "password" not in second
    with db.session_scope() as session:
        assert auth.sign_in(session=session, email="admin@example.com", password=password)


def test_cli_creates_users_and_grants_revokes_and_disables(
    shop_env: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    # when the CLI creates a support agent with a password from stdin
    monkeypatch.setattr("sys.stdin", io.StringIO("support agent passphrase\n"))
    assert cli(["users", "create", "Sam@Example.com", "--role", "support", "--password-stdin"]) == 0
    assert cli(["users", "grant", "sam@example.com", "admin"]) == 0
    # then the account has both roles and the password works
    with db.session_scope() as session:
        assert _roles(session, "sam@example.com") == ["admin", "support"]
        assert auth.sign_in(
            session=session, email="sam@example.com", password="support agent passphrase"
        )
    # when (with another admin around) a role is revoked and the account disabled
    assert cli(["users", "create", "boss@example.com", "--role", "admin"]) == 0
    assert cli(["users", "revoke", "sam@example.com", "admin"]) == 0
    assert cli(["users", "disable", "sam@example.com"]) == 0
    with db.session_scope() as session:
        assert _roles(session, "sam@example.com") == ["support"]
        user = session.exec(select(User).where(User.email == "sam@example.com")).one()
        assert not user.is_active
        actions = [row.action for row in session.exec(select(AuditLog)).all()]
    assert {"user.created", "user.role_granted", "user.role_revoked", "user.disabled"} <= set(
        actions
    )
    # and mistakes get a clear error and exit code 2
    assert cli(["users", "grant", "nobody@example.com", "admin"]) == 2
    assert cli(["users", "grant", "sam@example.com", "wizard"]) == 2
    assert "error:" in capsys.readouterr().err


def test_the_last_admin_cannot_be_removed(session: Session):
    admin = make_user(session, roles=("admin",))
    with pytest.raises(InvalidInput):
        users.revoke_role(session=session, user=admin, role="admin")
    with pytest.raises(InvalidInput):
        users.set_active(session=session, user=admin, active=False)


def test_mail_goes_to_the_outbox_without_smtp(shop_env: Path):
    path = mail.send_mail(mail.Mail(to="a@example.com", subject="Hello", text="Body text"))
    assert path is not None
    assert path.parent == shop_env / "outbox"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "a@example.com"
    assert message.get_content().strip() == "Body text"


def test_mail_is_sent_after_commit_and_dropped_on_rollback(smtp_inbox, shop_env: Path):
    # when a transaction queues a mail and rolls back, nothing is sent
    def queue_then_fail() -> None:
        with db.session_scope() as session:
            mail.send_after_commit(session, mail.Mail(to="x@example.com", subject="No", text="no"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        queue_then_fail()
    assert smtp_inbox.messages == []
    # when one commits, its mail reaches the SMTP server
    with db.session_scope() as session:
        mail.send_after_commit(session, mail.Mail(to="y@example.com", subject="Yes", text="yes"))
        assert smtp_inbox.messages == []
    assert smtp_inbox.last_to("y@example.com")["Subject"] == "Yes"


def test_the_cli_and_the_bootstrap_find_an_account_by_any_spelling_of_its_address(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch
):
    # given an account the CLI created under a fullwidth, capitalised, dot-ended spelling
    assert cli(["users", "create", "Ｄana@Example.com.", "--role", "support"]) == 0
    # when the CLI grants a role under the plain spelling and the configured admin uses a third
    assert cli(["users", "grant", "dana@example.com", "admin"]) == 0
    monkeypatch.setenv("SHOP_ADMIN_EMAIL", "DANA@example.com")
    monkeypatch.setenv("SHOP_ADMIN_PASSWORD", "the configured owner passphrase")
    get_settings.cache_clear()
    with db.session_scope() as session:
        users.bootstrap_admin(session=session)
    # then all of it happened to one account
    with db.session_scope() as session:
        assert [u.email for u in session.exec(select(User)).all()] == ["dana@example.com"]
        assert _roles(session, "dana@example.com") == ["admin", "support"]
        assert auth.sign_in(
            session=session, email="dana@example.com", password="the configured owner passphrase"
        )
