"""Conditional requests the handler answers itself (Apache does not for handler output)."""
from torrentweb.apache.conditional import etag, http_date, not_modified


def test_etag_changes_with_the_file_and_with_the_injected_markup():
    assert etag(10, 1, "") != etag(10, 1, "abc") != etag(11, 1, "abc") != etag(10, 2, "abc")
    assert etag(10, 1, "abc") == etag(10, 1, "abc")


def test_if_none_match_ignores_weakness_and_the_gzip_suffix_and_lists():
    tag = etag(1, 2, "x")
    assert not_modified({"HTTP_IF_NONE_MATCH": tag}, tag, 0)
    assert not_modified({"HTTP_IF_NONE_MATCH": "W/" + tag[:-1] + '-gzip"'}, tag, 0)
    assert not_modified({"HTTP_IF_NONE_MATCH": f'"a,b", {tag}'}, tag, 0)
    assert not_modified({"HTTP_IF_NONE_MATCH": "*"}, tag, 0)
    assert not not_modified({"HTTP_IF_NONE_MATCH": '"other"'}, tag, 0)


def test_if_none_match_wins_over_if_modified_since():
    tag = etag(1, 2, "x")
    env = {"HTTP_IF_NONE_MATCH": '"other"', "HTTP_IF_MODIFIED_SINCE": http_date(2_000_000_000)}
    assert not not_modified(env, tag, 1_000_000_000)


def test_if_modified_since_and_bad_dates():
    assert not_modified({"HTTP_IF_MODIFIED_SINCE": http_date(1000)}, "", 1000.7)
    assert not not_modified({"HTTP_IF_MODIFIED_SINCE": http_date(999)}, "", 1000)
    assert not not_modified({"HTTP_IF_MODIFIED_SINCE": "yesterday"}, "", 1000)
