"""``python -m ca125kinetics.predict --markers ...``: ``ca125 score`` without the ``ca125`` script."""

from ..cli.score import _main

raise SystemExit(_main())
