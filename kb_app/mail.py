"""Sending mail over SMTP with the deployment's settings: one connection per batch, STARTTLS and
login when configured. Callers log and commit each message as it goes, so a server that fails
half-way leaves what was sent logged and the rest for the next run."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from kb_app.config import Settings


@contextmanager
def smtp_connection(settings: Settings) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        yield smtp


def message(settings: Settings, recipient: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message from the deployment's sender."""
    found = EmailMessage()
    found["From"] = settings.mail_from
    found["To"] = recipient
    found["Subject"] = subject
    found.set_content(body)
    return found
