"""The one way the shop sends email: SMTP when `SMTP_URL` is set, else `.eml` files in the outbox.

`SMTP_URL` is `smtp://user:password@host:port` (STARTTLS when the server offers it) or
`smtps://…` (TLS from the first byte). Services never send inside a transaction: they call
`send_after_commit(session, message)` and the message leaves once the transaction commits
(and never if it rolls back).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlparse

from sqlalchemy import event
from sqlmodel import Session

from shop.db import after_unlock
from shop.models import utcnow
from shop.settings import get_settings

log = logging.getLogger("shop.mail")
_PENDING_KEY = "shop_pending_mail"
_LISTENING_KEY = "shop_mail_listening"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None  # an HTML alternative to `text`, when there is one


def build_message(mail: Mail) -> EmailMessage:
    settings = get_settings()
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="shop.local")
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def send_mail(mail: Mail) -> Path | None:
    """Send now; returns the outbox file when there is no SMTP server configured."""
    settings = get_settings()
    message = build_message(mail)
    if settings.smtp_url:
        _send_smtp(settings.smtp_url, message)
        return None
    outbox = settings.outbox_dir()
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    path.write_bytes(message.as_bytes())
    return path


def _send_smtp(url: str, message: EmailMessage) -> None:
    parsed = urlparse(url)
    host = parsed.hostname or "localhost"
    if parsed.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, parsed.port or 465, timeout=30, context=ssl.create_default_context()
        )
    elif parsed.scheme == "smtp":
        client = smtplib.SMTP(host, parsed.port or 25, timeout=30)
    else:
        raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {parsed.scheme}://")
    with client:
        client.ehlo()
        if parsed.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if parsed.username:
            client.login(unquote(parsed.username), unquote(parsed.password or ""))
        client.send_message(message)


def send_after_commit(session: Session, mail: Mail) -> None:
    """Queue `mail` on this transaction: it is sent after commit, dropped on rollback."""
    if not session.info.get(_LISTENING_KEY):
        session.info[_LISTENING_KEY] = True
        event.listen(session, "after_commit", _flush_pending)
        event.listen(session, "after_rollback", _drop_pending)
    session.info.setdefault(_PENDING_KEY, []).append(mail)


def _flush_pending(session: Session) -> None:
    pending: list[Mail] = session.info.pop(_PENDING_KEY, [])
    if pending:
        after_unlock(session, lambda: _send_all(pending))


def _send_all(pending: list[Mail]) -> None:
    for mail in pending:
        try:
            send_mail(mail)
        except Exception:  # the transaction is committed: report, do not undo it
            log.exception("sending mail failed", extra={"to": mail.to, "subject": mail.subject})


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
