"""Messages of realistic size and shape for the mail bench (bench/mail.py), made here from a fixed
seed: plain text, an HTML newsletter, a text with a PDF-sized attachment, Japanese in ISO-2022-JP
(as Japanese mail clients still send it) and Japanese HTML in UTF-8. Every message is unique (its
token in the Subject, the Message-ID and the body), so that no cache answers for a scan."""

from __future__ import annotations

import email.utils
import random
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

WORDS = [
    "meeting",
    "schedule",
    "report",
    "quarterly",
    "update",
    "project",
    "review",
    "budget",
    "deadline",
    "customer",
    "order",
    "invoice",
    "delivery",
    "shipment",
    "account",
    "service",
    "support",
    "release",
    "version",
    "change",
    "request",
    "approval",
    "team",
    "office",
]
JAPANESE = (
    "お世話になっております。来週の打ち合わせの件でご連絡いたしました。資料を添付いたしますので、"
    "ご確認のほどよろしくお願いいたします。日程につきましては、火曜日の午後はいかがでしょうか。"
)
SHAPES = ("plain", "html", "attachment", "iso-2022-jp", "utf-8-html")


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))).capitalize() + "." for _ in range(count)]


def _headers(msg, token: str, number: int, subject: str, charset: str = "utf-8") -> None:
    msg["From"] = f"Sender {number % 50} <sender{number % 50}@outside{number % 7}.example.net>"
    msg["To"] = "bob@example.com"
    msg["Subject"] = Header(f"{subject} {token}", charset) if charset != "utf-8" else f"{subject} {token}"
    msg["Message-ID"] = f"<{token}@outside.example.net>"
    msg["Date"] = email.utils.formatdate(localtime=False)


def message(shape: str, number: int, seed: int = 2026) -> tuple[bytes, str]:
    """(the message's bytes, its token) for ``shape``, the ``number``-th of the stream."""
    rng = random.Random(f"{seed}-{shape}-{number}")
    token = f"bench{number:06d}{rng.getrandbits(40):010x}"
    if shape == "plain":
        msg = EmailMessage()
        _headers(msg, token, number, "Status")
        msg.set_content("\n\n".join(_paragraphs(rng, 4)) + f"\n\n{token}\n")
    elif shape == "html":
        msg = EmailMessage()
        _headers(msg, token, number, "Newsletter")
        paragraphs = _paragraphs(rng, 12)
        msg.set_content("\n\n".join(paragraphs) + f"\n\n{token}\n")
        links = "".join(
            f'<p>{p} <a href="https://news{i}.example.org/a/{token}">more</a></p>' for i, p in enumerate(paragraphs)
        )
        msg.add_alternative(f"<html><body><h1>News</h1>{links}<p>{token}</p></body></html>", subtype="html")
    elif shape == "attachment":
        msg = EmailMessage()
        _headers(msg, token, number, "Invoice")
        msg.set_content("\n\n".join(_paragraphs(rng, 2)) + f"\n\n{token}\n")
        msg.add_attachment(rng.randbytes(120_000), maintype="application", subtype="pdf", filename="invoice.pdf")
    elif shape == "iso-2022-jp":
        mime = MIMEText(JAPANESE * 4 + f"\n{token}\n", "plain", "iso-2022-jp")
        _headers(mime, token, number, "打ち合わせの件", "iso-2022-jp")
        return mime.as_bytes(), token
    else:  # utf-8-html
        mime = MIMEMultipart("alternative")
        _headers(mime, token, number, "お知らせ")
        mime.attach(MIMEText(JAPANESE * 6 + f"\n{token}\n", "plain", "utf-8"))
        body = "".join(f"<p>{JAPANESE}</p>" for _ in range(6))
        mime.attach(MIMEText(f"<html><body>{body}<p>{token}</p></body></html>", "html", "utf-8"))
        return mime.as_bytes(), token
    return msg.as_bytes(), token


def stream(count: int, first: int = 0) -> list[tuple[bytes, str]]:
    """``count`` messages from the ``first``-th of the stream, the shapes in turn."""
    return [message(SHAPES[n % len(SHAPES)], n) for n in range(first, first + count)]
