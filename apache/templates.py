"""Rendering the httpd templates under conf/: `@name@` placeholders, every one required.

`@name@` rather than `$name` or `%s`: Apache configs are full of `$1`, `%{VAR}` and `${VAR}`.
"""
from __future__ import annotations

import re
from torrentweb.errors import TorrentwebError
from torrentweb.resources import conf_dir

_PLACEHOLDER = re.compile(r"@([a-z][a-z0-9_]*)@")


class TemplateError(TorrentwebError):
    """A template is missing from the installation, or names a value the caller did not give."""


def render(name: str, values: dict) -> str:
    """Fill conf/<name> with values; fail on a placeholder without a value."""
    try:
        text = (conf_dir() / name).read_text(encoding="utf-8")
    except OSError as e:
        raise TemplateError(f"{conf_dir() / name}: the httpd template is missing from this "
                            f"installation ({e.strerror}); reinstall torrentweb") from None
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise TemplateError(f"{name}: no value for {', '.join('@' + m + '@' for m in missing)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)
