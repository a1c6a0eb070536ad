"""Screen patients against a trial's eligibility criteria, kept as data.

A trial's criteria live in a TOML file (``ca125kinetics/data/trials/rescue.toml``,
``reset.toml``, or any file of the same form; the format is described in
``docs/screening.md``). A small rule engine reads the file and, for every patient of a
clinical table (the data contract's clinical columns plus the optional screening columns of
``docs/data-contract.md``), reports:

* ``eligible``, ``ineligible`` or ``undetermined``;
* the outcome of every criterion (``met``, ``not_met``, ``missing``), its verdict for the
  patient (``pass``, ``fail``, ``missing``) and the reason in words;
* which alternative admitted the patient where a criterion has alternatives (RESCUE
  inclusion 3: RECIST 1.1 CR/PR/SD **or** a GCIG CA-125 response).

Logic
-----
Each criterion is a condition on the patient's fields: a comparison (``field``, operator,
value) or a group ``all = [...]`` / ``any = [...]`` of conditions, nested freely. A condition
whose field is empty is *unknown*, and groups combine known and unknown parts by
three-valued (Kleene) logic:

* ``all``: false if any part is false, else unknown if any part is unknown, else true;
* ``any``: true if any part is true, else unknown if any part is unknown, else false.

An inclusion criterion passes when its condition is true; an exclusion criterion fails when
its condition is true (the condition states what excludes). A patient is

* ``ineligible`` if any criterion fails (even when others are unknown),
* otherwise ``undetermined`` if any criterion is unknown, naming the missing fields,
* otherwise ``eligible``.

**Decision:** missing information never admits a patient. Because the logic is monotone,
filling in a missing field can turn ``undetermined`` into ``eligible`` or ``ineligible`` but
never changes a patient already ``eligible`` or ``ineligible``.

Fields derived from the markers
-------------------------------
``gcig_response`` is the status of :func:`ca125kinetics.gcig.gcig_cohort` (the package's
GCIG rules, Rustin 2011; never re-implemented here) on the markers table, and
``combined_response`` its combined RECIST 1.1 + CA-125 category. **Decision:** a GCIG status
that more or valid data could still change is unknown, with its reason: ``unconfirmed`` (a
50 % fall without a sample >= 28 days later yet), ``awaiting`` (an evaluable baseline but no
usable CA-125 after the first dose yet: none drawn, or every one excluded), ``invalid_input``
(the patient's markers fail validation) and ``no_markers`` (no markers for the patient, or no
markers table). A ``not_evaluable`` patient cannot show a GCIG response, so the clause is false.

Clinical restaging (``yct_stage``, ``ycn_stage``, ``ycm_stage``) is what a gate reads;
pathology after surgery (``ypt_stage``, ``ypn_stage``) and the other outcome columns
(:data:`ca125kinetics.io.CLINICAL_OUTCOMES`) are refused in a criteria file.
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, require_rows

__all__ = [
    "screen",
    "load_trial",
    "available_trials",
    "format_screening",
    "Trial",
    "Criterion",
    "Condition",
    "Group",
    "CriterionResult",
    "PatientScreening",
    "ScreeningResult",
    "STATUSES",
    "OUTCOMES",
    "VERDICTS",
    "OPERATORS",
    "DERIVED_FIELDS",
    "FRAME_COLUMNS",
    "CRITERIA_COLUMNS",
    "ENTRY_CRITERION",
    "DOWNSTAGING_CRITERION",
    "entry_criterion",
    "criterion_values",
    "gcig_field",
]

STATUSES = ("eligible", "ineligible", "undetermined")
OUTCOMES = ("met", "not_met", "missing")
VERDICTS = ("pass", "fail", "missing")
KINDS = ("inclusion", "exclusion")
#: Operators of a comparison, with the symbol used in reasons.
OPERATORS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
             "in": "in", "not_in": "not in"}
_GROUPS = ("all", "any")
#: Columns of :meth:`ScreeningResult.to_frame` (one row per patient).
#: ``criteria_file`` and ``criteria_sha256`` say which criteria file (and which text of it) decided.
FRAME_COLUMNS = ("patient_id", "trial", "status", "admitted_by", "failed", "missing", "reason",
                 "criteria_file", "criteria_sha256", "rules", "package_version")
#: Columns of :meth:`ScreeningResult.criteria_frame` (one row per patient and criterion).
CRITERIA_COLUMNS = ("patient_id", "criterion", "kind", "outcome", "verdict", "clause", "missing", "reason")
_TRIALS_PACKAGE = "ca125kinetics"
_TRIALS_DIR = ("data", "trials")


#: Fields computed from the markers by the package's GCIG rules (module docstring).
DERIVED_FIELDS = ("gcig_response", "combined_response")


def _derived_fields() -> dict[str, tuple[str, ...]]:
    """The values each derived field takes: GCIG response statuses, RECIST categories."""
    from .gcig import RESPONSE_STATUSES
    from .io import RECIST_CATEGORIES

    return dict(zip(DERIVED_FIELDS, (RESPONSE_STATUSES, RECIST_CATEGORIES)))


# GCIG statuses that leave the response open (module docstring, Decision)
_GCIG_OPEN = ("unconfirmed", "awaiting", "invalid_input", "no_markers")
_ABSENT = "no such column in the clinical table"
#: The notes' key of a patient's markers refused by validation (their reason): said in the
#: screen's reason whether or not the GCIG clause was needed, so that no data error goes unsaid.
_MARKERS_REFUSED = "markers refused"

#: The criterion that :mod:`ca125kinetics.predict` applies as its entry criterion (its
#: decision rule, step 4): RESCUE's inclusion 3, read from the shipped criteria file.
ENTRY_CRITERION = ("rescue", "I3")
#: The fields a scored patient has for the entry criterion (``recist`` and ``gcig_response``).
_ENTRY_FIELDS = ("recist", "gcig_response")
#: RESET's inclusion 6: downstaged at the clinical restaging (ycT<=3 N0 M0), the definition
#: of training's ``downstaged`` outcome too (:func:`downstaging_criterion`).
DOWNSTAGING_CRITERION = ("reset", "I6")
_DOWNSTAGING_FIELDS = ("yct_stage", "ycn_stage", "ycm_stage")


def gcig_field(status):
    """The ``gcig_response`` field of a patient with GCIG response status ``status``: the
    status, or None (unknown) when more or valid data could still change it (module
    docstring, Decision)."""
    return None if status is None or status in _GCIG_OPEN else status


# ============================================================================ criteria (data)


@dataclass(frozen=True)
class Condition:
    """A comparison of one field with a value: ``field op value``.

    ``value`` is a number or a code; for ``in`` / ``not_in`` a tuple of them. Category
    codes are stored normalised (as :func:`ca125kinetics.io.read_clinical` writes them).
    """

    field: str
    op: str
    value: Any
    label: str | None = None

    def describe(self) -> str:
        return f"{self.field} {OPERATORS[self.op]} {_show_target(self.value)}"


@dataclass(frozen=True)
class Group:
    """``all`` (every part true) or ``any`` (at least one part true) of conditions or groups."""

    how: str
    parts: tuple
    label: str | None = None

    def describe(self) -> str:
        joiner = " and " if self.how == "all" else " or "
        return "(" + joiner.join(p.describe() for p in self.parts) + ")"


@dataclass(frozen=True)
class Criterion:
    """One inclusion or exclusion criterion: its id, kind, the registry's text and its rule.

    For an exclusion the rule states what excludes the patient."""

    id: str
    kind: str
    text: str
    rule: Condition | Group

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_fields(self.rule)))


@dataclass(frozen=True)
class Trial:
    """A trial's eligibility criteria, as read from its criteria file (:func:`load_trial`).

    ``path`` says where the file came from and ``sha256`` is the digest of its text, so that a
    screen can always say which criteria produced it."""

    id: str
    name: str
    registry: str | None
    title: str
    source: str
    criteria: tuple[Criterion, ...]
    path: str
    sha256: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the criteria read, in file order."""
        return tuple(dict.fromkeys(f for c in self.criteria for f in c.fields))

    def to_frame(self):
        """One row per criterion: ``criterion``, ``kind``, ``text``, ``rule``, ``fields``."""
        import pandas as pd

        return pd.DataFrame([{"criterion": c.id, "kind": c.kind, "text": c.text, "rule": c.rule.describe(),
                              "fields": ", ".join(c.fields)} for c in self.criteria],
                            columns=["criterion", "kind", "text", "rule", "fields"])


def _fields(node) -> list[str]:
    if isinstance(node, Condition):
        return [node.field]
    return [f for part in node.parts for f in _fields(part)]


def available_trials() -> tuple[str, ...]:
    """Names of the criteria files shipped with the package (``load_trial(name)``)."""
    folder = resources.files(_TRIALS_PACKAGE).joinpath(*_TRIALS_DIR)
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def load_trial(trial) -> Trial:
    """Read and check a trial's criteria file.

    Parameters
    ----------
    trial : str, Path or Trial
        The name of a shipped file (``"rescue"``, ``"reset"``; see :func:`available_trials`)
        or the path of a ``.toml`` criteria file (format in ``docs/screening.md``).

    Returns
    -------
    Trial

    Raises
    ------
    InvalidInputError
        Unknown trial name, unreadable TOML, or a criteria file that breaks the format: an
        unknown key, field, operator or code, a value of the wrong type, a duplicated id,
        or a criterion that reads an outcome column. The message names the file, the
        criterion and what to change.
    """
    if isinstance(trial, Trial):
        return trial
    if isinstance(trial, str) and not trial.lower().endswith(".toml") and "/" not in trial and "\\" not in trial:
        name = trial.strip().lower()
        if name not in available_trials():
            raise InvalidInputError(f"unknown trial {trial!r}; use one of {list(available_trials())} "
                                    "or the path of a .toml criteria file")
        resource = resources.files(_TRIALS_PACKAGE).joinpath(*_TRIALS_DIR, f"{name}.toml")
        return _parse_trial(resource.read_text(encoding="utf-8"), f"{name}.toml (shipped criteria)")
    if not isinstance(trial, (str, Path)):
        raise InvalidInputError(f"trial must be a name, a path or a Trial, got {type(trial).__name__}")
    path = Path(trial)
    if not path.is_file():
        raise InvalidInputError("criteria file not found; check the path", source=str(path))
    return _parse_trial(path.read_text(encoding="utf-8"), str(path))


def _parse_trial(text: str, source: str) -> Trial:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"not valid TOML ({exc}); see docs/screening.md for the format",
                                source=source) from None

    def fail(message: str):
        raise InvalidInputError(message + "; see docs/screening.md for the format", source=source)

    unknown = set(data) - {"trial", "criterion"}
    if unknown:
        fail(f"unknown top-level key(s) {sorted(unknown)}; a criteria file has a [trial] table and "
             "[[criterion]] tables")
    head = data.get("trial")
    if not isinstance(head, dict):
        fail("no [trial] table; give at least id and name")
    extra = set(head) - {"id", "name", "registry", "title", "source"}
    if extra:
        fail(f"[trial] has unknown key(s) {sorted(extra)}; use id, name, registry, title, source")
    for key in ("id", "name"):
        if not isinstance(head.get(key), str) or not head[key].strip():
            fail(f"[trial] needs a non-empty text {key!r}")
    entries = data.get("criterion")
    if not isinstance(entries, list) or not entries:
        fail("no [[criterion]] tables; a trial needs at least one criterion")
    criteria, seen = [], set()
    for position, entry in enumerate(entries, start=1):
        where = f"criterion {entry.get('id', '#' + str(position))!r}" if isinstance(entry, dict) else f"criterion #{position}"
        if not isinstance(entry, dict):
            fail(f"{where} is not a table")
        cid = entry.get("id")
        if not isinstance(cid, str) or not cid.strip():
            fail(f"{where} needs a non-empty text 'id'")
        if cid in seen:
            fail(f"{where}: id used twice; every criterion needs its own id")
        seen.add(cid)
        kind = entry.get("kind")
        if kind not in KINDS:
            fail(f"{where}: kind must be 'inclusion' or 'exclusion', got {kind!r}")
        if not isinstance(entry.get("text"), str) or not entry["text"].strip():
            fail(f"{where} needs a non-empty 'text' (the criterion as the protocol words it)")
        rule_keys = {k: v for k, v in entry.items() if k not in ("id", "kind", "text")}
        criteria.append(Criterion(cid, kind, " ".join(entry["text"].split()), _parse_node(rule_keys, where, fail)))
    return Trial(id=head["id"].strip(), name=head["name"].strip(), registry=head.get("registry"),
                 title=head.get("title", ""), source=head.get("source", ""), criteria=tuple(criteria),
                 path=source, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def _parse_node(node: dict, where: str, fail) -> Condition | Group:
    label = node.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        fail(f"{where}: label must be a non-empty text")
    groups = [k for k in _GROUPS if k in node]
    ops = [k for k in OPERATORS if k in node]
    allowed = {"label", "field", *OPERATORS, *_GROUPS}
    unknown = set(node) - allowed
    if unknown:
        fail(f"{where}: unknown key(s) {sorted(unknown)}; a condition has 'field' and one operator "
             f"of {list(OPERATORS)}, a group has 'all' or 'any' (and either may have 'label')")
    if groups:
        if len(groups) > 1 or "field" in node or ops:
            fail(f"{where}: a condition is either a group ('all' or 'any') or a comparison "
                 "('field' with one operator), not both")
        how = groups[0]
        parts = node[how]
        if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
            fail(f"{where}: {how!r} must be a non-empty list of conditions (inline tables)")
        return Group(how, tuple(_parse_node(p, f"{where}, {how}[{i}]", fail) for i, p in enumerate(parts)),
                     label)
    if "field" not in node:
        fail(f"{where}: no rule; give 'field' with an operator, or 'all'/'any'")
    if len(ops) != 1:
        fail(f"{where}: give exactly one operator of {list(OPERATORS)} with 'field', got {ops or 'none'}")
    field, op = node["field"], ops[0]
    return Condition(field, op, _check_value(field, op, node[op], where, fail), label)


def _field_kind(field: str):
    """('number', rule) / ('category', allowed codes, normalise) / None for an unknown field."""
    from .io import CLINICAL_CATEGORIES, CLINICAL_NUMBERS, normalise_stage

    if field in CLINICAL_NUMBERS:
        return "number", CLINICAL_NUMBERS[field]
    if field in CLINICAL_CATEGORIES:
        rule = CLINICAL_CATEGORIES[field]
        return "category", rule.allowed, rule.normalise
    if field == "figo_stage":
        return "category", ("I", "II", "III", "IV"), normalise_stage
    derived = _derived_fields()
    if field in derived:
        return "category", derived[field], str
    return None


def _check_value(field, op, value, where, fail):
    """The comparison value, checked against the field's rule table and normalised."""
    from .io import CLINICAL_CATEGORIES, CLINICAL_NUMBERS, CLINICAL_OUTCOMES

    if not isinstance(field, str):
        fail(f"{where}: 'field' must be a column name (text)")
    if field in CLINICAL_OUTCOMES:
        fail(f"{where}: field {field!r} is an outcome recorded after the screen; eligibility criteria "
             "never read outcomes (clinical restaging is yct_stage/ycn_stage/ycm_stage)")
    kind = _field_kind(field)
    if kind is None:
        known = sorted([*CLINICAL_NUMBERS, *CLINICAL_CATEGORIES, "figo_stage", *DERIVED_FIELDS])
        fail(f"{where}: unknown field {field!r}; criteria read the clinical columns of the data "
             f"contract or a derived field: {[k for k in known if k not in CLINICAL_OUTCOMES]}")
    many = op in ("in", "not_in")
    if many and (not isinstance(value, list) or not value):
        fail(f"{where}: {op!r} needs a non-empty list of values")
    if not many and isinstance(value, (list, dict)):
        fail(f"{where}: {op!r} needs one value, not a list")
    values = value if many else [value]
    if kind[0] == "number":
        rule = kind[1]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(f"{where}: {field} is a number; {op} needs a number, got {v!r}")
            exact = op in ("eq", "ne", "in", "not_in")
            if exact and rule.choices is not None and v not in rule.choices:
                fail(f"{where}: {field} takes the values {list(rule.choices)}, got {v!r}")
            if exact and rule.choices is None and not rule.low <= v <= rule.high:
                fail(f"{where}: {field} is within {rule.low:g}..{rule.high:g}, got {v!r}")
        out = tuple(float(v) for v in values)
    else:
        if op not in ("eq", "ne", "in", "not_in"):
            fail(f"{where}: {field} is a category; use eq, ne, in or not_in, not {op!r}")
        allowed, normalise = kind[1], kind[2]
        out = []
        for v in values:
            code = normalise(v.strip()) if isinstance(v, str) else v
            if code not in allowed:
                fail(f"{where}: unknown code {v!r} for {field}; use one of {list(allowed)}")
            out.append(code)
        out = tuple(out)
    return out if many else out[0]


# ============================================================================ evaluation


@dataclass(frozen=True)
class _Eval:
    value: bool | None          # True, False, or None = unknown
    reason: str
    missing: tuple[str, ...]
    clauses: tuple[str, ...]    # labels of the true alternatives of 'any' groups


def _show(value) -> str:
    """A value as a reason shows it: compact (``6``, ``5.99``), but never rounded, so that a
    reason cannot read ``pfi_months 6 is not >= 6`` for 5.9999999."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def _show_target(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return _show(value)


def _compare(cond: Condition, value) -> bool:
    target, op = cond.value, cond.op
    if op == "eq":
        return value == target
    if op == "ne":
        return value != target
    if op == "in":
        return value in target
    if op == "not_in":
        return value not in target
    return {"lt": value < target, "le": value <= target, "gt": value > target, "ge": value >= target}[op]


def _phrase(cond: Condition, value, ok: bool) -> str:
    f, v, t, op = cond.field, _show(value), _show_target(cond.value), cond.op
    if op in ("eq", "ne"):
        equal = ok if op == "eq" else not ok
        return f"{f} is {v}" if equal else f"{f} is {v}, not {t}"
    if op in ("in", "not_in"):
        inside = ok if op == "in" else not ok
        return f"{f} is {v} (one of {t})" if inside else f"{f} is {v}, not one of {t}"
    sym = OPERATORS[op]
    return f"{f} {v} {sym} {t}" if ok else f"{f} {v} is not {sym} {t}"


def _evaluate(node, record: dict, notes: dict, top: bool = True) -> _Eval:
    """Three-valued evaluation (module docstring). The true alternatives of an ``any`` group are
    reported as clauses by their label; at the criterion's top level, unlabelled ones by their rule."""
    if isinstance(node, Condition):
        value = record.get(node.field)
        note = notes.get(node.field)
        if value is None:
            return _Eval(None, f"{node.field} missing" + (f" ({note})" if note else ""), (node.field,), ())
        ok = _compare(node, value)
        reason = _phrase(node, value, ok) + (f" ({note})" if note else "")
        return _Eval(ok, reason, (), ())
    parts = [_evaluate(p, record, notes, top=False) for p in node.parts]
    true = [e for e in parts if e.value is True]
    false = [e for e in parts if e.value is False]
    unknown = [e for e in parts if e.value is None]
    missing = tuple(dict.fromkeys(f for e in unknown for f in e.missing))
    if node.how == "all":
        if false:
            return _Eval(False, "; ".join(e.reason for e in false), (), ())
        if unknown:
            return _Eval(None, "; ".join(e.reason for e in unknown), missing, ())
        clauses = tuple(c for e in parts for c in e.clauses)
        return _Eval(True, "; ".join(e.reason for e in parts), (), clauses)
    if true:
        labels = []
        for part, e in zip(node.parts, parts):
            if e.value is True:
                labels.extend(e.clauses)
                if part.label or top:
                    labels.append(part.label or part.describe())
        return _Eval(True, " | ".join(e.reason for e in true), (), tuple(dict.fromkeys(labels)))
    if unknown:
        known = "; ".join(e.reason for e in false)
        return _Eval(None, "no alternative met yet: " + "; ".join(e.reason for e in unknown)
                     + (f"; {known}" if known else ""), missing, ())
    return _Eval(False, "none of the alternatives: " + " | ".join(e.reason for e in false), (), ())


def criterion_values(criterion: Criterion, fields) -> list:
    """The three-valued outcome (True, False, or None = unknown) of ``criterion`` for each
    patient whose fields are given column-wise: ``fields`` maps every field the criterion
    reads to a sequence (None where empty), all of one length. The criterion is evaluated
    once per distinct combination of values, by the same logic as :func:`screen`."""
    names = criterion.fields
    absent = [f for f in names if f not in fields]
    if absent:
        raise InvalidInputError(f"criterion {criterion.id} reads {absent}, which the caller does not give")
    rows = list(zip(*(list(fields[f]) for f in names)))
    outcome = {key: _evaluate(criterion.rule, dict(zip(names, key)), {}).value for key in set(rows)}
    return [outcome[key] for key in rows]


@functools.lru_cache(maxsize=1)
def entry_criterion() -> Criterion:
    """RESCUE's inclusion 3 (:data:`ENTRY_CRITERION`), from the shipped criteria file: the
    entry criterion of ``predict``'s decision rule (the response during the neoadjuvant
    cycles: RECIST 1.1 CR, PR or SD, or a GCIG CA-125 response). A scored patient has
    ``recist`` and ``gcig_response`` only, so a criterion reading any other field is refused."""
    return _shipped_criterion(ENTRY_CRITERION, _ENTRY_FIELDS, "predict applies it as the entry criterion")


@functools.lru_cache(maxsize=1)
def downstaging_criterion() -> Criterion:
    """RESET's inclusion 6 (:data:`DOWNSTAGING_CRITERION`), from the shipped criteria file:
    the clinical restaging ycT<=3 N0 M0 that defines downstaging, which training's
    ``downstaged`` outcome is checked against (one definition for the screen and the model)."""
    return _shipped_criterion(DOWNSTAGING_CRITERION, _DOWNSTAGING_FIELDS,
                              "training checks the downstaged outcome against it")


def _shipped_criterion(which: tuple[str, str], fields: tuple[str, ...], use: str) -> Criterion:
    """The criterion ``which`` (trial, id) of a shipped criteria file, refused unless it is
    there once and reads only ``fields`` (what its ``use`` gives it)."""
    name, cid = which
    found = [c for c in load_trial(name).criteria if c.id == cid]
    if len(found) != 1 or not set(found[0].fields) <= set(fields):
        raise InvalidInputError(f"{name}.toml must have one criterion {cid} reading only {list(fields)} "
                                f"({use})", source=f"{name}.toml")
    return found[0]


def recist_admitted(criterion: Criterion) -> tuple[str, ...]:
    """The RECIST 1.1 categories that meet ``criterion`` by themselves (its ``recist in [...]``
    alternative; none when it has no such alternative), as the decision texts name them."""
    parts = criterion.rule.parts if isinstance(criterion.rule, Group) and criterion.rule.how == "any" \
        else (criterion.rule,)
    return tuple(v for p in parts if isinstance(p, Condition) and p.field == "recist"
                 for v in ((p.value,) if p.op == "eq" else p.value if p.op == "in" else ()))


@dataclass(frozen=True)
class CriterionResult:
    """Outcome of one criterion for one patient.

    Attributes
    ----------
    criterion, kind, text : str
        The criterion's id, ``"inclusion"`` / ``"exclusion"`` and its text.
    outcome : {"met", "not_met", "missing"}
        Whether the criterion's condition holds (for an exclusion: whether the excluding
        condition holds); ``missing`` when the data cannot tell.
    verdict : {"pass", "fail", "missing"}
        What the outcome means for the patient: an inclusion met or an exclusion not met
        passes.
    reason : str
        The values that decided, in words.
    clause : str or None
        The alternative(s) that made the condition true, for criteria with alternatives.
    missing : tuple of str
        The fields whose absence left the outcome open.
    """

    criterion: str
    kind: str
    text: str
    outcome: str
    verdict: str
    reason: str
    clause: str | None
    missing: tuple[str, ...]


@dataclass(frozen=True)
class PatientScreening:
    """Screening of one patient: status, reason and every criterion's outcome."""

    patient_id: str
    trial: str
    status: str
    reason: str
    admitted_by: str | None
    missing: tuple[str, ...]
    criteria: tuple[CriterionResult, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        """Ids of the criteria the patient definitely fails."""
        return tuple(c.criterion for c in self.criteria if c.verdict == "fail")

    def to_frame(self):
        """One row per criterion, columns :data:`CRITERIA_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame([_criterion_row(self.patient_id, c) for c in self.criteria], columns=list(CRITERIA_COLUMNS))


def _criterion_row(patient_id: str, c: CriterionResult) -> dict:
    return {"patient_id": patient_id, "criterion": c.criterion, "kind": c.kind, "outcome": c.outcome,
            "verdict": c.verdict, "clause": c.clause, "missing": "; ".join(c.missing) or None,
            "reason": c.reason}


def _criterion_result(crit: Criterion, record: dict, notes: dict) -> CriterionResult:
    """One criterion of one patient: :func:`_evaluate`'s outcome as a verdict for the patient."""
    e = _evaluate(crit.rule, record, notes)
    outcome = "missing" if e.value is None else ("met" if e.value else "not_met")
    if e.value is None:
        verdict = "missing"
    else:
        verdict = "pass" if e.value == (crit.kind == "inclusion") else "fail"
    clause = "; ".join(e.clauses) if e.clauses and verdict == "pass" else None
    return CriterionResult(crit.id, crit.kind, crit.text, outcome, verdict, e.reason, clause, e.missing)


class _Criteria:
    """A trial's criteria evaluated once per distinct input: a criterion's result depends only on
    the values and notes of the fields it reads, so patients who share them share one (frozen)
    :class:`CriterionResult`. A cohort's fields take few values per criterion (flags, codes, a
    PFI in tenths of a month), so a screen evaluates the rules a few thousand times, not
    patients x criteria times. The key holds each value's ``repr`` (exact: 6.0 and 6, -0.0 and
    0.0, "1" and 1.0 each keep their own reason) and the note."""

    def __init__(self, trial: Trial):
        self.trial = trial
        self._fields = [c.fields for c in trial.criteria]
        self._seen: list[dict] = [{} for _ in trial.criteria]

    def results(self, record: dict, notes: dict) -> list[CriterionResult]:
        out = []
        for crit, fields, seen in zip(self.trial.criteria, self._fields, self._seen):
            key = tuple((repr(record.get(f)), notes.get(f)) for f in fields)
            found = seen.get(key)
            if found is None:
                found = seen[key] = _criterion_result(crit, record, notes)
            out.append(found)
        return out


def _screen_patient(patient_id: str, trial: Trial, record: dict, notes: dict,
                    criteria: _Criteria | None = None) -> PatientScreening:
    results = (criteria or _Criteria(trial)).results(record, notes)
    failed = [c for c in results if c.verdict == "fail"]
    open_ = [c for c in results if c.verdict == "missing"]
    missing = tuple(dict.fromkeys(f for c in open_ for f in c.missing))
    # the alternative that admitted the patient: only an eligible patient is admitted (the
    # clause each criterion passed by stays in its row, ``clause``, for every patient)
    admitted = ("; ".join(f"{c.criterion}: {c.clause}" for c in results if c.clause) or None
                if not failed and not open_ else None)
    if failed:
        status = "ineligible"
        reason = "fails " + "; ".join(f"{c.criterion} {_kind_word(c)} ({c.reason})" for c in failed)
    elif open_:
        status = "undetermined"
        why = [f"{f}: {notes[f]}" for f in missing if notes.get(f) and notes[f] != _ABSENT]
        reason = (f"missing {', '.join(missing)} (needed by {', '.join(c.criterion for c in open_)})"
                  + "".join(f"; {w}" for w in why))
    else:
        status = "eligible"
        reason = f"all {len(results)} criteria pass" + (f" ({admitted})" if admitted else "")
    refused = notes.get(_MARKERS_REFUSED)
    if refused and "gcig_response" not in missing:     # else said among the missing fields' notes
        reason += f"; the CA-125 markers were refused, not used: {refused}"
    return PatientScreening(patient_id, trial.id, status, reason, admitted, missing, tuple(results))


def _kind_word(c: CriterionResult) -> str:
    return "inclusion not met" if c.kind == "inclusion" else "exclusion applies"


@dataclass(frozen=True)
class ScreeningResult:
    """The screen of a cohort against one trial (:func:`screen`).

    Attributes
    ----------
    trial : Trial
    patients : tuple of PatientScreening
        In the order of the clinical table.
    markers_given : bool
        Whether a markers table was screened (else the GCIG-derived fields are missing).
    uln : float
        Default ULN of the GCIG rules (the markers' own ``uln`` column wins where given).
    absent_columns : tuple of str
        Columns the criteria read that the clinical table lacks (missing for every patient).
    gcig_settings : GcigSettings or None
        The GCIG rules' settings that derived ``gcig_response`` (None: the default settings
        with ``uln``); the tables' ``rules`` column records them with the trial.
    """

    trial: Trial
    patients: tuple[PatientScreening, ...]
    markers_given: bool
    uln: float
    absent_columns: tuple[str, ...] = ()
    gcig_settings: Any = None

    def rules(self) -> dict:
        """What decided the screen, as the ``rules`` column and the JSON's ``rules`` say it: the
        trial, its criteria file and digest, and the GCIG settings when markers were screened."""
        from .settings import GcigSettings

        out = {"trial": self.trial.id, "criteria_file": self.trial.path, "criteria_sha256": self.trial.sha256}
        if self.markers_given:
            settings = self.gcig_settings if self.gcig_settings is not None else GcigSettings(uln=self.uln)
            out["gcig"] = settings.to_dict()
        return out

    def __getitem__(self, patient_id: str) -> PatientScreening:
        for p in self.patients:
            if p.patient_id == str(patient_id):
                return p
        raise KeyError(patient_id)

    def to_frame(self):
        """One row per patient, columns :data:`FRAME_COLUMNS` (``failed`` and ``missing`` are
        ``"; "``-joined criterion ids and field names, empty when none; every row names the
        criteria file and the SHA-256 of its text, so that a written table says what decided)."""
        import pandas as pd

        rows = [{"patient_id": p.patient_id, "trial": p.trial, "status": p.status, "admitted_by": p.admitted_by,
                 "failed": "; ".join(p.failed) or None, "missing": "; ".join(p.missing) or None,
                 "reason": p.reason, "criteria_file": self.trial.path, "criteria_sha256": self.trial.sha256}
                for p in self.patients]
        from .settings import with_provenance

        return with_provenance(pd.DataFrame(rows, columns=list(FRAME_COLUMNS[:-2])), **self.rules())

    def criteria_frame(self):
        """One row per patient and criterion, columns :data:`CRITERIA_COLUMNS`."""
        import pandas as pd

        rows = [_criterion_row(p.patient_id, c) for p in self.patients for c in p.criteria]
        return pd.DataFrame(rows, columns=list(CRITERIA_COLUMNS))

    def summary(self):
        """Patients by status: columns ``status``, ``n``, ``percent`` (all three statuses)."""
        import pandas as pd

        n = len(self.patients)
        counts = {s: 0 for s in STATUSES}
        for p in self.patients:
            counts[p.status] += 1
        return pd.DataFrame({"status": list(STATUSES), "n": [counts[s] for s in STATUSES],
                             "percent": [round(100 * counts[s] / n, 1) if n else math.nan for s in STATUSES]})

    def criterion_summary(self):
        """Per criterion: ``criterion``, ``kind``, ``text``, counts of ``pass``, ``fail``,
        ``missing``, and ``only_failure`` (patients for whom it is the only failed criterion)."""
        import pandas as pd

        rows = []
        for i, crit in enumerate(self.trial.criteria):
            verdicts = [p.criteria[i].verdict for p in self.patients]
            only = sum(1 for p in self.patients if p.criteria[i].verdict == "fail" and len(p.failed) == 1)
            rows.append({"criterion": crit.id, "kind": crit.kind, "text": crit.text,
                         "pass": verdicts.count("pass"), "fail": verdicts.count("fail"),
                         "missing": verdicts.count("missing"), "only_failure": only})
        return pd.DataFrame(rows, columns=["criterion", "kind", "text", "pass", "fail", "missing", "only_failure"])

    def to_dict(self) -> dict:
        """JSON-ready: the trial, the summary and every patient with every criterion, with the
        ``rules`` (:meth:`rules`) and the ``package_version`` that screened them. ``uln`` is
        the GCIG rules' default ULN when markers were screened, else None: no ULN was applied
        (as ``rules`` then records no GCIG settings)."""
        from . import __version__

        return {
            "trial": {"id": self.trial.id, "name": self.trial.name, "registry": self.trial.registry,
                      "title": self.trial.title, "source": self.trial.source, "criteria_file": self.trial.path, "criteria_sha256": self.trial.sha256},
            "markers_given": self.markers_given,
            "absent_columns": list(self.absent_columns),
            "rules": self.rules(), "package_version": __version__,
            "uln": self.uln if self.markers_given else None,
            "summary": {row.status: int(row.n) for row in self.summary().itertuples()},
            "patients": [
                {"patient_id": p.patient_id, "status": p.status, "reason": p.reason, "admitted_by": p.admitted_by,
                 "failed": list(p.failed), "missing": list(p.missing),
                 "criteria": [{"criterion": c.criterion, "kind": c.kind, "outcome": c.outcome,
                               "verdict": c.verdict, "clause": c.clause, "missing": list(c.missing),
                               "reason": c.reason} for c in p.criteria]}
                for p in self.patients
            ],
        }


# ============================================================================ screen


def screen(clinical, markers=None, *, trial="rescue", gcig_settings=None, read_options=None) -> ScreeningResult:
    """Screen every patient of a clinical table against a trial's criteria.

    Parameters
    ----------
    clinical : str, Path or DataFrame
        The clinical table (read by :func:`ca125kinetics.io.read_clinical`, which validates
        every column it knows; only ``patient_id`` is required). A criterion's column absent
        from the table is missing for every patient.
    markers : str, Path or DataFrame, optional
        The CA-125 markers table (:func:`ca125kinetics.io.read_markers`), needed by criteria
        on ``gcig_response`` / ``combined_response``. A patient whose markers fail validation
        is not dropped: the GCIG-derived fields are missing for them, with the reason.
        Refused for a trial whose criteria read neither (RESET): it would be ignored.
    trial : str, Path or Trial
        ``"rescue"``, ``"reset"`` or a criteria file (:func:`load_trial`).
    gcig_settings : GcigSettings, optional
        Settings of the GCIG rules (default ULN 35 U/mL).
    read_options : dict, optional
        How the tables are written, as the readers take it: ``date_format``, ``sep``,
        ``decimal``, ``thousands``, ``columns`` (``ca125 screen --decimal , --date-format
        %d/%m/%Y ...``); numbers and dates written otherwise are refused, never guessed.
        ``drug_codes`` and ``event_codes``: further RxNorm codes of the line's drugs and SNOMED
        CT codes of exclusion events, for markers given as a FHIR bundle (``--drug-code``,
        ``--event-code``).

    Returns
    -------
    ScreeningResult

    Raises
    ------
    InvalidInputError
        A bad criteria file; a clinical table that breaks the data contract (e.g. an unknown
        code, named with the allowed ones); a clinical or markers table without rows (a
        header-only export: no patient to screen, no sample to read); markers of a patient
        without a clinical row; markers for criteria that read no marker-derived field.
    """
    import pandas as pd

    from .gcig import gcig_cohort
    from .io import read_clinical, read_markers
    from .settings import GcigSettings

    spec = load_trial(trial)
    if markers is not None and not any(f in spec.fields for f in DERIVED_FIELDS):
        raise InvalidInputError(
            f"the {spec.name} criteria read no field derived from the markers ({', '.join(DERIVED_FIELDS)}: the "
            "GCIG CA-125 response), so the markers table would not be read; leave it out (--markers)",
            source=spec.path)
    settings = GcigSettings() if gcig_settings is None else gcig_settings
    if not isinstance(settings, GcigSettings):
        raise InvalidInputError(f"gcig_settings must be a GcigSettings, got {type(settings).__name__}")
    from .io import checked_read_options

    fhir_codes = ("drug_codes", "event_codes")
    options = checked_read_options(read_options, extra=fhir_codes)
    given = [name for name in fhir_codes if options.get(name)]
    if given and markers is None:
        raise InvalidInputError(f"{given[0]} (--{given[0][:-1].replace('_', '-')}) are read from a FHIR bundle given "
                                "as the markers; no markers were given: leave them out")
    clin = read_clinical(clinical, require=("patient_id",), **{k: v for k, v in options.items() if k not in fhir_codes})
    require_rows(clin, clinical, "clinical")
    clashing = [f for f in DERIVED_FIELDS if f in spec.fields and f in clin.columns]
    if clashing:
        raise InvalidInputError(
            f"the clinical table has a column {clashing[0]!r}, which the screen derives from the markers by "
            "the package's GCIG rules and would otherwise ignore; drop or rename the column and pass the "
            "CA-125 markers table instead", column=clashing[0])
    ids = clin["patient_id"].astype(str).tolist()
    records = [{} for _ in ids]
    notes: list[dict] = [{} for _ in ids]
    for name in spec.fields:
        if name in DERIVED_FIELDS:
            continue
        if name not in clin.columns:
            for n in notes:
                n[name] = _ABSENT
            continue
        for rec, value in zip(records, clin[name].tolist()):
            rec[name] = _cell(value)
    derived = [f for f in DERIVED_FIELDS if f in spec.fields]
    if derived:
        _add_gcig(records, notes, ids, clin, markers, settings, derived, read_markers, gcig_cohort, options)
    criteria = _Criteria(spec)
    patients = tuple(_screen_patient(pid, spec, rec, note, criteria) for pid, rec, note in zip(ids, records, notes))
    absent = tuple(f for f in spec.fields if f not in DERIVED_FIELDS and f not in clin.columns)
    return ScreeningResult(spec, patients, markers is not None, float(settings.uln), absent, settings)


def _cell(value):
    """A clinical cell as the engine compares it: None when empty, numbers as float, codes as text."""
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    if isinstance(value, str):
        return value
    return float(value)


def _add_gcig(records, notes, ids, clin, markers, settings, derived, read_markers, gcig_cohort,
              options=None) -> None:
    """Fill the GCIG-derived fields from the package's own GCIG rules."""
    import pandas as pd

    if markers is None:
        frame = pd.DataFrame({"patient_id": pd.Series([], dtype=object), "day": pd.Series([], dtype="int64"),
                              "ca125": pd.Series([], dtype=float)})
    else:
        from .io import setting_uln

        frame = read_markers(markers, clinical=clin, uln=setting_uln(markers, settings.uln), duplicates=settings.duplicates,
                             on_error="flag", **(options or {}))
        require_rows(frame, markers, "markers")
        orphans = sorted(set(frame["patient_id"].astype(str)) - set(ids))
        if orphans:
            raise InvalidInputError(
                f"{len(orphans)} patient(s) have markers but no clinical row ({', '.join(orphans[:5])}"
                f"{', ...' if len(orphans) > 5 else ''}); add them to the clinical table or remove their markers",
                column="patient_id", patient_id=orphans[0])
    table = gcig_cohort(frame, clin, settings=settings).set_index("patient_id").loc[ids]
    has_combined = "combined_category" in table.columns
    categories = table["combined_category"].tolist() if has_combined else [None] * len(ids)
    for rec, note, status, reason, category in zip(records, notes, table["status"].tolist(),
                                                    table["reason"].tolist(), categories):
        if status == "invalid_input":
            note[_MARKERS_REFUSED] = reason
        if "gcig_response" in derived:
            rec["gcig_response"] = gcig_field(status)
            if rec["gcig_response"] is None:
                note["gcig_response"] = ("no markers table given; pass the markers to apply the GCIG rules"
                                         if markers is None else f"GCIG {status}: {reason}")
            else:
                note["gcig_response"] = f"GCIG: {reason}"
        if "combined_response" in derived:
            rec["combined_response"] = None if pd.isna(category) else category
            if rec["combined_response"] is None:
                note["combined_response"] = ("no recist column in the clinical table" if not has_combined
                                             else "RECIST missing or the GCIG data invalid")


# ============================================================================ presentation


def format_screening(result: ScreeningResult, *, max_rows: int | None = None) -> str:
    """Text report: one line per patient (status and reason), then the summary counts;
    ``max_rows`` patients listed (None or 0: every one)."""
    if max_rows is not None and (not isinstance(max_rows, numbers.Integral) or isinstance(max_rows, bool)
                                 or max_rows < 0):
        raise InvalidInputError(f"max_rows (--max-rows) must be a whole number >= 0 (0: every patient), "
                                f"got {max_rows!r}")
    t = result.trial
    lines = [f"{t.name}{f' ({t.registry})' if t.registry else ''}: eligibility screen of "
             f"{len(result.patients)} patient(s), criteria {t.path}, sha256 {t.sha256[:12]}"]
    if not result.markers_given and any(f in t.fields for f in DERIVED_FIELDS):
        lines.append("  no markers table given: GCIG CA-125 response unknown (pass --markers)")
    if result.absent_columns:
        lines.append(f"  columns absent from the clinical table (missing for everyone): {', '.join(result.absent_columns)}")
    width = max([len(p.patient_id) for p in result.patients] + [10])
    shown = result.patients[:max_rows] if max_rows else result.patients
    for p in shown:
        lines.append(f"{p.patient_id:<{width}}  {p.status:<12}  {p.reason}")
    if len(shown) < len(result.patients):
        lines.append(f"... {len(result.patients) - len(shown)} more patient(s); use --out FILE or --max-rows 0")
    lines.append("")
    lines.append("summary:")
    for row in result.summary().itertuples():
        lines.append(f"  {row.status:<13} {row.n:>7}  ({row.percent:.1f} %)")
    admitted: dict[str, int] = {}
    for p in result.patients:
        if p.status == "eligible" and p.admitted_by:
            admitted[p.admitted_by] = admitted.get(p.admitted_by, 0) + 1
    if admitted:
        lines.append("eligible patients by admitting alternative:")
        for clause, n in sorted(admitted.items(), key=lambda item: -item[1]):
            lines.append(f"  {n:>7}  {clause}")
    crit = result.criterion_summary()
    crit = crit[(crit["fail"] > 0) | (crit["missing"] > 0)]
    if len(crit):
        lines.append("by criterion (patients failing / missing data):")
        for row in crit.itertuples():
            lines.append(f"  {row.criterion:<5} {row.kind:<9} fail {row.fail:>6}  missing {row.missing:>6}  {row.text}")
    return "\n".join(lines)
