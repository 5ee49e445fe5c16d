"""Average a bundled restoration model's weights with an earlier version of the same model.

A network trained further on new data (``restore-hrtem`` on physical phases, from its earlier
weights) can lose some of what the earlier weights did well on data unlike either training
set. Averaging the two sets of weights of one lineage (weight-space ensembling, "WiSE-FT":
Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022) often keeps the best of
both. The earlier weights are read from the repository's history (``git show COMMIT:...``)
and checked against the sha256 of the card committed with them; the averaged weights replace
the bundled ones, and the card records both parents, the share and this command
(docs/restoration.md, *Phase strength*).

Usage::

    python scripts/interpolate_weights.py restore-hrtem --earlier-commit 3bbab41 --share 0.5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tem_denoise.models.card import ModelCard, read_card, write_card
from tem_denoise.models.registry import BUNDLED_DIR, build_model
from tem_denoise.models.weights import load_into, load_weights, save_weights

ROOT = Path(__file__).resolve().parents[1]


def interpolated(later: dict, earlier: dict, share: float) -> dict:
    """``share * later + (1 - share) * earlier`` for every tensor of two state dicts of one
    architecture (same keys and shapes; float tensors, as the restoration networks hold)."""
    if later.keys() != earlier.keys():
        raise ValueError("the two sets of weights hold different tensors: not one architecture")
    return {key: share * later[key] + (1.0 - share) * earlier[key] for key in later}


def recorded(card: ModelCard, sha256: str, earlier_commit: str, earlier_sha256: str, share: float,
             command: str) -> ModelCard:
    """``card`` for the averaged weights ``sha256``: its training runs end with the averaging
    (both parents' sha256, the earlier weights' commit, the later weights' share, the command)."""
    training = dict(card.training)
    training["runs"] = [*training.get("runs", []), {
        "averaged_with": {"commit": earlier_commit, "weights_sha256": earlier_sha256},
        "later_weights_sha256": card.weights_sha256, "share_of_later": share, "command": command}]
    card.training = training
    card.weights_sha256 = sha256
    card.description += (f" Weights: {share:.0%} of these with {1 - share:.0%} of the model's weights of commit "
                         f"{earlier_commit[:7]} (weight-space average).")
    card.quality = {}  # measured again by benchmarks/outside/card_quality.py
    return card


def full_commit(commit: str) -> str:
    """The full hash of ``commit`` in this repository."""
    return subprocess.run(["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def earlier_weights(name: str, commit: str) -> tuple[dict, str]:
    """The state dict of model ``name`` at ``commit`` of this repository, checked against the
    sha256 of its card there, and that sha256."""
    folder = (BUNDLED_DIR / name).relative_to(ROOT)
    card = json.loads(subprocess.run(["git", "show", f"{commit}:{folder.as_posix()}/card.json"], cwd=ROOT,
                                     check=True, capture_output=True).stdout)
    blob = subprocess.run(["git", "show", f"{commit}:{folder.as_posix()}/weights.safetensors"], cwd=ROOT,
                          check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory() as folder_:
        path = Path(folder_) / "weights.safetensors"
        path.write_bytes(blob)
        return load_weights(path, card["weights_sha256"]), card["weights_sha256"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="bundled model, e.g. restore-hrtem")
    parser.add_argument("--earlier-commit", required=True, help="commit holding the earlier weights")
    parser.add_argument("--share", type=float, default=0.5, help="share of the current weights (0-1; default 0.5)")
    args = parser.parse_args(argv)
    if not 0.0 < args.share < 1.0:
        parser.error("--share is the current weights' share, strictly between 0 and 1")
    path = BUNDLED_DIR / args.name / "card.json"
    card = read_card(path, source="bundled")
    later_sha = card.weights_sha256
    model = load_into(build_model(card), card.weights_path, later_sha)
    commit = full_commit(args.earlier_commit)
    earlier, earlier_sha = earlier_weights(args.name, commit)
    if earlier_sha == later_sha:
        parser.error(f"the weights of {args.earlier_commit} are the current ones: nothing to average")
    model.load_state_dict(interpolated(model.state_dict(), earlier, args.share), strict=True)
    sha = save_weights(model, card.weights_path, metadata={"name": args.name})
    command = "python scripts/interpolate_weights.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_card(recorded(card, sha, commit, earlier_sha, args.share, command), path)
    print(f"{args.name}: {args.share:.0%} of {later_sha[:8]} with {1 - args.share:.0%} of {earlier_sha[:8]} "
          f"-> {sha[:8]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
