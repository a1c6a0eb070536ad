"""``python -m ca125kinetics.cli ...``: the ``ca125`` command without its script."""

import sys

from . import main

sys.exit(main())
