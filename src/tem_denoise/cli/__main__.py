"""``python -m tem_denoise.cli`` runs the command line."""

import sys

from tem_denoise.cli import main

sys.exit(main())
