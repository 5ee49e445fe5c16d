"""What the user does, once: one function per operation, shared by the docks and the CLI.

Each module holds an options dataclass (fields declared with
:func:`~tem_denoise.operations.options.option`, from which the CLI's arguments and the
dock's form are generated) and the operation: a generator that takes the project's
:class:`~tem_denoise.io.Stack` (or a frame with its :class:`~tem_denoise.io.Calibration`) and
the options, yields :class:`~tem_denoise.progress.Progress` and returns a Stack or a table with
its provenance. Docks are "layer -> Stack -> operation -> layer"; subcommands are
"read -> operation -> write". Importing this package or an options class imports no torch,
SciPy or scikit-image (``tem-denoise --help`` stays fast); running an operation does.

Modules: :mod:`.denoise`, :mod:`.drift`, :mod:`.atoms`, :mod:`.profile`, :mod:`.spectrum`,
:mod:`.quality`, :mod:`.calibrate`, :mod:`.finetune`.
"""
