"""Rendering the httpd templates under conf/: `@name@` placeholders, every one required.

`@name@` rather than `$name` or `%s`: Apache configs are full of `$1`, `%{VAR}` and `${VAR}`.
"""
from __future__ import annotations

import re
from pathlib import Path

_PLACEHOLDER = re.compile(r"@([a-z_]+)@")


class TemplateError(Exception):
    """A template names a value the caller did not give (a programming error, not the user's)."""


def conf_dir() -> Path:
    """conf/ of this checkout or installation."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "conf", Path("/usr/share/torrentweb/conf")):
        if candidate.is_dir():
            return candidate
    raise TemplateError(f"no conf/ directory with the httpd templates next to {here}")


def render(name: str, values: dict) -> str:
    """Fill conf/<name> with values; fail on a placeholder without a value."""
    text = (conf_dir() / name).read_text(encoding="utf-8")
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise TemplateError(f"{name}: no value for {', '.join('@' + m + '@' for m in missing)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)
