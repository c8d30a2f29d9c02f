"""Bad YAML gets an error naming file, line and key; the CLI exits 2 with it."""
import textwrap

import pytest

from torrentweb import cli, config
from torrentweb.errors import ConfigError


def write(tmp_path, text):
    (tmp_path / "www").mkdir(exist_ok=True)
    p = tmp_path / "tw.yaml"
    p.write_text(textwrap.dedent(text))
    return p


GOOD = """\
    docroot: www
    base_url: https://www.example.org
    rules:
      - mimetype: "image/*"
        min_size: 64KiB
      - mimetype: "application/zip"
        max_size: 4GiB
    exclude: ["private/**", "**/.*"]
    seeder:
      listen: 0.0.0.0:6881
    tracker:
      http: 127.0.0.1:6969
      udp: 127.0.0.1:6969
      websocket: 127.0.0.1:6970
      announce: []
    """


def test_the_documented_keys_load_into_typed_settings(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.docroot == (tmp_path / "www").resolve()
    assert cfg.base_url == "https://www.example.org/"
    assert cfg.rules[0].min_size == 64 * 1024 and cfg.rules[1].max_size == 4 * 1024**3
    assert str(cfg.seeder.listen) == "0.0.0.0:6881" and cfg.tracker.udp.port == 6969
    assert cfg.announce_urls() == ("https://www.example.org/announce", "wss://www.example.org/announce")


@pytest.mark.parametrize("text, message", [
    ("docroot: www\nbase_url: http://x/\nseeder:\n  listen: 7\n",
     "tw.yaml:4:11: seeder.listen: expected host:port (IPv6 as [::1]:port), got 7"),
    ("docroot: www\nbase_url: http://x/\nseeder:\n  lisen: 0.0.0.0:1\n",
     "tw.yaml:4:3: seeder.lisen: unknown key; expected one of"),
    ("base_url: http://x/\nrules: []\n",
     "tw.yaml:1:1: docroot: required key is missing"),
    ("docroot: www\nbase_url: http://x/\nrules:\n  - min_size: 1KiB\n",
     "tw.yaml:4:5: rules[0].mimetype: required key is missing"),
    ("docroot: www\nbase_url: http://x/\nrules:\n  - mimetype: image/*\n    max_size: big\n",
     "tw.yaml:5:15: rules[0].max_size: expected a size such as 64KiB, 4GiB or a number of bytes, got 'big'"),
    ("docroot: www\nbase_url: http://x/\ntorrents:\n  hybrid: yes please\n",
     "tw.yaml:4:11: torrents.hybrid: expected true or false, got 'yes please'"),
    ("docroot: nowhere\nbase_url: http://x/\n",
     "tw.yaml:1:10: docroot: expected an existing directory"),
    ("docroot: www\nbase_url: ftp://x/\n",
     "tw.yaml:2:11: base_url: expected an absolute http:// or https:// URL, got 'ftp://x/'"),
    ("docroot: www\nbase_url: http://x/\nrules: [\n",
     "tw.yaml:4:1: not valid YAML"),
    ("docroot: www\nbase_url: http://x/\ntracker:\n  max_connections: 0\n",
     "tw.yaml:4:20: tracker.max_connections: expected at least 1 connections, got 0"),
    ("docroot: www\nbase_url: http://x/\ntracker:\n  header_timeout: -1\n",
     "tw.yaml:4:19: tracker.header_timeout: expected a number of seconds of at least 1, got -1"),
    ("docroot: www\nbase_url: http://x/\ntracker:\n  max_peers_per_swarm: many\n",
     "tw.yaml:4:24: tracker.max_peers_per_swarm: expected a whole number of peers, got 'many'"),
    ("docroot: www\nbase_url: http://x/\ntorrents:\n  web_seeds: [http://a/, ftp://b/]\n",
     "tw.yaml:4:14: torrents.web_seeds: expected an absolute http:// or https:// URL, got 'ftp://b/'"),
    ("docroot: www\nbase_url: http://x/\ntorrents:\n  web_seeds: [http://a/, http://a]\n",
     "tw.yaml:4:14: torrents.web_seeds: 'http://a/' is listed twice"),
    ("docroot: www\nbase_url: http://x/\npages:\n  dynamic:\n    paths: [blog/]\n",
     "tw.yaml:5:12: pages.dynamic.paths: expected URL paths such as /blog/ (starting with /, no query, "
     "quote or space), got 'blog/'"),
    ("docroot: www\nbase_url: http://x/\npages:\n  dynamic:\n    content_types: [html]\n",
     "tw.yaml:5:20: pages.dynamic.content_types: expected content types such as text/html, got 'html'"),
    ("docroot: www\nbase_url: http://x/\npages:\n  dynamic:\n    fetches_per_minute: 0\n",
     "tw.yaml:5:25: pages.dynamic.fetches_per_minute: expected at least 1 fetches per minute, got 0"),
])
def test_a_mistake_names_file_line_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value).startswith(f"{path.parent}/{message}")


def test_check_config_prints_the_error_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, "docroot: www\nbase_url: http://x/\nrules:\n  - mimetype: image\n")
    assert cli.main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4:15: rules[0].mimetype: expected a mimetype such as image/* or video/mp4" in err


@pytest.mark.parametrize("key, text, replacement", [
    ("pages.loader", "pages:\n  loader: true\n", "use pages.p2p (auto, the default, or always"),
    ("pages.swap", "pages:\n  swap: true\n", "use pages.p2p (auto: assets swapped while a page is hot"),
    ("loader.p2p", "loader:\n  p2p: false\n", "use pages.p2p: off"),
])
def test_a_removed_key_is_named_with_its_replacement(tmp_path, capsys, key, text, replacement):
    path = write(tmp_path, "docroot: www\nbase_url: http://x/\n" + text)
    assert cli.main(["check-config", "-c", str(path)]) == 2
    assert f"{path}:4:3: {key}: this key was removed: {replacement}" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("pages:\n  p2p: sometimes\n", "tw.yaml:4:8: pages.p2p: expected one of auto, always, off, got 'sometimes'"),
    ("pages:\n  hot:\n    egress: 2\n",
     "tw.yaml:5:13: pages.hot.egress: expected a fraction above 0 and at most 1, such as 0.5, got 2"),
    ("pages:\n  hot:\n    views: 0\n", "tw.yaml:5:12: pages.hot.views: expected at least 1 page views, got 0"),
    ("rules:\n  - mimetype: image/*\n    swap: maybe\n",
     "tw.yaml:5:11: rules[0].swap: expected true or false, got 'maybe'"),
])
def test_hot_cold_settings_are_checked(tmp_path, text, message):
    path = write(tmp_path, "docroot: www\nbase_url: http://x/\n" + text)
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value) == f"{path.parent}/{message}"


def test_check_config_accepts_a_good_file(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    assert cli.main(["check-config", "-c", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"


def test_the_shipped_example_config_is_valid():
    from pathlib import Path
    example = Path(__file__).parents[2] / "conf" / "torrentweb.yaml"
    text = example.read_text().replace("/var/www/html", str(Path(__file__).parents[2] / "demo" / "site"))
    cfg = config.loads(text)
    assert cfg.rules and cfg.base_url.endswith("/")
