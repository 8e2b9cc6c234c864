"""Small facts the built-in pyinfra facts lack. Each prints only what the deploy needs."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

EXISTS_MARK = "__mailguard_file__"


class FileText(FactBase):
    """The text of a file, or None when it does not exist."""

    default = lambda self: None  # noqa: E731

    def command(self, path):
        path = shlex.quote(path)
        return f"if [ -f {path} ]; then echo {EXISTS_MARK}; cat {path}; fi"

    def process(self, output):
        if not output or output[0] != EXISTS_MARK:
            return None
        return "".join(line + "\n" for line in output[1:])


class FirstExistingFile(FactBase):
    """The first of the given paths that exists, or None."""

    default = lambda self: None  # noqa: E731

    def command(self, paths):
        tests = " ".join(shlex.quote(p) for p in paths)
        return f"for p in {tests}; do if [ -f \"$p\" ]; then echo \"$p\"; break; fi; done"

    def process(self, output):
        return output[0] if output else None


class GroupsOf(FactBase):
    """The groups a user belongs to (empty when the user does not exist)."""

    default = list

    def command(self, user):
        return f"id -Gn {shlex.quote(user)} 2>/dev/null || true"

    def process(self, output):
        return " ".join(output).split()


class PostconfValues(FactBase):
    """Postfix main.cf values as postconf reports them (defaults included)."""

    default = dict
    requires_command = "postconf"

    def command(self, names):
        return "postconf " + " ".join(shlex.quote(n) for n in names)

    def process(self, output):
        values = {}
        for line in output:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
        return values


class DkimPublicKey(FactBase):
    """base64 SubjectPublicKeyInfo of a private key file: only the public half leaves the host."""

    default = lambda self: None  # noqa: E731
    requires_command = "openssl"

    def command(self, path):
        path = shlex.quote(path)
        return f"if [ -f {path} ]; then openssl pkey -in {path} -pubout -outform DER | base64 | tr -d '\\n'; echo; fi"

    def process(self, output):
        value = "".join(output).strip()
        return value or None


class FilesMatching(FactBase):
    """Paths matching shell globs (unquoted on purpose: the globs are ours, not user input)."""

    default = list

    def command(self, globs):
        return f"ls -1d {' '.join(globs)} 2>/dev/null || true"

    def process(self, output):
        return [line for line in output if line]
