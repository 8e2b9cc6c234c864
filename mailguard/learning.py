"""Dovecot as the deploy finds it: its series (2.3 or 2.4 syntax), and what of an admin's own
configuration its Junk filing and learning would take (read by preflight, before any change)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import layout, names

if TYPE_CHECKING:
    from .settings import Settings

SIEVE_PLUGINS = ("sieve_imapsieve", "sieve_extprograms")
# pipe only in global scripts, never in a user's own
SIEVE_GLOBAL_EXTENSIONS = ("+vnd.dovecot.pipe", "+vnd.dovecot.environment")
# Dovecot series -> its configuration template (2.4 renamed and restructured the settings)
TEMPLATES = {"2.3": "dovecot/learning-2.3.conf.j2", "2.4": "dovecot/learning-2.4.conf.j2"}


@dataclass(frozen=True)
class Dovecot:
    version: str  # as `dovecot --version` gives it: 2.3.19.1, 2.4.1-4
    sieve_before: str = ""  # 2.3: plugin/sieve_before and imapsieve_mailbox1_name as configured now
    imapsieve_mailbox1: str = ""
    sieve_plugins: str = ""  # 2.3: plugin/sieve_plugins and sieve_global_extensions as configured now
    sieve_global_extensions: str = ""
    mail_access_groups: str = ""  # 2.3: the admin's own global value (ours goes in protocol imap)

    def access_groups_with(self, group: str) -> str:
        """2.3's mail_access_groups for imap: the admin's groups (comma-separated), then ``group``."""
        groups = [g for g in self.mail_access_groups.replace(" ", ",").split(",") if g]
        return ",".join([*groups, *([group] if group not in groups else [])])

    def with_ours(self, setting: str, ours: tuple[str, ...]) -> str:
        """A 2.3 plugin setting (a word list) with our words added to the admin's, once each."""
        words = getattr(self, setting).split()
        return " ".join([*words, *(word for word in ours if word not in words)])

    @property
    def series(self) -> str | None:
        """ "2.3" or "2.4" (a later 2.x is configured as 2.4); None for one older than 2.3."""
        parts = self.version.split("-")[0].split(".")
        try:
            major, minor = int(parts[0]), int(parts[1])
        except (IndexError, ValueError):
            return None
        if (major, minor) < (2, 3):
            return None
        return "2.3" if (major, minor) == (2, 3) else "2.4"

    def taken(self) -> str | None:
        """A 2.3 setting the admin's own configuration already uses, which ours would replace."""
        if self.series != "2.3":
            return None
        ours = f"{layout.SIEVE_DIR}/junk.sieve"
        if self.sieve_before and self.sieve_before != ours:
            return f"plugin/sieve_before is already {self.sieve_before}"
        if self.imapsieve_mailbox1 and self.sieve_before != ours:
            return f"plugin/imapsieve_mailbox1_name is already {self.imapsieve_mailbox1}"
        return None


def detect(system: dict) -> Dovecot | None:
    """From preflight's profile of the host."""
    if not system.get("dovecot"):
        return None
    return Dovecot(
        system["dovecot"],
        system.get("dovecot_sieve_before", ""),
        system.get("dovecot_imapsieve_mailbox1", ""),
        system.get("dovecot_sieve_plugins", ""),
        system.get("dovecot_sieve_global_extensions", ""),
        system.get("dovecot_mail_access_groups", ""),
    )


def refusal(settings: Settings, system: dict) -> str | None:
    """Why the deploy must not touch this host's Dovecot, in one line; None when it may."""
    found = detect(system) if settings.dovecot_learning else None
    taken = found.taken() if found else None
    if taken:
        return (
            f"dovecot_learning: {taken} in your Dovecot configuration, and Junk filing would replace it: "
            "set dovecot_learning = false, or keep your script in sieve_before2"
        )
    return None


def skipped(settings: Settings, found: Dovecot | None) -> str | None:
    """Why there is no Junk filing or learning on this host; None when there is."""
    if not settings.dovecot_learning:
        return "dovecot_learning is off"
    if found is None:
        return "Dovecot is not installed"
    if found.series is None:
        return f"Dovecot {found.version} is older than 2.3"
    return None


def sieve_compile(dovecot_conf: str) -> tuple[str, ...]:
    """sievec reads the configuration file itself, not the running Dovecot's (which may be older)."""
    return ("sievec", "-c", dovecot_conf, layout.SIEVE_DIR)


# What learn.py accepts of a user name that Dovecot lists: anything a mail system may call a user
# (spaces, $, backticks, quotes, a leading -, UTF-8) reaches doveadm as one argument, but doveadm
# takes * and ? in -u as wildcards (another user's mail).
USER_WILDCARDS = "*?"


def user_problem(user: str) -> str | None:
    """Why learn.py must leave this Dovecot user alone, in a few words; None when it may learn."""
    if any(c in user for c in USER_WILDCARDS):
        return "doveadm would take its * or ? as a wildcard for other users"
    return names.text_problem(user)
