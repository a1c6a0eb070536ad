"""Byte-compile the installed package before a benchmark starts it as a process.

A package installed by pip carries its compiled bytecode (``__pycache__/*.pyc``, written at
install time); an editable install writes it at the first import, unless the environment
forbids writing it (``PYTHONDONTWRITEBYTECODE=1``, common in containers), and then every new
process compiles the package's source again: about 0.3-0.4 s of a command's start on the
2-core machine. The benchmarks time commands as an installed package runs them, so they
compile it first (``compileall`` writes the files whatever that variable says; a stale file is
recompiled, an up-to-date one left alone)."""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_package() -> None:
    import ca125kinetics

    if not compileall.compile_dir(str(Path(ca125kinetics.__file__).parent), quiet=1):
        raise SystemExit("could not byte-compile the ca125kinetics package (see the messages above)")
