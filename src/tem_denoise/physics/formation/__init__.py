"""Image formation for training restoration models: specimens, microscopes and detectors.

``structures`` makes random specimens in projection (nm); ``stem`` and ``hrtem`` image them;
``detector`` records them with noise; ``pairs`` puts the chain together at a random pixel
size and dose (:func:`restore_pair`).
"""

from tem_denoise.physics.formation.pairs import SPECS, FormationSpec, Pair, restore_pair

__all__ = ["SPECS", "FormationSpec", "Pair", "restore_pair"]
