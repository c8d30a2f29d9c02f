"""apache/loadertag.py: the injected <script> carries the loader's real SRI hash and the YAML."""
import base64
import hashlib

import pytest

from torrentweb import config
from torrentweb.page.loadertag import (LoaderSettingsError, default_loader_dir, parse_settings,
                                         settings_env, tag_from_environ)


def test_yaml_thresholds_round_trip_through_the_environment(tmp_path):
    c = config.loads(f"docroot: {tmp_path}\nbase_url: http://x/\n"
                     "loader: {deadline: 2.5, upload_limit: 100KiB, metered_upload: true}\n")
    env = settings_env(c.loader)
    assert env == ("p2p=1 deadline=2.5 scrape=1 upload-limit=102400 seed-time=0 "
                   "metered-upload=1 max-file-size=67108864")
    assert parse_settings(env)["upload-limit"] == "102400"


def test_tag_has_the_sha384_of_the_served_file_and_the_settings():
    tag = tag_from_environ({"TORRENTWEB_P2P": "auto", "TORRENTWEB_PREFIX": "/.tw/",
                            "TORRENTWEB_LOADER_SETTINGS": "deadline=4 p2p=0"})
    body = (default_loader_dir() / "src" / "torrentweb-loader.js").read_bytes()
    sri = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    assert tag.startswith(f'<script defer src="/.tw/js/torrentweb-loader.js" integrity="{sri}" '
                          'crossorigin="anonymous" data-bundle="/.tw/js/webtorrent/webtorrent.min.js" '
                          'data-deadline="4" data-p2p="0" onerror="')


def test_loader_off_or_missing_gives_no_tag(tmp_path):
    assert tag_from_environ({"TORRENTWEB_P2P": "off"}) is None
    assert tag_from_environ({"TORRENTWEB_P2P": "always", "TORRENTWEB_LOADER_DIR": str(tmp_path)}) is None


@pytest.mark.parametrize("text, message", [
    ("deadline=soon", "TORRENTWEB_LOADER_SETTINGS: deadline: expected a number that is not negative, got 'soon'"),
    ("colour=3", "TORRENTWEB_LOADER_SETTINGS: 'colour=3': expected key=number with key one of p2p, deadline, "
                 "scrape, upload-limit, seed-time, metered-upload, max-file-size"),
])
def test_bad_settings_say_what_is_wrong(text, message):
    with pytest.raises(LoaderSettingsError) as e:
        parse_settings(text)
    assert str(e.value) == message


def test_the_snippet_fragment_serves_the_loader_and_passes_the_settings(tmp_path):
    from torrentweb.page.loadertag import snippet_values
    from torrentweb.apache.templates import render
    c = config.loads(f"docroot: {tmp_path}\nbase_url: http://x/\nloader: {{deadline: 5}}\n")
    text = render("httpd-torrentweb-loader.conf.in", snippet_values(c))
    loader = default_loader_dir()
    assert f'Alias "/.torrentweb/js/webtorrent/" "{loader}/node_modules/webtorrent/dist/"' in text
    assert f'Alias "/.torrentweb/js/" "{loader}/src/"' in text
    assert 'SetEnv TORRENTWEB_LOADER_SETTINGS "p2p=1 deadline=5 scrape=1 ' in text
