"""Options declared once: argparse arguments and limits from the dataclass fields."""

from __future__ import annotations

import argparse

import pytest

from tem_denoise.operations.atoms import AtomOptions
from tem_denoise.operations.options import add_arguments, fields_of, from_arguments
from tem_denoise.operations.quality import QualityOptions


def _parse(cls, argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, cls)
    return from_arguments(cls, parser.parse_args(argv))


def test_arguments_round_trip_to_the_dataclass():
    options = _parse(AtomOptions, ["--min-separation-nm", "0.15", "--log", "1.2", "--invert", "--method", "com"])
    assert options == AtomOptions(min_separation_nm=0.15, log_sigma_px=1.2, invert=True, method="com")
    assert _parse(QualityOptions, ["--offsets", "-2", "1", "3"]).offsets == (-2, 1, 3)
    assert _parse(AtomOptions, []) == AtomOptions()


def test_limits_are_checked_by_the_dataclass_and_at_parse_time():
    with pytest.raises(ValueError, match="threshold must be at most 1"):
        AtomOptions(threshold=7)
    with pytest.raises(ValueError, match="not both"):
        AtomOptions(min_separation_nm=0.2, min_separation_px=3)
    with pytest.raises(argparse.ArgumentError):
        _parse(AtomOptions, ["--threshold", "7"])


def test_every_field_has_help_and_literal_fields_list_their_choices():
    method = {item.name: item for item in fields_of(AtomOptions)}["method"]
    assert method.choices == ("gaussian", "com") and method.flag == "--method"
    assert all(item.meta["help"] for item in fields_of(AtomOptions))
