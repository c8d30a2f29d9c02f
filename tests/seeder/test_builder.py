"""Deterministic torrents: the same bytes give the same info-hash on every machine."""
import os
import subprocess

import libtorrent as lt

from torrentweb.seeder import builder


def test_piece_size_grows_with_the_file():
    assert builder.piece_size_for(1000) == 16 * 1024           # a small file is one piece
    assert builder.piece_size_for(50 * 1024) == 64 * 1024
    assert builder.piece_size_for(200 * 1024) == 64 * 1024
    assert builder.piece_size_for(10 * 2**20) == 64 * 1024     # a page bundle: 160 pieces to trade
    assert builder.piece_size_for(4 * 2**30) == 2 * 2**20      # bounded piece count
    assert 4 * 2**30 / builder.piece_size_for(4 * 2**30) <= builder.MAX_PIECES


def test_same_bytes_same_info_hash_anywhere_and_as_mktorrent_computes_it(tmp_path):
    data = os.urandom(700_000)
    for d in ("a", "b"):
        (tmp_path / d / "img").mkdir(parents=True)
        (tmp_path / d / "img" / "photo.jpg").write_bytes(data)
    one = builder.build_file(tmp_path / "a", "img/photo.jpg", len(data), base_url="http://one/",
                             announce=["http://one/announce"])
    two = builder.build_file(tmp_path / "b", "img/photo.jpg", len(data), base_url="https://two/",
                             announce=["wss://two/announce"])
    assert one.info_hash == two.info_hash
    # an independent implementation agrees (same piece size, no creation date)
    out = tmp_path / "m.torrent"
    log2 = builder.piece_size_for(len(data)).bit_length() - 1
    subprocess.run(["mktorrent", "-d", "-l", str(log2), "-a", "http://x/announce", "-o", str(out),
                    str(tmp_path / "a" / "img" / "photo.jpg")], check=True, capture_output=True)
    assert str(lt.torrent_info(str(out)).info_hashes().v1) == one.info_hash


def test_torrent_carries_web_seed_and_trackers_and_nothing_that_varies(tmp_path):
    (tmp_path / "a b.png").write_bytes(b"x" * 5000)
    built = builder.build_file(tmp_path, "a b.png", 5000, base_url="https://www.example.org/",
                               announce=["https://www.example.org/announce", "wss://www.example.org/announce"])
    meta = lt.bdecode(built.data)
    assert meta[b"url-list"] == b"https://www.example.org/a%20b.png"
    assert meta[b"announce-list"] == [[b"https://www.example.org/announce"], [b"wss://www.example.org/announce"]]
    assert b"creation date" not in meta and b"created by" not in meta
    assert sorted(meta[b"info"]) == [b"length", b"name", b"piece length", b"pieces"]


def test_hybrid_is_an_option(tmp_path):
    (tmp_path / "v.mp4").write_bytes(os.urandom(300_000))
    built = builder.build_file(tmp_path, "v.mp4", 300_000, base_url="http://x/", announce=[], hybrid=True)
    info = lt.torrent_info(built.data)
    assert info.info_hashes().has_v1() and info.info_hashes().has_v2()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "t" / "a.torrent"
    builder.write_atomically(target, b"one")
    builder.write_atomically(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(target.parent) == ["a.torrent"]


def test_outer_keys_are_what_libtorrent_writes_so_an_unchanged_torrent_is_not_rewritten(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x" * 5000)
    for announce in (["http://t/announce"], ["http://t/announce", "ws://t/announce"], []):
        built = builder.build_file(tmp_path, "a.png", 5000, base_url="http://x/", announce=announce)
        keys = builder.outer_keys(announce, ["http://x/a.png"])
        assert builder.with_outer_keys(built.data, keys) == built.data
    moved = builder.with_outer_keys(built.data, builder.outer_keys(["https://new/announce"],
                                                                   ["https://new/a.png"]))
    assert lt.torrent_info(moved).info_hashes().v1 == lt.torrent_info(built.data).info_hashes().v1
    assert lt.bdecode(moved)[b"url-list"] == b"https://new/a.png"
