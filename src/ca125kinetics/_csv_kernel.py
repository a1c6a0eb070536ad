"""CSV rows assembled from the bytes of their cells: one kernel, plain or compiled (private).

:func:`ca125kinetics.cohort.write_csv` formats the cells of a block of rows with pyarrow
(numbers, flags; text as it is), then :func:`join_rows` writes the rows into one output
buffer: the cells with their separators, a text cell quoted as ``DataFrame.to_csv`` quotes
it (in double quotes, a quote doubled, when it holds a comma, a quote or a newline). A score
table's rows are some 2.9 kB, most of it the model's settings and rules, the same text on
every row: the cells are copied from where they are (a constant cell's bytes are held once).

One source, two executions (as :mod:`ca125kinetics._gcig_kernel`)
-----------------------------------------------------------------
:func:`join_rows` states the layout and the quoting rule once. Imported normally, ``_jit``
is the identity and the three byte primitives (:func:`_copy`, :func:`_scan`,
:func:`_copy_quoted`) use Python's bytes operations: the kernel is plain Python, for small
tables (no numba import). Loaded a second time as ``ca125kinetics._csv_kernel_compiled``
(:func:`ca125kinetics._compiled_copy.compiled_copy`), ``_jit`` is ``numba.njit(cache=True)``
and the primitives are loops over the bytes, :func:`_copy` a numba intrinsic emitting
``memcpy`` (numba compiles a slice assignment to a loop over the bytes, 3-4 times slower).
"""

from __future__ import annotations

COMMA, QUOTE, NEWLINE = 44, 34, 10

if __name__.endswith("_compiled"):   # the compiled load (module docstring)
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    _jit = njit(cache=True, nogil=True)

    @intrinsic
    def _copy(typingctx, dst, at, src, start, n):
        """``dst[at:at + n] = src[start:start + n]`` (uint8 arrays) as one ``memcpy``, without
        bounds checks: the caller sizes ``dst`` for the bounds it gives (:func:`join_rows`)."""
        sig = types.void(dst, types.intp, src, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            d = context.make_array(signature.args[0])(context, builder, args[0])
            s = context.make_array(signature.args[2])(context, builder, args[2])
            cgutils.raw_memcpy(builder, builder.gep(d.data, [args[1]]), builder.gep(s.data, [args[3]]), args[4], 1)
            return context.get_dummy_value()

        return sig, codegen

    @njit(cache=True, nogil=True, inline="always")
    def _scan(src, start, end):
        """0: ``src[start:end]`` holds no comma, quote or newline; 1: it holds a comma or a
        newline but no quote; 2: it holds a quote. (No early exit: the loop is vectorised.)"""
        special = 0
        quote = 0
        for k in range(start, end):
            b = src[k]
            special |= (b == COMMA) | (b == NEWLINE)
            quote |= b == QUOTE
        return 2 if quote else (1 if special else 0)

    @njit(cache=True, nogil=True, inline="always")
    def _copy_quoted(dst, at, src, start, end):
        """``src[start:end]`` written at ``dst[at]`` in double quotes, a quote doubled; returns
        the position after it."""
        dst[at] = QUOTE
        at += 1
        for k in range(start, end):
            b = src[k]
            dst[at] = b
            at += 1
            if b == QUOTE:
                dst[at] = QUOTE
                at += 1
        dst[at] = QUOTE
        return at + 1
else:
    import re

    _SPECIAL = re.compile(b'[,"\n]')

    def _jit(func):
        return func

    def _copy(dst, at, src, start, n):
        """``dst[at:at + n] = src[start:start + n]``."""
        dst[at:at + n] = src[start:start + n]

    def _scan(src, start, end):
        """0: ``src[start:end]`` holds no comma, quote or newline; 1: it holds a comma or a
        newline but no quote; 2: it holds a quote."""
        if _SPECIAL.search(src, start, end) is None:
            return 0
        return 2 if src[start:end].tobytes().find(b'"') >= 0 else 1

    def _copy_quoted(dst, at, src, start, end):
        """``src[start:end]`` written at ``dst[at]`` in double quotes, a quote doubled; returns
        the position after it."""
        cell = b'"' + bytes(src[start:end]).replace(b'"', b'""') + b'"'
        dst[at:at + len(cell)] = cell
        return at + len(cell)


@_jit
def join_rows(data, starts, ends, text, n_rows, out):
    """Write ``n_rows`` CSV rows into ``out``; return the number of bytes written.

    Cell ``j`` of row ``i`` is ``data[starts[k]:ends[k]]`` with ``k = j * n_rows + i``
    (column-major); a cell of a column with ``text[j]`` true is quoted when it holds a comma,
    a quote or a newline. Cells are separated by ``,`` and every row ends with ``\\n``.
    ``out`` must hold ``sum(ends - starts) + len(starts)`` bytes, plus ``2 + length`` for
    every cell of a text column (its quotes, and a second quote for each of its bytes at
    most).
    """
    n_cols = len(text)
    p = 0
    for i in range(n_rows):
        for j in range(n_cols):
            k = j * n_rows + i
            s = starts[k]
            e = ends[k]
            kind = _scan(data, s, e) if text[j] else 0
            if kind == 2:       # quotes to double: byte by byte
                p = _copy_quoted(out, p, data, s, e)
            else:               # as it is, in quotes when it holds a comma or a newline
                if kind == 1:
                    out[p] = QUOTE
                    p += 1
                _copy(out, p, data, s, e - s)
                p += e - s
                if kind == 1:
                    out[p] = QUOTE
                    p += 1
            out[p] = COMMA if j < n_cols - 1 else NEWLINE
            p += 1
    return p
