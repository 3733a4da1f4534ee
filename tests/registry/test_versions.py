"""Semantic versions and ranges: "latest" by version order, ^ and ~ ranges, errors listing what is there."""

from __future__ import annotations

import pytest

from bundle.errors import ZooError
from bundle.registry.versions import match, parse_ref, pick, to_specifier


def test_latest_is_by_version_not_string_order():
    # MONAI's sorted(versions)[-1] would pick 0.9.0
    assert pick(["0.9.0", "0.10.0", "0.2.0"]) == "0.10.0"


def test_prereleases_only_when_asked_or_alone():
    assert pick(["1.0.0", "1.1.0rc1"]) == "1.0.0"
    assert pick(["1.1.0rc1"]) == "1.1.0rc1"
    assert pick(["1.0.0", "1.1.0rc1"], "1.1.0rc1") == "1.1.0rc1"


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("^1.2", ["1.9.0", "1.2.7", "1.2.0"]),
        ("^0.2", ["0.2.5"]),
        ("^0.0.3", ["0.0.3"]),
        ("~1.2", ["1.2.7", "1.2.0"]),
        ("~1", ["1.9.0", "1.2.7", "1.2.0", "1.0.0"]),
        ("1.2", ["1.2.0"]),
        ("==1.2.7", ["1.2.7"]),
        (">=1.2.7,<2", ["1.9.0", "1.2.7"]),
        ("*", ["2.0.0", "1.9.0", "1.2.7", "1.2.0", "1.0.0", "0.2.5", "0.1.0", "0.0.4", "0.0.3"]),
    ],
)
def test_ranges(spec, expected):
    versions = ["0.0.3", "0.0.4", "0.1.0", "0.2.5", "1.0.0", "1.2.0", "1.2.7", "1.9.0", "2.0.0"]
    assert match(versions, spec) == expected


def test_parse_ref():
    assert parse_ref("spleen_ct@^0.5") == ("spleen_ct", "^0.5")
    assert parse_ref("spleen_ct") == ("spleen_ct", None)
    assert parse_ref("spleen_ct@") == ("spleen_ct", None)
    with pytest.raises(ZooError, match="not a bundle name"):
        parse_ref("../etc@1")


def test_no_match_lists_the_versions_there():
    with pytest.raises(ZooError) as caught:
        pick(["0.1.0", "0.2.0"], "^1", name="bundle 'x'")
    assert "no version matching '^1'" in str(caught.value)
    assert "versions there: 0.2.0, 0.1.0" in str(caught.value)


@pytest.mark.parametrize("bad", ["^x", "~1.a", "=>1", "latest-ish"])
def test_bad_spec_is_a_clear_error(bad):
    with pytest.raises(ZooError, match="not a version range"):
        to_specifier(bad)
