"""Real mail through a deployed host: send over SMTP, read mailboxes and logs over SSH.

Used by the sandbox's verdict and by the end-to-end tests, against the sandbox or any host
whose port 25 and SSH are reachable.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import shlex
import smtplib
import subprocess
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage

from mailguard.layout import REDIS_CLIENT_AUTH

# The public half of a private key, as the DKIM record's p= value (as the deploy's read derives it).
PUBLIC_KEY_COMMAND = "openssl pkey -in {path} -pubout -outform DER 2>/dev/null | base64 -w0"
# The tests' own redis-cli: as the deploy's own Redis user where a group's Redis has users.
REDIS_CLI = (
    f"{{ read -r u && read -r a; }} 2>/dev/null <{REDIS_CLIENT_AUTH}; "
    '[ -z "${a:-}" ] || export REDISCLI_AUTH="$a"; '
    'redis-cli ${a:+--user "$u"}'
)

# The EICAR test file, split so that no scanner flags this source file.
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# A client address outside every list, spoken as through XCLIENT (documentation range).
EXTERNAL_CLIENT = "203.0.113.5"
CLIENT_HELO = "client.example.net"  # the HELO a probe speaks unless it says another
# The add_header-band probe's HELO: a bare name, which hfilter scores 3 on every release (and
# resolves nowhere, so no lookup's answer moves it). +5 through the maps and an unknown client's
# scores then land the probe mid-band on rspamd 3.4 to 4.1.
BAND_HELO = "client"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*" + "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@dataclass
class Target:
    ssh: list[str]  # ssh command prefix reaching root on the host
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25

    def sh(self, command: str, check: bool = True, timeout: float = 120) -> str:
        result = subprocess.run(self.ssh + [command], capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"{command!r} failed on the host: {result.stderr.strip()}")
        return result.stdout


@dataclass
class Sent:
    code: int
    reply: str
    token: str  # unique text in the body and Subject: finds the delivered copy

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300


def message(
    mail_from: str, rcpt: str, body: str = "", attachment: bytes | None = None, subject: str = "probe"
) -> tuple[EmailMessage, str]:
    token = uuid.uuid4().hex
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = rcpt
    msg["Subject"] = f"{subject} {token}"
    msg["Message-ID"] = f"<{token}@{mail_from.split('@')[1]}>"
    msg["Date"] = email.utils.formatdate(localtime=False)
    # Unique bodies: greylisting keys on the body too.
    msg.set_content(f"{body}\n\nprobe {token}\n")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="file.com")
    return msg, token


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def send(target: Target, msg: EmailMessage, token: str, client_ip: str | None = None, helo: str = CLIENT_HELO) -> Sent:
    """Send over SMTP; ``client_ip`` speaks as that client through XCLIENT."""
    with smtplib.SMTP(target.smtp_host, target.smtp_port, timeout=60) as smtp:
        smtp.ehlo(helo)
        if client_ip:
            code, reply = smtp.docmd("XCLIENT", f"ADDR={client_ip} NAME=[UNAVAILABLE] HELO={helo}")
            if code != 220:
                raise RuntimeError(f"XCLIENT refused: {code} {reply!r}")
            smtp.ehlo(helo)
        try:
            smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            return Sent(code, _text(reply), token)
        except smtplib.SMTPDataError as error:
            return Sent(error.smtp_code, _text(error.smtp_error), token)
        except smtplib.SMTPSenderRefused as error:
            return Sent(error.smtp_code, _text(error.smtp_error), token)
        return Sent(250, "queued", token)


def delivered(target: Target, user: str, token: str, timeout: float = 30) -> email.message.Message | None:
    """The message with ``token`` in ``user``'s Maildir, waiting for delivery."""
    deadline = time.monotonic() + timeout
    while True:
        raw = target.sh(
            f"grep -rl -- {token} /home/{user}/Maildir/new 2>/dev/null | head -1 | xargs -r cat", check=False
        )
        if raw:
            return email.message_from_string(raw, policy=email.policy.compat32)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def raw_delivered(target: Target, user: str, token: str) -> bytes:
    raw = target.sh(f"grep -rl -- {token} /home/{user}/Maildir/new | head -1 | xargs -r cat")
    return raw.encode()


def rspamd_log_for(target: Target, token: str) -> str:
    """rspamd's task log line for the message whose Message-ID holds ``token``."""
    return target.sh(
        f"grep -h -- {token} /var/log/rspamd/rspamd.log | grep rspamd_task_write_log | tail -1", check=False
    )


def dkim_public_key(target: Target, path: str) -> str:
    return target.sh(PUBLIC_KEY_COMMAND.format(path=shlex.quote(path))).strip()


def delivered_tokens(target: Target, user: str) -> set[str]:
    """The tokens of every probe message in ``user``'s Maildir, in one command."""
    out = target.sh(
        f"grep -rhoE 'probe [0-9a-f]{{32}}' /home/{user}/Maildir/new /home/{user}/Maildir/cur 2>/dev/null || true"
    )
    return {line.split()[1] for line in out.splitlines() if line.strip()}


def queue_empty(target: Target, timeout: float = 90) -> bool:
    """Wait until Postfix's queue holds nothing (everything delivered or bounced)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Mail queue is empty" in target.sh("postqueue -p", check=False):
            return True
        time.sleep(0.5)
    return False


def unscanned_tokens(target: Target, user: str) -> set[str]:
    """Tokens of delivered probes that rspamd never saw (no Authentication-Results header)."""
    out = target.sh(
        f"grep -rL '^Authentication-Results:' /home/{user}/Maildir/new /home/{user}/Maildir/cur 2>/dev/null"
        " | xargs -r grep -hoE 'probe [0-9a-f]{32}' || true"
    )
    return {line.split()[1] for line in out.splitlines() if line.strip()}
