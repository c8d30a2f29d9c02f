"""Module fixtures of the browser tests: one Chromium and one site (daemon + Apache) per module,
a fresh browser context per test (harness/browser.py, tests/support/loadersite.py)."""
import pytest

from harness.browser import chromium
from support.loadersite import start_loader_site


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def loader_site(tmp_path_factory):
    yield from start_loader_site(tmp_path_factory.mktemp("loader-site"))
