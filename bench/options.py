"""Command-line options the benchmarks share."""
from __future__ import annotations

import argparse

import yaml


def seeder_setting(text: str) -> tuple:
    """--seeder KEY=VALUE: a `seeder:` setting of the YAML, for a tuning run against one origin."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def add_seeder_option(parser: argparse.ArgumentParser):
    parser.add_argument("--seeder", type=seeder_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a seeder: setting of the YAML for a tuning run, e.g. unchoke_slots=3")
