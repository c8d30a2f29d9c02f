"""Never publish what the origin would not serve publicly."""
import os

from torrentweb import config
from torrentweb.seeder.rules import Policy, glob_regex


def policy(tmp_path, extra=""):
    www = tmp_path / "www"
    www.mkdir(exist_ok=True)
    return Policy(config.loads(
        f"docroot: {www}\nbase_url: http://x/\n"
        "rules:\n  - mimetype: image/*\n    min_size: 1KiB\n    max_size: 1MiB\n"
        "  - mimetype: application/x-thing\n"
        "exclude: ['private/**', '**/*.tmp.png']\n"
        "mimetypes: {.thing: application/x-thing}\n" + extra))


def add(tmp_path, rel, size=4096, mode=0o644):
    p = tmp_path / "www" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x" * size)
    os.chmod(p, mode)
    return p


def test_rules_match_by_mimetype_and_size(tmp_path):
    pol = policy(tmp_path)
    assert pol.candidate(add(tmp_path, "a.png")).mimetype == "image/png"
    assert pol.candidate(add(tmp_path, "tiny.png", size=100)) is None
    assert pol.candidate(add(tmp_path, "huge.jpg", size=2 * 1024 * 1024)) is None
    assert pol.candidate(add(tmp_path, "doc.txt")) is None
    assert pol.candidate(add(tmp_path, "x.thing")).mimetype == "application/x-thing"


def test_hidden_excluded_and_unreadable_files_are_never_torrented(tmp_path):
    pol = policy(tmp_path)
    assert pol.candidate(add(tmp_path, ".hidden.png")) is None
    assert pol.candidate(add(tmp_path, ".git/objects/a.png")) is None
    assert pol.candidate(add(tmp_path, "private/a.png")) is None
    assert pol.candidate(add(tmp_path, "deep/x.tmp.png")) is None
    assert pol.candidate(add(tmp_path, "secret.png", mode=0o600)) is None
    assert pol.candidate(add(tmp_path, "public/a.png")) is not None


def test_symlinks_out_of_the_docroot_are_never_torrented(tmp_path):
    pol = policy(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.png").write_bytes(b"x" * 4096)
    os.symlink(outside / "o.png", tmp_path / "www" / "link.png")
    os.symlink(outside, tmp_path / "www" / "linkdir")
    inside = add(tmp_path, "real.png")
    os.symlink(inside, tmp_path / "www" / "alias.png")
    assert pol.candidate(tmp_path / "www" / "link.png") is None
    assert pol.candidate(tmp_path / "www" / "linkdir" / "o.png") is None
    assert pol.candidate(tmp_path / "www" / "alias.png") is not None
    assert sorted(c.path for c in pol.walk()) == ["alias.png", "real.png"]


def test_glob_semantics():
    assert glob_regex("private/**").match("private/a/b.png")
    assert not glob_regex("private/**").match("public/private/b.png")
    assert glob_regex("**/.*").match("a/.b") and glob_regex("**/.*").match(".b")
    assert not glob_regex("*.png").match("a/b.png")
