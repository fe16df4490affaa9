"""E-mail over SMTP (smtplib): one plain-text message to the person's address.

The channel's URL is `smtp://[user@]host[:port]` (port 25 by default; `starttls = true` upgrades it) or
`smtps://[user@]host[:port]` (TLS from the start, port 465); the password comes from `secret_env`.
SMTP has no read-back: a message whose answer was lost after the data went out is not re-sent (its
Message-ID, derived from the alert ids, lets a mail system drop a copy if an operator re-sends it).
"""
from __future__ import annotations

import hashlib
import smtplib
import socket
from email.message import EmailMessage
from email.utils import formatdate
from typing import Callable
from urllib.parse import unquote, urlsplit

from alerts.events import Message
from connectors.errors import OutcomeUnknown, PermanentError, RetryableError

# Seconds to wait for the SMTP server on connect and on each command.
TIMEOUT = 15.0


class EmailChannel:
    """One SMTP server and From address."""

    kind = "email"
    idempotent = False
    digests = True

    def __init__(self, name: str, url: str, sender: str, password: str | None = None, starttls: bool = False,
                 smtp: Callable[..., smtplib.SMTP] | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"email channel {name}: expected a URL like smtp://host:25 or smtps://host:465")
        self.name, self.sender, self.starttls = name, sender, starttls
        self.tls = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self._password = password
        self._smtp = smtp or (smtplib.SMTP_SSL if self.tls else smtplib.SMTP)

    def build(self, message: Message) -> EmailMessage:
        """The e-mail: To the person, the alert's first line as its subject, its text as the body."""
        if not message.email:
            raise PermanentError(f"email channel {self.name}: {message.person_name} has no e-mail address "
                                 "(people.<name>.email)")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.email, message.subject
        mail["Date"] = formatdate(localtime=False)
        key = hashlib.sha256("\n".join(message.ids).encode()).hexdigest()[:32]
        mail["Message-ID"] = f"<{key}@slaclock>"
        mail.set_content(f"{message.person_name},\n\n{message.text}\n\n-- slaclock\n")
        return mail

    def send(self, message: Message) -> None:
        """Send the e-mail; RetryableError when not connected or refused for now (4xx), PermanentError when
        refused (5xx), OutcomeUnknown when the connection broke after the data went out."""
        mail = self.build(message)
        what = f"email channel {self.name}"
        try:
            client = self._smtp(self.host, self.port, timeout=TIMEOUT)
        except (OSError, smtplib.SMTPException) as e:
            raise RetryableError(f"{what}: could not connect to {self.host}:{self.port} ({type(e).__name__})") \
                from None
        sent = False
        try:
            with client:
                if self.starttls and not self.tls:
                    client.starttls()
                if self.user:
                    client.login(self.user, self._password or "")
                sent = True  # from here on the server may have taken the message
                client.send_message(mail)
        except smtplib.SMTPAuthenticationError as e:
            raise PermanentError(f"{what}: login refused ({e.smtp_code})", e.smtp_code) from None
        except smtplib.SMTPRecipientsRefused as e:
            codes = sorted({code for code, _ in e.recipients.values()})
            error = RetryableError if codes and all(400 <= c < 500 for c in codes) else PermanentError
            raise error(f"{what}: recipient refused ({', '.join(map(str, codes))})", codes[0] if codes else None) \
                from None
        except smtplib.SMTPResponseException as e:
            error = RetryableError if 400 <= e.smtp_code < 500 else PermanentError
            raise error(f"{what}: refused ({e.smtp_code})", e.smtp_code) from None
        except (smtplib.SMTPServerDisconnected, socket.timeout, OSError) as e:
            if sent:
                raise OutcomeUnknown(f"{what}: connection lost while sending ({type(e).__name__})") from None
            raise RetryableError(f"{what}: connection lost ({type(e).__name__})") from None
