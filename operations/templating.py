"""Render the files under templates/ from settings and platform values only."""

from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    # Compiled templates kept between runs (Jinja's per-user 0700 directory under $TMPDIR, checked
    # against each template's source): compiling them would cost every run's planning again.
    bytecode_cache=jinja2.FileSystemBytecodeCache(),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def render(template: str, **context) -> str:
    return _env.get_template(template).render(**context)
