"""CSV rows assembled from the bytes of their cells: one kernel, plain or compiled (private).

:func:`ca125kinetics.cohort.write_csv` formats every cell of a block of rows with pyarrow
(numbers, flags, quoting), then :func:`join_rows` copies the cells, row by row, into one
output buffer with the separators. A score table's rows are some 2.9 kB, most of it the
model's settings and rules, the same text on every row: the cells are copied from where
they are (a constant cell's bytes are held once), and the copy is one ``memcpy`` a cell.

One source, two executions (as :mod:`ca125kinetics._gcig_kernel`)
-----------------------------------------------------------------
Imported normally, ``_jit`` is the identity and :func:`_copy` a slice assignment: the
kernel is plain Python, for small tables (no numba import). Loaded a second time as
``ca125kinetics._csv_kernel_compiled`` (:func:`ca125kinetics._compiled_copy.compiled_copy`), ``_jit``
is ``numba.njit(cache=True)`` and :func:`_copy` a numba intrinsic emitting ``memcpy``
(numba compiles a slice assignment to a loop over the bytes, 3-4 times slower).
"""

from __future__ import annotations

if __name__.endswith("_compiled"):   # the compiled load (module docstring)
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    _jit = njit(cache=True, nogil=True)

    @intrinsic
    def _copy(typingctx, dst, at, src, start, n):
        """``dst[at:at + n] = src[start:start + n]`` (uint8 arrays) as one ``memcpy``, without
        bounds checks: the caller sizes ``dst`` from the same bounds (:func:`join_rows`)."""
        sig = types.void(dst, types.intp, src, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            d = context.make_array(signature.args[0])(context, builder, args[0])
            s = context.make_array(signature.args[2])(context, builder, args[2])
            cgutils.raw_memcpy(builder, builder.gep(d.data, [args[1]]), builder.gep(s.data, [args[3]]), args[4], 1)
            return context.get_dummy_value()

        return sig, codegen
else:
    def _jit(func):
        return func

    def _copy(dst, at, src, start, n):
        """``dst[at:at + n] = src[start:start + n]``."""
        dst[at:at + n] = src[start:start + n]


COMMA, NEWLINE = 44, 10


@_jit
def join_rows(data, starts, ends, n_rows, out):
    """Write ``n_rows`` CSV rows into ``out``; return the number of bytes written.

    Cell ``j`` of row ``i`` is ``data[starts[k]:ends[k]]`` with ``k = j * n_rows + i``
    (column-major); cells are separated by ``,`` and every row ends with ``\\n``. ``out``
    holds exactly ``sum(ends - starts) + len(starts)`` bytes (the caller sizes it so).
    """
    n_cols = len(starts) // n_rows
    p = 0
    for i in range(n_rows):
        for j in range(n_cols):
            k = j * n_rows + i
            s = starts[k]
            n = ends[k] - s
            _copy(out, p, data, s, n)
            p += n
            out[p] = COMMA if j < n_cols - 1 else NEWLINE
            p += 1
    return p
