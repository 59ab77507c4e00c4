"""Handing a message over: to an SMTP server, or (with none configured) to the outbox folder.

``TWIN_SMTP_URL`` forms:

* ``smtp://host:25``: plain SMTP (a local relay); add ``?starttls=1`` to upgrade with STARTTLS;
* ``smtp+starttls://user:password@host:587``: STARTTLS, then log in;
* ``smtps://user:password@host:465``: TLS from the first byte.

User and password are URL-encoded in the URL. Failures are sorted into temporary ones (the
server is down, busy, or answered 4xx: worth retrying) and permanent ones (5xx, a refused
recipient, bad credentials: retrying would not help).
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from settings import Settings, SettingsError

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class DeliveryError(Exception):
    """The message was not handed over. ``temporary`` says whether a retry may succeed."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: str  # "none", "starttls" or "ssl"
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise SettingsError(
                "smtp.url must look like smtp://host:25, smtp+starttls://user:password@host:587 "
                "or smtps://user:password@host:465"
            )
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
        security = {"smtps": "ssl", "smtp+starttls": "starttls"}.get(scheme, "starttls" if starttls else "none")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[scheme],
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def send_smtp(message: EmailMessage, target: SmtpTarget, timeout_s: float) -> None:
    """One connection per message: a failure affects only that message, and nothing is left
    half-open between tasks."""
    context = ssl.create_default_context()
    try:
        if target.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout_s,
                                                    context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout_s)
        with client:
            if target.security == "starttls":
                client.starttls(context=context)
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(f"{r} ({code} {text.decode(errors='replace')})"
                            for r, (code, text) in exc.recipients.items())
        raise DeliveryError(f"the server refused the recipient: {refused}",
                            temporary=all(400 <= code < 500 for code, _ in exc.recipients.values())) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"the SMTP server refused the login ({exc.smtp_code})", temporary=False) from exc
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryError(f"the SMTP server answered {exc.smtp_code} {text}".strip(),
                            temporary=400 <= exc.smtp_code < 500) from exc
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        raise DeliveryError(f"could not reach the SMTP server at {target}: {exc or type(exc).__name__}",
                            temporary=True) from exc


def write_outbox(message: EmailMessage, folder: Path, name: str) -> Path:
    """Write ``message`` to ``folder/name.eml`` atomically (a reader never sees half a file, and
    writing the same message again replaces it instead of adding a copy)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    temporary.write_bytes(bytes(message))
    os.replace(temporary, path)
    return path


def hand_over(message: EmailMessage, settings: Settings, name: str) -> Path | None:
    """Send by SMTP when configured (returns None), else write to the outbox (returns the file)."""
    if settings.smtp.url:
        try:
            target = SmtpTarget.from_url(settings.smtp.url)
        except SettingsError as exc:  # a wrong setting: no retry can help, and it must show
            raise DeliveryError(str(exc), temporary=False) from exc
        send_smtp(message, target, settings.smtp.timeout_s)
        return None
    return write_outbox(message, settings.outbox_path, name)
