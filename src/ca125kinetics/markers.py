"""Tumour markers as a parameter: what the package knows about each marker it reads.

The kinetics model (``C(t) = B + (C0 - B) exp(-k t)``) is the same for every marker that
decays by first-order elimination towards a floor; what differs between markers is the unit,
the upper limit of normal (ULN), the values an assay can report, and the typical elimination
rate and floor. :class:`MarkerSpec` holds those facts for one marker, with their sources, so
that reading, kinetics, plots and the command line can take the marker as a parameter
(``--marker cea``) instead of hard-coding CA-125.

The GCIG response and progression rules are defined for CA-125 only; they refuse any other
marker (:func:`require_gcig_marker`).

References
----------
CA-125: Rustin GJS et al. Int J Gynecol Cancer 2011;21:419-423 (GCIG definitions, ULN 35 U/mL);
Riedinger JM et al. Ann Oncol 2006 (CA-125 half-life, median 15.8 days).
CEA: LOINC 2039-6. ULN about 3 ng/mL in non-smokers and up to 5 ng/mL in smokers; rectal
studies use 3, 5 or 6 ng/mL. Post/pre CEA ratio and downstaging: J Cancer 2020;11:6565-6570.
Exponential CEA clearance during neoadjuvant chemotherapy (weeks 2-14, fit R^2 > 0.9)
predicting ypT0-2N0 and pCR: FOWARC post-hoc analysis, BMC Cancer 2018;18:1145.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError

__all__ = ["MarkerSpec", "MARKERS", "CA125", "CEA", "get_marker", "require_gcig_marker"]


@dataclass(frozen=True)
class MarkerSpec:
    """Facts about one tumour marker (immutable, JSON-serialisable).

    Parameters
    ----------
    name : str
        Short lower-case name, also the value column of the markers table (``ca125``,
        ``cea``).
    label : str
        Name for people (``"CA-125"``).
    unit : str
        Unit of the values, as UCUM writes it (``U/mL``, ``ng/mL``).
    unit_aliases : tuple of str
        Units that are the same number (``kU/L`` for ``U/mL``; ``ug/L`` for ``ng/mL``).
    loinc : str
        LOINC code of the serum measurement.
    default_uln : float
        Default upper limit of normal, in ``unit``; always a parameter, recorded with every
        result.
    uln_source : str
        Where the default ULN comes from.
    uln_alternatives : tuple of float
        Other ULNs in common use (documentation; any positive value is accepted).
    plausible_max : float
        Largest value an assay reports; larger values are refused as invalid input.
    typical_k_per_day : float
        Typical elimination rate during effective treatment (per day), the centre of the
        kinetic prior used to start fits and to simulate cohorts.
    typical_floor : float
        Typical floor ``B`` reached under effective treatment, in ``unit``.
    gcig_rules : bool
        Whether the GCIG response and progression rules are defined for this marker.
    uln_max : float
        Largest plausible upper limit of normal, in ``unit``: a larger ULN (in a table's
        ``uln`` column or given as an argument) is refused as implausible, as another unit's
        or another marker's ULN would be (CA-125's 35 U/mL read as 35 ng/mL of CEA).
    uln_min : float
        Smallest plausible upper limit of normal, in ``unit``: a smaller ULN is refused the
        same way (CEA's 5 ng/mL read as a CA-125 ULN of 5 U/mL, which would make nearly
        every patient evaluable and few normalise). 0: any positive ULN.
    """

    name: str
    label: str
    unit: str
    unit_aliases: tuple[str, ...]
    loinc: str
    default_uln: float
    uln_source: str
    uln_alternatives: tuple[float, ...]
    plausible_max: float
    typical_k_per_day: float
    typical_floor: float
    gcig_rules: bool
    uln_max: float = 1000.0
    uln_min: float = 0.0

    def __post_init__(self):
        if not self.name or self.name != self.name.lower() or not self.name.isidentifier():
            raise InvalidInputError(f"marker name must be a lower-case identifier, got {self.name!r}")
        for key in ("default_uln", "plausible_max", "typical_k_per_day", "typical_floor", "uln_max"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InvalidInputError(f"MarkerSpec.{key} must be a positive finite number, got {value!r}")
        if not (isinstance(self.uln_min, (int, float)) and 0 <= self.uln_min <= self.default_uln <= self.uln_max):
            raise InvalidInputError(f"MarkerSpec needs 0 <= uln_min <= default_uln <= uln_max, got {self.uln_min!r}, "
                                    f"{self.default_uln!r}, {self.uln_max!r}")

    def plausible_uln(self, uln: float) -> bool:
        """Whether ``uln`` (a number of :attr:`unit`) lies within the marker's plausible upper
        limits of normal, from :attr:`uln_min` to :attr:`uln_max`: the one statement of the
        range that every check of a single ULN (arguments, settings) applies."""
        return 0 < uln <= self.uln_max and uln >= self.uln_min

    @property
    def typical_half_life_days(self) -> float:
        """``ln 2 / typical_k_per_day``."""
        return math.log(2.0) / self.typical_k_per_day

    def accepts_unit(self, code: str) -> bool:
        """True when the UCUM code ``code`` is this marker's unit or one that is the same
        number, in the spellings UCUM makes equal (:func:`ucum_key`)."""
        return isinstance(code, str) and ucum_key(code) in {ucum_key(u) for u in (self.unit, *self.unit_aliases)}

    def names_unit(self, text) -> bool:
        """True when the unit text ``text``, as people write it, names this marker's unit or
        one that is the same number (:func:`unit_text_key`: case, spaces, brackets, the micro
        sign and 'units' spelt out aside, so ``IU/mL``, ``units/mL``, ``U/ML`` and ``µg/L``
        are read). This is the one rule for a unit given as text: the ``unit`` column of a
        markers table and the unit text of a FHIR or OMOP record."""
        return isinstance(text, str) and unit_text_key(text) in {
            unit_text_key(u) for u in (self.unit, *self.unit_aliases)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def ucum_key(code: str) -> str:
    """A UCUM unit code with the spellings UCUM makes equal written one way: ``l`` and ``L``
    are both the litre (``U/ml`` is ``U/mL``), ``[IU]`` and ``[iU]`` both the international
    unit, and the micro sign (U+00B5, or the Greek mu) is UCUM's ``u``. Anything else that
    differs is another unit (``U/ML`` is units per megalitre, ``U/L`` a thousand times
    smaller)."""
    num, sep, den = code.strip().partition("/")
    num = num.replace("\u00b5", "u").replace("\u03bc", "u").replace("[IU]", "[iU]")
    if den.endswith("l"):
        den = den[:-1] + "L"
    return num + sep + den


def unit_text_key(text: str) -> str:
    """A unit as people write it, without case, spaces, brackets, the micro sign or 'unit(s)'
    spelt out: ``"units / mL"``, ``"IU/ml"`` and ``"U/mL"`` give one key."""
    text = re.sub(r"(?i)\bunits?\b", "u", str(text))
    return "".join(ucum_key(text).replace("[", "").replace("]", "").split()).casefold()


CA125 = MarkerSpec(
    name="ca125", label="CA-125", unit="U/mL", unit_aliases=("kU/L", "[iU]/mL", "k[iU]/L"),
    loinc="10334-1", default_uln=35.0,
    uln_source="GCIG CA-125 definitions (Rustin 2011): 35 U/mL; some data sets use 30",
    uln_alternatives=(30.0, 35.0), plausible_max=1.0e6,
    typical_k_per_day=0.043, typical_floor=7.0, gcig_rules=True,
    # assays' ULNs are about 20-46 U/mL: 10 leaves room, and refuses CEA's 2.5-10 ng/mL
    uln_min=10.0,
)

CEA = MarkerSpec(
    name="cea", label="CEA", unit="ng/mL", unit_aliases=("ug/L",),
    loinc="2039-6", default_uln=5.0,
    uln_source="about 3 ng/mL in non-smokers, up to 5 ng/mL in smokers; rectal studies use 3, "
               "5 or 6 ng/mL; package default 5 ng/mL (a parameter)",
    uln_alternatives=(3.0, 5.0, 6.0), plausible_max=1.0e5,
    # plasma half-life of CEA after resection is a few days; during neoadjuvant therapy the
    # decline is slower (tumour shrinkage): the prior centres on a ~25-day half-life
    typical_k_per_day=0.028, typical_floor=1.5, gcig_rules=False,
    # assays' ULNs are 2.5-10 ng/mL: 20 leaves room, and refuses CA-125's 30 or 35 U/mL
    uln_max=20.0, uln_min=1.0,
)

#: Markers the package knows, by name.
MARKERS: dict[str, MarkerSpec] = {m.name: m for m in (CA125, CEA)}


def get_marker(marker: str | MarkerSpec | None = None) -> MarkerSpec:
    """The :class:`MarkerSpec` for a name (``"ca125"``, ``"cea"``; case and ``-`` ignored).

    ``None`` means CA-125, the package's first marker. Raises :class:`InvalidInputError`
    naming the known markers for anything else.
    """
    if marker is None:
        return CA125
    if isinstance(marker, MarkerSpec):
        return marker
    key = str(marker).strip().lower().replace("-", "").replace("_", "")
    if key not in MARKERS:
        raise InvalidInputError(
            f"unknown marker {marker!r}; known markers are {sorted(MARKERS)} "
            "(pass one of them, e.g. --marker cea)")
    return MARKERS[key]


def require_gcig_marker(marker: str | MarkerSpec | None, *, what: str = "the GCIG rules") -> MarkerSpec:
    """Return the spec of ``marker`` if the GCIG rules apply to it, else raise.

    The GCIG response and progression definitions were agreed for CA-125 in ovarian cancer;
    applying them to another marker would give a confident answer with no clinical meaning.
    """
    spec = get_marker(marker)
    if not spec.gcig_rules:
        raise InvalidInputError(
            f"{what} are defined for CA-125 only, not for {spec.label}; "
            f"use the kinetics (ca125 kinetics --marker {spec.name}) for {spec.label} series")
    return spec
