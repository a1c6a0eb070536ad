"""A kernel module loaded a second time, compiled by numba (private).

A kernel written in the subset of Python that numba compiles (:mod:`._gcig_kernel`) is
plain Python when imported normally, and compiled when its file
is loaded again under the module name ``<name>_compiled``, where its ``_jit`` is
``numba.njit(cache=True)`` (see :mod:`._gcig_kernel`'s docstring for why a second load).
"""

from __future__ import annotations

import sys
import threading

_LOADING = threading.Lock()


def compiled_copy(module):
    """``module``'s file loaded a second time as ``<module name>_compiled`` (once a process:
    later calls return that module). One thread loads it; another asking meanwhile waits for
    it. A load that fails is forgotten, so a later call tries again (and reports the error)."""
    import importlib.util

    name = module.__name__ + "_compiled"
    with _LOADING:
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, module.__file__)
            compiled = importlib.util.module_from_spec(spec)
            sys.modules[name] = compiled
            try:
                spec.loader.exec_module(compiled)
            except BaseException:
                del sys.modules[name]
                raise
        return sys.modules[name]
