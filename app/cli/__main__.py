"""``python -m app.cli``: the same as the ``rvq-studio`` command (torchrun starts it this way)."""
import sys

from app.cli.command_line import main

sys.exit(main())
