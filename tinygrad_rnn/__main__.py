"""``python -m tinygrad_rnn``: the command line."""
import sys

from .cli import main

sys.exit(main())
