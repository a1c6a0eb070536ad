"""GCIG CA-125 response and progression, and the combined RECIST 1.1 + CA-125 response.

Second step of the pipeline (read and validate -> **GCIG rules** -> kinetics -> ...).
Implements sections 1-3 of ``docs/clinical-rules.md``:

* :func:`gcig_response` - CA-125 response in the relapse setting (evaluable, confirmed,
  CR/PR), with a machine-readable ``status`` and a human-readable ``reason``;
* :func:`gcig_progression` - CA-125 progression, groups A, B and C;
* :func:`combined_response` - the combined RECIST 1.1 + CA-125 category, from a data table
  (``ca125kinetics/data/combined_response.csv``) implemented from the text of Rustin 2011;
* :func:`gcig_cohort` - all of the above for every patient of a canonical markers frame.

The rules are stated once, in :mod:`ca125kinetics._gcig_kernel`, a loop over the rows of
patients held patient by patient in flat arrays; this module prepares those arrays from each
kind of input, runs the kernel (as plain Python for small jobs, compiled by numba for large
ones: :func:`use_compiled`) and turns its codes and numbers into statuses, result objects,
table columns and reasons (one template per reason, applied to all its patients at once).
``docs/gcig-engine.md`` describes it.

References
----------
Rustin GJS, Vergote I, Eisenhauer E, et al. Definitions for response and progression in
ovarian cancer clinical trials incorporating RECIST 1.1 and CA 125 agreed by the
Gynecological Cancer Intergroup (GCIG). Int J Gynecol Cancer 2011;21:419-423 (PMID 21270624).
GCIG CA 125 definitions agreed in November 2005.

Conventions (each a **Decision** where the literature is silent)
-----------------------------------------------------------------
Time is ``day`` relative to the first dose (day 0); pretreatment samples have ``day <= 0``.
CA-125 is in U/mL. Every comparison at a threshold is inclusive where the rule says
"at least" / "at most" and allows a relative floating-point slack of ``1e-9``, so that a
decimal value exactly at a threshold counts as at the threshold (binary floating point gives
``1.10 * 180 = 198.00000000000003``); this slack is far below any assay resolution.

**Decision (censored values).** A value reported as ``"<x"`` is passed as ``x`` with
``censored=True``; ``x`` is treated as an *upper bound* of the true value. Tests of the form
"value <= limit" (50 % fall, normal range, nadir) use ``x``, which is sound because the true
value is below ``x``. Tests of the form "value >= limit" (baseline >= 2 x ULN, progression
threshold) are never met by a censored value, because a value known only to be below ``x``
cannot be shown to be at or above anything. In the 10 % rule the previous sample enters with
its upper bound ``x``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io as _io
import itertools
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from numbers import Real
from typing import Any

from . import _gcig_kernel as _kernel
from ._gcig_kernel import _le
from .errors import InvalidInputError, ModelIntegrityError
from .markers import MARKERS, require_gcig_marker
from .settings import (EVENT_KINDS, PROGRESSION_CONFIRMATIONS, RECIST_CATEGORIES, RESPONSE_FALLS, GcigSettings,
                       event_kind)

__all__ = [
    "gcig_response",
    "gcig_progression",
    "combined_response",
    "combined_response_table",
    "gcig_cohort",
    "GcigResponse",
    "GcigProgression",
    "CombinedResponse",
    "EVENT_KINDS",
    "RESPONSE_STATUSES",
    "PROGRESSION_STATUSES",
    "COHORT_COLUMNS",
]


#: Values of :attr:`GcigResponse.status`.
RESPONSE_STATUSES = ("response", "unconfirmed", "not_confirmed", "no_response", "awaiting", "not_evaluable")
#: Values of :attr:`GcigProgression.status`.
PROGRESSION_STATUSES = ("progression", "no_progression", "not_evaluable")

#: Columns of :func:`gcig_cohort`, in order; ``recist`` and ``combined_category`` follow when
#: the clinical frame has a ``recist`` column.
COHORT_COLUMNS = (
    "patient_id", "uln", "n_samples", "n_excluded", "baseline_day", "baseline_value",
    "evaluable", "responded", "category", "response_day", "confirmation_day", "status",
    "reason", "progressed", "progression_group", "progression_day", "progression_status",
    "progression_reason",
)


def _num(x: float) -> str:
    """Compact number for reasons: 70.0 -> '70', 198.00000000000003 -> '198'."""
    return f"{x:.6g}"


def _apart(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` as :func:`_num` writes them, with more significant digits when 6 would
    write two different values alike: a reason never rounds a value onto the boundary it
    failed (``200 U/mL > 50 % of baseline (200 U/mL)`` for 200.00001; the idea of
    ``eligibility._show``). A threshold computed in floating point (1.1 x 180 =
    198.00000000000003) keeps its short form unless a value is that close to it."""
    for digits in range(6, 18):
        texts = (f"{a:.{digits}g}", f"{b:.{digits}g}")
        if texts[0] != texts[1]:
            return texts
    return repr(a), repr(b)


def _factor(x: float) -> str:
    """A multiplier as the spec writes it: 1.1 -> '1.10', 2.0 -> '2'."""
    if float(x).is_integer():
        return f"{x:g}"
    two = f"{x:.2f}"
    return two if float(two) == x else f"{x:g}"


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


class _ResultMixin:
    """``to_dict`` / ``to_frame`` shared by the result dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field; ``settings`` as a dict, ``excluded`` as a list of lists."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if field.name == "settings":
                value = value.to_dict()
            elif field.name == "excluded":
                value = [list(item) for item in value]
            out[field.name] = value
        return out

    def to_frame(self):
        """One-row :class:`pandas.DataFrame`, one column per field in field order.

        ``excluded`` becomes ``n_excluded`` (its length) and ``settings`` a JSON string, so
        every cell is a scalar.
        """
        import pandas as pd

        row: dict[str, Any] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if field.name == "settings":
                value = value.to_json()
            elif field.name == "excluded":
                row["n_excluded"] = len(value)
                continue
            row[field.name] = value
        return pd.DataFrame([row])


@dataclass(frozen=True)
class GcigResponse(_ResultMixin):
    """GCIG CA-125 response of one patient (see :func:`gcig_response`).

    Attributes
    ----------
    evaluable : bool
        A baseline exists and is >= ``evaluable_factor`` x ULN, with one assay throughout.
    responded : bool or None
        Confirmed GCIG response (``status == "response"``); None (unknown) when ``status`` is
        ``"awaiting"``: no sample after the first dose to judge it on.
    category : {"CR", "PR"} or None
        CR when the confirming value is <= ULN, PR otherwise; None without a confirmed response.
    status : str
        One of :data:`RESPONSE_STATUSES`: ``"response"``; ``"unconfirmed"`` (a 50 % fall,
        no sample yet >= 28 days later); ``"not_confirmed"`` (the fall was broken before
        confirmation); ``"no_response"`` (on-treatment samples, none <= 50 % of baseline);
        ``"awaiting"`` (an evaluable baseline but no usable sample after the first dose: none
        drawn yet, or every one excluded; the reason says which and why); ``"not_evaluable"``.
    reason : str
        Human-readable explanation of ``status``.
    baseline_day, baseline_value : int, float or None
        The baseline sample (latest with ``-14 <= day <= 0``); None without one, and when the
        assay or the ULN changes from it on (``not_evaluable``: the reason names the change).
    response_day, response_value : int, float or None
        The first on-treatment sample <= 50 % of baseline (the date of response when
        confirmed; also reported for ``unconfirmed`` and ``not_confirmed``).
    confirmation_day, confirmation_value : int, float or None
        The confirming sample (first one >= 28 days after the response day).
    last_day, last_value : int, float or None
        The latest sample used (after exclusions); used to judge "CA-125 normal" in
        :func:`combined_response`.
    uln : float
        The ULN used, U/mL.
    n_samples : int
        Samples used by the rules (after same-day aggregation and exclusions).
    excluded : tuple of (int, str)
        ``(day, reason)`` of every excluded sample.
    settings : GcigSettings
        The rule settings used (``settings.uln`` equals ``uln``).
    """

    evaluable: bool
    responded: bool | None
    category: str | None
    status: str
    reason: str
    baseline_day: int | None
    baseline_value: float | None
    response_day: int | None
    response_value: float | None
    confirmation_day: int | None
    confirmation_value: float | None
    last_day: int | None
    last_value: float | None
    uln: float
    n_samples: int
    excluded: tuple[tuple[int, str], ...]
    settings: GcigSettings


@dataclass(frozen=True)
class GcigProgression(_ResultMixin):
    """GCIG CA-125 progression of one patient (see :func:`gcig_progression`).

    Attributes
    ----------
    progressed : bool
        Confirmed GCIG CA-125 progression (False: none confirmed up to the last sample, which
        includes a patient with no sample after the first dose yet; the reason says so).
    group : {"A", "B", "C"} or None
        Group of the progression; without progression the group the patient is in at the
        last sample (A if CA-125 ever normalised on treatment, B otherwise, C if the baseline
        was normal); None when not evaluable.
    status : str
        One of :data:`PROGRESSION_STATUSES`.
    reason : str
        Human-readable explanation of ``status``.
    progression_day, progression_value : int, float or None
        The first of the two qualifying samples (the date of progression).
    confirmation_day, confirmation_value : int, float or None
        The confirming sample (first one >= 7 days after the progression day).
    threshold : float or None
        ``progression_factor`` x ULN (groups A and C) or x nadir (group B); without
        progression, the threshold in force after the last sample.
    nadir : float or None
        Lowest value from baseline up to the progression day (or the last sample).
    baseline_day, baseline_value : int, float or None
        The baseline sample (latest with ``-14 <= day <= 0``); None without one, and when the
        assay or the ULN changes from it on (``not_evaluable``: the reason names the change).
    uln, n_samples, excluded, settings
        As in :class:`GcigResponse`.
    """

    progressed: bool
    group: str | None
    status: str
    reason: str
    progression_day: int | None
    progression_value: float | None
    confirmation_day: int | None
    confirmation_value: float | None
    threshold: float | None
    nadir: float | None
    baseline_day: int | None
    baseline_value: float | None
    uln: float
    n_samples: int
    excluded: tuple[tuple[int, str], ...]
    settings: GcigSettings


@dataclass(frozen=True)
class CombinedResponse(_ResultMixin):
    """Combined RECIST 1.1 + CA-125 category of one patient (see :func:`combined_response`).

    Attributes
    ----------
    category : {"CR", "PR", "SD", "PD"} or None
        The combined category; None when it is undetermined (RECIST unknown and no evidence
        of progression: the reason says so and asks for ``recist``).
    reason : str
        Which table row fired and on what inputs.
    rule : int
        ``rule`` id of the row of ``combined_response.csv`` that fired (first match wins).
    basis : str
        The row's ``basis`` cell: the spec/paper text it implements, or the Decision.
    recist : str or None
        RECIST 1.1 category given (None: unknown).
    new_lesion : bool
        Whether a new lesion was reported.
    ca125_progression, ca125_response, ca125_normal : {"yes", "no", "unknown"}
        The CA-125 inputs as the table saw them (``ca125_response`` counts a *confirmed*
        GCIG response only).
    """

    category: str
    reason: str
    rule: int
    basis: str
    recist: str
    new_lesion: bool
    ca125_progression: str
    ca125_response: str
    ca125_normal: str

# --------------------------------------------------------------------------------------
# The rules: one kernel over patient-contiguous rows (``_gcig_kernel``)
# --------------------------------------------------------------------------------------

#: Jobs of at least this many patients run the kernel compiled by numba; smaller ones run the
#: same source as plain Python, without importing numba. Measured on this project's
#: registry data: plain Python ~8 us a patient, compiled ~0.4 us, but a process pays about
#: 0.8 s once to import numba and load the compiled kernel from numba's on-disk cache (the
#: first run ever compiles it, ~10 s), so the compiled kernel earns its start-up back from
#: some 100,000 patients; half that keeps the worst case small either way.
COMPILED_MIN_PATIENTS = 50_000
#: Once a process has loaded the compiled kernel (its start-up paid), jobs from this many
#: patients use it too (e.g. the later chunks of a large file read in pieces).
COMPILED_LOADED_MIN_PATIENTS = 1_000

_EVENT_CODES = {name: code for code, name in enumerate(_kernel.EVENT_NAMES)}
_RESPONSE_STATUS = ("not_evaluable",) * 6 + ("awaiting", "no_response") + ("not_confirmed",) * 2 + (
    "unconfirmed", "response")
_PROGRESSION_STATUS = ("not_evaluable",) * 5 + ("progression",) + ("no_progression",) * 4
_GROUPS = (None, "A", "B", "C")
_CATEGORIES = (None, "CR", "PR")


def use_compiled(n_patients: int) -> bool:
    """Whether a job of ``n_patients`` runs the compiled kernel."""
    if _compiled_loaded():
        return n_patients >= min(COMPILED_LOADED_MIN_PATIENTS, COMPILED_MIN_PATIENTS)
    return n_patients >= COMPILED_MIN_PATIENTS


def _compiled_loaded() -> bool:
    """Whether this process has loaded the compiled kernel."""
    return _compiled_kernel.cache_info().currsize > 0


_LOADING = threading.Lock()


@functools.lru_cache(maxsize=1)
def _compiled_kernel():
    """``_gcig_kernel.py`` loaded a second time, as ``ca125kinetics._gcig_kernel_compiled``,
    where its ``_jit`` is ``numba.njit(cache=True)`` (see that module's docstring). One
    thread loads it; another asking meanwhile (:func:`preload_compiled`) waits for it."""
    import importlib.util
    import sys

    name = "ca125kinetics._gcig_kernel_compiled"
    with _LOADING:
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, _kernel.__file__)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]   # a later call tries again (and reports the error) itself
                raise
        return sys.modules[name]


def preload_compiled() -> threading.Thread:
    """Load the compiled rules (numba and their machine code from its cache, about 1 s) in a
    background thread, so that a command that will assess a large cohort loads them while it
    reads its input. Returns the started thread; the first compiled job waits for it if it
    is not done. Nothing is computed for any patient."""

    def load():
        rows = _prepare([0], [100.0], uln=35.0, settings=GcigSettings(), censored=None, events=None,
                        assays=None, treatment_start=None)
        try:
            _run(rows, compiled=True)   # one patient: loads the machine code of the kernel's signature
        except Exception:  # noqa: BLE001 - the job that needs the kernel loads it again and reports why
            pass

    thread = threading.Thread(target=load, name="ca125kinetics-gcig-compiled", daemon=True)
    thread.start()
    return thread


@dataclass
class _Rows:
    """Rows of patients as the kernel reads them (``_gcig_kernel`` docstring: ``uln`` per
    patient, ``uln_row`` per row), with what the texts need: ``assay_names`` (assay code ->
    name, codes in name order)."""

    starts: Any
    day: Any
    value: Any
    cens: Any
    assay: Any
    event: Any
    is_sample: Any
    uln: Any
    uln_row: Any
    skip: Any
    assay_names: tuple
    settings: GcigSettings


@dataclass
class _Outputs:
    """The kernel's outputs as numpy arrays: ``f`` (patients x NF), ``i`` (patients x NI),
    views of the kernel's column-major arrays (``f[:, F_*]`` is contiguous), and the excluded
    samples (``xday``/``xkind``/``xevent`` at each patient's row offset)."""

    f: Any
    i: Any
    xday: Any
    xkind: Any
    xevent: Any


def _run(rows: _Rows, compiled: bool | None = None) -> _Outputs:
    """Run the kernel: compiled on numpy arrays for large jobs, plain Python on lists otherwise."""
    import numpy as np

    st = rows.settings
    n_patients = len(rows.starts) - 1
    n = len(rows.day)
    prm_f = [float(st.evaluable_factor), float(st.response_fraction), float(st.assay_tolerance),
             float(st.progression_factor)]
    prm_i = [st.baseline_window_days, st.confirmation_days, st.interference_window_days,
             st.progression_gap_days, PROGRESSION_CONFIRMATIONS.index(st.progression_confirmation),
             RESPONSE_FALLS.index(st.response_fall)]
    if compiled is None:
        compiled = use_compiled(n_patients)
    if compiled:
        kernel = _compiled_kernel()
        f = np.full(n_patients * _kernel.NF, np.nan)
        i = np.full(n_patients * _kernel.NI, _kernel.MISSING, dtype=np.int64)
        xday, xkind, xevent = (np.zeros(n, dtype=np.int64) for _ in range(3))

        def arg(x, dtype):   # one signature: contiguous and writable (a read-only array would compile again)
            return np.require(x, dtype=dtype, requirements="CW")

        kernel.run(arg(rows.starts, np.int64), arg(rows.day, np.int64), arg(rows.value, np.float64),
                   arg(rows.cens, np.bool_), arg(rows.assay, np.int64), arg(rows.event, np.int64),
                   arg(rows.is_sample, np.bool_), arg(rows.uln, np.float64), arg(rows.uln_row, np.float64),
                   arg(rows.skip, np.bool_), np.array(prm_f, dtype=np.float64), np.array(prm_i, dtype=np.int64),
                   np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64), np.empty(n, dtype=np.bool_),
                   np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64), xday, xkind, xevent, f, i)
    else:
        f = [math.nan] * (n_patients * _kernel.NF)
        i = [_kernel.MISSING] * (n_patients * _kernel.NI)
        xday, xkind, xevent = [0] * n, [0] * n, [0] * n
        _kernel.run(*(_plain(x) for x in (rows.starts, rows.day, rows.value, rows.cens, rows.assay, rows.event,
                                           rows.is_sample, rows.uln, rows.uln_row, rows.skip)),
                    prm_f, prm_i, [0] * n, [0.0] * n, [False] * n, [0] * n, [0.0] * n, xday, xkind, xevent, f, i)
        f, i = np.array(f), np.array(i, dtype=np.int64)
    return _Outputs(f.reshape(_kernel.NF, n_patients).T, i.reshape(_kernel.NI, n_patients).T,
                    np.asarray(xday), np.asarray(xkind), np.asarray(xevent))


def _plain(x):
    """A sequence as a Python list (numpy arrays via ``tolist``)."""
    return x.tolist() if hasattr(x, "tolist") else x


# --------------------------------------------------------------------------------------
# Reasons: one template per kernel code, built column-wise
# --------------------------------------------------------------------------------------


def _texts(x, fmt: str, arrow: bool = False):
    """``format(v, fmt)`` of every element of the numpy array ``x``, as a list (or, with
    ``arrow``, an Arrow string array); a large array formats each distinct value once (the
    same text: a value's text depends on the value only) and takes the texts by code.

    ``fmt`` is ``.6g`` or ``d``, applied by printf-style formatting (``"%.6g" % v``): the
    same text as ``format`` for these two, written a third faster."""
    import numpy as np
    import pandas as pd

    spec = "%" + fmt
    if len(x) < 256:
        texts = [spec % v for v in x.tolist()]
        return _arrow_strings(texts) if arrow else texts
    table = None
    if x.dtype.kind == "i":   # whole days: one text per day of the range, taken by position
        low, high = int(x.min()), int(x.max())
        if high - low < 4 * len(x):
            table, codes = [spec % v for v in range(low, high + 1)], x - low
    if table is None:
        codes, uniques = pd.factorize(x)
        table = [spec % v for v in uniques.tolist()]
        if x.dtype.kind == "f":
            negative_zero = np.flatnonzero((x == 0) & np.signbit(x))  # factorize merges -0.0 and 0.0
            if len(negative_zero):   # -0.0 gets its own text ("-0")
                codes = codes.copy()
                codes[negative_zero] = len(table)
                table.append(spec % -0.0)
    if arrow:
        return _arrow_strings(table).take(_arrow_indices(codes))
    return np.array(table, dtype=object)[codes].tolist()


def _arrow_strings(texts):
    import pyarrow as pa

    return pa.array(texts, type=pa.string())


def _arrow_indices(codes):
    import numpy as np
    import pyarrow as pa

    return pa.array(np.asarray(codes, dtype=np.int64))


def _present(codes) -> list[int]:
    """The distinct values of an integer array of a few codes, in increasing order, every
    negative one (none, :data:`_kernel.MISSING`) as -1: counted, not sorted."""
    import numpy as np

    return (np.flatnonzero(np.bincount(np.maximum(codes, -1) + 1)) - 1).tolist()


def _join(n: int, pieces):
    """The texts of ``n`` patients, each the concatenation of ``pieces``: constant strings
    and per-patient texts (lists, or Arrow string arrays joined by Arrow compute)."""
    if any(not isinstance(p, (str, list)) for p in pieces):
        import pyarrow.compute as pc

        return pc.binary_join_element_wise(*pieces, "")
    if all(isinstance(p, str) for p in pieces):
        return ["".join(pieces)] * n
    return ["".join(t) for t in zip(*[itertools.repeat(p) if isinstance(p, str) else p for p in pieces])]


@functools.lru_cache(maxsize=8)
def _setting_texts(st: GcigSettings) -> tuple[str, str, str, str]:
    """The settings as the reasons write them: response fraction (``50 %``), evaluable,
    assay-tolerance and progression factors (``2``, ``1.10``, ``2``)."""
    return (f"{st.response_fraction * 100:g} %", _factor(st.evaluable_factor), _factor(st.assay_tolerance),
            _factor(st.progression_factor))


class _ReasonColumns:
    """What the templates of the patients ``idx`` read: formatted numbers and days of the
    kernel outputs, the ULN and the settings' texts. The texts are lists, or Arrow string
    arrays (joined by Arrow compute, never a Python string a patient) for
    ``_columns.ARROW_MIN`` patients or more (:func:`_join` joins either)."""

    def __init__(self, rows: _Rows, out: _Outputs, uln, idx):
        from ._columns import ARROW_MIN

        st = rows.settings
        self.rows, self.out, self.idx, self.ulns, self.st = rows, out, idx, uln, st
        self.every = len(idx) == len(uln)   # idx is every patient, in order
        self.uln = uln if self.every else uln[idx]
        self.arrow = len(idx) >= ARROW_MIN
        self.pct, self.evaluable, self.tolerance, self.progression = _setting_texts(st)

    def value(self, column: int):
        values = self.out.f[:, column]
        return values if self.every else values[self.idx]

    def day(self, column: int):
        values = self.out.i[:, column]
        return values if self.every else values[self.idx]

    def num(self, x):
        """``_num`` of each value; ``x`` a float output column or an array."""
        return _texts(self.value(x) if isinstance(x, int) else x, ".6g", self.arrow)

    def days(self, x):
        return _texts(self.day(x) if isinstance(x, int) else x, "d", self.arrow)

    def apart(self, x, y) -> tuple:
        """:meth:`num` of ``x`` and of ``y`` (float output columns or arrays), each pair of
        values that 6 significant digits would write alike written apart (:func:`_apart`):
        a value and the boundary it is compared with."""
        import numpy as np

        a, b = (np.asarray(self.value(v) if isinstance(v, int) else v, dtype=float) for v in (x, y))
        texts = [self.num(a), self.num(b)]
        with np.errstate(invalid="ignore"):   # 6 digits can write alike only values this close
            near = np.flatnonzero((a != b) & (np.abs(a - b) <= 1e-5 * np.maximum(np.abs(a), np.abs(b))))
        if not near.size:
            return tuple(texts)
        fixed = [_apart(u, v) for u, v in zip(a[near].tolist(), b[near].tolist())]
        for side in (0, 1):
            if self.arrow:
                import pyarrow as pa
                import pyarrow.compute as pc

                mask = np.zeros(len(a), dtype=bool)
                mask[near] = True
                texts[side] = pc.replace_with_mask(texts[side], pa.array(mask),
                                                   pa.array([f[side] for f in fixed], type=pa.string()))
            else:
                for i, f in zip(near.tolist(), fixed):
                    texts[side][i] = f[side]
        return tuple(texts)

    def cnum(self, column: int, bit: int, texts=None) -> tuple:
        """The value of a float output ``column`` as :meth:`num` (or as ``texts`` write it),
        written ``<x`` where it was reported censored (the kernel's
        :data:`_kernel.I_CENSORED` ``bit``): the pieces :meth:`join` splices in. A censored
        value is shown as reported, not as a measurement."""
        import numpy as np

        flags = self.day(_kernel.I_CENSORED)
        marks = np.where((flags != _kernel.MISSING) & ((flags & bit) != 0), "<", "").tolist()
        return (_arrow_strings(marks) if self.arrow else marks), self.num(column) if texts is None else texts

    def join(self, *pieces):
        """Each patient's text: ``pieces`` (constant strings, per-patient texts, and tuples of
        such pieces, e.g. :meth:`fall`, spliced in: every text is joined once) joined."""
        flat = [q for p in pieces for q in (p if isinstance(p, tuple) else (p,))]
        return _join(len(self.idx), flat)

    def excluded(self, before: str, after: str = ""):
        """Per patient, ``before + "N sample(s) excluded ..." + after`` when the exclusion
        windows set samples aside, else nothing: a series that ends early only because its
        later samples were excluded says so (after mouse antibodies no later sample counts)."""
        import numpy as np

        counts, codes = np.unique(self.day(_kernel.I_N_EXCLUDED), return_inverse=True)
        w = self.st.interference_window_days
        labels = [f"{before}{c} sample(s) set aside by the exclusion windows ({w} days after a procedure; "
                  f"every sample after mouse antibodies){after}" if c > 0 else "" for c in counts.tolist()]
        if self.arrow:      # each distinct count's text once, taken by code
            return _arrow_strings(labels).take(_arrow_indices(codes))
        return [labels[i] for i in codes.tolist()]

    def after_antibodies(self, before: str):
        """Per patient, ``before + "no later sample will count: mouse antibodies on day d"``
        for a patient given mouse antibodies (every sample from that day on is excluded), else
        nothing: a result still waiting for a sample says that none can come."""
        import numpy as np

        days = _antibody_days(self.rows)
        days = days if self.every else days[self.idx]
        given = np.flatnonzero(days != _kernel.MISSING)
        if not len(given):
            return ""
        texts = [""] * len(self.idx)
        for j, d in zip(given.tolist(), days[given].tolist()):
            texts[j] = f"{before}no later sample will count: mouse antibodies on day {d}"
        return _arrow_strings(texts) if self.arrow else texts

    def earlier_falls(self, before: str):
        """Per patient, ``before + "after N earlier fall(s) broken ..."`` when the fall reported
        followed broken ones (``response_fall="restart"``), else nothing: the falls the
        assessment restarted from, the last one's days."""
        import numpy as np

        counts = self.day(_kernel.I_N_BROKEN)
        restarted = np.flatnonzero(counts != _kernel.MISSING)
        if not len(restarted):
            return ""
        texts = [""] * len(self.idx)
        falls, breaks = self.day(_kernel.I_PREV_FALL_DAY), self.day(_kernel.I_PREV_BRK_DAY)
        for j in restarted.tolist():
            texts[j] = (f"{before}after {counts[j]} earlier fall(s) broken, the last on day {falls[j]} (broken on day "
                        f"{breaks[j]}; response_fall 'restart': the next fall after a broken one is assessed anew)")
        return _arrow_strings(texts) if self.arrow else texts

    def excluded_on_treatment(self):
        """Per patient, ``"; N on-treatment sample(s) excluded: day d (why), ..."`` when the
        exclusion windows set aside samples drawn after the first dose, else nothing: what a
        patient without a usable on-treatment sample is missing, sample by sample. Built one
        patient at a time, for the patients with such samples only."""
        counts = self.day(_kernel.I_N_EXCLUDED)
        texts = [""] * len(self.idx)
        for j in (counts > 0).nonzero()[0].tolist():
            after = [(d, why) for d, why in _excluded(self.rows, self.out, int(self.idx[j]), inline=True) if d > 0]
            if after:
                texts[j] = (f"; {len(after)} on-treatment sample(s) excluded: "
                            + ", ".join(f"day {d} ({why})" for d, why in after))
        return _arrow_strings(texts) if self.arrow else texts

    def fall(self) -> tuple:
        """The fall of a response (its day, value, and the 50 % test against the baseline), as
        the pieces :meth:`join` splices in."""
        k = _kernel
        thr = self.st.response_fraction * self.value(k.F_BASE_VALUE)
        return ("fall to ", *self.cnum(k.F_RESP_VALUE, k.C_RESP), " U/mL on day ", self.days(k.I_RESP_DAY),
                f" (<= {self.pct} of baseline ", self.num(k.F_BASE_VALUE), " U/mL on day ",
                self.days(k.I_BASE_DAY), ": ", self.num(thr), " U/mL)")

    def split(self, column: int, labels: tuple, build):
        """``build(label, sub)`` of the patients of each value of the integer output ``column``
        (``labels[value]``); ``sub`` holds the columns of those patients. One value: its texts,
        in ``idx`` order; more: :class:`_Parts`, each value's patients and texts, which
        :func:`_reasons` places among the others' (no column of these patients built first)."""
        import numpy as np

        values = self.day(column)
        distinct = _present(values)
        if len(distinct) == 1:
            return build(labels[distinct[0]], self)
        parts = _Parts()
        for v in distinct:
            at = self.idx[values == v]
            parts.append((at, build(labels[v], _ReasonColumns(self.rows, self.out, self.ulns, at))))
        return parts

    def by_group(self, build):
        """:meth:`split` by progression group."""
        return self.split(_kernel.I_GROUP, _GROUPS, build)

    def basis(self, group: str) -> tuple:
        """The progression threshold's basis: ``2 x ULN u`` (groups A, C) or ``2 x nadir n`` (B),
        as the pieces :meth:`join` splices in."""
        if group == "B":
            return (f"{self.progression} x nadir ", *self.cnum(_kernel.F_NADIR, _kernel.C_NADIR), " U/mL")
        return (f"{self.progression} x ULN ", self.num(self.uln), " U/mL")


class _Parts(list):
    """Reason texts of a template as ``(patients, texts)`` pairs (:meth:`_ReasonColumns.split`)."""


_GROUP_TEXT = {
    "A": "group A: raised before treatment, normalised on treatment",
    "B": "group B: raised before treatment, never normalised",
    "C": "group C: normal before treatment",
}


def _antibody_days(rows: _Rows):
    """The day of each patient's first mouse-antibody event (:data:`_kernel.MISSING`: none),
    computed once per set of rows."""
    import numpy as np

    days = getattr(rows, "_antibody_days", None)
    if days is None:
        at = np.flatnonzero(np.asarray(rows.event) == _kernel.EV_HAMA)
        none = np.iinfo(np.int64).max
        days = np.full(len(rows.starts) - 1, none, dtype=np.int64)
        if at.size:
            np.minimum.at(days, np.searchsorted(rows.starts, at, side="right") - 1, np.asarray(rows.day)[at])
        days[days == none] = _kernel.MISSING
        rows._antibody_days = days
    return days


def _why_uln_change(c: _ReasonColumns):
    k = _kernel
    return c.join("not evaluable: the ULN changed from ", c.num(k.F_ULN1), " U/mL (day ", c.days(k.I_ULN1_DAY),
                  ") to ", c.num(k.F_ULN2), " U/mL (day ", c.days(k.I_ULN2_DAY),
                  "); GCIG requires the same assay (and ULN) from the baseline on")


def _why_day_assays(c: _ReasonColumns) -> list[str]:
    out = []
    for p, d in zip(c.idx.tolist(), c.day(_kernel.I_PROBLEM_DAY).tolist()):
        r = c.rows
        lo, hi = int(r.starts[p]), int(r.starts[p + 1])
        names = sorted({r.assay_names[a] for q, a in zip(range(lo, hi), _plain(r.assay[lo:hi]))
                        if r.day[q] == d and r.is_sample[q] and a >= 0})
        out.append(f"not evaluable: samples of day {d} come from different assays ({', '.join(names)}); "
                   "GCIG requires the same assay throughout")
    return out


def _why_no_baseline(c: _ReasonColumns) -> list[str]:
    w = c.st.baseline_window_days
    text = [f"not evaluable: no pretreatment sample{held} within {w} days before the first dose (day -{w} to day 0)"
            for held in ("", " (after exclusions)")]
    return [text[n > 0] for n in c.day(_kernel.I_N_EXCLUDED).tolist()]


def _why_assay_change(c: _ReasonColumns) -> list[str]:
    k, names = _kernel, c.rows.assay_names
    return [f"not evaluable: assay changed from {names[a]!r} (day {d}) to {names[b]!r} (day {e}); GCIG requires "
            "the same assay throughout"
            for a, d, b, e in zip(c.day(k.I_ASSAY1).tolist(), c.day(k.I_ASSAY1_DAY).tolist(),
                                  c.day(k.I_ASSAY2).tolist(), c.day(k.I_ASSAY2_DAY).tolist())]


def _r_base_censored(c: _ReasonColumns):
    k = _kernel
    return c.join("not evaluable: baseline reported as <", c.num(k.F_BASE_VALUE), " U/mL on day ",
                  c.days(k.I_BASE_DAY), f" cannot be shown >= {c.evaluable} x ULN (",
                  c.num(c.st.evaluable_factor * c.uln), " U/mL)")


def _r_base_low(c: _ReasonColumns):
    base, limit = c.apart(_kernel.F_BASE_VALUE, c.st.evaluable_factor * c.uln)
    return c.join("not evaluable: baseline ", base, f" U/mL < {c.evaluable} x ULN (", limit, " U/mL)")


def _r_no_sample(c: _ReasonColumns):
    k = _kernel
    return c.join("GCIG response not yet assessable: no CA-125 sample after the first dose (day > 0) yet; "
                  "evaluable baseline ", c.num(k.F_BASE_VALUE), " U/mL on day ", c.days(k.I_BASE_DAY),
                  f" (>= {c.evaluable} x ULN, ", c.num(c.st.evaluable_factor * c.uln), " U/mL)",
                  c.excluded_on_treatment(), c.after_antibodies("; "))


def _r_no_fall(c: _ReasonColumns):
    k = _kernel
    low, thr = c.apart(k.F_LOW, c.st.response_fraction * c.value(k.F_BASE_VALUE))
    return c.join(f"no GCIG response: no on-treatment sample <= {c.pct} of baseline ", c.num(k.F_BASE_VALUE),
                  " U/mL on day ", c.days(k.I_BASE_DAY), " (", thr, " U/mL); lowest ", c.cnum(k.F_LOW, k.C_LOW, low),
                  " U/mL", c.excluded("; "))


def _r_broken_fraction(c: _ReasonColumns):
    k = _kernel
    value, thr = c.apart(k.F_BRK_VALUE, c.st.response_fraction * c.value(k.F_BASE_VALUE))
    return c.join("GCIG response not confirmed: ", c.fall(), " broken on day ", c.days(k.I_BRK_DAY), ": ",
                  c.cnum(k.F_BRK_VALUE, k.C_BRK, value), f" U/mL > {c.pct} of baseline (", thr, " U/mL)",
                  c.earlier_falls("; "), c.excluded("; "))


def _r_broken_rise(c: _ReasonColumns):
    k = _kernel
    value, limit = c.apart(k.F_BRK_VALUE, c.st.assay_tolerance * c.value(k.F_BRK_PREV))
    return c.join("GCIG response not confirmed: ", c.fall(), " broken on day ", c.days(k.I_BRK_DAY), ": ",
                  c.cnum(k.F_BRK_VALUE, k.C_BRK, value), f" U/mL > {c.tolerance} x previous ",
                  c.cnum(k.F_BRK_PREV, k.C_PREV), " U/mL (", limit, " U/mL) and not within the normal range",
                  c.earlier_falls("; "), c.excluded("; "))


def _r_unconfirmed(c: _ReasonColumns):
    return c.join("GCIG response unconfirmed: ", c.fall(),
                  f"; no sample yet >= {c.st.confirmation_days} days later (last sample day ",
                  c.days(_kernel.I_LAST_DAY), c.excluded("; "), ")", c.earlier_falls("; "), c.after_antibodies("; "))


def _r_response(c: _ReasonColumns):
    def build(category: str, c: _ReasonColumns):
        k = _kernel
        conf, fall = c.day(k.I_CONF_DAY), c.day(k.I_RESP_DAY)
        side = "<=" if category == "CR" else ">"
        day = c.days(conf)
        value, uln = c.apart(k.F_CONF_VALUE, c.uln)
        return c.join("GCIG response confirmed on day ", day, f" ({category}): ", c.fall(), "; confirming sample ",
                      c.cnum(k.F_CONF_VALUE, k.C_CONF, value), " U/mL on day ", day, " (", c.days(conf - fall),
                      f" days later, {side} ULN ", uln,
                      f" U/mL); every sample in between <= {c.pct} of baseline and <= {c.tolerance} x the "
                      "previous one (or within the normal range)", c.earlier_falls("; "), c.excluded("; "))
    return c.split(_kernel.I_CATEGORY, _CATEGORIES, build)


def _p_base_censored(c: _ReasonColumns):
    k = _kernel
    base, uln = c.apart(k.F_BASE_VALUE, c.uln)
    return c.join("not evaluable: baseline reported as <", base, " U/mL on day ",
                  c.days(k.I_BASE_DAY), " with a limit above the ULN (", uln,
                  " U/mL): cannot tell a raised from a normal baseline")


def _p_progression(c: _ReasonColumns):
    sustained = c.st.progression_confirmation == "sustained"

    def build(g: str, c: _ReasonColumns):
        k = _kernel
        day, conf = c.day(k.I_PROG_DAY), c.day(k.I_PCONF_DAY)
        return c.join(f"GCIG CA-125 progression (group {g}) on day ", c.days(day), ": ", c.num(k.F_PROG_VALUE),
                      " U/mL, confirmed on day ", c.days(conf), " (", c.days(conf - day), " days later) by ",
                      c.num(k.F_PCONF_VALUE), " U/mL, ", "all" if sustained else "both", " >= ", c.basis(g), " (",
                      c.num(k.F_THRESHOLD), " U/mL)", () if sustained else _any_confirmation(c),
                      f"; {_GROUP_TEXT[g]}", c.excluded("; "))
    return c.by_group(build)


def _any_confirmation(c: _ReasonColumns) -> tuple:
    """What confirmed a progression under ``progression_confirmation="any"``: the first later
    sample far enough on at/above the threshold, and how many in between were not."""
    return (f", the first later sample >= {c.st.progression_gap_days} days after it at/above the threshold "
            "(progression_confirmation 'any': the samples in between need not be; ", c.days(_kernel.I_PBELOW),
            " in between below it)")


def _p_pending(c: _ReasonColumns):
    if c.st.progression_confirmation != "sustained":
        return _p_pending_any(c)

    def build(g: str, c: _ReasonColumns):
        k = _kernel
        return c.join(f"no GCIG CA-125 progression (group {g}): candidate on day ", c.days(k.I_CAND_DAY), " (",
                      c.num(k.F_CAND_VALUE), " U/mL >= ", c.basis(g), " = ", c.num(k.F_THRESHOLD),
                      f" U/mL) awaits confirmation: no sample yet >= {c.st.progression_gap_days} days later; "
                      f"{_GROUP_TEXT[g]}", c.excluded("; "), c.after_antibodies("; "))
    return c.by_group(build)


def _p_pending_any(c: _ReasonColumns):
    """A pending candidate under ``progression_confirmation="any"``: its own threshold (the
    group may change after it, on samples too close to confirm it)."""
    def build(g: str, c: _ReasonColumns):
        k = _kernel
        return c.join(f"no GCIG CA-125 progression (group {g}): candidate on day ", c.days(k.I_CAND_DAY), " (",
                      c.num(k.F_CAND_VALUE), " U/mL >= its threshold ", c.num(k.F_CAND_THRESHOLD),
                      f" U/mL) awaits confirmation: no sample yet >= {c.st.progression_gap_days} days later "
                      "(progression_confirmation 'any': any such sample at/above that threshold confirms it, "
                      f"whatever lies between); {_GROUP_TEXT[g]}", c.excluded("; "), c.after_antibodies("; "))
    return c.by_group(build)


#: The group of a patient without any on-treatment sample (A needs a normal on-treatment value).
_GROUP_SO_FAR = {
    "B": "group B until CA-125 normalises on treatment: raised before treatment",
    "C": "group C: normal before treatment",
}


def _p_no_sample(c: _ReasonColumns):
    def build(g: str, c: _ReasonColumns):
        return c.join("no GCIG CA-125 progression: no CA-125 sample after the first dose (day > 0) yet",
                      c.excluded_on_treatment(), "; progression needs two samples >= ", c.basis(g), " (",
                      c.num(_kernel.F_THRESHOLD), f" U/mL) at least {c.st.progression_gap_days} days apart; "
                      f"{_GROUP_SO_FAR[g]}", c.after_antibodies("; "))
    return c.by_group(build)


def _p_none_nadir(c: _ReasonColumns):
    k = _kernel
    return c.join(f"no GCIG CA-125 progression (group B): no two samples >= {c.progression} x nadir ",
                  c.cnum(k.F_NADIR, k.C_NADIR), " U/mL (", c.num(k.F_THRESHOLD),
                  f" U/mL) at least {c.st.progression_gap_days} days apart; {_GROUP_TEXT['B']}", c.excluded("; "))


def _p_none_uln(c: _ReasonColumns):
    def build(g: str, c: _ReasonColumns):
        return c.join(f"no GCIG CA-125 progression (group {g}): no two samples >= {c.progression} x ULN (",
                      c.num(_kernel.F_THRESHOLD),
                      f" U/mL) at least {c.st.progression_gap_days} days apart; {_GROUP_TEXT[g]}",
                      c.excluded("; "))
    return c.by_group(build)


_WHY = (_why_uln_change, _why_day_assays, _why_no_baseline, _why_assay_change)
#: The reason template of each response / progression code of the kernel.
_RESPONSE_TEMPLATES = _WHY + (_r_base_censored, _r_base_low, _r_no_sample, _r_no_fall, _r_broken_fraction,
                              _r_broken_rise, _r_unconfirmed, _r_response)
_PROGRESSION_TEMPLATES = _WHY + (_p_base_censored, _p_progression, _p_pending, _p_none_nadir, _p_none_uln,
                                 _p_no_sample)


def _reasons(rows: _Rows, out: _Outputs, column: int, templates, uln, patients=None, fixed=()):
    """Reason text of every patient, each template applied to the patients with its code
    (``patients``: only those; ``fixed``: further ``(positions, texts)``; the others None).
    An object array, or an Arrow string array for a large cohort (``_columns.scatter_text``)."""
    import numpy as np

    from ._columns import scatter_text

    codes = out.i[:, column]
    if patients is not None:
        codes = np.where(patients, codes, -1)
    parts = list(fixed)
    for code in _present(codes):
        if code < 0:
            continue
        idx = np.flatnonzero(codes == code)
        texts = templates[code](_ReasonColumns(rows, out, uln, idx))
        if isinstance(texts, _Parts):
            parts.extend(texts)
        else:
            parts.append((idx, texts))
    return scatter_text(len(codes), parts)


def _excluded(rows: _Rows, out: _Outputs, p: int, inline: bool = False) -> tuple[tuple[int, str], ...]:
    """``(day, reason)`` of every sample of patient ``p`` excluded by an event; with
    ``inline`` the reason's last clause follows a comma instead of parentheses (to sit inside
    a parenthesis of a longer text)."""
    window = rows.settings.interference_window_days
    lo = int(rows.starts[p])
    found = []
    for j in range(lo, lo + int(out.i[p, _kernel.I_N_EXCLUDED])):
        d, kind, e = int(out.xday[j]), int(out.xkind[j]), int(out.xevent[j])
        if kind == _kernel.EV_HAMA:
            what, rule = (f"drawn on or after mouse antibody administration on day {e}",
                          "GCIG: not evaluable after mouse antibodies, HAMA")
        else:
            what, rule = (f"drawn {d - e} days after {_kernel.EVENT_NAMES[kind]} on day {e}",
                          f"within the {window}-day interference window")
        found.append((d, f"{what}, {rule}" if inline else f"{what} ({rule})"))
    return tuple(found)


def _single(rows: _Rows) -> tuple[_Outputs, dict[str, Any]]:
    """The kernel's outputs for the one patient of ``rows``, and the fields both results share."""
    out = _run(rows, compiled=False)
    i, f = out.i[0].tolist(), out.f[0].tolist()
    n = i[_kernel.I_N_SAMPLES]
    has_base = i[_kernel.I_BASE_DAY] != _kernel.MISSING
    shared = dict(baseline_day=i[_kernel.I_BASE_DAY] if has_base else None,
                  baseline_value=f[_kernel.F_BASE_VALUE] if has_base else None,
                  uln=f[_kernel.F_ULN], n_samples=n, excluded=_excluded(rows, out, 0), settings=rows.settings)
    return out, shared


def _day_or_none(i: list, column: int):
    return None if i[column] == _kernel.MISSING else i[column]


def _value_or_none(f: list, column: int):
    return None if f[column] != f[column] else f[column]


def _response_result(rows: _Rows, out: _Outputs, shared: dict[str, Any]) -> GcigResponse:
    import numpy as np

    k = _kernel
    i, f = out.i[0].tolist(), out.f[0].tolist()
    code = i[k.I_RCODE]
    return GcigResponse(
        evaluable=code >= k.R_NO_SAMPLE, responded=None if code == k.R_NO_SAMPLE else code == k.R_RESPONSE,
        category=_CATEGORIES[max(i[k.I_CATEGORY], 0)],
        status=_RESPONSE_STATUS[code], reason=_python_list(_reasons(rows, out, k.I_RCODE, _RESPONSE_TEMPLATES,
                                                                     out.f[:, k.F_ULN]))[0],
        response_day=_day_or_none(i, k.I_RESP_DAY), response_value=_value_or_none(f, k.F_RESP_VALUE),
        confirmation_day=_day_or_none(i, k.I_CONF_DAY), confirmation_value=_value_or_none(f, k.F_CONF_VALUE),
        last_day=_day_or_none(i, k.I_LAST_DAY), last_value=_value_or_none(f, k.F_LAST_VALUE), **shared)


def _progression_result(rows: _Rows, out: _Outputs, shared: dict[str, Any]) -> GcigProgression:
    import numpy as np

    k = _kernel
    i, f = out.i[0].tolist(), out.f[0].tolist()
    code = i[k.I_PCODE]
    progressed = code == k.P_PROGRESSION
    return GcigProgression(
        progressed=progressed, group=_GROUPS[max(i[k.I_GROUP], 0)], status=_PROGRESSION_STATUS[code],
        reason=_python_list(_reasons(rows, out, k.I_PCODE, _PROGRESSION_TEMPLATES, out.f[:, k.F_ULN]))[0],
        progression_day=_day_or_none(i, k.I_PROG_DAY), progression_value=_value_or_none(f, k.F_PROG_VALUE),
        confirmation_day=_day_or_none(i, k.I_PCONF_DAY), confirmation_value=_value_or_none(f, k.F_PCONF_VALUE),
        threshold=_value_or_none(f, k.F_THRESHOLD), nadir=_value_or_none(f, k.F_NADIR), **shared)

# --------------------------------------------------------------------------------------
# Input preparation
# --------------------------------------------------------------------------------------


def _prepare(days, values, *, uln, settings, censored, events, assays, treatment_start,
             day_range=None, caller: str = "gcig_response") -> _Rows:
    """One patient's rows of the public-API inputs (any sequence types), validated by the markers
    reader: the lists become one patient's markers columns (samples, then one row per event;
    dates in a ``date`` column beside ``treatment_start`` when it is given), read by
    :func:`ca125kinetics.io.patient_record` (the rules and messages of
    :func:`ca125kinetics.io.read_markers`, as ``predict`` reads a patient; a row is named as
    the lists name it, ``days[2]/values[2]`` or ``events[0]``), then converted to the kernel's
    rows as every validated input is (:func:`_rows_of`). Only the shape of the arguments is
    checked here."""
    import numpy as np

    from . import io

    settings = _settings(settings)
    value_list = _as_list(values, "values")
    n = len(value_list)
    day_list = _one_per_value(days, "days", "day", n)
    columns = {"day": day_list, "ca125": value_list}
    if censored is not None:
        columns["censored"] = _one_per_value(censored, "censored", "flag", n)
    if assays is not None:
        columns["assay"] = _one_per_value(assays, "assays", "assay", n)
    labels = [f"days[{i}]/values[{i}]" for i in range(n)]
    event_list = [] if events is None else _as_list(events, "events")
    for i, event in enumerate(event_list):
        if isinstance(event, (str, bytes)) or not hasattr(event, "__len__") or len(event) != 2:
            raise InvalidInputError(
                f"events[{i}] = {event!r} is not a (day_or_date, kind) pair; kind is one of {EVENT_KINDS}"
            )
    if event_list:
        for name, cells in columns.items():
            cells.extend([None] * len(event_list))
        columns["day"][n:] = [e[0] for e in event_list]
        columns["event"] = [None] * n + [e[1] for e in event_list]
        labels += [f"events[{i}]" for i in range(len(event_list))]
    if treatment_start is not None:
        columns["date"] = columns.pop("day")
        columns["treatment_start"] = treatment_start       # a scalar: every row's
    uln = _resolve_uln(uln, settings)
    record = io.patient_record(
        {"patient_id": "patient", **{k: _object_array(v) if isinstance(v, list) else v for k, v in columns.items()}},
        uln=uln, on_error="raise", day_range=io.DAY_RANGE if day_range is None else day_range,
        duplicates=settings.duplicates, source=caller, rows=labels)
    settings = _settings_for(settings, float(uln))
    n = len(record.day)
    if not n:     # no sample and no event: the one patient, without rows
        ints, flags = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        return _Rows(starts=np.zeros(2, dtype=np.int64), day=ints, value=np.zeros(0), cens=flags, assay=ints,
                     event=ints, is_sample=flags, uln=np.array([settings.uln]), uln_row=np.zeros(0),
                     skip=np.zeros(1, dtype=bool), assay_names=(), settings=settings)
    return _rows_of(["patient"], np.array([0, n], dtype=np.int64), np.array(record.day, dtype=np.int64),
                    np.array(record.ca125, dtype=float), np.array(record.censored, dtype=bool),
                    np.array(record.uln, dtype=float), _object_array(list(record.assay)),
                    _object_array(list(record.event)), np.full(n, None, dtype=object), settings)[0]


def _object_array(values: list):
    """``values`` as a numpy object array, each cell as given (no type inferred)."""
    import numpy as np

    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _settings(settings) -> GcigSettings:
    if settings is None:
        return GcigSettings()
    if not isinstance(settings, GcigSettings):
        raise InvalidInputError(f"settings must be a GcigSettings, got {type(settings).__name__}")
    return settings


def _as_list(x, name: str) -> list:
    """Sequence-like input (list, tuple, numpy array, pandas Series) as a Python list."""
    import numpy as np
    import pandas as pd

    if (x is None or isinstance(x, (str, bytes, Mapping, pd.DataFrame)) or not hasattr(x, "__iter__")
            or getattr(x, "ndim", 1) != 1):
        raise InvalidInputError(f"{name} must be a sequence (list, array or Series), got {type(x).__name__}"
                                + (f" of {x.ndim} dimensions" if getattr(x, "ndim", 1) != 1 else "")
                                + ("; pass one column, e.g. frame['day']" if isinstance(x, pd.DataFrame) else ""))
    dtype = getattr(x, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "") == "M":
        return list(x)  # datetime64 elements stay datetimes (tolist() would give integers)
    single = getattr(dtype, "numpy_dtype", dtype)
    if single in (np.float32, np.float16):
        # single-precision numbers stay single (tolist() would widen them, 21.2 to 21.2000007629...,
        # as if written so): the reader refuses them, as it refuses such a column everywhere
        return list(pd.Series(x).to_numpy(dtype=single, na_value=np.nan))
    tolist = getattr(x, "tolist", None)
    return tolist() if tolist is not None else list(x)


def _one_per_value(x, name: str, item: str, n: int) -> list:
    """``x`` as a list of ``n`` items (one per CA-125 value), or an error naming ``name``."""
    items = _as_list(x, name)
    if len(items) != n:
        raise InvalidInputError(f"{name} has {len(items)} entries but values has {n}; give one {item} per value")
    return items


def _resolve_uln(uln, settings: GcigSettings):
    """The ULN given, else the settings' (the reader checks it: ``io.read_markers(uln=)``)."""
    return float(settings.uln) if uln is None else uln


def _settings_for(settings: GcigSettings, uln: float) -> GcigSettings:
    """The settings actually used: ``settings`` with its ``uln`` set to the ULN used."""
    return settings if settings.uln == uln else settings.replace(uln=uln)


def _assay_name(x) -> str | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    text = str(x).strip()
    return text or None


# --------------------------------------------------------------------------------------
# Response and progression of one patient
# --------------------------------------------------------------------------------------

def gcig_response(days, values, *, uln=None, settings=None, censored=None, events=None, assays=None,
                  treatment_start=None, marker="ca125", day_range=None) -> GcigResponse:
    """GCIG CA-125 response in the relapse setting (Rustin 2011; GCIG 2005).

    The rules are defined for CA-125 only: ``marker`` other than ``"ca125"`` (e.g.
    ``"cea"``) raises :class:`InvalidInputError` (:func:`ca125kinetics.markers.require_gcig_marker`).

    Rules, with the defaults of :class:`~ca125kinetics.settings.GcigSettings`:

    * **Baseline** ``C_b``: the latest sample with ``-14 <= day <= 0`` (**Decision**; GCIG says
      "within 2 weeks before treatment"; a sample on day 0 counts, day -14 counts, day -15 does
      not). **Evaluable** iff ``C_b >= 2 x ULN`` (exactly 2 x ULN is evaluable).
    * **Response date** ``t_r``: the *first* on-treatment sample (``day > 0``) with
      ``C <= 0.5 x C_b`` (exactly 50 % counts).
    * **Confirmation**: the first sample drawn ``>= 28`` days after ``t_r`` (exactly 28 days
      confirms). Every sample ``k`` from the first fall up to and including the confirming one
      must satisfy ``C_k <= 0.5 x C_b`` and ``C_k <= 1.10 x C_{k-1}`` (10 % assay variability),
      except that a rise with both ``C_k`` and ``C_{k-1}`` ``<= ULN`` never breaks it.
      **Decision (strict reading):** the assessment is anchored on the first fall; a broken fall
      gives ``status="not_confirmed"`` and is not restarted from a later fall.
    * **CR** if the confirming value is ``<= ULN``, else **PR**.
    * **Nothing after the first dose** (**Decision**): an evaluable baseline with no usable
      sample after day 0 (none drawn yet, or every one excluded) gives ``status="awaiting"``
      and ``responded=None``, with a reason naming what is missing (and the excluded
      on-treatment samples, with why): missing data, not a finding of no response.
    * **Exclusions** (each listed in ``excluded`` with its reason): samples with
      ``0 <= day - event_day <= 28`` after paracentesis, thoracentesis or surgery (**Decision**:
      the event day itself is excluded); after ``mouse_antibody`` every later sample, the same
      day included (HAMA). Excluded samples are removed before any rule is applied.
    * **One assay**: a change of assay name from the baseline on makes the patient not
      evaluable.

    Worked reading (docs/clinical-rules.md section 1, ULN 35): 400 on day 0, 180 on day 21, 195 on day 42, 150 on
    day 63 -> response on day 21 confirmed on day 63, PR (195 <= 1.10 x 180 = 198, <= 200). With
    199 on day 42 -> ``not_confirmed`` (199 > 198).

    Parameters
    ----------
    days : sequence
        Integer days from the first dose (day 0), or dates / datetimes / ISO strings when
        ``treatment_start`` is given (day = calendar-date difference to ``treatment_start``).
        Unsorted input is sorted by day.
    values : sequence of float
        CA-125, U/mL, finite and >= 0. For a value reported as ``"<x"`` give ``x`` and set the
        matching ``censored`` flag.
    uln : float, optional
        Upper limit of normal, U/mL; overrides ``settings.uln`` (default 35). Recorded in the
        result (``uln`` and ``settings.uln``).
    settings : GcigSettings, optional
        Rule settings; ``settings.duplicates`` decides what two samples on one day do
        (default: :class:`~ca125kinetics.errors.InvalidInputError`).
    censored : sequence of bool, optional
        True where the value was reported as ``"<x"``: the value holds ``x`` and ``x`` is
        treated as an **upper bound** of the true value (module docstring: a censored value
        satisfies "<=" tests through its bound, never ">=" tests).
    events : iterable of (day_or_date, kind), optional
        ``kind`` in ``paracentesis``, ``thoracentesis``, ``surgery``, ``mouse_antibody``.
    assays : sequence of str, optional
        Assay name per sample (None/empty = unknown, never counted as a change).
    treatment_start : date, datetime or ISO string, optional
        First dose; required when ``days`` holds dates.
    day_range : (int, int), optional
        Plausible inclusive range of the days, as in :func:`ca125kinetics.io.read_markers`
        (default :data:`ca125kinetics.io.DAY_RANGE`, -366..1830).

    Returns
    -------
    GcigResponse

    Raises
    ------
    InvalidInputError
        The lengths differ or an event is not a ``(day, kind)`` pair; or the series breaks a
        rule of the markers files: the lists are read as a markers table by
        :func:`ca125kinetics.io.read_markers` (``on_error="raise"``), so a value, day, date,
        censored flag, event kind or ULN a file may not hold is refused here with the same
        message, its row named as the lists name it (``days[2]/values[2]``, ``events[0]``):
        a value that is not a number, negative, infinite or beyond what any assay reports; a
        day that is not whole or outside ``day_range``; two samples on one day with
        ``settings.duplicates == "error"`` (another setting has the reader aggregate them,
        as it does a file's; samples of two assays or ULNs on one day are refused). A value
        written ``"<x"`` is read as censored at ``x``, as in a file.

    References
    ----------
    Rustin GJS et al. Int J Gynecol Cancer 2011;21:419-423. GCIG CA 125 definitions, 2005.
    """
    require_gcig_marker(marker)
    rows = _prepare(days, values, uln=uln, settings=settings, censored=censored, events=events, assays=assays,
                    treatment_start=treatment_start, day_range=day_range, caller="gcig_response")
    out, shared = _single(rows)
    return _response_result(rows, out, shared)

def gcig_progression(days, values, *, uln=None, settings=None, censored=None, events=None, assays=None,
                     treatment_start=None, marker="ca125", day_range=None) -> GcigProgression:
    """GCIG CA-125 progression (Rustin 2011; GCIG 2005). CA-125 only: another ``marker``
    raises :class:`InvalidInputError`.

    Progression is CA-125 at or above the threshold on **two occasions at least 7 days apart**;
    the date of progression is the first of the two. With ``C_b`` the baseline (as in
    :func:`gcig_response`: latest sample with ``-14 <= day <= 0``):

    * **Group C** (``C_b <= ULN``): threshold ``2 x ULN``.
    * Otherwise the on-treatment samples (``day > 0``) are read chronologically. A candidate is
      **group A** when an earlier on-treatment value was ``<= ULN`` (threshold ``2 x ULN``,
      counted only after the first normal value), else **group B** (threshold ``2 x nadir``;
      **Decision**: the nadir is the lowest value from the baseline up to the candidate).
    * A candidate must be ``>= threshold`` and ``> ULN`` (a rise within the normal range is
      never progression). It is confirmed by the first later sample drawn ``>= 7`` days after
      it (exactly 7 days counts); that sample and every sample in between must also be
      ``>= threshold``. Otherwise the scan goes on with the next sample. A candidate with no
      sample yet 7 days later awaits confirmation only while every later sample holds at or
      above its threshold; one already broken is dropped and the scan goes on.
    * Without progression, ``group`` is the patient's group after the last sample (A if CA-125
      ever normalised on treatment, else B; C if the baseline was normal) and ``threshold``
      the one then in force.
    * No baseline, or a change of assay -> ``status="not_evaluable"``. Exclusions and censored
      values as in :func:`gcig_response` (a censored value never reaches a threshold).
    * **Decision (no sample after the first dose):** ``no_progression`` means "no confirmed
      progression up to the last sample", censored there like a survival time (as after one
      on-treatment sample, or with a candidate awaiting its confirmation). A baseline with no
      usable sample after day 0 is ``no_progression`` with a reason that says nothing after
      the first dose was assessed (and lists the excluded on-treatment samples); no consumer
      reads it as more (the combined table and the decision rule act on a confirmed
      progression only).

    Parameters
    ----------
    days, values, uln, settings, censored, events, assays, treatment_start
        As in :func:`gcig_response`.

    Returns
    -------
    GcigProgression

    Raises
    ------
    InvalidInputError
        As in :func:`gcig_response`.

    References
    ----------
    Rustin GJS et al. Int J Gynecol Cancer 2011;21:419-423. GCIG CA 125 definitions, 2005.
    """
    require_gcig_marker(marker)
    rows = _prepare(days, values, uln=uln, settings=settings, censored=censored, events=events, assays=assays,
                    treatment_start=treatment_start, day_range=day_range, caller="gcig_progression")
    out, shared = _single(rows)
    return _progression_result(rows, out, shared)

# --------------------------------------------------------------------------------------
# Combined RECIST 1.1 + CA-125 response (data-driven table)
# --------------------------------------------------------------------------------------

_TABLE_FILE = "combined_response.csv"
_RECIST = RECIST_CATEGORIES
_TRI = ("yes", "no", "unknown")
#: The table's ``combined`` value of a row that gives no category (``CombinedResponse.category``
#: None; ``combined_category`` missing in a cohort table).
_UNDETERMINED = "undetermined"
_TABLE_INPUTS = {
    "recist": (*_RECIST, "unknown"),
    "new_lesion": ("yes", "no"),
    "ca125_progression": _TRI,
    "ca125_response": _TRI,
    "ca125_normal": _TRI,
}
_TABLE_COLUMNS = ("rule", *_TABLE_INPUTS, "combined", "basis")


@dataclass(frozen=True)
class _Rule:
    rule: int
    accepts: tuple[frozenset, ...]  # one set of accepted states per _TABLE_INPUTS key
    combined: str
    basis: str

    def matches(self, states: tuple[str, ...]) -> bool:
        return all(state in accepted for state, accepted in zip(states, self.accepts))


@functools.lru_cache(maxsize=1)
def _combined_rules() -> tuple[_Rule, ...]:
    """Rows of ``data/combined_response.csv``, validated (complete, well-formed)."""
    text = resources.files("ca125kinetics").joinpath("data").joinpath(_TABLE_FILE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(_io.StringIO("\n".join(lines)))
    if tuple(reader.fieldnames or ()) != _TABLE_COLUMNS:
        raise ModelIntegrityError(f"{_TABLE_FILE}: columns {reader.fieldnames} differ from {list(_TABLE_COLUMNS)}")
    rules = []
    for row in reader:
        accepts = []
        for name, states in _TABLE_INPUTS.items():
            cell = row[name].strip()
            got = frozenset(states) if cell == "*" else frozenset(p.strip() for p in cell.split("|"))
            if not got or not got <= set(states):
                raise ModelIntegrityError(f"{_TABLE_FILE}, rule {row['rule']}: {name}={cell!r}; use '*' or "
                                          f"'|'-separated values from {states}")
            accepts.append(got)
        if row["combined"] not in (*_RECIST, _UNDETERMINED):
            raise ModelIntegrityError(f"{_TABLE_FILE}, rule {row['rule']}: combined={row['combined']!r}")
        rules.append(_Rule(int(row["rule"]), tuple(accepts), row["combined"], row["basis"].strip()))
    for states in itertools.product(*_TABLE_INPUTS.values()):
        if not any(r.matches(states) for r in rules):
            raise ModelIntegrityError(f"{_TABLE_FILE} has no row for {dict(zip(_TABLE_INPUTS, states))}")
    return tuple(rules)


@functools.lru_cache(maxsize=None)
def _first_rule(states: tuple[str, ...]) -> _Rule:
    """The first row of the table matching ``states`` (complete: checked at load); at most
    4 x 2 x 3^3 distinct inputs, so each is looked up once per process."""
    return next(r for r in _combined_rules() if r.matches(states))


def combined_response_table():
    """The combined RECIST 1.1 + CA-125 table as a :class:`pandas.DataFrame` (first match wins).

    Columns: ``rule``, ``recist``, ``new_lesion``, ``ca125_progression``, ``ca125_response``,
    ``ca125_normal`` (``*`` = any; ``a|b`` = either), ``combined``, ``basis``.
    """
    import pandas as pd

    rows = []
    for r in _combined_rules():
        row = {"rule": r.rule}
        for (name, states), accepted in zip(_TABLE_INPUTS.items(), r.accepts):
            row[name] = "*" if accepted == frozenset(states) else "|".join(s for s in states if s in accepted)
        rows.append({**row, "combined": r.combined, "basis": r.basis})
    return pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))


def _tri(flag) -> str:
    return "unknown" if flag is None else ("yes" if flag else "no")


def _normal_state(last_day, last_value, uln):
    """"CA-125 normal" of the combined table, element-wise, as a position in ``_TRI`` (0 yes,
    1 no, 2 unknown): whether the latest sample the GCIG rules used (after exclusions) is
    <= ULN (with the rules' floating-point slack), judged only when that sample was drawn on
    treatment (``day > 0``). **Decision:** a pretreatment sample says nothing of CA-125 after
    the neoadjuvant cycles, so a patient without an on-treatment sample is unknown (and a RECIST
    CR stays CR, rule 7). ``last_day`` None/NaN or the kernel's missing day: unknown."""
    import numpy as np

    day = np.asarray(np.nan if last_day is None else last_day, dtype=float)
    value = np.asarray(np.nan if last_value is None else last_value, dtype=float)
    with np.errstate(invalid="ignore"):
        known = (day > 0) & ~np.isnan(value)
        return np.where(known, np.where(_le(value, np.asarray(uln, dtype=float)), 0, 1), 2)


def _flag(x, name: str) -> bool | None:
    if x is None:
        return None
    if x in (True, False) and not isinstance(x, (str, float)):
        return bool(x)
    raise InvalidInputError(f"{name} must be True, False or None, got {x!r}")


def combined_response(recist, *, ca125_response=None, ca125_progression=None, new_lesion=False,
                      ca125_normal=None) -> CombinedResponse:
    """Combined RECIST 1.1 + CA-125 response category (Rustin 2011), from a data table.

    The table ``ca125kinetics/data/combined_response.csv`` (see
    :func:`combined_response_table`) is read top-down and the first matching row fires. It was
    implemented from the text of Rustin et al., IJGC 2011, as summarised in docs/clinical-rules.md
    section 3:
    RECIST PD or a new lesion -> PD; RECIST CR with normal CA-125 -> CR; RECIST CR with a CA-125
    response but not normal -> PR; RECIST PR -> PR unless CA-125 PD -> PD; RECIST SD with a
    confirmed CA-125 response -> PR; otherwise SD. Each row's ``basis`` says which sentence it
    implements or which Decision fills a gap:

    * **Decision (rule 3):** a confirmed GCIG CA-125 progression gives PD whatever the RECIST
      category (the spec states it for RECIST PR; GCIG 2011 counts CA-125 progression as
      progression, so it is applied to CR and SD as well).
    * **Decision (rule 6):** RECIST CR with CA-125 known not normal and no confirmed CA-125
      response -> PR (CR requires a normal CA-125, as a non-normalised non-target lesion would
      under RECIST 1.1).
    * **Decision (rule 7):** RECIST CR with CA-125 normality unknown -> CR (the combined
      category is downgraded only on evidence).
    * Only a *confirmed* GCIG response counts as a CA-125 response; ``unconfirmed`` and
      ``not_confirmed`` count as "no", ``not_evaluable`` and ``awaiting`` (no sample after the
      first dose yet) as "unknown".

    * **Decision (rule 11):** RECIST unknown (None) without a new lesion or a CA-125
      progression -> no category (``category`` None, the reason says "undetermined ... give
      recist"); with either, PD (rules 2-3): progression needs no RECIST category.

    Parameters
    ----------
    recist : {"CR", "PR", "SD", "PD"} or None
        RECIST 1.1 category (case-insensitive); None (or NaN) = unknown.
    ca125_response : GcigResponse, bool or None
        CA-125 response; None = unknown (a ``not_evaluable`` or ``awaiting`` result is also
        unknown).
    ca125_progression : GcigProgression, bool or None
        Confirmed GCIG CA-125 progression; None = unknown (a ``not_evaluable`` progression
        result is also unknown).
    new_lesion : bool
        A new lesion was seen.
    ca125_normal : bool or None
        CA-125 within the normal range at the assessment. **Decision:** when None and
        ``ca125_response`` is a :class:`GcigResponse`, it is "latest sample used <= ULN"
        (``last_value``) if that sample was drawn on treatment (``last_day > 0``); otherwise
        unknown.

    Returns
    -------
    CombinedResponse

    Raises
    ------
    InvalidInputError
        Unknown RECIST category (any text other than the four codes, ``""`` included) or a
        flag that is not a boolean.
    ModelIntegrityError
        The packaged table is malformed or leaves a combination of inputs without a row.
    """
    code = "unknown" if _missing(recist) else recist.strip().upper() if isinstance(recist, str) else recist
    if code not in _TABLE_INPUTS["recist"]:
        raise InvalidInputError(f"recist must be one of {_RECIST} (RECIST 1.1), got {recist!r}",
                                column="recist")
    if isinstance(ca125_response, GcigResponse):
        response = None if ca125_response.status == "not_evaluable" else ca125_response.responded  # awaiting: None
        if ca125_normal is None:
            state = int(_normal_state(ca125_response.last_day, ca125_response.last_value, ca125_response.uln))
            ca125_normal = (True, False, None)[state]
    else:
        response = _flag(ca125_response, "ca125_response")
    if isinstance(ca125_progression, GcigProgression):
        progression = None if ca125_progression.status == "not_evaluable" else ca125_progression.progressed
    else:
        progression = _flag(ca125_progression, "ca125_progression")
    lesion = _flag(new_lesion, "new_lesion")
    if lesion is None:
        raise InvalidInputError("new_lesion must be True or False, got None")
    normal = _flag(ca125_normal, "ca125_normal")
    states = (code, _tri(lesion), _tri(progression), _tri(response), _tri(normal))
    rule = _first_rule(states)
    return CombinedResponse(
        category=None if rule.combined == _UNDETERMINED else rule.combined,
        reason=(f"{rule.combined}: rule {rule.rule} of the combined RECIST 1.1 + CA-125 table ({rule.basis}); "
                f"RECIST {code}, new lesion {states[1]}, CA-125 progression {states[2]}, confirmed CA-125 "
                f"response {states[3]}, CA-125 normal {states[4]}"),
        rule=rule.rule, basis=rule.basis, recist=None if code == "unknown" else code, new_lesion=lesion,
        ca125_progression=states[2], ca125_response=states[3], ca125_normal=states[4],
    )

# --------------------------------------------------------------------------------------
# Cohort
# --------------------------------------------------------------------------------------


def _missing(x) -> bool:
    """None, NaN, pandas NA or NaT (cells of a DataFrame column turned into a list)."""
    if x is None:
        return True
    if isinstance(x, float):
        return x != x
    return type(x).__name__ in ("NAType", "NaTType")


_NO_MARKERS = "no CA-125 markers for this patient in the markers table"
# below this many cells, a column is scanned in Python (numpy/pandas calls cost more)
_SMALL = 512


def _absent(values):
    """:func:`_missing` of every cell of an object array."""
    import numpy as np

    if len(values) < _SMALL:
        return np.array([_missing(v) for v in values.tolist()], dtype=bool)
    import pandas as pd

    return pd.isna(values)


def _factorize(values) -> tuple[Any, list]:
    """``(codes, distinct values)`` of an object array, distinct values in order of appearance,
    code -1 for a missing cell (:func:`_missing`, as pandas' factorize sees one)."""
    import numpy as np

    if len(values) < _SMALL:
        seen: dict = {}
        codes = [-1 if _missing(v) else seen.setdefault(v, len(seen)) for v in values.tolist()]
        return np.array(codes, dtype=np.int64), list(seen)
    import pandas as pd

    codes, uniques = pd.factorize(values)
    return codes, uniques.tolist()


class _Masked:
    """An integer or boolean column with a missing mask (nullable in a table, None in lists)."""

    __slots__ = ("values", "mask")

    def __init__(self, values, mask):
        self.values, self.mask = values, mask

    def array(self):
        """As a pandas nullable array (``Int64`` or ``boolean``)."""
        import pandas as pd

        kind = pd.arrays.BooleanArray if self.values.dtype == bool else pd.arrays.IntegerArray
        return kind(self.values, self.mask)

    def tolist(self) -> list:
        return [None if m else v for v, m in zip(self.values.tolist(), self.mask.tolist())]


class _Labels:
    """A text column of few distinct values: each patient's code into ``names`` (a None name:
    missing). As a table column it is built by Arrow from the codes (no Python string a
    patient); typed as ``_columns.text_column`` types the same texts."""

    __slots__ = ("names", "codes")

    def __init__(self, names: tuple, codes):
        self.names, self.codes = tuple(names), codes

    def set(self, where, name: str) -> None:
        """Give the patients ``where`` the text ``name``."""
        import numpy as np

        if name not in self.names:
            self.names += (name,)
        self.codes = np.where(where, self.names.index(name), self.codes)

    def tolist(self) -> list:
        return _names(self.names)[self.codes].tolist()

    def array(self):
        """As the DataFrame column ``_columns.text_column`` makes of the same texts."""
        from ._columns import labels_text, text_column

        return text_column(labels_text(self.names, self.codes))


def _numbers(column, *, whole: bool):
    """A column as float64 (NaN where missing) and a mask of cells that are not numbers
    (booleans, text; with ``whole``, numbers that are not whole)."""
    import numpy as np

    values = np.asarray(column)
    if values.dtype.kind in "iu":
        return values.astype(np.float64), np.zeros(len(values), dtype=bool)
    if values.dtype.kind == "f":
        bad = ~(np.isfinite(values) & (values == np.floor(values))) if whole else np.zeros(len(values), dtype=bool)
        return values.astype(np.float64), bad
    out = np.full(len(values), np.nan)
    bad = np.zeros(len(values), dtype=bool)
    for j, v in enumerate(values.tolist()):   # an object column: not from io.read_markers
        if _missing(v):
            bad[j] = whole
        elif isinstance(v, bool) or not isinstance(v, Real):
            bad[j] = True
        else:
            out[j] = float(v)
            bad[j] = whole and not (math.isfinite(v) and float(v).is_integer())
    return out, bad


def _first_per_patient(present, starts, n_rows: int):
    """Index of each patient's first row where ``present`` (``n_rows`` when none)."""
    import numpy as np

    first = np.asarray(starts[:-1], dtype=np.int64).copy()
    late = np.flatnonzero(~present[first]) if n_rows else np.zeros(0, dtype=np.int64)
    if len(late):   # patients whose first row lacks it: their first row that has it
        where = np.where(present, np.arange(n_rows), n_rows)
        first[late] = np.minimum.reduceat(where, first)[late]
    return first


def _rows_of(ids, starts, day, ca125, cens, ulns, assay, event, problem, settings: GcigSettings, *,
             none=None) -> tuple[_Rows, dict[int, str]]:
    """The kernel's rows of patient-contiguous markers columns validated by the markers reader
    (a canonical frame's, or the records').

    Returns the rows (sorted by day within patient) and ``invalid``: patient -> why its
    input is invalid (its ``problem`` cells). ``none`` marks patients without markers (one
    placeholder row each, skipped). The rows' ``uln`` is each patient's first ULN given (in
    day order), else ``settings.uln``: the ULN the kernel uses when no sample from the
    baseline on states one, and reports without a baseline.
    """
    import numpy as np

    n_patients, n_rows = len(starts) - 1, len(day)
    patient = np.repeat(np.arange(n_patients), np.diff(starts))
    value, bad_value = _numbers(ca125, whole=False)
    day_f, bad_day = _numbers(day, whole=True)
    if np.asarray(day).dtype.kind in "iu":   # whole days as given (float64 holds 2**53 exactly)
        day_i = np.asarray(day, dtype=np.int64)
    else:
        day_i = np.where(bad_day, 0, np.nan_to_num(day_f)).astype(np.int64)
    cens = np.asarray(cens)
    if cens.dtype != bool:
        cens = np.array([False if _missing(c) else bool(c) for c in cens.tolist()], dtype=bool)
    # events: code of each kind (settings.event_kind), -2 for an unknown kind
    event = np.asarray(event, dtype=object)
    has_event = ~_absent(event)
    event_code = np.full(n_rows, _kernel.EV_NONE, dtype=np.int64)
    if has_event.any():
        codes, kinds = _factorize(event[has_event])
        kind_code = np.array([_EVENT_CODES.get(event_kind(k), -2) for k in kinds], dtype=np.int64)
        event_code[has_event] = kind_code[codes]
    is_sample = ~(has_event & np.isnan(value) & ~bad_value)
    # assays: codes of the trimmed names in name order (-1 unnamed)
    assay = np.asarray(assay, dtype=object)
    # (most rows name one: the whole column factorized, which is faster than selecting them first)
    codes, raw = _factorize(assay)
    trimmed = [_assay_name(a) for a in raw]
    names = sorted({a for a in trimmed if a is not None})
    position = {a: i for i, a in enumerate(names)}
    raw_code = np.array([-1 if a is None else position[a] for a in trimmed] + [-1], dtype=np.int64)
    assay_code = raw_code[codes]   # a missing cell (code -1) takes the last: -1
    # ULN: a sample's (an event-only row has none, though io.read_markers fills the default
    # into its cell); the kernel compares them from the baseline on, as the assays
    uln_rows, _ = _numbers(ulns, whole=False)
    uln_rows = np.where(is_sample, uln_rows, np.nan)
    # invalid input: problem cells, then (check) the validation of the rows
    invalid: dict[int, str] = {}
    problem = np.asarray(problem, dtype=object)
    flagged = ~_absent(problem)
    if flagged.any():
        firsts = _first_per_patient(flagged, starts, n_rows)
        for p in np.flatnonzero(firsts < n_rows).tolist():
            invalid[p] = str(problem[firsts[p]])
    order = np.lexsort((day_i, patient)) if n_rows and np.any(
        (np.diff(day_i) < 0) & (patient[1:] == patient[:-1])) else None
    skip = np.zeros(n_patients, dtype=bool)
    skip[list(invalid)] = True
    if none is not None:
        skip |= none
    if order is not None:
        day_i, value, cens, assay_code, event_code, is_sample, uln_rows = (
            x[order] for x in (day_i, value, cens, assay_code, event_code, is_sample, uln_rows))
    first = _first_per_patient(~np.isnan(uln_rows), starts, n_rows)
    uln = np.where(first < n_rows, uln_rows[np.minimum(first, max(n_rows - 1, 0))], float(settings.uln))
    rows = _Rows(starts=np.asarray(starts, dtype=np.int64), day=day_i, value=value, cens=cens, assay=assay_code,
                 event=event_code, is_sample=is_sample, uln=uln, uln_row=uln_rows, skip=skip,
                 assay_names=tuple(names), settings=settings)
    return rows, invalid


@functools.lru_cache(maxsize=1)
def _combined_lookup():
    """The combined category of every input of the table, as an array indexed by
    (RECIST, new lesion, CA-125 progression, response, normal) positions in ``_TABLE_INPUTS``."""
    import numpy as np

    table = np.empty(tuple(len(s) for s in _TABLE_INPUTS.values()), dtype=object)
    for index in itertools.product(*(range(len(s)) for s in _TABLE_INPUTS.values())):
        states = tuple(s[i] for s, i in zip(_TABLE_INPUTS.values(), index))
        table[index] = _first_rule(states).combined
    return table


def _recist_codes(recist):
    """Position in ``_RECIST`` of each RECIST cell (-1 missing or blank, -2 invalid) and the
    reason of each invalid one."""
    import numpy as np

    recist = np.asarray(recist, dtype=object)
    code = np.full(len(recist), -1, dtype=np.int64)
    errors = {}
    present = np.flatnonzero(~_absent(recist))
    if len(present):
        codes, uniques = _factorize(recist[present])
        per_unique = []
        for u in uniques:
            text = u.strip().upper() if isinstance(u, str) else u
            if text == "":      # blank text states nothing: unknown, as the readers read an empty cell
                per_unique.append(-1)
                continue
            if text in _RECIST:
                per_unique.append(_RECIST.index(text))
                continue
            try:
                combined_response(u)
            except InvalidInputError as exc:
                errors[len(per_unique)] = f"clinical {exc}; use CR, PR, SD or PD, or leave it empty"
            per_unique.append(-2)
        code[present] = np.array(per_unique, dtype=np.int64)[codes]
        reasons = np.full(len(recist), None, dtype=object)
        for u, why in errors.items():
            reasons[present[codes == u]] = why
        return code, reasons
    return code, np.full(len(recist), None, dtype=object)


def _gcig_columns(rows: _Rows, invalid: dict[int, str], recist=None, none=None) -> dict[str, Any]:
    """The :data:`COHORT_COLUMNS` (without ``patient_id``; with ``combined_category`` when
    ``recist`` is given) of every patient of ``rows`` as arrays, from one kernel run.

    ``none``: patients that have no markers (a skipped placeholder row each; status
    ``"no_markers"``). ``recist``: each patient's RECIST cell (None/NaN when unknown).
    Integer and boolean columns are :class:`_Masked` (values and a missing mask). Text
    columns are as they are built: :class:`_Labels` (few distinct values), the reasons as
    ``_columns`` text columns (an object array, or an Arrow string array for a large cohort),
    ``combined_category`` an object array.
    """
    import numpy as np

    k = _kernel
    out = _run(rows)
    n = len(rows.starts) - 1
    i, f = out.i, out.f
    uln = f[:, k.F_ULN]
    bad = np.zeros(n, dtype=bool)
    bad[list(invalid)] = True
    none = np.zeros(n, dtype=bool) if none is None else np.asarray(none, dtype=bool)
    rcode, pcode = i[:, k.I_RCODE], i[:, k.I_PCODE]
    combined = None
    if recist is not None:
        code, why = _recist_codes(recist)
        bad_recist = code == -2
        for p in np.flatnonzero(bad_recist & ~bad).tolist():
            invalid[p] = why[p]
        bad |= bad_recist
        use = ~bad
        combined = np.full(n, None, dtype=object)
        if use.any():
            ok = ~none & use
            tri = lambda known, flag: np.where(known, np.where(flag, 0, 1), 2)  # noqa: E731 (yes/no/unknown)
            # the latest sample against its own ULN (after a change of assay, the new range;
            # a sample whose row states no ULN has the patient's)
            last_uln = np.where(np.isnan(f[:, k.F_LAST_ULN]), uln, f[:, k.F_LAST_ULN])
            normal = np.where(ok, _normal_state(i[:, k.I_LAST_DAY], f[:, k.F_LAST_VALUE], last_uln), 2)
            progression = tri(ok & (pcode >= k.P_PROGRESSION), pcode == k.P_PROGRESSION)
            response = tri(ok & (rcode > k.R_NO_SAMPLE), rcode == k.R_RESPONSE)   # awaiting: unknown
            recist_at = np.where(code == -1, _TABLE_INPUTS["recist"].index("unknown"), np.maximum(code, 0))
            cats = _combined_lookup()[recist_at, 1, progression, response, normal]
            cats[cats == _UNDETERMINED] = None
            combined[use] = cats[use]
    valid = ~bad & ~none
    missing = ~valid
    counted = valid | (none & ~bad)     # n_samples / n_excluded: 0 for a patient without markers
    status = _Labels(_RESPONSE_STATUS, np.maximum(rcode, 0))
    p_status = _Labels(_PROGRESSION_STATUS, np.maximum(pcode, 0))
    fixed = []   # the reasons of invalid patients and of patients without markers
    if bad.any():
        at = np.flatnonzero(bad)
        fixed.append((at, [invalid.get(p) for p in at.tolist()]))
        status.set(bad, "invalid_input")
        p_status.set(bad, "invalid_input")
    if none.any():
        empty = none & ~bad
        fixed.append((np.flatnonzero(empty), [_NO_MARKERS] * int(empty.sum())))
        status.set(empty, "no_markers")
        p_status.set(empty, "no_markers")
    reason = _reasons(rows, out, k.I_RCODE, _RESPONSE_TEMPLATES, uln, valid, fixed)
    p_reason = _reasons(rows, out, k.I_PCODE, _PROGRESSION_TEMPLATES, uln, valid, fixed)
    # the day columns as one block: missing for invalid patients and where the kernel wrote none
    day_columns = (k.I_BASE_DAY, k.I_RESP_DAY, k.I_CONF_DAY, k.I_PROG_DAY)
    block = out.i[:, day_columns]
    block_missing = (block == k.MISSING) | missing[:, None]
    block = np.where(block_missing, 0, block)
    days = {c: _Masked(block[:, j], block_missing[:, j]) for j, c in enumerate(day_columns)}
    counts = np.where((counted & ~none)[:, None], out.i[:, (k.I_N_SAMPLES, k.I_N_EXCLUDED)], 0)

    def labels(names, column):
        return _Labels(names, np.where(valid, np.maximum(i[:, column], 0), 0))

    columns = dict(
        uln=np.where(none, np.nan, uln),
        n_samples=_Masked(counts[:, 0], ~counted),
        n_excluded=_Masked(counts[:, 1], ~counted),
        baseline_day=days[k.I_BASE_DAY],
        baseline_value=np.where(valid, f[:, k.F_BASE_VALUE], np.nan),
        evaluable=_Masked(valid & (rcode >= k.R_NO_SAMPLE), missing),
        responded=_Masked(valid & (rcode == k.R_RESPONSE), missing | (rcode == k.R_NO_SAMPLE)),
        category=labels(_CATEGORIES, k.I_CATEGORY),
        response_day=days[k.I_RESP_DAY],
        confirmation_day=days[k.I_CONF_DAY],
        status=status,
        reason=reason,
        progressed=_Masked(valid & (pcode == k.P_PROGRESSION), missing),
        progression_group=labels(_GROUPS, k.I_GROUP),
        progression_day=days[k.I_PROG_DAY],
        progression_status=p_status,
        progression_reason=p_reason,
        # not a cohort column: the day of a progression candidate awaiting its confirmation
        # (the reason says it in words), for predict's warnings
        progression_candidate_day=_Masked(np.where(valid & (pcode == k.P_PENDING), i[:, k.I_CAND_DAY], 0),
                                          ~(valid & (pcode == k.P_PENDING))),
    )
    if combined is not None:
        columns["combined_category"] = combined
    return columns


@functools.lru_cache(maxsize=None)
def _names(names: tuple):
    """``names`` as a numpy object array (taken by code)."""
    import numpy as np

    return np.array(names, dtype=object)


def batch_gcig(batch, settings: GcigSettings) -> dict[str, Any]:
    """GCIG columns of validated patients held as columns (``io.PatientBatch``), in their
    order, from one kernel run: the GCIG step of scoring, for one patient or a registry.

    Returns
    -------
    dict of str to array
        The :data:`COHORT_COLUMNS` without ``patient_id``, then ``combined_category`` (from
        each patient's clinical ``recist``), as :func:`_gcig_columns` gives them, and
        ``progression_candidate_day`` (the day of a progression candidate awaiting its
        confirmation; not a cohort column: for ``predict``'s warnings). A patient
        without markers has status ``"no_markers"``; one whose markers or clinical row carry a
        ``problem`` is ``"invalid_input"`` with the markers' problem as its reason, else the
        clinical one (:func:`_with_clinical_problems`, as :func:`gcig_cohort` reports it).
    """
    import numpy as np
    import pandas as pd

    sizes = batch.sizes
    none = sizes == 0                       # no markers: one placeholder row, skipped
    lengths = np.maximum(sizes, 1)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if none.any():
        source = np.full(int(starts[-1]), -1, dtype=np.int64)     # placeholder rows: -1
        source[np.repeat(~none, lengths)] = np.arange(len(batch.day))

        def rows(values, fill):
            if not len(values):
                return np.full(len(source), fill, dtype=values.dtype)
            out = values[np.maximum(source, 0)]
            out[source < 0] = fill
            return out
    else:
        def rows(values, fill):
            return values
    problem = np.full(int(starts[-1]), None, dtype=object)
    problem[starts[:-1]] = batch.problem
    problem = _with_clinical_problems(problem, batch.ids, starts, batch.ids, pd.Series(batch.clinical_problem))
    kernel_rows, invalid = _rows_of(
        batch.ids.tolist(), starts, rows(batch.day, 0), rows(batch.ca125, np.nan), rows(batch.censored, False),
        rows(batch.uln, np.nan), rows(batch.assay, None), rows(batch.event, None), problem, settings,
        none=none)   # validated under io's rules
    return _gcig_columns(kernel_rows, invalid, recist=batch.clinical["recist"], none=none)


def records_gcig(patients, settings: GcigSettings) -> dict[str, list]:
    """:func:`batch_gcig` of validated patients given as ``io.PatientRecord`` objects, one
    plain Python value a patient (None where missing), as :func:`gcig_cohort` gives them."""
    from .io import PatientBatch

    columns = batch_gcig(PatientBatch.from_records(list(patients)), settings)
    return {name: _python_list(columns[name]) for name in (*COHORT_COLUMNS[1:], "combined_category")}


# columns whose type is fixed (the others are text, typed as pandas types text)
_TYPED_COLUMNS = ("patient_id", "uln", "n_samples", "n_excluded", "baseline_day", "baseline_value", "evaluable",
                  "responded", "response_day", "confirmation_day", "progressed", "progression_day")


def _python_list(values) -> list:
    """A column as plain Python values, None where missing."""
    out = values.to_pylist() if hasattr(values, "to_pylist") else values.tolist()
    if getattr(values, "dtype", None) is not None and values.dtype.kind == "f":
        return [None if v != v else v for v in out]
    return out


def _with_clinical_problems(problem, ids, starts, clinical_ids, clinical_problem):
    """The markers rows' ``problem`` cells (a copy) with each patient's clinical ``problem``
    (what :func:`ca125kinetics.io.read_clinical` flagged: a repeated patient, a RECIST or
    date it could not read, ...) in the patient's first row when its markers carry none:
    the patient is then ``invalid_input`` with that reason. The one rule of :func:`gcig_cohort`
    and of scoring's GCIG columns (:func:`batch_gcig`)."""
    import numpy as np
    import pandas as pd

    clinical_problem = clinical_problem.to_numpy(dtype=object)
    flagged = np.flatnonzero(~_absent(clinical_problem))
    if not len(flagged):
        return problem
    problem = np.array(problem, dtype=object)
    at = pd.Index(ids, dtype=object).get_indexer(clinical_ids[flagged])
    for p, text in zip(at.tolist(), clinical_problem[flagged].tolist()):
        if p >= 0 and _absent(problem[starts[p]:starts[p + 1]]).all():
            problem[starts[p]] = text
    return problem


def _read(markers, settings: GcigSettings):
    """``markers`` as the markers reader returns it: a frame :func:`ca125kinetics.io.read_markers`
    returned and nobody changed since (:func:`ca125kinetics.io.read_unchanged`) as it is, any
    other frame read by it (``on_error="flag"``: a patient whose rows break a rule is flagged,
    with the reader's reasons). Same-day samples are refused or aggregated by the reader, by
    ``settings.duplicates`` (one rule for every series, :func:`ca125kinetics.io.read_markers`).
    A ``problem`` a row of the frame
    carries is its patient's reason (it comes first, as the reader would have put it there)."""
    import numpy as np
    import pandas as pd

    from . import io

    if io.read_unchanged(markers, duplicates=settings.duplicates, uln=settings.uln):
        return markers
    given = markers["problem"] if "problem" in markers.columns else None
    frame = io.read_markers(markers if given is None else markers.drop(columns="problem"), on_error="flag",
                            uln=settings.uln,
                            duplicates=settings.duplicates)
    if given is not None and given.notna().any():
        flagged = given.notna().to_numpy()
        reasons = io._given_reasons(given.to_numpy(dtype=object)[flagged],
                                    io._id_array(markers["patient_id"].to_numpy(dtype=object)[flagged]))
        pid = frame["patient_id"].to_numpy(dtype=object)
        first = np.r_[True, pid[1:] != pid[:-1]] if len(pid) else np.zeros(0, dtype=bool)
        carried = pd.Series(pid).map(reasons).to_numpy(dtype=object)
        problem = frame["problem"].to_numpy(dtype=object).copy()
        at = first & pd.notna(carried)
        problem[at] = carried[at]
        frame = frame.assign(problem=problem)
    return frame


def _frame_rows(frame, settings: GcigSettings, clinical_ids=None, clinical=None):
    """The kernel's rows of a canonical markers frame (:func:`_read`), patients sorted by
    ``patient_id``, then (``clinical_ids``, the clinical frame's identifiers) one placeholder
    patient per clinical patient without markers. Returns ``(rows, invalid, ids, none,
    aligned)``: :func:`_rows_of`'s two, the patients, the mask of those without markers (or
    None) and whether the clinical rows are in the patients' order."""
    import numpy as np
    import pandas as pd

    pid_text = frame["patient_id"]
    if not (pid_text.dtype == object and pd.api.types.infer_dtype(pid_text, skipna=False) == "string"):
        pid_text = pid_text.astype(str)
    if not pid_text.is_monotonic_increasing:
        order = np.argsort(pid_text.to_numpy(), kind="stable")
        frame, pid_text = frame.iloc[order], pid_text.iloc[order]
    n_rows = len(frame)
    pid = pid_text.to_numpy()
    starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]]) if n_rows else np.array([], dtype=np.int64)
    ids = pid[starts]
    starts = np.append(starts, n_rows).astype(np.int64)

    def column(name, default):
        return frame[name].to_numpy() if name in frame.columns else np.full(n_rows, default)

    cells = [frame["day"].to_numpy(), frame["ca125"].to_numpy(), column("censored", False),
             column("uln", math.nan), column("assay", None), column("event", None), column("problem", None)]
    none = None
    # clinical rows in the patients' order (a chunk of a sorted registry): each patient's row
    # is its position, no lookup needed
    aligned = clinical_ids is not None and len(clinical_ids) == len(ids) and bool(
        (clinical_ids.to_numpy() == ids).all())
    if clinical_ids is not None and not aligned:
        extra = clinical_ids[~clinical_ids.isin(ids)]
        if len(extra):   # clinical patients without markers: one placeholder row each
            placeholder = (0, math.nan, False, math.nan, None, None, None)
            cells = [np.concatenate([c, np.full(len(extra), v)]) for c, v in zip(cells, placeholder)]
            none = np.r_[np.zeros(len(ids), dtype=bool), np.ones(len(extra), dtype=bool)]
            ids = np.concatenate([ids, np.asarray(extra, dtype=object)])
            starts = np.append(starts, n_rows + np.arange(1, len(extra) + 1)).astype(np.int64)
    if clinical_ids is not None and "problem" in clinical.columns:
        cells[6] = _with_clinical_problems(cells[6], ids, starts, clinical_ids, clinical["problem"])
    rows, invalid = _rows_of(ids, starts, *cells, settings, none=none)
    return rows, invalid, ids, none, aligned


def gcig_cohort(markers, clinical=None, *, settings=None, marker="ca125"):
    """GCIG response, progression (and combined category) for every patient of a cohort.

    CA-125 only: another ``marker``, or a markers frame holding another marker's values
    (a ``cea`` column and no ``ca125``), raises :class:`InvalidInputError`.

    Parameters
    ----------
    markers : pandas.DataFrame
        The canonical markers frame (``ca125kinetics.io.read_markers``): columns
        ``patient_id``, ``day``, ``ca125`` and optionally ``censored``, ``uln``, ``assay``,
        ``event``, ``problem``; extra columns are ignored. A row with an ``event`` adds that
        event for its patient (an event-only row has ``ca125`` NaN). A frame that
        ``read_markers`` returned and nobody changed since is used as it is; any other frame
        (built by hand, sliced, sorted, edited) is read by ``read_markers(on_error="flag",
        uln=settings.uln)`` first (:func:`_read`): a patient whose rows break a rule of the
        data contract is ``"invalid_input"`` with the reader's reasons, exactly as if the
        frame had been a file.
    clinical : pandas.DataFrame, optional
        One row per patient with ``patient_id``; when it has a ``recist`` column, the
        combined category is added. Patients in ``clinical`` without markers get a row with
        status ``"no_markers"`` (their combined category comes from RECIST alone).
    settings : GcigSettings, optional
        Rule settings. The ULN of each patient comes from the markers ``uln`` column when
        present (else ``settings.uln``).

    Returns
    -------
    pandas.DataFrame
        One row per patient, sorted by ``patient_id``, with the columns of
        :data:`COHORT_COLUMNS` in that order, then ``recist`` and ``combined_category`` when
        ``clinical`` has ``recist``. ``status`` / ``progression_status`` are the values of
        :func:`gcig_response` / :func:`gcig_progression`, or ``"invalid_input"`` (the patient's
        rows carry ``problem``, or its data fail validation: the reason says why) or
        ``"no_markers"``; a patient whose ``clinical`` row carries a ``problem`` (as
        :func:`ca125kinetics.io.read_clinical` flags it) is ``"invalid_input"`` with that
        reason, unless its markers' problem is reported. Day columns are nullable ``Int64``;
        ``evaluable``, ``responded`` and ``progressed`` are nullable ``boolean`` (NA for
        ``invalid_input`` / ``no_markers``).

    Notes
    -----
    **Decision:** if the ``uln`` column differs within a patient, the patient is not evaluable
    (like an assay change), with a reason; the first row's ULN is reported. The ULN is a
    sample's: an event-only row (``ca125`` NaN) has none, whatever its ``uln`` cell holds. A
    ``recist`` value outside CR/PR/SD/PD makes the patient ``invalid_input``. Nothing is dropped: every patient
    of ``markers`` and of ``clinical`` has exactly one row.

    The rules run as one pass over the patient-contiguous rows (``_gcig_kernel``), compiled
    with numba for cohorts of :data:`COMPILED_MIN_PATIENTS` patients or more; the reasons are
    built one template at a time over the patients it applies to.

    Raises
    ------
    InvalidInputError
        ``markers`` lacks a required column, or ``clinical`` lacks ``patient_id`` or repeats a
        patient.
    """
    import numpy as np
    import pandas as pd

    require_gcig_marker(marker)
    if isinstance(markers, pd.DataFrame) and "ca125" not in markers.columns:
        for other in MARKERS:
            if other in markers.columns:
                require_gcig_marker(other)
    settings = _settings(settings)
    if not isinstance(markers, pd.DataFrame):
        raise InvalidInputError(f"markers must be a pandas DataFrame, got {type(markers).__name__}")
    missing = [c for c in ("patient_id", "day", "ca125") if c not in markers.columns]
    if missing:
        raise InvalidInputError(f"markers lacks column(s) {missing}; read it with ca125kinetics.io.read_markers",
                                column=missing[0])
    clinical_ids = None
    has_recist = False
    if clinical is not None:
        if not isinstance(clinical, pd.DataFrame) or "patient_id" not in clinical.columns:
            raise InvalidInputError("clinical must be a pandas DataFrame with a 'patient_id' column",
                                    column="patient_id")
        from .io import _check_header, _resolve_columns

        _check_header(clinical.columns, "clinical DataFrame")
        # a column named like the one this reads ('RECIST') is refused, as the readers refuse it:
        # ignored, it would leave every patient without a combined category, without a word
        _resolve_columns(clinical, ("patient_id", "recist"), None, "clinical DataFrame")
        clinical_pid = clinical["patient_id"]
        if isinstance(clinical_pid.dtype, pd.StringDtype) and not clinical_pid.hasnans:   # text already
            clinical_ids = pd.Index(clinical_pid.to_numpy(dtype=object), dtype=object)
        else:
            clinical_ids = pd.Index([str(p) for p in clinical_pid.tolist()], dtype=object)
        if clinical_ids.has_duplicates:
            raise InvalidInputError(f"clinical repeats patient(s) {sorted(set(clinical_ids[clinical_ids.duplicated()]))}; "
                                    "keep one row per patient", column="patient_id")
        has_recist = "recist" in clinical.columns

    rows, invalid, ids, none, aligned = _frame_rows(_read(markers, settings), settings, clinical_ids, clinical)
    recist = None
    if has_recist:
        position = np.arange(len(ids)) if aligned else clinical_ids.get_indexer(ids)
        recist_cells = clinical["recist"].to_numpy(dtype=object)
        known = position >= 0
        known[known] = ~clinical["recist"].isna().to_numpy()[position[known]]
        recist = np.where(known, recist_cells[np.maximum(position, 0)] if len(recist_cells) else None, None)
    columns = _gcig_columns(rows, invalid, recist=recist, none=none)
    result = {"patient_id": np.asarray(ids, dtype=object)}
    for name in COHORT_COLUMNS[1:]:
        values = columns[name]
        result[name] = values.array() if isinstance(values, (_Masked, _Labels)) else values
    if has_recist:
        result["recist"] = recist
        result["combined_category"] = columns["combined_category"]
    if not len(ids):   # no patient: the types an empty column of each kind gets
        empty = pd.DataFrame({name: [] for name in result})
        return empty.astype({name: values.dtype for name, values in result.items() if name in _TYPED_COLUMNS})
    from ._columns import text_column

    # the columns of no other type are text, also when no patient has a value (a chunk of
    # patients without markers, or without a response)
    table = pd.DataFrame({name: pd.Series(values, dtype=object) if name == "patient_id"
                          else text_column(values, text=name not in _TYPED_COLUMNS)
                          for name, values in result.items()})
    if none is not None:
        table = table.sort_values("patient_id", kind="stable")
    return table.reset_index(drop=True)
