"""Spatial shape entries: ints, "*", and arithmetic in p and n, computed without eval."""

from __future__ import annotations

import pytest

from bundle.errors import FormatError
from bundle.format.shapes import fake_spatial_shape, size_of


@pytest.mark.parametrize(
    "entry,p,n,expected",
    [
        (96, 1, 1, 96),
        ("96", 1, 1, 96),
        ("16*n", 1, 3, 48),
        ("2**p", 4, 1, 16),
        ("2**p*n", 3, 2, 16),
        (" 8 * n + 8 ", 1, 2, 24),
        ("(2**p)//2", 3, 1, 4),
        ("64/n", 1, 4, 16),
    ],
)
def test_sizes(entry, p, n, expected):
    assert size_of(entry, p=p, n=n) == expected


def test_any_size():
    assert fake_spatial_shape(["*", 8, "*"], any=32) == (32, 8, 32)
    assert fake_spatial_shape([]) == ()


@pytest.mark.parametrize(
    "entry,fragment",
    [
        ("16*m", "only p and n"),
        ("__import__('os')", "only integers"),
        ("n.real", "only integers"),
        ("2**p**99", "too large"),
        ("10**9", "larger than"),
        ("1/0", "divides by zero"),
        ("n-1", "at least 1"),
        ("3/2", "not a whole number"),
        ("16 *", "not an arithmetic expression"),
        (1.5, "write an int"),
        (True, "write an int"),
    ],
)
def test_refused(entry, fragment):
    with pytest.raises(FormatError, match="spatial_shape") as info:
        size_of(entry)
    assert fragment in str(info.value)


def test_shape_must_be_a_list():
    with pytest.raises(FormatError, match="write a list"):
        fake_spatial_shape("96")
