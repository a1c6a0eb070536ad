"""The examples of the user documentation run, and say what they print.

Every fenced ``python`` block of README.md and docs/*.md runs in a fresh interpreter, in a
temporary folder where ``data/`` is the committed synthetic cohorts, the blocks of one page
one after another in one namespace (as a reader runs them: the README's second block uses the
first one's ``ck``). A block that cannot run here is listed in ``SKIP`` by a text it contains,
with the reason, and reported as skipped with that reason; a block that reads the user's own
files or names is listed in ``GIVEN`` with what stands in for them (files made from the
committed cohort, or a prelude defining the names).

What a block says it gives is checked too:

* a comment on an expression's line that starts with a number (``.events  # 161.07``) or is
  a Python literal (``# 'PR', 21, 63, '...'``, ``'...'`` matching anything) is the value the
  expression must have, to the digits written;
* a block followed directly by a fence without a language is followed by its output: what
  the block prints must be that text.

Transcripts (untyped fences whose lines start ``$ ca125 ...``) are run as commands, and the
output after the last ``$`` line must be the text shown (a last line ``...`` means the rest
is left out).
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# (page, a text the block contains): why it does not run here
SKIP = {
    ("docs/registry.md", "SparkSession.builder"):
        "needs Spark (pyspark, Java 17+) and the registry's s3:// tables",
    ("docs/registry.md", 'set_registry_uri("databricks-uc")'):
        "needs a Databricks workspace (spark, display and a Unity Catalog registry)",
}

# (page, a text the block contains): (setup of the folder, prelude run before the block) for
# a block that reads the user's files or names; the stand-ins come from the committed cohort
GIVEN = {
    ("docs/input-formats.md", 'read_clinical("clinical.csv", columns='):
        ("renamed_cohort", ""),
    ("docs/input-formats.md", "predict(markers, clinical, allow_imputed=True)"):
        (None, "from ca125kinetics import predict, predict_cohort, read_clinical, read_markers\n"
               "markers = read_markers('data/synthetic/default/markers.csv')\n"
               "markers = markers[markers.patient_id == '000008']\n"
               "clinical = read_clinical('data/synthetic/default/clinical.csv')\n"),
    ("docs/registry.md", 'read_markers("random_sample.parquet")'): ("registry_parquet", ""),
    ("docs/screening.md", 'screen("clinical.csv", "markers.csv"'): ("cohort_csv", ""),
    ("docs/sources.md", 'read_fhir("bundle.json")'): ("fhir_bundle", ""),
    ("docs/sources.md", "risk_assessment(predict(markers, clinical)"):
        (None, "from ca125kinetics import read_clinical, read_markers\n"
               "markers = read_markers('data/synthetic/default/markers.csv')\n"
               "markers = markers[markers.patient_id == '000002']\n"
               "clinical = read_clinical('data/synthetic/default/clinical.csv')\n"),
    ("docs/sources.md", 'read_omop("duckdb:///cdm.duckdb"'): ("omop_duckdb", ""),
}

SETUPS = {
    # the committed cohort under the names a page uses for the user's files
    "cohort_csv": """
import shutil
shutil.copy('data/synthetic/default/clinical.csv', 'clinical.csv')
shutil.copy('data/synthetic/default/markers.csv', 'markers.csv')
""",
    # clinical columns named as an export names them (input-formats.md, "Map such columns")
    "renamed_cohort": """
import pandas as pd
c = pd.read_csv('data/synthetic/default/clinical.csv', dtype=str).head(40)
m = pd.read_csv('data/synthetic/default/markers.csv', dtype=str)
m[m.patient_id.isin(c.patient_id)].to_csv('markers.csv', index=False)
c.rename(columns={'ecog': 'ECOG', 'ascites_ml': 'ascites', 'figo_stage': 'FIGO',
                  'pfi_months': 'pfi'}).to_csv('clinical.csv', index=False)
""",
    "registry_parquet": """
import shutil
from ca125kinetics.synth import write_synthetic
write_synthetic(300, 1, 'registry', format='parquet')
shutil.copy('registry/markers.parquet', 'random_sample.parquet')
""",
    "fhir_bundle": """
from ca125kinetics import read_clinical, read_markers
from ca125kinetics.sources.fhir import write_fhir
from ca125kinetics.sources.fhir_cohort import cohort_to_fhir
m = read_markers('data/synthetic/default/markers.csv')
c = read_clinical('data/synthetic/default/clinical.csv')
ids = ['000001', '000002', '000003']
write_fhir(cohort_to_fhir(m[m.patient_id.isin(ids)], c[c.patient_id.isin(ids)]), 'bundle.json')
""",
    "omop_duckdb": """
import pandas as pd
from ca125kinetics.sources.omop import cohort_to_omop, write_omop
c = pd.read_csv('data/synthetic/default/clinical.csv', dtype=str).head(20)
m = pd.read_csv('data/synthetic/default/markers.csv', dtype=str)
write_omop(cohort_to_omop(m[m.patient_id.isin(c.patient_id)], c), 'duckdb:///cdm.duckdb')
""",
}

_FENCE = re.compile(r"^```(\w*)\s*$")
_NUMBER = re.compile(r"^(-?\d+(?:\.(\d+))?)(?=\s|$|\s*\()")


@dataclass
class Block:
    page: str          # path relative to the checkout
    line: int          # line of the block's first line of code
    lang: str
    code: str
    end: int = 0       # index of its closing fence's line
    output: str | None = None   # the untyped fence right after it: what it prints
    skip: str | None = None
    setup: str | None = None
    prelude: str = ""
    claims: list = field(default_factory=list)   # (line in block, expression text, comment)

    @property
    def key(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks(page: Path) -> list[Block]:
    rel = page.relative_to(ROOT).as_posix()
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while not lines[j].startswith("```"):
            j += 1
        found.append(Block(rel, i + 2, m.group(1), "\n".join(lines[i + 1:j]) + "\n", end=j))
        i = j + 1
    for a, b in zip(found, found[1:]):
        between = lines[a.end + 1:b.line - 2]
        if a.lang == "python" and b.lang == "" and not any(s.strip() for s in between):
            a.output = b.code
    return found


def _claims(code: str) -> list:
    """(line, expression, comment) of each top-level expression whose comment states a value."""
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string[1:].strip()
    out = []
    for stmt in ast.parse(code).body:
        text = comments.get(stmt.end_lineno)
        if not isinstance(stmt, ast.Expr) or text is None:
            continue
        if _NUMBER.match(text) or _literal(text) is not None:
            out.append((stmt.end_lineno, ast.get_source_segment(code, stmt), text))
    return out


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _collect() -> list[Block]:
    blocks = [b for page in PAGES for b in _blocks(page)]
    python = [b for b in blocks if b.lang == "python"]
    for table, what in ((SKIP, "skip"), (GIVEN, "given")):
        for (page, text), value in table.items():
            hits = [b for b in python if b.page == page and text in b.code]
            assert len(hits) == 1, f"{what} key {page!r} / {text!r} matches {len(hits)} Python blocks, not 1"
            if what == "skip":
                hits[0].skip = value
            else:
                hits[0].setup, hits[0].prelude = value
    for b in python:
        b.claims = _claims(b.code)
    return blocks


BLOCKS = _collect()
PYTHON = [b for b in BLOCKS if b.lang == "python"]
TRANSCRIPTS = list({b.code: b for b in reversed(BLOCKS)
                     if b.lang == "" and b.code.startswith("$ ca125 ")}.values())[::-1]   # each text once

# runs a page's blocks in one namespace; writes per block: stdout, error, claims that failed
RUNNER = r'''
import contextlib, io, json, sys, traceback, warnings, ast
spec = json.load(open(sys.argv[1]))
warnings.simplefilter("error")
from ca125kinetics.errors import Ca125KineticsWarning
warnings.simplefilter("default", Ca125KineticsWarning)   # the package's notices are output

def same(value, expected, digits):
    if isinstance(expected, list):   # a tuple, through JSON
        expected = tuple(expected)
    if isinstance(expected, str) and expected == "...":
        return True
    if isinstance(expected, tuple):
        value = tuple(value)
        return len(value) == len(expected) and all(same(v, e, None) for v, e in zip(value, expected))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return round(float(value), digits if digits is not None else 12) == expected
    return value == expected

results, ns = [], {"__name__": "__main__"}
for setup in spec["setups"]:
    exec(setup, {"__name__": "__setup__"})
for block in spec["blocks"]:
    out, res = io.StringIO(), {"key": block["key"], "error": None, "failed_claims": []}
    claims = {c[0]: c for c in block["claims"]}
    try:
        with contextlib.redirect_stdout(out):
            exec(block["prelude"], ns)
            for stmt in ast.parse(block["code"]).body:
                claim = claims.get(stmt.end_lineno)
                if claim is not None and isinstance(stmt, ast.Expr):
                    value = eval(compile(ast.Expression(stmt.value), block["key"], "eval"), ns)
                    line, expr, expected, digits = claim
                    if not same(value, expected, digits):
                        res["failed_claims"].append(f"{expr}  # {expected!r}: got {value!r}")
                else:
                    exec(compile(ast.Module([stmt], []), block["key"], "exec"), ns)
    except BaseException:
        res["error"] = traceback.format_exc()
    res["stdout"] = out.getvalue()
    results.append(res)
    json.dump(results, open(sys.argv[2], "w"))
'''


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _workdir(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "data").symlink_to(ROOT / "data", target_is_directory=True)
    return tmp


def _expected(text: str):
    m = _NUMBER.match(text)
    if m:
        return float(m.group(1)), len(m.group(2) or "")
    return _literal(text), None


def _run_page(page: str, work: Path) -> dict:
    """Run a page's runnable blocks in one fresh interpreter, in ``work``."""
    blocks = [b for b in PYTHON if b.page == page and b.skip is None]
    spec = {"setups": [SETUPS[s] for s in dict.fromkeys(b.setup for b in blocks if b.setup)],
            "blocks": [{"key": b.key, "code": b.code, "prelude": b.prelude,
                        "claims": [(ln, expr, *_expected(text)) for ln, expr, text in b.claims]}
                       for b in blocks]}
    (work / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-c", RUNNER, "spec.json", "results.json"], cwd=work,
                          env=_env(), capture_output=True, text=True)
    done = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else []
    return {"by_key": {r["key"]: r for r in done}, "stderr": proc.stderr}


@pytest.fixture(scope="module")
def page_results(tmp_path_factory):
    """Each page's results, its interpreter started at once, two pages at a time (two cores)."""
    from concurrent.futures import ThreadPoolExecutor

    pages = list(dict.fromkeys(b.page for b in PYTHON if b.skip is None))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {page: pool.submit(_run_page, page, _workdir(tmp_path_factory.mktemp(re.sub(r"\W", "_", page))))
                   for page in pages}
        yield lambda page: futures[page].result()


@pytest.mark.parametrize("block", PYTHON, ids=[b.key for b in PYTHON])
def test_python_example_runs_and_gives_what_it_says(block, page_results):
    if block.skip:
        pytest.skip(f"{block.key}: {block.skip}")
    page = page_results(block.page)
    res = page["by_key"].get(block.key)
    assert res is not None, f"{block.key} did not run (an earlier block of the page stopped the run?):\n{page['stderr']}"
    assert res["error"] is None, f"{block.key} fails:\n{block.code}\n{res['error']}"
    assert not res["failed_claims"], f"{block.key} gives another value than its comment says: {res['failed_claims']}"
    if block.output is not None:
        assert res["stdout"].rstrip("\n") == block.output.rstrip("\n"), (
            f"{block.key} prints another text than the page shows after it")


@pytest.mark.parametrize("block", TRANSCRIPTS, ids=[b.key for b in TRANSCRIPTS])
def test_command_transcript_prints_what_the_page_shows(block, tmp_path):
    work = _workdir(tmp_path / "work")
    lines = block.code.rstrip("\n").splitlines()
    commands = [i for i, s in enumerate(lines) if s.startswith("$ ")]
    expected = lines[commands[-1] + 1:]
    truncated = bool(expected) and expected[-1] == "..."
    if truncated:
        expected = expected[:-1]
    for i in commands:
        argv = shlex.split(lines[i][2:])
        assert argv[0] == "ca125", lines[i]
        proc = subprocess.run([sys.executable, "-m", "ca125kinetics.cli", *argv[1:]], cwd=work, env=_env(),
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{block.key}: {lines[i]} fails:\n{proc.stderr}"
    got = proc.stdout.rstrip("\n").splitlines()
    if truncated:
        got = got[:len(expected)]
    assert got == expected, f"{block.key}: {lines[commands[-1]]} prints another text than the page shows"


def test_every_python_block_is_run_or_skipped_with_a_reason():
    """The listing itself: a block is run unless SKIP names it, and every key still matches."""
    assert PYTHON and all(b.skip is None or b.skip.strip() for b in PYTHON)
    assert sum(b.skip is None for b in PYTHON) >= len(PYTHON) - len(SKIP)
    assert any(b.output is not None for b in PYTHON) and any(b.claims for b in PYTHON)
