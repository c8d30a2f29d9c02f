"""The documentation cannot drift from the code: every key, with its default, in conf/ and README."""
import dataclasses
import re
from pathlib import Path

import yaml

from torrentweb import config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "conf" / "torrentweb.yaml"
EXAMPLES_NOT_DEFAULTS = {"docroot", "base_url", "rules", "exclude"}


def key_paths(cls, prefix=""):
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        name = prefix + f.name
        yield name, f
        if dataclasses.is_dataclass(f.default) and "parse" not in f.metadata:
            yield from key_paths(type(f.default), name + ".")


def test_readme_carries_the_example_config_verbatim():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- config:begin -->\n```yaml\n(.*?)```\n<!-- config:end -->", readme, re.S)
    assert m, "README.md lacks the config block: run scripts/sync-readme-config"
    assert m.group(1) == EXAMPLE.read_text(), "README.md's config block is stale: run scripts/sync-readme-config"


def test_every_key_is_in_the_example_with_its_default():
    raw = yaml.safe_load(EXAMPLE.read_text())
    loaded = config.loads(EXAMPLE.read_text().replace("/var/www/html", str(ROOT / "demo" / "site")))
    for name, f in key_paths(config.Config):
        node, value = raw, loaded
        for part in name.split("."):
            assert part in node, f"{name} is not in conf/torrentweb.yaml"
            node, value = node[part], getattr(value, part)
        if name in EXAMPLES_NOT_DEFAULTS or (dataclasses.is_dataclass(value) and "parse" not in f.metadata):
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if name == "state_dir":
            default = Path(default)
        assert value == default, f"{name}: conf/torrentweb.yaml shows {value!r}, the default is {default!r}"
