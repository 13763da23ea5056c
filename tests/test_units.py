"""Quantities with units in the campaign file."""

import pytest

from lotf.units import parse_quantity


@pytest.mark.parametrize("text,dimension,unit,value", [
    ("2 fs", "time", "fs", 2.0),
    ("20 ps", "time", "fs", 20_000.0),
    ("2 ns", "time", "ps", 2000.0),
    ("10 min", "time", "s", 600.0),
    ("1.5e-3 ns", "time", "fs", 1500.0),
    ("1 atm", "pressure", "bar", 1.01325),
    ("0.1 GPa", "pressure", "bar", 1000.0),
    ("-5 kbar", "pressure", "GPa", -0.5),
])
def test_conversions(text, dimension, unit, value):
    assert parse_quantity(text, dimension, unit) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("value,words", [
    (10, "with its unit"), ("ten ps", "is not a time"), ("3 furlongs", "unknown time unit"),
    (True, "with its unit"),
])
def test_rejections(value, words):
    with pytest.raises(ValueError, match=words):
        parse_quantity(value, "time", "fs")
