"""Streaming a markers file in patient-complete chunks gives the whole-table results."""

from __future__ import annotations

import re
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ca125kinetics.cli import main
from ca125kinetics.cohort import patient_chunks, stream_markers
from ca125kinetics.errors import InvalidInputError

COHORT = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
MARKERS, CLINICAL = COHORT / "markers.csv", COHORT / "clinical.csv"


def _run(tmp_path, name, argv):
    out = tmp_path / f"{name}.csv"
    assert main([*argv, "--out", str(out)]) == 0
    return pd.read_csv(out, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def parquet_markers(tmp_path_factory):
    path = tmp_path_factory.mktemp("pq") / "markers.parquet"
    pd.read_csv(MARKERS, dtype=str, keep_default_na=False, na_values=[""]).to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("command", ["gcig", "kinetics", "score"])
def test_chunked_cli_equals_whole_table(tmp_path, monkeypatch, command, threads):
    """Chunks scored (or assessed) one at a time, or three at once, give the whole table."""
    import ca125kinetics.cohort as cohort
    import ca125kinetics._kinetics_engine as engine

    monkeypatch.setattr(cohort, "CHUNK_THREADS", threads)
    monkeypatch.setattr(engine, "usable_cpus", lambda: 4)
    if command == "score":
        base = ["score", "--markers", str(MARKERS), "--clinical", str(CLINICAL)]
    elif command == "gcig":
        base = ["gcig", str(MARKERS), "--clinical", str(CLINICAL)]
    else:
        base = ["kinetics", str(MARKERS)]
    whole = _run(tmp_path, "whole", base)
    # 997 rows: chunk boundaries fall inside patients; 13 chunks of the 12,507 rows
    chunked = _run(tmp_path, "chunked", [*base, "--chunk-rows", "997"])
    assert len(whole) == 3000
    pd.testing.assert_frame_equal(whole, chunked)


def test_streamed_run_limits_glibcs_malloc_arenas_unless_the_user_chose(monkeypatch):
    """A streamed run keeps glibc's allocator to a few arenas (the memory of chunks computed
    by several threads is reused rather than handed back and faulted in again), unless
    ``MALLOC_ARENA_MAX`` says how many; on another C library nothing is changed."""
    import platform

    import ca125kinetics.cli as cli

    calls = []
    monkeypatch.setattr(cli, "_limit_malloc_arenas", lambda: calls.append(True) or True)
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    cli._streaming_allocator()
    assert calls == [True]
    monkeypatch.undo()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cli._limit_malloc_arenas() is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert cli._limit_malloc_arenas() is glibc


@pytest.mark.parametrize("chosen", [None, "mimalloc"])
def test_streamed_run_takes_the_system_allocator_unless_one_was_chosen(tmp_path, monkeypatch, chosen):
    import pyarrow as pa

    before = pa.default_memory_pool()
    if chosen:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", chosen)
    else:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    try:
        start = pa.mimalloc_memory_pool()     # pyarrow's default where it is built in
    except NotImplementedError:
        pytest.skip("this pyarrow is built without mimalloc")
    pa.set_memory_pool(start)
    try:
        _run(tmp_path, "whole", ["gcig", str(MARKERS)])              # one chunk: not streamed
        assert pa.default_memory_pool().backend_name == start.backend_name
        _run(tmp_path, "chunked", ["gcig", str(MARKERS), "--chunk-rows", "5000"])
        expected = start.backend_name if chosen else "system"
        assert pa.default_memory_pool().backend_name == expected
    finally:
        pa.set_memory_pool(before)


def test_parquet_chunks_equal_csv_chunks(parquet_markers):
    csv = pd.concat(list(stream_markers(MARKERS, chunk_rows=500).chunks()))
    pq = pd.concat(list(stream_markers(parquet_markers, chunk_rows=500).chunks()))
    assert (csv.index - 2 == pq.index).all()        # CSV rows count from the header (row 1)
    pd.testing.assert_frame_equal(csv.reset_index(drop=True).astype(object),
                                  pq.reset_index(drop=True).astype(object))


def test_chunks_hold_complete_patients():
    seen = []
    for chunk in stream_markers(MARKERS, chunk_rows=7).chunks():
        ids = chunk["patient_id"].unique().tolist()
        assert not set(ids) & set(seen)
        seen.extend(ids)
    assert len(seen) == 3000


def test_progress_bar_on_a_terminal_only_with_the_same_chunks(monkeypatch):
    """progress=True counts the rows on a bar on a terminal and passes the chunks through
    unchanged; off a terminal (a pipe, a log file) there is no bar (tqdm is not needed)."""
    import io
    import sys

    import tqdm

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    bars = []

    class Bar(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    plain = list(stream_markers(MARKERS, chunk_rows=2000).chunks())
    for stderr, drawn in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stderr)
        if not drawn:
            monkeypatch.setitem(sys.modules, "tqdm", None)      # an import of tqdm would fail
        got = list(stream_markers(MARKERS, chunk_rows=2000).chunks(progress=True))
        assert len(got) == len(plain) > 1
        for a, b in zip(plain, got):
            pd.testing.assert_frame_equal(a, b)
    assert len(bars) == 1 and bars[0].n == sum(len(c) for c in plain)


@pytest.mark.parametrize("command", ["gcig", "kinetics", "score"])
def test_no_progress_option_draws_no_bar_on_a_terminal(tmp_path, monkeypatch, command):
    """``ca125 gcig``, ``kinetics`` and ``score`` drew a bar on a terminal with no way to turn
    it off; ``--no-progress`` (as ``ca125 train`` and ``validate`` take it) draws none."""
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    markers = tmp_path / "markers.csv"
    table = pd.read_csv(MARKERS, dtype=str, keep_default_na=False)
    table[table["patient_id"].isin(table["patient_id"].unique()[:100])].to_csv(markers, index=False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setitem(sys.modules, "tqdm", None)      # a bar would import tqdm and fail
    base = {"gcig": ["gcig", str(markers)], "kinetics": ["kinetics", str(markers)],
            "score": ["score", "--markers", str(markers)]}[command]
    chunked = _run(tmp_path, "chunked", [*base, "--chunk-rows", "150", "--no-progress"])
    assert len(chunked) == 100


def test_reappearing_patient_refused():
    frames = [pd.DataFrame({"patient_id": ["a", "a", "b"]}, index=[2, 3, 4]),
              pd.DataFrame({"patient_id": ["b", "c", "a"]}, index=[5, 6, 7])]
    with pytest.raises(InvalidInputError, match=r"patient 'a' appears again at row 7.*sort the file"):
        list(patient_chunks(frames, source="m.csv"))
    # rows without a position (io.unnumbered, a Spark partition's): no row is named
    from ca125kinetics.io import unnumbered

    with pytest.raises(InvalidInputError, match=r"patient 'a' appears again after other patients' rows") as raised:
        list(patient_chunks([unnumbered(f.copy()) for f in frames], source="Spark markers"))
    assert raised.value.row is None


def test_reappearing_patient_refused_by_cli(tmp_path, capsys):
    table = pd.read_csv(MARKERS, dtype=str, keep_default_na=False)
    shuffled = pd.concat([table.iloc[:40], table.iloc[2:3], table.iloc[40:80]])
    path = tmp_path / "m.csv"
    shuffled.to_csv(path, index=False)
    assert main(["kinetics", str(path), "--chunk-rows", "20", "--out", str(tmp_path / "k.csv")]) == 2
    assert "appears again at row 42" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_identifier_refused_streamed_as_read_whole(tmp_path, capsys, suffix):
    """A sample without its patient's identifier, in a chunk handed clinical rows, is refused
    by the reader's message, as when the file is read whole (not a TypeError of the lookup)."""
    markers = pd.DataFrame({"patient_id": ["a", "a", "b", "b", None, "c", "c"], "day": [-1, 20, -1, 20, -1, -1, 20],
                            "ca125": ["100", "10", "100", "10", "100", "10", "5"]})
    path = tmp_path / f"m{suffix}"
    markers.to_csv(path, index=False) if suffix == ".csv" else markers.to_parquet(path)
    clinical = tmp_path / "c.csv"
    pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "recist": ["PR", "SD", "PD", "CR"]}).to_csv(clinical, index=False)
    errors = []
    for chunk in ([], ["--chunk-rows", "2"]):
        assert main(["gcig", str(path), "--clinical", str(clinical), "--format", "csv", *chunk]) == 2
        errors.append(capsys.readouterr().err)
    assert "patient_id is empty in 1 row(s)" in errors[0]
    assert errors[1] == errors[0]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("chunk_rows", ["1", "2", "4"])
@pytest.mark.parametrize("missing", [None, "NA", "unknown"])
def test_empty_identifier_inside_a_patients_rows_refused_streamed_as_read_whole(tmp_path, capsys, suffix,
                                                                                chunk_rows, missing):
    """A sample without its identifier (empty, or a missing value written as text, 'NA')
    among patient 'a''s rows: streamed, 'a' was said to 'appear again' and the user told to
    sort a file that was sorted."""
    markers = pd.DataFrame({"patient_id": ["a", "a", missing, "a", "b", "b"], "day": [-1, 20, 30, 40, -1, 20],
                            "ca125": ["100", "10", "9", "8", "100", "10"]})
    path = tmp_path / f"m{suffix}"
    markers.to_csv(path, index=False) if suffix == ".csv" else markers.to_parquet(path, index=False)
    errors = []
    for chunk in ([], ["--chunk-rows", chunk_rows]):
        assert main(["gcig", str(path), "--format", "csv", *chunk]) == 2
        errors.append(capsys.readouterr().err)
    assert ("patient_id is empty in 1 row(s)" if missing is None else
            f"patient_id {missing!r} in 1 row(s) ({4 if suffix == '.csv' else 2}) is how a missing value is written") in errors[0]
    assert errors[1] == errors[0]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("command", ["gcig", "score"])
def test_patients_in_descending_order_with_clinical_refused_streamed(tmp_path, capsys, suffix, command):
    """A markers file grouped by patient in descending order, streamed with a clinical table:
    the first chunk was handed every clinical row sorting before its patient as a patient
    without markers, and the later chunks' patients then had 'no clinical row' (each patient
    reported twice, wrongly). Now refused; read whole, the same file is scored."""
    table = pd.read_csv(MARKERS, dtype=str, keep_default_na=False, na_values=[""])
    ids = table["patient_id"].unique()[:4]
    markers = table[table["patient_id"].isin(ids)].iloc[::-1]
    path = tmp_path / f"m{suffix}"
    markers.to_csv(path, index=False) if suffix == ".csv" else markers.to_parquet(path, index=False)
    clinical = pd.read_csv(CLINICAL, dtype=str, keep_default_na=False)
    clinical_path = tmp_path / "c.csv"
    clinical[clinical["patient_id"].isin(ids)].to_csv(clinical_path, index=False)
    base = ([command, str(path)] if command == "gcig" else [command, "--markers", str(path)]) + [
        "--clinical", str(clinical_path), "--format", "csv"]
    assert main(base) == 0
    whole = pd.read_csv(StringIO(capsys.readouterr().out), dtype=str)
    assert sorted(whole["patient_id"]) == sorted(ids)
    assert main([*base, "--chunk-rows", "3"]) == 2
    err = capsys.readouterr().err
    # the first row of ids[-2], after those of ids[-1] (CSV: the header is row 1; Parquet: from 0)
    row = len(markers[markers["patient_id"] == ids[-1]]) + (2 if suffix == ".csv" else 0)
    assert f"patient '{ids[-2]}' at row {row} comes after patient '{ids[-1]}'" in err
    assert "must be sorted by patient_id as text ('10' before '9')" in err


def test_numerically_sorted_identifiers_with_clinical_refused_streamed(tmp_path, capsys):
    """Identifiers sorted as numbers (8, 9, 10: an export sorted numerically) are not in text
    order: streamed with a clinical table, patient '10' was reported twice. Refused, with
    how to sort; read whole, all three are scored."""
    rows = [(p, d, v) for p in ("8", "9", "10") for d, v in ((-3, 400.0), (21, 150.0), (42, 60.0))]
    path, clinical = tmp_path / "m.csv", tmp_path / "c.csv"
    pd.DataFrame(rows, columns=["patient_id", "day", "ca125"]).to_csv(path, index=False)
    pd.DataFrame({"patient_id": ["8", "9", "10"], "recist": ["PR", "SD", "PR"]}).to_csv(clinical, index=False)
    base = ["gcig", str(path), "--clinical", str(clinical), "--format", "csv"]
    assert main(base) == 0
    assert sorted(pd.read_csv(StringIO(capsys.readouterr().out), dtype=str)["patient_id"]) == ["10", "8", "9"]
    errors = []
    for rows in ("1", "2", "4", "8"):
        assert main([*base, "--chunk-rows", rows]) == 2
        errors.append(capsys.readouterr().err)
    # the first patient out of text order, with its row, whatever the chunk size
    assert "patient '10' at row 8 comes after patient '9'" in errors[0]
    assert errors == [errors[0]] * 4


def test_unsorted_file_with_clinical_refused_whatever_the_chunk_size(tmp_path, capsys):
    """Patients b, a, c with a clinical table: chunks of 1 or 2 rows refused the file ('a' came
    after a chunk that had reported it without markers), a chunk of 7 rows (b and a together)
    scored it. Refused at 'a', with its row, for every chunk size."""
    rows = [(p, d, v) for p in ("b", "a", "c") for d, v in ((-3, 400.0), (21, 150.0), (42, 60.0))]
    path, clinical = tmp_path / "m.csv", tmp_path / "c.csv"
    pd.DataFrame(rows, columns=["patient_id", "day", "ca125"]).to_csv(path, index=False)
    pd.DataFrame({"patient_id": ["a", "b", "c"], "recist": ["PR", "SD", "PR"]}).to_csv(clinical, index=False)
    errors = []
    for chunk_rows in ("1", "2", "7"):
        assert main(["gcig", str(path), "--clinical", str(clinical), "--format", "csv",
                     "--chunk-rows", chunk_rows]) == 2
        errors.append(capsys.readouterr().err)
    assert "patient 'a' at row 5 comes after patient 'b'" in errors[0]
    assert errors == [errors[0]] * 3


@pytest.mark.parametrize("command", ["gcig", "kinetics", "score"])
def test_damaged_parquet_refused_by_every_command_as_read_whole(tmp_path, capsys, parquet_markers, command):
    """A Parquet file cut short (it starts with 'PAR1' but has no footer) is the readers' one
    line; the cohort commands looked for its row count first and raised pyarrow's ArrowInvalid."""
    from ca125kinetics.io import read_markers

    path = tmp_path / "cut.parquet"
    path.write_bytes(parquet_markers.read_bytes()[:-100])
    said = rf"^ca125: error: {path}: could not be read as a markers table \(ArrowInvalid: .*magic bytes.*\n$"
    with pytest.raises(InvalidInputError, match=said[len("^ca125: error: "):-3]):
        read_markers(path)
    argv = [command, str(path)] if command != "score" else [command, "--markers", str(path)]
    for chunk in ([], ["--chunk-rows", "3"]):
        assert main([*argv, *chunk]) == 2
        assert re.match(said, capsys.readouterr().err)


def test_chunk_rows_must_be_positive():
    # a Python caller is told the argument, not the command's option ('chunk_rows (--chunk-rows) must be')
    with pytest.raises(InvalidInputError, match=r"^chunk_rows must be a whole number >= 1, got 0$"):
        stream_markers(MARKERS, chunk_rows=0)


@pytest.mark.parametrize("rows", ["0", "-5"])
def test_cli_chunk_rows_zero_refused_not_read_as_default(capsys, rows):
    """``--chunk-rows 0`` was read as the default (250,000) and the file was scored."""
    assert main(["gcig", str(MARKERS), "--chunk-rows", rows, "--format", "csv"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"ca125: error: --chunk-rows must be a whole number >= 1, got {int(rows)}\n"


@pytest.mark.parametrize("chunk", [[], ["--chunk-rows", "997"]])
def test_cli_population_sample_refusal_names_the_option(tmp_path, capsys, chunk):
    """The refusal named the Python argument, population_sample, to a user of the command line;
    and a file read whole (one chunk) was fitted with the bad value unread."""
    assert main(["kinetics", str(MARKERS), "--population-sample", "0", "--out", str(tmp_path / "k.csv"), *chunk]) == 2
    err = capsys.readouterr().err
    assert "ca125: error: --population-sample must be a whole number >= 10" in err and "population_sample" not in err
    assert not (tmp_path / "k.csv").exists()


@pytest.mark.parametrize("options, why", [(["--method", "per-patient"], "not --method per-patient"),
                                          (["--method", "loglinear"], "not --method loglinear"),
                                          (["--model", str(COHORT.parents[2] / "models" / "default")],
                                           "the model's fitted population is used")])
def test_cli_population_sample_refused_where_no_population_is_learned(tmp_path, capsys, options, why):
    """--population-sample with another method, or with a model's population, was read and
    ignored: the same output as without it."""
    out = tmp_path / "k.csv"
    assert main(["kinetics", str(MARKERS), "--population-sample", "50", "--chunk-rows", "997", *options,
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--population-sample sets the patients the population is learned on" in err and why in err
    assert not out.exists()


def test_streamed_population_learned_on_first_patients():
    from ca125kinetics.cohort import run_kinetics
    from ca125kinetics.io import read_markers
    from ca125kinetics.kinetics import fit_kinetics, fit_population
    from ca125kinetics.settings import KineticsSettings

    canonical = read_markers(MARKERS, on_error="flag")
    first = canonical[canonical["patient_id"].isin(canonical["patient_id"].unique()[:700])]
    expected = fit_kinetics(canonical, population=fit_population(first))
    streamed = run_kinetics(stream_markers(MARKERS, chunk_rows=1000), method="population",
                            settings=KineticsSettings(), population_sample=700)
    pd.testing.assert_frame_equal(streamed, expected)


def test_streamed_population_of_a_file_not_sorted_as_text_is_the_whole_files(tmp_path):
    """Numeric identifiers sorted as numbers (1, 2, ..., 10): the population learned on every
    patient of the chunks is the one learned on the file read whole (sorted as text)."""
    markers = pd.read_csv(MARKERS, dtype=str, keep_default_na=False)
    markers["patient_id"] = markers["patient_id"].astype(int).astype(str)
    path = tmp_path / "numeric.csv"
    markers.to_csv(path, index=False)
    whole = _run(tmp_path, "whole", ["kinetics", str(path)])
    chunked = _run(tmp_path, "chunked", ["kinetics", str(path), "--chunk-rows", "997"])
    chunked = chunked.sort_values("patient_id", kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(whole, chunked)


def test_min_rows_joins_pieces_of_complete_patients():
    table = pd.read_csv(MARKERS, dtype=str, keep_default_na=False)
    pieces = [table.iloc[i:i + 100] for i in range(0, len(table), 100)]
    chunks = list(patient_chunks(pieces, min_rows=1000))
    # >= 1000 rows read, minus the carried patient (the last joined piece and the carry may be short)
    assert all(len(c) >= 900 for c in chunks[:-2])
    pd.testing.assert_frame_equal(pd.concat(chunks), table)
    ends = [c["patient_id"].iloc[-1] for c in chunks[:-1]]
    starts = [c["patient_id"].iloc[0] for c in chunks[1:]]
    assert all(a != b for a, b in zip(ends, starts))


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=30),
       cuts=st.lists(st.integers(1, 40), min_size=1, max_size=30), min_rows=st.integers(0, 50))
def test_any_cut_gives_each_patient_in_one_chunk(sizes, cuts, min_rows):
    """Property: however a grouped table is cut into pieces, the chunks are the table, in
    order, and every patient lies in exactly one chunk."""
    pid = [f"p{i:03d}" for i, n in enumerate(sizes) for _ in range(n)]
    table = pd.DataFrame({"patient_id": pid, "row": range(len(pid))})
    pieces, start = [], 0
    for cut in cuts * (len(pid) // sum(cuts) + 1):
        if start >= len(pid):
            break
        pieces.append(table.iloc[start:start + cut])
        start += cut
    chunks = list(patient_chunks(pieces, min_rows=min_rows))
    pd.testing.assert_frame_equal(pd.concat(chunks), table)
    owner = {}
    for i, chunk in enumerate(chunks):
        for patient in chunk["patient_id"]:
            assert owner.setdefault(patient, i) == i


def test_chunks_group_identifiers_as_the_reader_reads_them():
    """' 7' and '7' are one patient to the reader (a space at an end is stripped), '\t7' and
    '7' two (kept as written): the chunking keyed '\t7' as '7' and refused '7' as a patient
    whose rows were not together."""
    table = pd.DataFrame({"patient_id": ["\t7", "\t7", "10", " 7", "7", "7 ", "8"], "row": range(7)})
    chunks = list(patient_chunks([table.iloc[:3], table.iloc[3:5], table.iloc[5:]]))
    assert [list(c["row"]) for c in chunks] == [[0, 1], [2], [3, 4, 5], [6]]


@pytest.fixture(scope="module")
def clinical_with_extra_patients(tmp_path_factory):
    """The committed clinical table plus three patients without markers: first, in the
    middle and last in patient order."""
    table = pd.read_csv(CLINICAL, dtype=str, keep_default_na=False)
    extra = pd.concat([table.iloc[:1]] * 3).assign(patient_id=["000000", "0015005", "999999"])
    path = tmp_path_factory.mktemp("clin") / "clinical.csv"
    pd.concat([table, extra]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["gcig", "score"])
def test_patients_without_markers_streamed_in_order(tmp_path, clinical_with_extra_patients, command):
    clin = str(clinical_with_extra_patients)
    base = (["gcig", str(MARKERS), "--clinical", clin] if command == "gcig"
            else ["score", "--markers", str(MARKERS), "--clinical", clin])
    whole = _run(tmp_path, "whole", base)
    chunked = _run(tmp_path, "chunked", [*base, "--chunk-rows", "1500"])
    assert len(whole) == 3003 and {"000000", "0015005", "999999"} <= set(whole["patient_id"])
    pd.testing.assert_frame_equal(whole, chunked)


@pytest.mark.parametrize("command", ["gcig", "kinetics"])
def test_parquet_output_written_by_chunks(tmp_path, command):
    base = [command, str(MARKERS)] + (["--clinical", str(CLINICAL)] if command == "gcig" else [])
    assert main([*base, "--out", str(tmp_path / "whole.parquet")]) == 0
    assert main([*base, "--out", str(tmp_path / "chunked.parquet"), "--chunk-rows", "2000"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole.parquet"),
                                  pd.read_parquet(tmp_path / "chunked.parquet"))


@pytest.mark.parametrize("extra", [["kinetics", "--response"], ["score", "--allow-imputed"]])
def test_chunked_runs_pass_the_command_options(tmp_path, extra):
    """--response and --allow-imputed reach every chunk: the same rows and provenance."""
    command, option = extra
    if command == "kinetics":
        base = [command, str(MARKERS), option]
    else:  # clinical factors unknown: --allow-imputed decides on them
        sparse = tmp_path / "clinical_sparse.csv"
        pd.read_csv(CLINICAL, dtype=str, keep_default_na=False)[["patient_id", "recist"]].to_csv(sparse, index=False)
        base = [command, "--markers", str(MARKERS), "--clinical", str(sparse), option]
    whole = _run(tmp_path, "whole", base)
    chunked = _run(tmp_path, "chunked", [*base, "--chunk-rows", "1200"])
    without = _run(tmp_path, "without", base[:-1])
    assert {"rules", "package_version"} <= set(whole.columns)
    assert set(whole.columns) != set(without.columns) or not whole.equals(without)  # the option matters
    pd.testing.assert_frame_equal(whole, chunked)


def test_chunked_file_read_with_format_options(tmp_path):
    """A semicolon-separated file with decimal commas and a renamed identifier column gives,
    chunked, what the comma file gives whole (--sep, --decimal, --rename reach every chunk)."""
    table = pd.read_csv(MARKERS, dtype=str, keep_default_na=False)
    european = table.rename(columns={"patient_id": "Patient"})
    for column in ("ca125", "uln"):
        european[column] = european[column].str.replace(".", ",", regex=False)
    path = tmp_path / "markers_eu.csv"
    european.to_csv(path, index=False, sep=";")
    whole = _run(tmp_path, "whole", ["kinetics", str(MARKERS), "--method", "per-patient"])
    chunked = _run(tmp_path, "chunked", ["kinetics", str(path), "--method", "per-patient", "--sep", ";",
                                         "--decimal", ",", "--rename", "Patient=patient_id",
                                         "--chunk-rows", "1000"])
    pd.testing.assert_frame_equal(whole, chunked)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_identifier_column_name_with_spaces_streamed_as_read_whole(tmp_path, suffix):
    """A header ' patient_id ' (spaces around the name) is read as patient_id whole, as every
    column name is stripped; streamed it was a KeyError of the chunking."""
    table = pd.read_csv(MARKERS, dtype=str, keep_default_na=False, na_values=[""]).iloc[:60]
    path = tmp_path / f"m{suffix}"
    spaced = table.rename(columns={"patient_id": " patient_id "})
    spaced.to_csv(path, index=False) if suffix == ".csv" else spaced.to_parquet(path, index=False)
    base = ["gcig", str(path)]
    whole = _run(tmp_path, "whole", base)
    chunked = _run(tmp_path, "chunked", [*base, "--chunk-rows", "7"])
    assert whole["patient_id"].nunique() == table["patient_id"].nunique()
    pd.testing.assert_frame_equal(whole, chunked)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_chunks_writes_the_file_of_the_parts_written_one_after_another(tmp_path, fmt):
    """``write_chunks`` of the streamed kinetics (however it overlaps computing and writing)
    makes the same file, byte for byte, and keeps the same columns as computing each part
    and writing it with a ChunkWriter, one after the other."""
    from ca125kinetics.cohort import ChunkWriter, iter_kinetics, stream_markers, write_chunks
    from ca125kinetics.settings import KineticsSettings

    def parts():
        return iter_kinetics(stream_markers(MARKERS, chunk_rows=1500), method="population",
                             settings=KineticsSettings())

    n, kept = write_chunks(parts(), tmp_path / f"overlapped.{fmt}", fmt, ("status", "k"))
    one_by_one = []
    with ChunkWriter(tmp_path / f"sequential.{fmt}", fmt) as writer:
        for part in parts():
            writer.write(part)
            one_by_one.append(part[["status", "k"]])
    assert n == writer.n_rows == 3000
    assert (tmp_path / f"overlapped.{fmt}").read_bytes() == (tmp_path / f"sequential.{fmt}").read_bytes()
    pd.testing.assert_frame_equal(kept, pd.concat(one_by_one, ignore_index=True))


def test_a_csv_text_made_ahead_has_its_header_exactly_when_it_is_written_first(tmp_path):
    """CSV text made ahead of writing (by the producing thread) carries the header only for
    the first chunk; a text that does not fit its place is refused, not written, so no file
    gets a second header or none."""
    from ca125kinetics.cohort import ChunkWriter, _csv_text

    frame = pd.DataFrame({"patient_id": ["a", "b"], "k": [0.1, 0.2]})
    with pytest.raises(ValueError, match="header exactly when it is the first chunk"):
        with ChunkWriter(tmp_path / "out.csv", "csv") as writer:
            writer.write(_csv_text(frame, first=False))
    assert list(tmp_path.iterdir()) == []
    with ChunkWriter(tmp_path / "out.csv", "csv") as writer:
        writer.write(_csv_text(frame, first=True))
        with pytest.raises(ValueError, match="header exactly"):
            writer.write(_csv_text(frame, first=True))
        writer.write(_csv_text(frame, first=False))
    assert (tmp_path / "out.csv").read_text() == frame.to_csv(index=False) + "a,0.1\nb,0.2\n"
    assert writer.n_rows == 4


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=6), min_size=1, max_size=4),
       wanted=st.integers(1, 30))
def test_first_patients_of_chunks_are_those_pandas_unique_lists_first(sizes, wanted):
    """Property: the chunks held until ``wanted`` patients are reached (patient-complete,
    as iter_kinetics holds them), cut to their first ``wanted`` patients, keep the rows
    ``pandas.unique`` + ``isin`` keep on the concatenated table."""
    from ca125kinetics.cohort import _first_patients

    chunks, next_id = [], 0
    for chunk_sizes in sizes:
        ids = []
        for n_rows in chunk_sizes:
            ids += [f"p{(next_id * 7919) % 1000:03d}"] * n_rows     # not in sorted order
            next_id += 1
        chunks.append(pd.DataFrame({"patient_id": pd.array(ids, dtype="str"), "day": range(len(ids))}))
    held, n_patients = [], 0                 # held as iter_kinetics holds them
    for chunk in chunks:
        held.append(chunk)
        n_patients += chunk["patient_id"].nunique()
        if n_patients >= wanted:
            break
    got = pd.concat(_first_patients(held, n_patients, wanted), ignore_index=True)
    whole = pd.concat(held, ignore_index=True)
    expected = whole[whole["patient_id"].isin(pd.unique(whole["patient_id"])[:wanted])].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)


def test_read_ahead_keeps_order_and_raises_where_the_error_is():
    from ca125kinetics.cohort import _read_ahead

    assert list(_read_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield from range(3)
        raise InvalidInputError("bad chunk")

    got = []
    with pytest.raises(InvalidInputError, match="bad chunk"):
        for item in _read_ahead(failing()):
            got.append(item)
    assert got == [0, 1, 2]                      # the items before the error, in order


def test_in_order_keeps_the_order_of_its_items_whatever_their_threads_finish():
    """Items worked on by several threads at once come back in the order they were given,
    however long each takes; with one thread they are worked on in this thread."""
    import random
    import threading
    import time

    from ca125kinetics.cohort import _in_order

    rng = random.Random(3)
    delays = [rng.choice([0.0, 0.001, 0.01]) for _ in range(60)]
    names = set()

    def work(i):
        names.add(threading.current_thread().name)
        time.sleep(delays[i])
        return i * 10

    assert list(_in_order(work, iter(range(60)), 3)) == [i * 10 for i in range(60)]
    assert len(names) > 1
    names.clear()
    assert list(_in_order(work, iter(range(5)), 1)) == [0, 10, 20, 30, 40]
    assert names == {threading.current_thread().name}


def test_in_order_raises_an_items_error_after_the_results_before_it_and_starts_no_more():
    """An item's error is raised where its result would have come, after the earlier
    results; the items not yet started are not worked on, and the source is not read
    further than the items in flight."""
    import time

    from ca125kinetics.cohort import _in_order

    taken, started = [], []

    def source():
        for i in range(100):
            taken.append(i)
            yield i

    def work(i):
        started.append(i)
        if i == 4:
            raise InvalidInputError("bad chunk 4")
        time.sleep(0.002)
        return i

    got = []
    with pytest.raises(InvalidInputError, match="bad chunk 4"):
        for item in _in_order(work, source(), 2):
            got.append(item)
    assert got == [0, 1, 2, 3]
    assert max(taken) <= 4 + 3 and max(started) <= 4 + 3


@pytest.mark.parametrize("threads", [1, 3])
def test_in_order_raises_the_first_error_in_the_items_order(threads):
    """A chunk that cannot be read (the source's error) comes after the results of the
    chunks before it, and after an earlier chunk's own error: the error one thread meets."""
    import time

    from ca125kinetics.cohort import _in_order

    def source(fail_at):
        for i in range(10):
            if i == fail_at:
                raise InvalidInputError(f"chunk {i} cannot be read")
            yield i

    def work(i):
        time.sleep(0.01 if i == 1 else 0.0)
        if i == 1:
            raise InvalidInputError("chunk 1 is wrong")
        return i

    got = []
    with pytest.raises(InvalidInputError, match="chunk 3 cannot be read"):
        for item in _in_order(lambda i: i, source(3), threads):
            got.append(item)
    assert got == [0, 1, 2]
    with pytest.raises(InvalidInputError, match="chunk 1 is wrong"):
        list(_in_order(work, source(3), threads))


def test_in_order_stops_taking_items_when_the_consumer_stops():
    from ca125kinetics.cohort import _in_order

    taken = []

    def source():
        for i in range(1000):
            taken.append(i)
            yield i

    results = _in_order(lambda i: i, source(), 2)
    assert next(results) == 0
    results.close()                  # waits for the items in flight
    assert len(taken) <= 4


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_chunks_raises_a_parts_error_and_leaves_no_file_that_looks_complete(tmp_path, fmt):
    """The parts are computed by a thread while they are written: an error of a part is
    raised by ``write_chunks`` (after the parts before it were written, in order, to the
    hidden partial file), and neither a partial output nor the partial file is left; a file
    already at the output path stays as it was. Without an error the file is all parts."""
    from ca125kinetics.cohort import write_chunks

    def parts(fail: bool):
        for i in range(3):
            yield pd.DataFrame({"patient_id": [f"P{i}a", f"P{i}b"], "status": ["response", "no_response"]})
        if fail:
            raise InvalidInputError("bad chunk")

    out = tmp_path / f"out.{fmt}"
    with pytest.raises(InvalidInputError, match="bad chunk"):
        write_chunks(parts(True), out, fmt, ("status",))
    assert list(tmp_path.iterdir()) == []
    out.write_text("an earlier result")
    with pytest.raises(InvalidInputError, match="bad chunk"):
        write_chunks(parts(True), out, fmt, ("status",))
    assert out.read_text() == "an earlier result" and list(tmp_path.iterdir()) == [out]
    assert write_chunks(parts(False), out, fmt, ("status",))[0] == 6
    got = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert got["patient_id"].tolist() == ["P0a", "P0b", "P1a", "P1b", "P2a", "P2b"]
    assert write_chunks(list(parts(False)), out, fmt, ("status",))[0] == 6      # any iterable of parts
    assert list(tmp_path.iterdir()) == [out]
    folder = tmp_path / "a_folder"
    folder.mkdir()
    with pytest.raises(InvalidInputError, match="is a directory; give the name of the file"):
        write_chunks(parts(False), folder, fmt, ("status",))
    assert sorted(tmp_path.iterdir()) == sorted([out, folder]) and list(folder.iterdir()) == []


def test_increasing_keys_compared_as_python_compares_them():
    from ca125kinetics.cohort import _increasing

    assert _increasing(["a", "b", "c"], None) and _increasing(["b"], "a")
    assert not _increasing(["a", "c", "b"], None) and not _increasing(["a", "a"], None)
    assert not _increasing(["b", "c"], "b")
    assert not _increasing(["a", None, "c"], None) and not _increasing(["a", pd.NA, "c"], None)
    assert not _increasing(["a", float("nan")], None)


def test_read_ahead_stops_and_closes_its_source_when_the_consumer_stops():
    from ca125kinetics.cohort import _read_ahead

    produced, closed = [], []

    def source():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.append(True)

    items = _read_ahead(source(), depth=2)
    assert next(items) == 0
    items.close()                                # joins the thread
    assert closed == [True] and len(produced) <= 5


@pytest.mark.parametrize("helper", ["read_ahead", "in_order"])
def test_an_interruption_does_not_wait_for_the_item_in_hand(helper):
    """Ctrl-C (or SIGTERM taken as it) while a thread works on an item (learning the population
    took up to 2 s) stops the consumer at once: it does not wait for that thread, which stops
    at its next item (``ca125 kinetics`` stopped in its first second took 1.9 s, now 0.02-0.05
    s). Closed without an interruption, the helpers still wait (tests above)."""
    import threading

    from ca125kinetics.cohort import _in_order, _read_ahead

    release, in_hand = threading.Event(), []

    def slow_second(i):
        if i == 1:
            in_hand.append(threading.current_thread())
            release.wait(20)      # the item in hand; 20 s bounds the test on code that waits
        return i

    if helper == "read_ahead":
        items = _read_ahead(map(slow_second, range(3)), depth=2)
    else:
        items = _in_order(slow_second, iter(range(3)), 2)
    try:
        assert next(items) == 0
        with pytest.raises(KeyboardInterrupt):
            items.throw(KeyboardInterrupt)
        assert in_hand and in_hand[0].is_alive(), "the consumer waited for the item in hand"
    finally:
        release.set()


@settings(max_examples=80, deadline=None)
@given(order=st.permutations(list(range(8))), sizes=st.lists(st.integers(1, 3), min_size=8, max_size=8),
       cut=st.integers(1, 6), again=st.booleans(), sorted_first=st.integers(0, 8))
def test_grouped_in_any_order_is_chunked_and_a_reappearing_patient_refused(order, sizes, cut, again,
                                                                           sorted_first):
    """Property: rows grouped by patient are chunked whatever the patients' order (a file
    sorted by patient, or sorted for a while and then not); a patient appearing again after
    others is refused with its first row there, as the identifiers say."""
    ids = [f"p{i}" for i in sorted(order[:sorted_first])] + [f"p{i}" for i in order[sorted_first:]]
    pid = [p for p, n in zip(ids, sizes) for _ in range(n)]
    if again:
        pid.append(pid[0] if len(set(pid)) > 1 else "other")
        pid.append(pid[-2] if pid[-1] == "other" else "last")
    table = pd.DataFrame({"patient_id": pid}, index=range(2, 2 + len(pid)))
    pieces = [table.iloc[i:i + cut] for i in range(0, len(table), cut)]
    runs = [k for j, k in enumerate(pid) if j == 0 or pid[j - 1] != k]
    repeated = next((j for j, k in enumerate(runs) if k in runs[:j]), None)
    if repeated is None:
        pd.testing.assert_frame_equal(pd.concat(list(patient_chunks(pieces))), table)
    else:
        row = next(2 + j for j in range(len(pid)) if pid[j] == runs[repeated]
                   and j > 0 and pid[j - 1] != runs[repeated] and pid.index(runs[repeated]) < j)
        with pytest.raises(InvalidInputError, match=rf"patient '{runs[repeated]}' appears again at row {row}\b"):
            list(patient_chunks(pieces))


@settings(max_examples=80, deadline=None)
@given(clinical_ids=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), max_size=12),
       chunks=st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]), min_size=1,
                                max_size=4, unique=True), max_size=5))
def test_clinical_feed_hands_each_chunk_its_rows_and_the_earlier_ones(clinical_ids, chunks):
    """Each chunk gets the clinical rows of its patients (every row of a repeated identifier)
    and the not yet handed rows whose identifier sorts before its largest; each row once. A
    chunk whose patient's row was already handed (to an earlier chunk of larger identifiers,
    as a patient without markers) is refused."""
    from ca125kinetics.cohort import _ClinicalFeed

    clinical = pd.DataFrame({"patient_id": clinical_ids, "row": range(len(clinical_ids))})
    feed, handed = _ClinicalFeed(clinical), set()
    for keys in chunks:
        again = sorted(p for r, p in enumerate(clinical_ids) if r in handed and p in keys)
        if again:
            with pytest.raises(InvalidInputError, match=r"patient '[a-g]' comes after .*must be sorted by patient_id as text"):
                feed.for_chunk(keys, "m.csv")
            return
        rows = set(feed.for_chunk(keys)["row"])
        expected = {r for r, p in enumerate(clinical_ids) if r not in handed and (p in keys or p <= max(keys))}
        assert rows == expected
        handed |= rows
    rest = feed.rest()
    assert set(range(len(clinical_ids))) - handed == (set() if rest is None else set(rest["row"]))


# ----------------------------------------------------------------------------- CSV writing

_text = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab ,"\n\r;x')), max_size=6))
_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1.0, 1e-4, 1e-5,
                                                                                   1e15, 1e16, 0.1, 123.456]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_text, _float, st.one_of(st.none(), st.integers(-10**6, 10**6)),
                          st.one_of(st.none(), st.booleans()), st.booleans()), max_size=12),
       st.integers(1, 5), st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
       st.integers(0, 3), st.integers(1, 64))
def test_write_csv_writes_the_text_of_to_csv(rows, block, kept, repeats, write_bytes):
    """cohort.write_csv gives, byte for byte, what DataFrame.to_csv(index=False) gives, for
    the column kinds of a score table (text as objects and as pandas' str, float, nullable
    Int64 and boolean, bool, a constant text), any of them alone or together, rows repeated
    (a frame of equal rows; one column of empty cells, written ""), blocks of rows of any
    size handed to the file in pieces of any size."""
    import io

    from ca125kinetics import cohort

    frame = pd.DataFrame({
        "text, quoted": pd.Series([r[0] for r in rows], dtype=object),
        "str": pd.Series([r[0] for r in reversed(rows)], dtype="str"),
        "x": pd.Series([r[1] for r in rows], dtype="float64"),
        "n": pd.array([r[2] for r in rows], dtype="Int64"),
        "flag": pd.array([r[3] for r in rows], dtype="boolean"),
        "b": pd.Series([r[4] for r in rows], dtype=bool),
        "same": pd.Series(["{\"a\": 1, \"b\": [2]}"] * len(rows), dtype=object),
    })
    frame = frame.iloc[:, kept]
    if len(kept) == 1 and repeats == 3:      # a column without a name
        frame.columns = [""]
    frame = pd.concat([frame] * (repeats + 1), ignore_index=True) if repeats and len(rows) == 1 else frame
    old = cohort._CSV_BLOCK_ROWS, cohort._CSV_WRITE_BYTES
    cohort._CSV_BLOCK_ROWS, cohort._CSV_WRITE_BYTES = block, write_bytes
    try:
        out = io.BytesIO()
        cohort.write_csv(frame, out)
        tail = io.BytesIO()
        cohort.write_csv(frame, tail, header=False)
    finally:
        cohort._CSV_BLOCK_ROWS, cohort._CSV_WRITE_BYTES = old
    assert out.getvalue().decode("utf-8") == frame.to_csv(index=False)
    assert tail.getvalue().decode("utf-8") == frame.to_csv(index=False, header=False)


def test_score_parquet_output_is_the_score_table(tmp_path):
    """``ca125 score --out x.parquet`` writes the score table (chunked or whole), with the
    rows and values of the CSV output."""
    base = ["score", "--markers", str(MARKERS), "--clinical", str(CLINICAL)]
    assert main([*base, "--out", str(tmp_path / "whole.parquet"), "--chunk-rows", "10000000"]) == 0
    assert main([*base, "--out", str(tmp_path / "chunked.parquet"), "--chunk-rows", "2000"]) == 0
    assert main([*base, "--out", str(tmp_path / "scores.csv"), "--chunk-rows", "2000"]) == 0
    whole, chunked = pd.read_parquet(tmp_path / "whole.parquet"), pd.read_parquet(tmp_path / "chunked.parquet")
    pd.testing.assert_frame_equal(whole, chunked)
    text = pd.read_csv(tmp_path / "scores.csv", dtype={"patient_id": str})
    assert list(whole.columns) == list(text.columns) and len(whole) == len(text)
    assert whole["patient_id"].tolist() == text["patient_id"].tolist()
    assert whole["decision"].tolist() == text["decision"].tolist()
    pd.testing.assert_series_equal(whole["probability"], text["probability"], check_dtype=False)


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunks_never_go_through_a_link_planted_at_the_hidden_partial_name(tmp_path, fmt):
    """The hidden ``.NAME.partial`` has a name anyone can predict: a symbolic link planted there
    (by another user of a shared folder) made the chunks, patient data, overwrite the file it
    named, and the rename then left ``--out`` a link to it. The partial file is created new
    (the link removed, never followed) and written through one handle; a stale partial file of a
    run killed outright is replaced, not appended to."""
    from ca125kinetics.cohort import ChunkWriter

    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    (tmp_path / f".out.{fmt}.partial").symlink_to(victim)
    frame = pd.DataFrame({"patient_id": ["001", "002"], "k": [0.05, 0.07]})
    with ChunkWriter(tmp_path / f"out.{fmt}", fmt) as writer:
        writer.write(frame)
        writer.write(frame.assign(patient_id=["003", "004"]))
    assert victim.read_text() == "not yours"
    out = tmp_path / f"out.{fmt}"
    assert not out.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == [f"out.{fmt}", "victim.txt"]
    read = pd.read_csv(out, dtype={"patient_id": str}) if fmt == "csv" else pd.read_parquet(out)
    assert read["patient_id"].tolist() == ["001", "002", "003", "004"]

    (tmp_path / f".again.{fmt}.partial").write_bytes(b"left by a run killed outright\n")
    with ChunkWriter(tmp_path / f"again.{fmt}", fmt) as writer:
        writer.write(frame)
    read = pd.read_csv(tmp_path / f"again.{fmt}", dtype={"patient_id": str}) if fmt == "csv" \
        else pd.read_parquet(tmp_path / f"again.{fmt}")
    assert read["patient_id"].tolist() == ["001", "002"]


def test_parquet_chunks_keep_statistics_of_values_and_codes_not_of_free_text(tmp_path):
    """Min/max statistics let a reader skip row groups by value, patient or code; free text
    (a reason) is never filtered so, and its statistics cost writing time: it has none."""
    import pyarrow.parquet as pq

    from ca125kinetics.cohort import ChunkWriter

    frame = pd.DataFrame({"patient_id": ["001", "002"], "k": [0.05, 0.07], "status": ["ok", "rising"],
                          "reason": ["the fit converged after 12 iterations with k 0.05/day", None]})
    with ChunkWriter(tmp_path / "t.parquet", "parquet") as writer:
        writer.write(frame)
        writer.write(frame.assign(patient_id=["003", "004"]))
    group = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(1)
    stats = {group.column(i).path_in_schema: group.column(i).is_stats_set for i in range(group.num_columns)}
    assert stats == {"patient_id": True, "k": True, "status": True, "reason": False}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"),
                                  pd.concat([frame, frame.assign(patient_id=["003", "004"])], ignore_index=True),
                                  check_dtype=False)


@pytest.mark.parametrize("command", ["gcig", "score"])
def test_parquet_chunks_whose_first_chunk_has_an_empty_text_column(tmp_path, capsys, command):
    """A text column empty in the first chunk (e.g. GCIG category, the first patient without a
    response) made the chunked Parquet writer fail (binary_length of a null column)."""
    from ca125kinetics.cli import main

    data = Path(__file__).parent / "data" / "chunks_empty_first"
    markers, clinical = str(data / "markers.csv"), str(data / "clinical.csv")
    args = ([command, markers] if command == "gcig" else [command, "--markers", markers]) + ["--clinical", clinical]
    import pyarrow.parquet as pq

    outs, schemas = {}, {}
    for rows in (7, 10**6):
        out = tmp_path / f"{rows}.parquet"
        assert main([*args, "--out", str(out), "--chunk-rows", str(rows)]) == 0
        outs[rows], schemas[rows] = pd.read_parquet(out), pq.read_schema(out)
    capsys.readouterr()
    # the same cells and the same column types (a text column empty in the first chunk, or in
    # every row, is text either way)
    pd.testing.assert_frame_equal(outs[7], outs[10**6])
    assert schemas[7].remove_metadata() == schemas[10**6].remove_metadata()


def test_parquet_text_columns_have_one_type_whatever_their_values(tmp_path):
    """A text column is written to Parquet as large_string whether it holds text, Python
    strings or no value at all, written whole (write_table) or in chunks (ChunkWriter): the
    whole table wrote a column without a value as null, and the chunks took their types from
    the first chunk (a column empty there: string, else large_string)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ca125kinetics.cohort import ChunkWriter
    from ca125kinetics.io import write_table

    first = pd.DataFrame({"patient_id": ["001"], "category": [None], "reason": pd.array([None], dtype="string"),
                          "k": [0.1]})
    second = pd.DataFrame({"patient_id": ["002"], "category": ["CR"], "reason": pd.array(["x"], dtype="string"),
                           "k": [0.2]})
    whole = pd.concat([first, second], ignore_index=True)
    write_table(whole, tmp_path / "whole.parquet")
    write_table(whole.assign(reason=None), tmp_path / "empty.parquet")
    with ChunkWriter(tmp_path / "chunks.parquet", "parquet") as writer:
        writer.write(first)
        writer.write(second)
    text = pa.large_string()
    expected = pa.schema([("patient_id", text), ("category", text), ("reason", text), ("k", pa.float64())])
    for name in ("whole", "empty", "chunks"):
        assert pq.read_schema(tmp_path / f"{name}.parquet").remove_metadata() == expected, name


def test_cohort_summaries_do_not_depend_on_the_order_of_the_rows():
    """Equal counts in the gcig and kinetics summaries are listed by value: a file grouped but
    not sorted by patient, written chunk by chunk in the file's order, had its summary's lines
    of equal counts in another order than the whole table's (value_counts: first appearance)."""
    from ca125kinetics.cli.gcig import _gcig_summary
    from ca125kinetics.cli.kinetics import _kinetics_summary
    from ca125kinetics.settings import GcigSettings, KineticsSettings

    gcig = pd.DataFrame({"status": ["response", "no_response", "not_evaluable", "response"],
                         "category": ["CR", "PR", None, "PR"], "progressed": [False, True, False, False]})
    kinetics = pd.DataFrame({"method": "population", "status": ["ok", "too_few_samples", "no_baseline", "ok"],
                             "k": [0.1, np.nan, np.nan, 0.2], "half_life_days": [7.0, np.nan, np.nan, 3.5],
                             "kelim_score": [2.0, np.nan, np.nan, 4.0]})
    for table, summary in ((gcig, lambda t: _gcig_summary(t, GcigSettings())),
                           (kinetics, lambda t: _kinetics_summary(t, KineticsSettings()))):
        assert summary(table) == summary(table.iloc[::-1].reset_index(drop=True))
    assert "  no_response            1  (25.0 %)\n  not_evaluable" in _gcig_summary(gcig.iloc[::-1], GcigSettings())


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
@pytest.mark.parametrize("clinical_ids", [["000002"], ["000001", "000002", "000003"]],
                         ids=["its clinical row", "a clinical table of three"])
def test_score_of_one_patients_markers_is_its_report_read_whole_or_in_chunks(tmp_path, capsys, fmt, clinical_ids):
    """A file of one patient's rows is that patient's report (its CSV one row), as ``predict``
    gives it, whether the file is more than --chunk-rows or not and whatever else the clinical
    table holds. Longer than a chunk it was a cohort table: of one row, or with the clinical
    table's other patients as not_scored rows, which the file read whole did not have."""
    markers = pd.read_csv(MARKERS, dtype=str, keep_default_na=False)
    clinical = pd.read_csv(CLINICAL, dtype=str, keep_default_na=False)
    path, clinical_path = tmp_path / "one.csv", tmp_path / "clinical.csv"
    markers[markers["patient_id"] == "000002"].to_csv(path, index=False)
    clinical[clinical["patient_id"].isin(clinical_ids)].to_csv(clinical_path, index=False)
    outs = []
    for rows in (1, 10**6):
        assert main(["score", "--markers", str(path), "--clinical", str(clinical_path), "--format", fmt,
                     "--chunk-rows", str(rows)]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    if fmt == "csv":
        table = pd.read_csv(StringIO(outs[0]), dtype=str)
        assert table["patient_id"].tolist() == ["000002"] and table["status"].tolist() == ["ok"]
    else:
        assert outs[0].startswith("Patient 000002" if fmt == "text" else '{\n  "patient_id": "000002"')


def test_score_columns_have_their_types_in_a_chunk_of_patients_without_markers():
    """A chunk of clinical patients without markers (after the markers' last patient) is
    scored with the text columns typed as in any other chunk: they were objects holding None
    (no value in any row), and the joined table showed 'None' for a missing GCIG category."""
    from ca125kinetics.io import read_clinical, read_markers
    from ca125kinetics.predict import load_model
    from ca125kinetics.predict.engine import _score_read

    bundle = load_model(Path(__file__).resolve().parents[1] / "models" / "default", scoring_only=True)
    clinical = read_clinical(CLINICAL, on_error="flag", require=("patient_id",)).iloc[:3].reset_index(drop=True)
    markers = read_markers(MARKERS, clinical=clinical, on_error="flag")
    markers = markers[markers["patient_id"] == clinical["patient_id"][0]].reset_index(drop=True)
    with_markers = _score_read(bundle, markers, clinical.iloc[:1].reset_index(drop=True))
    without = _score_read(bundle, markers.iloc[:0], clinical.iloc[1:].reset_index(drop=True))
    assert without["status"].eq("not_scored").all()
    assert without.dtypes.to_dict() == with_markers.dtypes.to_dict()


def test_gcig_columns_have_their_types_in_a_chunk_of_patients_without_markers():
    """gcig_cohort of a chunk of clinical patients without markers types its text columns
    (category, progression group, recist, ...) as text, as any other chunk: they were objects
    holding None, and the joined chunks' table printed 'None' where the whole table printed '-'."""
    from ca125kinetics.gcig import gcig_cohort
    from ca125kinetics.io import read_clinical, read_markers

    clinical = read_clinical(CLINICAL, on_error="flag", require=("patient_id",)).iloc[:3].reset_index(drop=True)
    markers = read_markers(MARKERS, clinical=clinical, on_error="flag")
    markers = markers[markers["patient_id"] == clinical["patient_id"][0]].reset_index(drop=True)
    with_markers = gcig_cohort(markers, clinical.iloc[:1].reset_index(drop=True))
    without = gcig_cohort(markers.iloc[:0], clinical.iloc[1:].assign(recist=None).reset_index(drop=True))
    assert without["status"].eq("no_markers").all()
    assert without.dtypes.to_dict() == with_markers.dtypes.to_dict()
