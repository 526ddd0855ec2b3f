"""Capture every SES v2 SendEmail request the handlers make (the exact payload that went
to SES) and write each email as .html and .eml files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from .intercept import observe_calls


@dataclass
class OutgoingEmail:
    message_id: str
    sender: str
    to: list[str]
    bcc: list[str]
    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def as_eml(self) -> bytes:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        if self.bcc:
            message["Bcc"] = ", ".join(self.bcc)
        message["Subject"] = self.subject
        message["Message-ID"] = f"<{self.message_id}@email.amazonses.com>"
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text or "")
        message.add_alternative(self.html or "", subtype="html")
        return bytes(message)


@dataclass
class Mailbox:
    emails: list[OutgoingEmail] = field(default_factory=list)

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for number, email in enumerate(self.emails, start=1):
            stem = f"{number:03d}-" + re.sub(r"[^a-z0-9]+", "-", email.subject.lower()).strip("-")[:60]
            (folder / f"{stem}.html").write_text(email.html)
            (folder / f"{stem}.eml").write_bytes(email.as_eml())
            written.append(folder / f"{stem}.eml")
        return written


@contextmanager
def capture_emails() -> Iterator[Mailbox]:
    """Record every SES v2 SendEmail request made inside the block."""
    mailbox = Mailbox()

    def capture(service: str, operation: str, params: dict[str, Any], response: dict) -> None:
        if service != "sesv2" or operation != "SendEmail":
            return
        simple = params.get("Content", {}).get("Simple", {})
        body = simple.get("Body", {})
        destination = params.get("Destination", {})
        mailbox.emails.append(OutgoingEmail(
            message_id=response.get("MessageId", ""),
            sender=params.get("FromEmailAddress", ""),
            to=list(destination.get("ToAddresses", [])),
            bcc=list(destination.get("BccAddresses", [])),
            subject=simple.get("Subject", {}).get("Data", ""),
            html=body.get("Html", {}).get("Data", ""),
            text=body.get("Text", {}).get("Data", ""),
            headers={h["Name"]: h["Value"] for h in simple.get("Headers", [])},
        ))

    with observe_calls(capture):
        yield mailbox
