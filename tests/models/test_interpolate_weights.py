"""scripts/interpolate_weights.py: weight-space averages of a model and its earlier weights."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from interpolate_weights import interpolated, recorded  # noqa: E402
from tem_denoise.models.registry import get_card  # noqa: E402


def test_the_average_is_the_share_of_each_tensor():
    later = {"a": torch.tensor([1.0, 3.0]), "b": torch.tensor([[2.0]])}
    earlier = {"a": torch.tensor([3.0, -1.0]), "b": torch.tensor([[0.0]])}
    mixed = interpolated(later, earlier, 0.25)
    torch.testing.assert_close(mixed["a"], torch.tensor([2.5, 0.0]))
    torch.testing.assert_close(mixed["b"], torch.tensor([[0.5]]))


def test_weights_of_another_architecture_are_refused():
    with pytest.raises(ValueError, match="architecture"):
        interpolated({"a": torch.zeros(1)}, {"b": torch.zeros(1)}, 0.5)


def test_the_card_records_both_parents_and_the_share():
    card = get_card("restore-hrtem")
    before, runs = card.weights_sha256, len(card.training.get("runs", []))
    card = recorded(card, "f" * 64, "0" * 40, "e" * 64, 0.5, "python scripts/interpolate_weights.py ...")
    last = card.training["runs"][-1]
    assert len(card.training["runs"]) == runs + 1
    assert last["later_weights_sha256"] == before and last["averaged_with"]["weights_sha256"] == "e" * 64
    assert last["share_of_later"] == 0.5 and card.weights_sha256 == "f" * 64
    assert "weight-space average" in card.description and card.quality == {}
    assert get_card("restore-hrtem").weights_sha256 == before  # the registry's card is not touched
