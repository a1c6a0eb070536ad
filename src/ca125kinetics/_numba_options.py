"""numba options shared by the compiled kernels (private; imported only where numba is)."""

from __future__ import annotations


def without_runtime() -> dict:
    """numba's option to compile a function without its runtime (NRT), where this numba has
    it (``_nrt``: underscored, outside numba's documented options; numba's own tests use it),
    else nothing.

    With the runtime, every array a compiled function is given, and every array variable
    an inlined function's parameters become, is reference-counted on the way in and out:
    an atomic increment and decrement each, a few dozen per Levenberg-Marquardt iteration of
    a kinetics fit (``perf`` put them at 20-25 % of the fits' CPU time) and per patient of
    the GCIG kernel. A function given this option must allocate nothing (numba refuses to
    compile one that does); its numbers are the same bit for bit. A numba without the option
    compiles the kernels with the runtime: slower, same numbers (a test checks that this
    numba has it)."""
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:      # pragma: no cover - another numba layout
        return {}
    return {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}


#: Options of a compiled function that allocates nothing: cached on disk, the GIL released,
#: no reference counting (:func:`without_runtime`).
NO_ALLOCATION = {"cache": True, "nogil": True, **without_runtime()}
