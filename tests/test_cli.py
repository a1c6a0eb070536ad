"""Tests of the ``ca125`` command line: outputs, --help everywhere, one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from ca125kinetics.cli import build_parser, main
from ca125kinetics.errors import InvalidInputError
from ca125kinetics.io import read_markers
from ca125kinetics.settings import GcigSettings, KineticsSettings, ResponseSettings
from ca125kinetics.synth import simulate_cohort
from ca125kinetics.validation.studies import check_n_jobs, check_seed

SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001


def run_cli(*args):
    """Run the CLI in a subprocess, as a user would (fresh interpreter, real exit code)."""
    return subprocess.run([sys.executable, "-m", "ca125kinetics.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def series(tmp_path):
    path = tmp_path / "markers.csv"
    path.write_text(
        "patient_id,day,ca125\n"
        "007,0,400\n007,21,180\n007,42,195\n007,63,150\n"
        "008,-3,59\n008,21,20\n008,42,18\n"
    )
    return path


def test_help_for_every_subcommand(capsys):
    assert {"gcig", "synth", "kinetics"} <= set(SUBCOMMANDS)
    for name in [None, *SUBCOMMANDS]:
        with pytest.raises(SystemExit) as info:
            main(([name] if name else []) + ["--help"])
        assert info.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_serve_help_says_where_the_server_reads_the_fhir_codes(capsys):
    """``ca125 serve --help`` gave --drug-code and --event-code the file commands' text (a
    bundle read as the markers, the source of ca125 extract, a table refused): the server
    reads them in the bundles it is sent."""
    helps = {}
    for command in ("serve", "gcig"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())
    for option in ("--drug-code RXNORM=NAME the FHIR R4 bundles the server is sent",
                   "--event-code SNOMED=KIND the FHIR R4 bundles the server is sent"):
        assert option in helps["serve"]
    assert "ca125 extract" not in helps["serve"] and "a table is refused" not in helps["serve"]
    assert "--drug-code RXNORM=NAME a FHIR bundle (.json) read as the markers" in helps["gcig"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_kinetics_table_on_stdout_gives_its_summary_and_cutoff_on_stderr(series, capsys, fmt):
    """``ca125 kinetics --format csv`` printed no summary: --kelim-cutoff, which only the
    summary reads, was parsed and ignored. The summary goes to stderr, as ca125 gcig's."""
    assert main(["kinetics", str(series), "--method", "per-patient", "--format", fmt, "--kelim-cutoff", "1.5"]) == 0
    out, err = capsys.readouterr()
    assert "favourable score (>= 1.5)" in err and "KELIM-like" not in out


def test_gcig_to_json_file(series, tmp_path, capsys):
    out = tmp_path / "gcig.json"
    assert main(["gcig", str(series), "--out", str(out)]) == 0
    rows = {r["patient_id"]: r for r in json.loads(out.read_text())}
    assert rows["007"]["category"] == "PR" and rows["007"]["response_day"] == 21
    assert rows["007"]["confirmation_day"] == 63
    assert rows["008"]["status"] == "not_evaluable"
    assert "baseline 59 U/mL < 2 x ULN (70 U/mL)" in rows["008"]["reason"]
    assert "response" in capsys.readouterr().out  # the summary


def test_gcig_summary_counts_patients_awaiting_a_sample_after_the_first_dose(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_text("patient_id,day,ca125\n001,0,400\n002,0,400\n002,21,150\n")
    assert main(["gcig", str(path)]) == 0
    text = capsys.readouterr().out
    assert "GCIG response not yet assessable: no CA-125 sample after the first dose (day > 0) yet" in text
    summary = text[text.index("GCIG CA-125 response (Rustin 2011)"):]
    assert "awaiting" in summary and "unconfirmed" in summary and "no_response" not in summary


def test_gcig_text_and_csv_stdout(series, capsys):
    assert main(["gcig", str(series)]) == 0
    text = capsys.readouterr().out
    assert "007" in text and "PR" in text and "GCIG CA-125 response" in text
    assert main(["gcig", str(series), "--format", "csv"]) == 0
    frame = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out), dtype={"patient_id": str})
    assert frame["patient_id"].tolist() == ["007", "008"]


def test_gcig_uln_option_changes_evaluability(series, capsys):
    assert main(["gcig", str(series), "--uln", "25", "--format", "json"]) == 0
    rows = {r["patient_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["008"]["evaluable"] is True  # 59 >= 2 x 25


def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("patient_id,day\n1,0\n")
    proc = run_cli("gcig", path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ca125: error:") and "ca125" in lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_file_and_bad_option_are_clean():
    proc = run_cli("gcig", "/nonexistent/markers.csv")
    assert proc.returncode == 2 and "file not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("gcig", "x.csv", "--uln", "abc")
    assert proc.returncode == 2 and "invalid float value" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("synth", "--n", "0", "--out", "/tmp/x")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["gcig", "{m}"], ["gcig", "{m}", "--clinical", "{c}"], ["kinetics", "{m}"],
                                     ["score", "--markers", "{m}"], ["screen", "--clinical", "{c}", "--markers", "{m}"]])
def test_a_markers_file_without_rows_is_refused_by_every_command(tmp_path, capsys, command):
    """An empty export is refused alike, not reported on as a cohort of no patients (gcig
    printed an empty table and exit 0, kinetics a population error; screen read every patient
    as having no CA-125 markers, exit 0)."""
    markers, clinical = tmp_path / "m.csv", tmp_path / "c.csv"
    markers.write_text("patient_id,day,ca125\n")
    clinical.write_text("patient_id,recist\n007,PR\n")
    assert main([a.format(m=markers, c=clinical) for a in command]) == 2
    err = capsys.readouterr().err
    assert f"ca125: error: {markers}: the markers table has no rows" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["gcig", "{m}", "--clinical", "{c}"], ["gcig", "{m}", "--clinical", "{c}", "--chunk-rows", "2"],
                                     ["score", "--markers", "{m}", "--clinical", "{c}"],
                                     ["score", "--markers", "{m}", "--clinical", "{c}", "--chunk-rows", "2"],
                                     ["validate", "--model", "{model}", "--markers", "{m}", "--clinical", "{c}", "--out",
                                      "{out}"]])
def test_a_clinical_file_without_rows_is_refused_by_every_command(tmp_path, capsys, command):
    """A header-only clinical table scored every patient as invalid input ('has markers but no
    clinical row'), exit 0, in gcig and score, and validate said it needed more patients with
    and without complete resection; it is refused as a markers table without rows is."""
    markers, clinical = tmp_path / "m.csv", tmp_path / "c.csv"
    markers.write_text("patient_id,day,ca125\n007,-3,400\n007,21,150\n008,-3,400\n008,21,150\n")
    clinical.write_text("patient_id,recist,treatment_start,complete_resection\n")
    model = Path(__file__).resolve().parents[1] / "models" / "default"
    assert main([a.format(m=markers, c=clinical, out=tmp_path / "r.html", model=model) for a in command]) == 2
    err = capsys.readouterr().err
    assert f"ca125: error: {clinical}: the clinical table has no rows" in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["text", "csv", "json"])
@pytest.mark.parametrize("with_markers", [False, True])
def test_a_clinical_file_without_rows_is_refused_by_screen_as_markers_are(tmp_path, capsys, fmt, with_markers):
    """A header-only clinical table was screened as a cohort of no patients: exit 0, a summary of
    'eligible 0 (nan %)' (text), a header-only CSV or an empty JSON; it is refused as every
    command refuses a markers table without rows."""
    clinical, markers = tmp_path / "c.csv", tmp_path / "m.csv"
    clinical.write_text("patient_id,age,pfi_months,recist\n")
    markers.write_text("patient_id,day,ca125\n007,0,400\n")
    args = ["screen", "--clinical", str(clinical), "--format", fmt] + (["--markers", str(markers)] if with_markers else [])
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert f"ca125: error: {clinical}: the clinical table has no rows" in err and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("renames", [("ca125=x", "ca125=y"), ("uln=ca125", "assay=ca125")])
def test_a_rename_given_twice_is_refused_not_last_wins(series, capsys, renames):
    args = ["gcig", str(series)]
    for pair in renames:
        args += ["--rename", pair]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--rename names the" in err and "twice" in err and "Traceback" not in err


def test_duplicate_days_need_an_explicit_choice(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("patient_id,day,ca125\n1,0,400\n1,0,380\n1,21,150\n1,49,100\n")
    assert main(["gcig", str(path), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["status"] == "invalid_input" and "two or more CA-125 samples on day 0" in row["reason"]
    assert main(["gcig", str(path), "--duplicates", "mean", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["baseline_value"] == 390.0


@pytest.mark.parametrize("option, series, column, default, given", [
    # a fall below the threshold between a progression candidate and a later sample
    ("progression-confirmation", [20, 80, 30, 90], "progression_status", "no_progression", ("any", "progression")),
    # a broken fall, then a new one confirmed 28 days later
    ("response-fall", [400, 180, 220, 150, 140], "status", "not_confirmed", ("restart", "response")),
])
def test_gcig_reading_options_are_applied_and_recorded(tmp_path, capsys, option, series, column, default, given):
    days = [0, 21, 24, 35] if len(series) == 4 else [0, 21, 42, 63, 91]
    path = tmp_path / "series.csv"
    path.write_text("patient_id,day,ca125\n" + "".join(f"1,{d},{v}\n" for d, v in zip(days, series)))
    setting = option.replace("-", "_")
    for chosen, status in ((None, default), given):
        assert main(["gcig", str(path), "--format", "json", *([f"--{option}", chosen] if chosen else [])]) == 0
        row = json.loads(capsys.readouterr().out)[0]
        assert row[column] == status
        # recorded when it is not the default (a record without it was made under the default)
        assert json.loads(row["rules"])["gcig"].get(setting) == chosen
    with pytest.raises(SystemExit):
        main(["gcig", str(path), f"--{option}", "literal"])
    assert "invalid choice" in capsys.readouterr().err


def test_synth_writes_a_readable_cohort(tmp_path):
    assert main(["synth", "--n", "25", "--seed", "3", "--out", str(tmp_path / "c")]) == 0
    for name in ("markers.csv", "clinical.csv", "truth.csv"):
        assert (tmp_path / "c" / name).exists()
    from ca125kinetics import read_clinical, read_markers

    clinical = read_clinical(tmp_path / "c" / "clinical.csv")
    markers = read_markers(tmp_path / "c" / "markers.csv", clinical=clinical)
    assert markers["patient_id"].nunique() == 25


def test_synth_of_more_patients_than_fit_in_memory_is_one_line(tmp_path, capsys):
    """ca125 synth --n 10000000000000 ended in a MemoryError traceback; it is refused, naming
    the maximum, before anything is drawn or written."""
    assert main(["synth", "--n", "10000000000000", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ca125: error: --n (number of patients) must be at most 10,000,000, got "
                          "10,000,000,000,000") and len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists()


def _serve(**kwargs):
    from ca125kinetics.web.app import serve

    return serve(**kwargs)


def _python_refusal(call) -> str:
    with pytest.raises(InvalidInputError) as info:
        call()
    return str(info.value)


#: How the readers' ULN check ends its range.
PLAUSIBLE = ", the assays' plausible limits: another marker's or unit's ULN?)"


@pytest.mark.parametrize("argv, said, call, python_said", [
    (["synth", "--n", "0", "--out", "{tmp}/c"], "--n (number of patients) must be an integer >= 1, got 0",
     lambda: simulate_cohort(0, 1), "simulate_cohort: n (number of patients) must be an integer >= 1, got 0"),
    (["synth", "--n", "5", "--seed", "-1", "--out", "{tmp}/c"], "--seed must be a non-negative integer, got -1",
     lambda: simulate_cohort(5, -1), "simulate_cohort: seed must be a non-negative integer, got -1"),
    (["serve", "--workers", "0"], "--workers must be at least 1, got 0",
     lambda: _serve(workers=0), "workers must be at least 1, got 0"),
    # a port the socket cannot take ended in bind()'s OverflowError traceback, after the model was loaded
    (["serve", "--port", "70000"], "--port must be a TCP port from 0 to 65535, got 70000",
     lambda: _serve(port=-1), "port must be a TCP port from 0 to 65535, got -1"),
    (["serve", "--allowed-host", "http://clinic-pc"], "--allowed-host 'http://clinic-pc' is not a host name: give "
     "the name only, as it appears in the address bar without scheme, port or path (every port is allowed for it), "
     "e.g. clinic-pc.example.org or 10.0.0.5", lambda: _serve(allowed_hosts=["clinic-pc:8000"]),
     "an allowed host 'clinic-pc:8000' is not a host name: give the name only, as it appears in the address bar "
     "without scheme, port or path (every port is allowed for it), e.g. clinic-pc.example.org or 10.0.0.5"),
    # the settings' checks: 'setting 'uln' must be ...' to a user who typed --uln
    (["gcig", "{markers}", "--uln", "0"], "--uln must be a positive finite number, got 0.0",
     lambda: GcigSettings(uln=0), "setting 'uln' must be a positive finite number, got 0"),
    (["kinetics", "{markers}", "--k-ref", "-1"], "--k-ref must be a positive finite number, got -1.0",
     lambda: KineticsSettings(k_ref=-1.0), "setting 'k_ref' must be a positive finite number, got -1.0"),
    (["kinetics", "{markers}", "--cycle-days", "0"], "--cycle-days must be at least 1: it is the length of a treatment "
     "cycle (21 for three-weekly, 14 for two-weekly regimens)", lambda: KineticsSettings(cycle_days=0),
     "setting 'cycle_days' must be at least 1: it is the length of a treatment cycle (21 for three-weekly, 14 for "
     "two-weekly regimens)"),
    (["kinetics", "{markers}", "--cycle-window-days", "-1"], "--cycle-window-days must be a non-negative integer, "
     "got -1", lambda: KineticsSettings(cycle_window_days=-1),
     "setting 'cycle_window_days' must be a non-negative integer, got -1"),
    (["kinetics", "{markers}", "--response", "--clearance-r2", "1.5"], "--clearance-r2 must be a number in (0, 1), got 1.5",
     lambda: ResponseSettings(clearance_r2_threshold=1.5),
     "setting 'clearance_r2_threshold' must be a number in (0, 1), got 1.5"),
    # the readers' ULN check: 'uln must be ...'
    (["kinetics", "{cea}", "--marker", "cea", "--uln", "30"], "--uln must be a positive number of ng/mL (from 1 to 20"
     + PLAUSIBLE + ", "
     "got 30.0", lambda: read_markers(pd.DataFrame({"patient_id": ["a"], "day": [0], "cea": [9.0]}), marker="cea",
                                      uln=30.0), "uln must be a positive number of ng/mL (from 1 to 20" + PLAUSIBLE + ", got 30.0"),
])
def test_refusals_name_the_option_typed_and_python_callers_their_argument(argv, said, call, python_said, tmp_path,
                                                                           series, capsys):
    """The shared checks named the functions' arguments to a user who typed an option (``ca125
    synth --n 0``: 'simulate_cohort: n ...'), or an option to a Python caller (``serve(workers=0)``:
    '--workers ...'). Each names what its caller typed, through one lookup
    (:func:`ca125kinetics.errors.argument_name`) that ``ca125`` fills with the command's options."""
    cea = tmp_path / "cea.csv"
    cea.write_text("patient_id,day,cea\na,-3,20\na,14,12\na,28,4\n")
    assert main([a.format(tmp=tmp_path, markers=series, cea=cea) for a in argv]) == 2
    assert capsys.readouterr().err == f"ca125: error: {said}\n"
    assert _python_refusal(call) == python_said          # also after the command, in the same process


@pytest.mark.parametrize("argv, option", [
    (["design", "events", "--hr", "0.6", "--hr", "0.9"], "--hr"),
    (["design", "events", "--hr=0.6", "--power", "0.8", "--hr", "0.9"], "--hr"),
    (["synth", "--n", "5", "--seed", "1", "--n", "6", "--out", "{out}"], "--n"),
    (["gcig", "markers.csv", "--out", "{out}", "--out", "{out}2"], "--out"),
    (["score", "--markers", "m.csv", "--markers", "n.csv"], "--markers"),
])
def test_an_option_given_twice_is_refused_not_last_wins(tmp_path, capsys, argv, option):
    """'design events --hr 0.6 --hr 0.9' printed the events of HR 0.9 (3786.17), the 0.6 dropped
    without a word; every command's parser refuses a repeated option before any work."""
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as info:
        main([a.replace("{out}", out) for a in argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ca125: error: {option} is given twice; give it once (see 'ca125 ") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_options_meant_to_repeat_and_flags_may_be_repeated():
    parser = build_parser(["gcig"])
    args = parser.parse_args(["gcig", "m.csv", "--rename", "A=a", "--rename", "B=b", "--drug-code", "1=carboplatin",
                              "--drug-code", "2=cisplatin", "--no-progress", "--no-progress"])
    assert args.rename == [("A", "a"), ("B", "b")] and args.drug_code == ["1=carboplatin", "2=cisplatin"]


def test_kinetics_and_gcig_take_the_marker(tmp_path, capsys):
    from ca125kinetics.synth_rectal import simulate_rectal_cohort

    path = tmp_path / "cea.csv"
    simulate_rectal_cohort(80, seed=5).markers.to_csv(path, index=False)
    out = tmp_path / "k.csv"
    assert main(["kinetics", str(path), "--marker", "cea", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "CEA kinetics" in printed and "ULN 5 ng/mL" in printed and "exponential clearance (R^2 > 0.9)" in printed
    table = pd.read_csv(out, dtype={"patient_id": str})
    assert len(table) == 80 and (table["uln"] == 5.0).all() and (table["marker"] == "cea").all()
    assert {"k", "half_life_days", "post_pre_ratio", "normalised", "clearance_r2"} <= set(table.columns)
    # the kinetics' and the response's baseline_censored are one column, not _x and _y
    assert "baseline_censored" in table.columns and not [c for c in table.columns if c.endswith(("_x", "_y"))]
    assert table.columns.is_unique and {"nadir_censored", "post_censored", "post_uln"} <= set(table.columns)
    # without --marker: one line naming the option, exit 2
    assert main(["kinetics", str(path)]) == 2
    assert "marker='cea' (ca125 kinetics --marker cea)" in capsys.readouterr().err
    assert main(["gcig", str(path), "--marker", "cea"]) == 2
    assert "GCIG rules are defined for CA-125 only, not for CEA" in capsys.readouterr().err


def test_kinetics_takes_the_cycle_length_of_a_two_weekly_regimen(tmp_path, capsys):
    """The percent declines before cycles 2 and 3 were read on a 21-day grid only (no option
    set ``cycle_days``): FOLFOX's two-weekly cycles got the samples of days 27 and 41."""
    path = tmp_path / "cea.csv"
    pd.DataFrame({"patient_id": ["a"] * 5, "day": [0, 13, 27, 41, 55],
                  "cea": [40.0, 20.0, 12.0, 8.0, 6.0]}).to_csv(path, index=False)
    run = ["kinetics", str(path), "--marker", "cea", "--method", "per-patient", "--format", "csv"]
    assert main(run) == 0
    three_weekly = pd.read_csv(io.StringIO(capsys.readouterr().out)).iloc[0]
    assert (three_weekly["pct_decline_c2_day"], three_weekly["pct_decline_c3_day"]) == (27, 41)
    assert main([*run, "--cycle-days", "14", "--cycle-window-days", "6"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    two_weekly = table.iloc[0]
    assert (two_weekly["pct_decline_c2_day"], two_weekly["pct_decline_c3_day"]) == (13, 27)
    assert '"cycle_days":14' in table["rules"].iloc[0] and '"cycle_window_days":6' in table["rules"].iloc[0]
    assert main([*run, "--cycle-days", "0"]) == 2
    assert "error: --cycle-days must be at least 1" in capsys.readouterr().err
    # 14-day cycles with the default +/- 7 days: the windows of cycles 2 and 3 meet on day 21,
    # where one sample stood for both visits; refused, naming both options
    assert main([*run, "--cycle-days", "14"]) == 2
    assert ("error: --cycle-window-days (7) must be less than half of --cycle-days (14): the windows of two "
            "visits would meet, and one sample would stand for both (at most 6 days for 14-day cycles)"
            in capsys.readouterr().err)


def test_kinetics_refuses_an_option_it_would_ignore(tmp_path, capsys):
    """--clearance-r2 without the response features (CA-125 without --response) and
    --kelim-cutoff with CEA (no KELIM cut-off) were read and ignored without a word."""
    ca125, cea = tmp_path / "ca125.csv", tmp_path / "cea.csv"
    days = [-3, 14, 28, 42]
    pd.DataFrame({"patient_id": ["a"] * 4, "day": days, "ca125": [900, 300, 110, 45]}).to_csv(ca125, index=False)
    pd.DataFrame({"patient_id": ["a"] * 4, "day": days, "cea": [40, 20, 10, 6]}).to_csv(cea, index=False)
    per_patient = ["--method", "per-patient", "--format", "csv"]
    assert main(["kinetics", str(ca125), *per_patient, "--clearance-r2", "0.8"]) == 2
    assert "add --response, or leave --clearance-r2 out" in capsys.readouterr().err
    assert main(["kinetics", str(cea), "--marker", "cea", *per_patient, "--kelim-cutoff", "relapse"]) == 2
    assert "CEA has no favourable/unfavourable cut-off: leave --kelim-cutoff out" in capsys.readouterr().err
    # used where they apply
    assert main(["kinetics", str(ca125), *per_patient, "--clearance-r2", "0.8", "--response"]) == 0
    assert "0.8" in pd.read_csv(io.StringIO(capsys.readouterr().out))["clearance_r2_threshold"].astype(str).tolist()
    assert main(["kinetics", str(cea), "--marker", "cea", *per_patient, "--clearance-r2", "0.8"]) == 0
    assert (pd.read_csv(io.StringIO(capsys.readouterr().out))["clearance_r2_threshold"] == 0.8).all()
    assert main(["kinetics", str(cea), "--marker", "cea", *per_patient]) == 0
    assert (pd.read_csv(io.StringIO(capsys.readouterr().out))["clearance_r2_threshold"] == 0.9).all()


def test_out_inside_a_file_is_one_line(series, tmp_path, capsys):
    blocker = tmp_path / "report.txt"
    blocker.write_text("a file, not a directory")
    assert main(["gcig", str(series), "--out", str(blocker / "gcig.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ca125: error:") and str(blocker) in err[0]
    assert "a file is in the way" in err[0] or "not a directory" in err[0].lower()


def test_every_os_error_is_one_line(series, monkeypatch, capsys):
    import ca125kinetics.io as io_module

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", "/mnt/full/gcig.csv")

    monkeypatch.setattr(io_module, "write_table", full_disk)
    assert main(["gcig", str(series), "--out", "/mnt/full/gcig.csv"]) == 2
    assert capsys.readouterr().err == "ca125: error: No space left on device: /mnt/full/gcig.csv\n"


def test_a_2gb_binary_markers_file_is_refused_by_the_cli(tmp_path):
    path = tmp_path / "scan.csv"
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)
    proc = run_cli("gcig", path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "this file is not a text table" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_gcig_and_kinetics_tables_record_rules_and_version(series, tmp_path):
    import ca125kinetics

    assert main(["gcig", str(series), "--uln", "30", "--out", str(tmp_path / "g.csv")]) == 0
    table = pd.read_csv(tmp_path / "g.csv", dtype={"patient_id": str})
    assert list(table.columns[-2:]) == ["rules", "package_version"]
    assert json.loads(table["rules"].iloc[0])["gcig"]["uln"] == 30.0
    assert set(table["package_version"]) == {ca125kinetics.__version__}
    assert main(["kinetics", str(series), "--method", "per-patient", "--k-ref", "0.0441",
                 "--out", str(tmp_path / "k.parquet")]) == 0
    rules = json.loads(pd.read_parquet(tmp_path / "k.parquet")["rules"].iloc[0])
    assert rules["kinetics"]["k_ref"] == 0.0441 and rules["method"] == "per-patient"


def test_gcig_clinical_needs_only_the_columns_the_rules_read(tmp_path, capsys):
    markers = tmp_path / "m.csv"
    markers.write_text("patient_id,date,ca125\n1,2025-02-27,400\n1,2025-03-24,180\n1,2025-04-14,95\n"
                       "1,2025-05-05,60\n")
    clinical = tmp_path / "c.csv"
    clinical.write_text("patient_id,treatment_start,recist\n1,2025-03-03,PR\n")
    assert main(["gcig", str(markers), "--clinical", str(clinical), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["status"] == "response" and row["response_day"] == 21 and row["confirmation_day"] == 63
    assert row["combined_category"] is not None
    # patient_id is still required
    clinical.write_text("id,treatment_start\n1,2025-03-03\n")
    assert main(["gcig", str(markers), "--clinical", str(clinical)]) == 2
    assert "missing required column(s) ['patient_id']" in capsys.readouterr().err


# ----------------------------------------------------------------------------- input formats, k_ref

from pathlib import Path  # noqa: E402

MESSY = Path(__file__).parent / "data" / "messy"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from test_predict import build_small_model

    return build_small_model(tmp_path_factory.mktemp("cli") / "model")[0]


def test_format_options_reach_the_readers(tmp_path, capsys):
    dated = ["gcig", str(MESSY / "markers_dates_ddmmyyyy.csv"), "--clinical", str(tmp_path / "c.csv"),
             "--format", "json"]
    clinical = pd.read_csv(MESSY / "clinical_misnamed_columns.csv", dtype=str).assign(treatment_start="04/03/2024")
    clinical.to_csv(tmp_path / "c.csv", index=False)
    assert main(dated) == 2
    assert "'ECOG' looks like 'ecog'" in capsys.readouterr().err
    renames = ["--rename", "ECOG=ecog", "--rename", "ascites=ascites_ml", "--rename", "FIGO=figo_stage",
               "--rename", "pfi=pfi_months"]
    assert main(dated + renames) == 0       # a batch command: the patient gets the reason
    row = json.loads(capsys.readouterr().out)[0]
    assert row["status"] == "invalid_input" and "never guessed" in row["reason"]
    assert main(dated + renames + ["--date-format", "%d/%m/%Y"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["baseline_day"] == -3 and row["n_samples"] == 3
    assert main(["gcig", str(MESSY / "markers_semicolon_decimal_comma.csv"), "--sep", ";", "--decimal", ",",
                 "--thousands", ".", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["baseline_value"] == 1200.5
    assert main(["gcig", str(MESSY / "markers_thousands_ambiguous.csv"), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["status"] == "invalid_input" and "1,200 is 1.2 or 1200" in row["reason"]
    proc = run_cli("gcig", MESSY / "markers_thousands_ambiguous.csv", "--rename", "nonsense")
    assert proc.returncode == 2 and "OLD=NEW" in proc.stderr


def test_kinetics_states_k_ref_and_takes_the_models(series, model_dir, capsys):
    from ca125kinetics.predict import load_model, predict_cohort
    from ca125kinetics.io import read_markers

    assert main(["kinetics", str(series), "--method", "per-patient", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["k_ref"] for r in rows} == {0.05} and rows[0]["k_ref_source"].startswith("package default")
    assert main(["kinetics", str(series), "--method", "per-patient", "--k-ref", "0.04", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["k_ref"] == 0.04 and "--k-ref" in rows[0]["k_ref_source"]
    # with --model: the model's k_ref, rules and population, so the score equals ca125 score's
    bundle = load_model(model_dir)
    assert main(["kinetics", str(series), "--model", str(model_dir), "--format", "json"]) == 0
    rows = {r["patient_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["007"]["k_ref"] == bundle.kinetics_settings.k_ref
    synthetic = ", trained on synthetic data" if bundle.trained_on_synthetic else ""
    assert rows["007"]["k_ref_source"].startswith(f"model {bundle.name} {bundle.version}{synthetic}: ")
    scored = predict_cohort(read_markers(series), model=bundle).set_index("patient_id")
    assert rows["007"]["kelim_score"] == pytest.approx(scored.loc["007", "kelim_score"], rel=1e-9)
    assert main(["kinetics", str(series), "--model", str(model_dir)]) == 0
    assert f"k_ref {bundle.kinetics_settings.k_ref:g}/day (model {bundle.name}" in capsys.readouterr().out


def test_kinetics_reads_same_day_samples_by_duplicates_or_the_models_rule(tmp_path, model_dir, monkeypatch, capsys):
    """ca125 kinetics had no --duplicates: two samples on one day made the patient invalid, and
    with --model of a model that averages them (as ca125 score --model reads the table) its
    kinetics differed from the score's."""
    import dataclasses

    from ca125kinetics.io import read_markers
    from ca125kinetics.predict import load_model, predict_cohort

    predict_module = sys.modules["ca125kinetics.predict"]    # the package (its name is also a function's)

    path = tmp_path / "markers.csv"
    path.write_text("patient_id,day,ca125\n007,0,400\n007,21,180\n007,21,160\n007,42,90\n007,63,60\n")
    run = ["kinetics", str(path), "--format", "json"]
    assert main([*run, "--method", "per-patient"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "invalid_input"
    assert main([*run, "--method", "per-patient", "--duplicates", "mean"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["status"] == "ok" and '"duplicates":"mean"' in row["rules"]      # the rows say how
    bundle = load_model(model_dir)
    averaging = dataclasses.replace(bundle, gcig_settings=dataclasses.replace(bundle.gcig_settings,
                                                                             duplicates="mean"))
    monkeypatch.setattr(predict_module, "load_model", lambda *args, **kwargs: averaging)
    assert main([*run, "--model", str(model_dir)]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    scored = predict_cohort(read_markers(path, duplicates="mean"), model=averaging).set_index("patient_id")
    assert row["status"] == "ok" and row["kelim_score"] == pytest.approx(scored.loc["007", "kelim_score"], rel=1e-9)
    assert main([*run, "--model", str(model_dir), "--duplicates", "error"]) == 0      # said: the option wins
    assert json.loads(capsys.readouterr().out)[0]["status"] == "invalid_input"


def test_score_withholds_the_decision_without_clinical_factors(series, model_dir, capsys):
    assert main(["score", "--markers", str(series), "--patient", "007", "--model", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert "Decision withheld: insufficient information: give age, ecog" in out
    assert "computed with unknown factors imputed" in out and "Predicted completely" not in out
    assert main(["score", "--markers", str(series), "--patient", "007", "--model", str(model_dir),
                 "--allow-imputed", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "ok" and data["decision"] in ("resectable", "not_resectable")
    assert "score = k / k_ref" not in data["recommendation"]


def test_detected_separator_is_a_one_line_note():
    proc = run_cli("gcig", MESSY / "markers_semicolon_decimal_comma.csv", "--decimal", ",", "--thousands", ".")
    assert proc.returncode == 0
    notes = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith("ca125: note: ") and "semicolon-separated" in notes[0]
    proc = run_cli("gcig", MESSY / "markers_semicolon_decimal_comma.csv", "--sep", ";", "--decimal", ",",
                   "--thousands", ".")
    assert proc.returncode == 0 and proc.stderr == ""


def test_cea_kinetics_give_no_ca125_cut_off_and_say_k_ref_is_not_theirs(capsys):
    """The KELIM cut-off and the default k_ref are CA-125's: a CEA run says so instead of
    labelling patients favourable against them."""
    rectal = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "rectal" / "markers.csv"
    assert main(["kinetics", str(rectal), "--marker", "cea"]) == 0
    out = capsys.readouterr().out
    assert "no favourable/unfavourable cut-off for CEA" in out and "favourable score (>=" not in out
    assert main(["kinetics", str(rectal), "--marker", "cea", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert "no reference rate is established for CEA" in rows[0]["k_ref_source"]
    assert main(["kinetics", str(rectal), "--marker", "cea", "--k-ref", "0.03", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["k_ref_source"] == "given on the command line (--k-ref)"


def test_kinetics_process_ends_without_teardown_with_its_output_whole(tmp_path):
    """``ca125 kinetics`` run as a process ends right after writing (no interpreter
    teardown): the exit code, stdout, stderr and the written table are those of the same
    command run in-process; an error still gives its one line and exit code 2."""
    from ca125kinetics.cli import EXIT_USAGE_ERROR

    cohort = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default" / "markers.csv"
    out = tmp_path / "k.csv"
    proc = run_cli("kinetics", cohort, "--method", "per-patient", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("KELIM-like kinetics (per-patient)") and proc.stdout.endswith("\n")
    expected = tmp_path / "expected.csv"
    assert main(["kinetics", str(cohort), "--method", "per-patient", "--out", str(expected)]) == 0
    assert out.read_bytes() == expected.read_bytes()
    # a table written to stdout arrives whole
    proc = run_cli("kinetics", cohort, "--method", "loglinear", "--format", "csv")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) > 3000
    bad = run_cli("kinetics", tmp_path / "missing.csv")
    assert bad.returncode == EXIT_USAGE_ERROR and bad.stderr.startswith("ca125: error:")


def test_fewer_collections_only_for_a_whole_process_run(tmp_path, monkeypatch):
    """A command run in-process (``main(argv)``, e.g. from a notebook) leaves the garbage
    collector's thresholds as they are; a process run of a registry command
    (``exit_without_teardown``) raises them to GC_THRESHOLDS before the command runs."""
    import gc

    import ca125kinetics.cli as cli

    cohort = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default" / "markers.csv"
    before = gc.get_threshold()
    assert main(["kinetics", str(cohort), "--method", "loglinear", "--out", str(tmp_path / "k.csv")]) == 0
    assert gc.get_threshold() == before
    seen = {}
    monkeypatch.setattr(cli, "_exit_now", lambda code, **how: seen.setdefault("code", (code, how)))
    monkeypatch.setattr(cli, "_run", lambda args: seen.setdefault("thresholds", gc.get_threshold()) and 0)
    monkeypatch.setattr(sys, "argv", ["ca125", "kinetics", str(cohort), "--method", "loglinear"])
    try:
        cli.main()
    finally:
        gc.set_threshold(*before)
    assert seen == {"thresholds": cli.GC_THRESHOLDS, "code": (0, {"exit_handlers": True})} and cli.GC_THRESHOLDS != before


@pytest.mark.parametrize("command", ["gcig", "score"])
def test_process_ends_without_teardown_with_its_output_whole(tmp_path, capsys, command):
    """``ca125 gcig`` and ``ca125 score`` also end right after writing: their Parquet file,
    a table on stdout and (score) one patient's report are those of the command run
    in-process."""
    folder = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
    markers = [str(folder / "markers.csv")] if command == "gcig" else ["--markers", str(folder / "markers.csv")]
    args = [command, *markers, "--clinical", str(folder / "clinical.csv")]
    out, expected = tmp_path / "out.parquet", tmp_path / "expected.parquet"
    proc = run_cli(*args, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert main([*args, "--out", str(expected)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(expected))
    proc = run_cli(*args, "--format", "csv")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 3001
    if command == "score":
        proc = run_cli(*args, "--patient", "000002")
        capsys.readouterr()
        assert main([*args, "--patient", "000002"]) == 0
        assert proc.returncode == 0 and proc.stdout == capsys.readouterr().out and "Patient 000002" in proc.stdout


@pytest.mark.parametrize("command", ["gcig", "kinetics", "score"])
def test_a_process_run_without_teardown_still_runs_its_exit_handlers(tmp_path, command):
    """Ending without the interpreter's teardown skips the freeing of modules, not the exit
    handlers: what a command leaves to them (a temporary copy of a downloaded model, a log
    flushed at exit) is still done. A handler registered before the run writes a file."""
    folder = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
    flag = tmp_path / "handler-ran"
    argv = {"gcig": ["gcig", str(folder / "markers.csv"), "--out", str(tmp_path / "g.csv")],
            "kinetics": ["kinetics", str(folder / "markers.csv"), "--method", "loglinear",
                         "--out", str(tmp_path / "k.csv")],
            "score": ["score", "--markers", str(folder / "markers.csv"), "--out", str(tmp_path / "s.csv")]}[command]
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: open({str(flag)!r}, 'w').write('ran'))\n"
            "from ca125kinetics.cli import main\n"
            f"sys.argv = ['ca125', *{argv!r}]\n"
            "main()\n"
            "print('main returned')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "main returned" not in proc.stdout       # the process ended in main, without teardown
    assert flag.read_text() == "ran"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_sigterm_stops_a_chunked_score_and_removes_its_partial_file(tmp_path, fmt):
    """A batch scheduler stops a job with SIGTERM: ``ca125 score`` then ends as after Ctrl-C
    (code 130, "ca125: interrupted"), and its hidden partial output is removed (SIGTERM used
    to end the process at once, leaving it); a file already at the output path stays."""
    import signal
    import time

    from ca125kinetics.synth import simulate_cohort

    simulate_cohort(6000, seed=5).write(tmp_path / "cohort")
    out = tmp_path / f"scores.{fmt}"
    out.write_text("an earlier result")
    partial = tmp_path / f".scores.{fmt}.partial"
    proc = subprocess.Popen([sys.executable, "-m", "ca125kinetics.cli", "score",
                             "--markers", str(tmp_path / "cohort" / "markers.csv"),
                             "--clinical", str(tmp_path / "cohort" / "clinical.csv"),
                             "--out", str(out), "--chunk-rows", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    guard = time.monotonic() + 120  # a hang guard, not a speed requirement
    while not partial.exists() and proc.poll() is None and time.monotonic() < guard:
        time.sleep(0.005)
    assert partial.exists() and proc.poll() is None, "the run ended before its first chunk was written"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "ca125: interrupted" in err and "Traceback" not in err, err
    assert not partial.exists() and out.read_text() == "an earlier result"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("out_name, lost_in", [("scores.csv", "writing"), ("scores.parquet", "writing"),
                                               ("scores.parquet", "reading"), ("scores.json", "reading")])
def test_a_stop_lost_inside_a_library_still_stops_the_command(tmp_path, signame, out_name, lost_in):
    """A signal's interruption can be lost in a library's compiled code: pyarrow's conversion of
    a pandas column looks up an attribute that pandas answers in Python, and the
    KeyboardInterrupt raised there was cleared (seen in CI: ``ca125 score`` stopped by SIGTERM
    finished, exit 0, and replaced the earlier output). Here the signal arrives, and its
    interruption is swallowed as pyarrow did, while the first chunk is written or while the
    clinical table is read: the run still ends with code 130, without a traceback, and leaves
    the earlier output as it was and no partial file."""
    from ca125kinetics.synth import simulate_cohort

    simulate_cohort(300, seed=5).write(tmp_path / "cohort")
    out = tmp_path / out_name
    out.write_text("an earlier result")
    argv = ["score", "--markers", str(tmp_path / "cohort" / "markers.csv"),
            "--clinical", str(tmp_path / "cohort" / "clinical.csv"), "--out", str(out), "--chunk-rows", "200"]
    target = {"writing": "cohort.ChunkWriter.write", "reading": "score.read_clinical"}[lost_in]
    code = ("import signal, sys\n"
            "from ca125kinetics import cohort\n"
            "from ca125kinetics.cli import main, score\n"
            "def swallowed(work):\n"
            "    def run(*args, **kwargs):\n"
            "        try:\n"
            f"            signal.raise_signal(signal.{signame})\n"
            "        except KeyboardInterrupt:\n"
            "            print('swallowed', file=sys.stderr)\n"
            "        return work(*args, **kwargs)\n"
            "    return run\n"
            f"{target} = swallowed({target})\n"
            f"sys.argv = ['ca125', *{argv!r}]\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)  # a hang guard
    assert "swallowed" in proc.stderr, proc.stderr
    assert proc.returncode == 130 and "ca125: interrupted" in proc.stderr and "Traceback" not in proc.stderr, \
        proc.stderr
    assert out.read_text() == "an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort", out_name]


def test_the_stop_handler_records_the_request_keeps_ignored_signals_and_nests():
    """Under the ``ca125`` command's handler, Ctrl-C and SIGTERM raise KeyboardInterrupt and
    record the request (cleared when the block ends); a signal the process ignores (a job
    started in the background under ``nohup``) stays ignored; an inner block keeps the outer
    one's request; the previous handlers are back afterwards."""
    import signal

    from ca125kinetics.cli._workers import stop_signals_as_interrupt
    from ca125kinetics.errors import check_stop, stop_requested

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_signals_as_interrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)     # ignored: nothing happens
            assert not stop_requested()
            check_stop()
            with stop_signals_as_interrupt():
                with pytest.raises(KeyboardInterrupt):
                    signal.raise_signal(signal.SIGTERM)
            assert stop_requested()                 # the inner block's end kept it
            with pytest.raises(KeyboardInterrupt, match="stop requested"):
                check_stop()
        assert not stop_requested()
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert signal.getsignal(signal.SIGTERM) is before[signal.SIGTERM]


def test_serve_on_port_0_prints_the_port_bound(tmp_path):
    """``ca125 serve --port 0`` printed 'on http://127.0.0.1:0/': the system chooses the port
    when the socket is bound, so the message must come after binding and name that port."""
    import re
    import signal
    import socket

    proc = subprocess.Popen([sys.executable, "-m", "ca125kinetics.cli", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/ \(Ctrl-C to stop\)", line)
        assert found, line + proc.stderr.read() if proc.poll() is not None else line
        port = int(found[1])
        assert port != 0
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b'{"status":"ok"}')
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def test_an_error_raised_while_an_interruption_is_handled_is_the_interruption(capsys):
    """Ctrl-C or SIGTERM landing inside joblib's start of its executor thread made joblib's
    abort raise ``RuntimeError: cannot join thread before it is started`` while the
    interruption was handled: ``ca125 train`` printed a traceback and exited 1 (seen in a
    test run). An error whose context holds an interruption is the interruption (exit 130);
    any other error is not."""
    import argparse

    from ca125kinetics.cli import _run
    from ca125kinetics.errors import caused_by_interrupt

    def interrupted_inside_joblib(args):
        try:
            raise KeyboardInterrupt("signal 15")
        except KeyboardInterrupt:
            raise RuntimeError("cannot join thread before it is started")

    def plain_failure(args):
        raise RuntimeError("a real failure")

    assert _run(argparse.Namespace(func=interrupted_inside_joblib)) == 130
    assert capsys.readouterr().err.strip() == "ca125: interrupted"
    with pytest.raises(RuntimeError, match="a real failure"):
        _run(argparse.Namespace(func=plain_failure))
    try:
        interrupted_inside_joblib(None)
    except RuntimeError as exc:
        assert caused_by_interrupt(exc)
        assert not caused_by_interrupt(RuntimeError("x")) and caused_by_interrupt(KeyboardInterrupt())


def test_options_are_read_by_their_whole_name_only(series, tmp_path, capsys):
    """argparse's abbreviations read ``--marker cea`` on ``ca125 score`` (which has no
    --marker) as ``--markers cea``: a file named 'cea', or the marker asked for ignored while
    CA-125 was scored. Every command takes options by their whole name."""
    for command in (["score", "--markers", str(series), "--marker", "cea"],
                    ["screen", "--clinical", str(series), "--marker", "cea"], ["gcig", str(series), "--form", "csv"]):
        with pytest.raises(SystemExit) as info:
            main(command)
        assert info.value.code == 2
        assert f"unrecognized arguments: {' '.join(command[-2:])}" in capsys.readouterr().err


def test_an_out_file_of_a_kind_the_command_does_not_write_is_refused(series, tmp_path, capsys):
    """``--out x.xlsx`` got a text table (score, screen), and ni-analysis wrote text into
    ``.json`` and ``.html``: the suffix now chooses the format where --format is not given, and
    a suffix the command does not write is refused before any work."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age\n001,61\n")
    for command in (["score", "--markers", str(series)], ["screen", "--clinical", str(clinical)]):
        assert main([*command, "--out", str(tmp_path / "x.xlsx")]) == 2
        assert "the command writes" in capsys.readouterr().err and not (tmp_path / "x.xlsx").exists()
    assert main(["screen", "--clinical", str(clinical), "--out", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text().startswith("patient_id,trial,status")
    assert main(["screen", "--clinical", str(clinical), "--out", str(tmp_path / "s.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "s.parquet")["patient_id"].tolist() == ["001"]
    data = Path(__file__).parent / "data" / "design_ni_aml.csv"
    ni = ["design", "ni-analysis", "--data", str(data), "--time", "time", "--event", "status", "--arm", "x",
          "--experimental", "Maintained", "--control", "Nonmaintained", "--margin-hr", "1.3", "--at", "36"]
    assert main([*ni, "--out", str(tmp_path / "ni.json")]) == 0
    assert json.loads((tmp_path / "ni.json").read_text())
    assert main([*ni, "--out", str(tmp_path / "ni.html")]) == 0
    assert (tmp_path / "ni.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("command", [["gcig"], ["kinetics", "--method", "per-patient"]])
def test_gcig_and_kinetics_refuse_an_out_suffix_they_do_not_write_before_the_work(series, tmp_path, capsys,
                                                                                  command):
    """README: another --out suffix is refused before the work. gcig and kinetics refused
    ``--out x.xlsx`` only when writing, after every patient had been read and fitted (a
    missing markers file was reported first, so no work had been spared)."""
    missing = tmp_path / "no_such_markers.csv"
    for out in ("x.xlsx", "x.txt", "x"):
        assert main([command[0], str(missing), *command[1:], "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert "the command writes .csv, .json, .parquet, .pq files" in err and "no_such_markers" not in err
    assert main([command[0], str(series), *command[1:], "--out", str(tmp_path / "x.xlsx"), "--format", "csv"]) == 0
    assert (tmp_path / "x.xlsx").read_text().startswith("patient_id,")
    assert main([command[0], str(series), *command[1:], "--out", str(tmp_path / "t.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "t.parquet")["patient_id"].tolist() == ["007", "008"]


@pytest.mark.parametrize("args, out, given", [
    (["gcig", "{series}"], "x.parquet", "csv"),
    (["kinetics", "{series}"], "x.csv", "json"),
    (["score", "--markers", "{series}", "--model", "{model}"], "x.parquet", "csv"),
    (["score", "--markers", "{series}", "--model", "{model}"], "x.csv", "fhir"),
    (["screen", "--clinical", "{series}"], "x.json", "csv"),
])
def test_an_out_suffix_naming_another_format_than_format_is_refused(series, model_dir, tmp_path, capsys,
                                                                    args, out, given):
    """``ca125 gcig x.csv --format csv --out o.parquet`` exited 0 with CSV text in o.parquet
    (``pandas.read_parquet`` then fails on it); score and screen likewise. A FHIR bundle is JSON:
    ``--format fhir --out x.json`` stays allowed."""
    filled = [a.format(series=series, model=model_dir) for a in args]
    assert main([*filled, "--out", str(tmp_path / out), "--format", given]) == 2
    err = capsys.readouterr().err
    assert f"names a {out.rsplit('.', 1)[1]} file but --format {given} was given" in err
    assert not (tmp_path / out).exists()


def test_a_fhir_bundle_may_be_written_to_a_json_file(series, model_dir, tmp_path, capsys):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age,ecog,ascites_ml,figo_stage,primary_residual_disease,pfi_months,"
                        "recurrence_pattern\n007,61,0,0,III,0,14,single\n")
    assert main(["score", "--markers", str(series), "--clinical", str(clinical), "--model", str(model_dir),
                 "--patient", "007", "--format", "fhir", "--out", str(tmp_path / "r.json")]) == 0
    assert '"resourceType"' in (tmp_path / "r.json").read_text()


def test_demo_refuses_a_cohort_directory_that_does_not_exist(tmp_path, capsys):
    """A typo in --cohort generated 3,000 synthetic patients there and trained on them; only
    the default cohort is made when it is missing."""
    missing = tmp_path / "nosuchdir"
    assert main(["demo", "--cohort", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert f"--cohort {missing}: no markers.csv there" in capsys.readouterr().err
    assert not missing.exists()


def test_max_rows_with_a_table_written_whole_is_refused(series, tmp_path, capsys):
    """--max-rows limits the text table; with --out or --format csv/json every row is written,
    and the option was read and ignored (gcig, kinetics, screen)."""
    out = tmp_path / "t.csv"
    for command in (["gcig", str(series)], ["kinetics", str(series)], ["screen", "--clinical", str(series)]):
        for where in (["--format", "csv"], ["--format", "json"], ["--out", str(out)]):
            assert main([*command, *where, "--max-rows", "1"]) == 2
            assert "--max-rows 1 limits the rows of the text table" in capsys.readouterr().err
            assert not out.exists()
    assert main(["gcig", str(series), "--max-rows", "1"]) == 0    # the text table: one row shown
    assert "more row(s)" in capsys.readouterr().out


def test_max_rows_means_the_same_on_every_command(series, capsys):
    """--max-rows 0 printed an empty table on gcig and kinetics (all rows on screen), and -1
    showed every row but one; 0 is every row, a negative number is refused."""
    assert main(["gcig", str(series), "--max-rows", "0"]) == 0
    out = capsys.readouterr().out
    assert "007" in out and "008" in out and "more row(s)" not in out
    for command in (["gcig", str(series)], ["kinetics", str(series)], ["screen", "--clinical", str(series)]):
        with pytest.raises(SystemExit) as info:
            main([*command, "--max-rows", "-1"])
        assert info.value.code == 2 and "-1 is negative" in capsys.readouterr().err


def test_screen_takes_drug_codes_for_markers_given_as_a_fhir_bundle(tmp_path, capsys):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age\n001,61\n")
    assert main(["screen", "--clinical", str(clinical), "--drug-code", "597195=carboplatin"]) == 2
    assert "no markers were given: leave them out" in capsys.readouterr().err


def test_screen_refuses_a_uln_without_markers(tmp_path, capsys):
    """`ca125 screen --trial reset --uln 5` (CEA's ULN, say) screened without a word that the
    ULN was ignored: it is the GCIG criterion's, read only with --markers."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age\n001,61\n")
    for trial in ("reset", "rescue"):
        assert main(["screen", "--trial", trial, "--clinical", str(clinical), "--uln", "5"]) == 2
        assert "no markers were given, so it would be ignored: leave it out" in capsys.readouterr().err
    assert main(["screen", "--trial", "reset", "--clinical", str(clinical)]) == 0


def test_validate_names_the_invalid_input_when_it_left_nobody(tmp_path, capsys):
    """A cohort written with decimal commas left no patient, and the message told the
    statistician to check the complete_resection column; it now shows the first invalid
    patient's reason and the format options."""
    root = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
    clinical = pd.read_csv(root / "clinical.csv", dtype={"patient_id": str}).head(40)
    markers = pd.read_csv(root / "markers.csv", dtype={"patient_id": str})
    markers = markers[markers["patient_id"].isin(clinical["patient_id"])]
    markers["ca125"] = pd.to_numeric(markers["ca125"], errors="coerce") + 0.25
    markers.to_csv(tmp_path / "m.csv", sep=";", decimal=",", index=False)
    clinical.to_csv(tmp_path / "c.csv", sep=";", decimal=",", index=False)
    shipped = str(Path(__file__).resolve().parents[1] / "models" / "default")
    assert main(["validate", "--model", shipped, "--markers", str(tmp_path / "m.csv"),
                 "--clinical", str(tmp_path / "c.csv"),
                 "--sep", ";", "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    # both tables are invalid: the clinical row's reason comes first (io.PatientRecord.reason's rule)
    assert "the first invalid patient: invalid input: clinical table, row " in err and "state how they are written" in err
    assert "Check the 'complete_resection' column" not in err


def test_a_file_to_write_that_is_a_file_read_is_refused_before_the_work(series, model_dir, tmp_path, capsys,
                                                                        monkeypatch):
    """``validate --predictions clinical.csv`` replaced the clinical table by the predictions
    (exit 0); the same for ``--out`` of every command that reads a file. By any path to the
    same file (``./``, a link); another file name is written as before."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age,complete_resection\n007,61,1\n008,55,0\n")
    kept = {p: p.read_bytes() for p in (series, clinical)}
    link = tmp_path / "link.csv"
    link.symlink_to(clinical)
    cases = [
        (["validate", "--model", str(model_dir), "--markers", str(series), "--clinical", str(clinical),
          "--out", str(tmp_path / "r.html"), "--predictions", str(tmp_path / "." / "clinical.csv")],
         "--predictions", "--clinical"),
        (["gcig", str(series), "--out", str(series)], "--out", "as markers"),
        (["kinetics", str(series), "--out", str(series)], "--out", "as markers"),
        (["score", "--markers", str(series), "--clinical", str(clinical), "--model", str(model_dir),
          "--out", str(link)], "--out", "--clinical"),
        (["screen", "--clinical", str(clinical), "--out", str(clinical)], "--out", "--clinical"),
    ]
    for argv, option, read_as in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"ca125: error: {option} " in err and f"is the file read as {read_as.removeprefix('as ')}" in err
        assert "would replace that input" in err
        assert {p: p.read_bytes() for p in kept} == kept
    assert not (tmp_path / "r.html").exists()
    # an option that is not a file the command reads is not one, whatever it names (--patient
    # 007 beside a file 007 to write)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "007").write_text("")
    assert main(["score", "--markers", str(series), "--model", str(model_dir), "--patient", "007", "--out", "007",
                 "--format", "csv"]) == 0
    assert "would replace" not in capsys.readouterr().err and (tmp_path / "007").read_text().startswith("patient_id")
    assert main(["gcig", str(series), "--out", str(tmp_path / "gcig.csv")]) == 0
    assert main(["gcig", str(series), "--out", str(tmp_path / "gcig.csv")]) == 0      # its own output: replaced


def test_validate_refuses_a_negative_bootstrap_seed_before_the_work(series, model_dir, tmp_path, capsys):
    """``ca125 validate --bootstrap 5 --seed -3`` validated the cohort, then ended in numpy's
    traceback ("expected non-negative integer"); it is refused first, in one line."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age,complete_resection\n007,61,1\n")
    assert main(["validate", "--model", str(model_dir), "--markers", str(series), "--clinical", str(clinical),
                 "--out", str(tmp_path / "r.html"), "--bootstrap", "5", "--seed", "-3"]) == 2
    err = capsys.readouterr().err
    assert "ca125: error: --seed must be a non-negative integer, got -3\n" == err     # as typed, not 'the bootstrap seed'
    assert "Traceback" not in err and not (tmp_path / "r.html").exists()
    assert _python_refusal(lambda: check_seed(-3)) == "the bootstrap seed must be a non-negative integer, got -3"


@pytest.mark.parametrize("options, said", [
    (["--seed", "7"], "--seed set(s) the optimism bootstrap, which runs only with --bootstrap N"),
    (["--n-jobs", "4", "--seed", "1"], "--seed and --n-jobs set(s) the optimism bootstrap"),
    (["--bootstrap", "5", "--n-jobs", "0"], "--n-jobs must be a positive number of worker processes, or a negative one "
                                            "counted from the cores as joblib counts it (-1: all cores, -2: all but "
                                            "one; at least one worker), got 0"),
])
def test_validate_refuses_bootstrap_options_it_would_ignore_before_the_work(series, model_dir, tmp_path, capsys,
                                                                             options, said):
    """``--seed``/``--n-jobs`` without ``--bootstrap`` were read and ignored (exit 0), and
    ``--n-jobs 0`` was refused only after the whole cohort had been validated."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age,complete_resection\n007,61,1\n")
    assert main(["validate", "--model", str(model_dir), "--markers", str(series), "--clinical", str(clinical),
                 "--out", str(tmp_path / "r.html"), *options]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and not (tmp_path / "r.html").exists()
    if "--n-jobs 0" in " ".join(options):   # a Python caller keeps the argument's name
        assert _python_refusal(lambda: check_n_jobs(0)).startswith("n_jobs must be a positive number of worker")


def test_validate_names_the_clinical_file_without_the_outcome_column(series, model_dir, tmp_path, capsys):
    """A clinical table without complete_resection was refused as 'DataFrame (1 rows), column
    ...' (the frame the command had read), after the markers were read: the file is named."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age\n007,61\n")
    assert main(["validate", "--model", str(model_dir), "--markers", str(series), "--clinical", str(clinical),
                 "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert f"ca125: error: {clinical}, column 'complete_resection': missing required column" in err
    assert "DataFrame" not in err


def test_train_and_validate_draw_their_bar_on_a_terminal_only(monkeypatch):
    """``ca125 train`` and ``validate --bootstrap`` drew their bar on stderr under cron (into
    its mail), where the chunked commands' bar is drawn on a terminal only; one rule now."""
    import argparse
    import io

    import ca125kinetics.cli as cli

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert cli.progress_wanted(argparse.Namespace(no_progress=False)) is False     # pytest's stderr: no terminal
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert cli.progress_wanted(argparse.Namespace(no_progress=False)) is True
    assert cli.progress_wanted(argparse.Namespace(no_progress=True)) is False


@pytest.mark.parametrize("command", ["gcig", "score", "screen"])
@pytest.mark.parametrize("date_format", ["%Q", "%d/%m/%"])
def test_a_date_format_the_parser_does_not_know_is_one_line_and_exit_2(series, tmp_path, capsys, command,
                                                                      date_format):
    """``--date-format '%Q'`` (no such code) or a stray ``%`` ended in pandas' traceback ("'Q' is
    a bad directive in format '%Q'", exit 1) as soon as the clinical dates were read."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,treatment_start\n007,01/02/2024\n008,01/02/2024\n")
    args = {"gcig": ["gcig", str(series), "--clinical", str(clinical)],
            "score": ["score", "--markers", str(series), "--clinical", str(clinical)],
            "screen": ["screen", "--clinical", str(clinical)]}[command]
    assert main([*args, "--date-format", date_format]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"ca125: error: date_format {date_format!r} (command line --date-format) is not a strftime format" in err


@pytest.fixture()
def cohort_file(tmp_path):
    """A markers file of 12 patients, read in chunks with --chunk-rows 10."""
    path = tmp_path / "cohort.csv"
    path.write_text("patient_id,day,ca125\n" + "".join(f"{i:03d},{d},{v}\n" for i in range(1, 13)
                                                       for d, v in ((0, 400), (21, 150), (42, 60), (63, 30))))
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd is Linux's")
def test_a_chunked_table_goes_through_an_out_link_to_stdout_and_leaves_the_link(cohort_file, tmp_path):
    """``--out /dev/stdout`` of a file read in chunks wrote a hidden file beside the link and
    renamed it onto the link: /dev/stdout (as root) became a regular file and the table never
    reached stdout. A link to stdout (here one in tmp_path, as /dev/stdout is) is written
    through; a link to a file replaces the file it names and stays a link."""
    to_stdout = tmp_path / "stdout"
    to_stdout.symlink_to("/proc/self/fd/1")
    proc = run_cli("gcig", cohort_file, "--out", to_stdout, "--format", "csv", "--chunk-rows", 10)
    assert proc.returncode == 0, proc.stderr
    assert to_stdout.is_symlink()
    assert proc.stdout.startswith("patient_id,") and proc.stdout.count("\n") >= 13
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert run_cli("gcig", cohort_file, "--out", link, "--chunk-rows", 10).returncode == 0
    assert link.is_symlink() and len(pd.read_csv(real)) == 12
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("command", [["gcig"], ["kinetics", "--method", "per-patient"]])
@pytest.mark.parametrize("chunked", [False, True])
def test_out_dev_stdout_gives_the_table_alone_on_stdout_and_the_summary_on_stderr(cohort_file, command, chunked):
    """``ca125 gcig --out /dev/stdout --format csv | ...`` got the summary printed after the
    table (and, stdout a file, over its first bytes): the summary goes beside a table written
    to a file, and to stderr when the table is on stdout, as with --format csv and no --out."""
    proc = run_cli(command[0], cohort_file, *command[1:], "--out", "/dev/stdout", "--format", "csv",
                   *(["--chunk-rows", 10] if chunked else []))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(io.StringIO(proc.stdout), dtype={"patient_id": str})
    assert table["patient_id"].tolist() == [f"{i:03d}" for i in range(1, 13)]
    assert "patient(s)" in proc.stderr.split("wrote", 1)[1]      # the summary, after the 'wrote' line


def test_design_ni_analysis_says_what_it_wrote_on_stderr(tmp_path):
    """``ca125 design ni-analysis --out F`` printed 'wrote F' on stdout, the only command to do
    so: with ``--out /dev/stdout`` the line was in (over) the JSON."""
    data = tmp_path / "trial.csv"
    data.write_text("time,event,arm\n10,1,A\n20,0,B\n30,1,A\n5,1,B\n40,0,A\n12,1,B\n")
    proc = run_cli("design", "ni-analysis", "--data", data, "--time", "time", "--event", "event", "--arm", "arm",
                   "--experimental", "A", "--control", "B", "--margin-hr", "1.3", "--at", "12",
                   "--out", "/dev/stdout", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["experimental"] == "A"
    assert "wrote /dev/stdout" in proc.stderr


@pytest.mark.parametrize("plot", ["power.txt", "power"])
def test_design_selection_trial_refuses_a_plot_it_cannot_draw_before_the_simulations(tmp_path, capsys, plot):
    """``--plot power.txt`` ran the simulations, then ended in matplotlib's traceback ("Format
    'txt' is not supported", exit 1); ``--plot power`` wrote power.png and said 'wrote power'."""
    assert main(["design", "selection-trial", "--ppv", "0.7", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
                 "--control-median", "12", "--n", "300", "--sims", "20", "--plot", str(tmp_path / plot)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"ca125: error: --plot {tmp_path / plot}: the command writes .pdf, .png, .svg files" in err
    assert not list(tmp_path.iterdir())


def test_score_fhir_says_how_many_patients_its_bundle_holds(series, tmp_path, capsys):
    """``ca125 score --format fhir --out F`` said 'wrote 2 patient(s)' (the markers' patients)
    of a Bundle that held a RiskAssessment for the clinical table's patient without markers too."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age\n007,61\n008,55\n009,70\n")
    out = tmp_path / "risk.json"
    assert main(["score", "--markers", str(series), "--clinical", str(clinical), "--format", "fhir",
                 "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["entry"]) == 3
    assert f"wrote 3 patient(s) to {out}" in capsys.readouterr().err


@pytest.mark.parametrize("args, what", [
    (["gcig", "{empty}"], "markers"), (["kinetics", "{empty}"], "markers"),
    (["score", "--markers", "{empty}"], "markers"),
    (["screen", "--clinical", "{clinical}", "--markers", "{empty}"], "markers"),
    (["gcig", "{series}", "--clinical", "{empty}"], "clinical"), (["screen", "--clinical", "{empty}"], "clinical"),
])
def test_an_empty_file_is_refused_in_the_same_words_by_every_command(series, tmp_path, capsys, args, what):
    """An empty markers file was 'missing required column(s) ['patient_id'] ... (found [])' in
    gcig, kinetics and score (their chunk check read the header first) and 'could not be read
    as a markers table (EmptyDataError: No columns to parse from file)' in screen."""
    empty, clinical = tmp_path / "empty.csv", tmp_path / "clinical.csv"
    empty.write_text("")
    clinical.write_text("patient_id,age\n007,61\n")
    assert main([a.format(empty=empty, series=series, clinical=clinical) for a in args]) == 2
    err = capsys.readouterr().err
    assert f"ca125: error: {empty}: the file is empty (no header, no rows); give the {what} table with its header" in err


@pytest.mark.parametrize("terminal", [False, True])
def test_the_demo_draws_the_training_bar_on_a_terminal_only(tmp_path, monkeypatch, terminal):
    """scripts/run.sh (the demo) trained with progress=True whatever stderr was: its bars went
    into CI logs and files as carriage-return noise, where every command draws a bar on a
    terminal only (cohort.bar_wanted)."""
    import sys

    import ca125kinetics.train as train_module
    from ca125kinetics import demo
    from ca125kinetics.synth import write_synthetic

    class Stop(Exception):
        pass

    asked = {}

    def fake_train(*args, **kwargs):
        asked.update(kwargs)
        raise Stop

    write_synthetic(60, 5, tmp_path / "cohort")
    monkeypatch.setattr(train_module, "train", fake_train)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    with pytest.raises(Stop):
        demo.run(cohort=tmp_path / "cohort", out=tmp_path / "out", tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    assert asked["progress"] is terminal


def test_gcig_summary_says_none_when_no_response_is_confirmed(tmp_path, capsys):
    """The summary line ended in 'confirmed responses: ' and nothing when no patient had one."""
    path = tmp_path / "m.csv"
    path.write_text("patient_id,day,ca125\n001,-3,400\n001,21,300\n002,-3,50\n002,21,20\n")
    assert main(["gcig", str(path)]) == 0
    assert "  confirmed responses: none\n" in capsys.readouterr().out


def test_the_demo_writes_the_tables_of_ca125_gcig_and_ca125_kinetics(tmp_path, monkeypatch, capsys):
    """scripts/run.sh (the demo) wrote out/gcig.csv and out/kinetics.csv without the columns
    every table the commands write ends with (rules, package_version; the kinetics also without
    k_ref and k_ref_source): its tables are now those of ``ca125 gcig`` and ``ca125 kinetics``."""
    import ca125kinetics.train as train_module
    from ca125kinetics import demo
    from ca125kinetics.synth import write_synthetic

    class Stop(Exception):
        pass

    def fake_train(*args, **kwargs):
        raise Stop

    cohort, out = tmp_path / "cohort", tmp_path / "out"
    write_synthetic(60, 5, cohort)
    monkeypatch.setattr(train_module, "train", fake_train)
    with pytest.raises(Stop):
        demo.run(cohort=cohort, out=out, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    markers, clinical = str(cohort / "markers.csv"), str(cohort / "clinical.csv")
    assert main(["gcig", markers, "--clinical", clinical, "--out", str(tmp_path / "gcig.csv")]) == 0
    assert main(["kinetics", markers, "--out", str(tmp_path / "kinetics.csv")]) == 0
    capsys.readouterr()
    for name in ("gcig.csv", "kinetics.csv"):
        written = pd.read_csv(out / name, dtype={"patient_id": str})
        assert list(written.columns[-2:]) == ["rules", "package_version"], name
        pd.testing.assert_frame_equal(written, pd.read_csv(tmp_path / name, dtype={"patient_id": str}))


def test_design_outputs_into_a_folder_not_yet_made(tmp_path, capsys):
    """``design ni-analysis --out`` and ``selection-trial --plot`` into a missing folder ended in
    FileNotFoundError (a traceback, for the plot after the simulations); every other command
    makes the folder."""
    data = tmp_path / "trial.csv"
    data.write_text("time,event,arm\n10,1,A\n20,0,B\n30,1,A\n5,1,B\n40,0,A\n12,1,B\n")
    out = tmp_path / "new" / "ni.json"
    assert main(["design", "ni-analysis", "--data", str(data), "--time", "time", "--event", "event", "--arm", "arm",
                 "--experimental", "A", "--control", "B", "--margin-hr", "1.3", "--at", "12", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["experimental"] == "A"
    plot = tmp_path / "figures" / "power.png"
    assert main(["design", "selection-trial", "--ppv", "0.7", "--hr-complete", "0.6", "--hr-incomplete", "1.2",
                 "--control-median", "12", "--n", "100", "--sims", "20", "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(b"\x89PNG")


_SAME_DAY = "patient_id,day,ca125\n007,0,400\n007,21,180\n007,21,190\n007,42,195\n007,63,150\n008,-3,59\n008,21,20\n"


@pytest.mark.parametrize("command, said", [
    (["gcig", "{markers}", "--format", "json"], "with --duplicates mean (or median/max/min/first/last)"),
    (["kinetics", "{markers}", "--method", "per-patient", "--format", "json"], "with --duplicates mean"),
    (["screen", "--clinical", "{screen}", "--markers", "{markers}", "--format", "json"], "with --duplicates mean"),
    (["score", "--markers", "{markers}", "--clinical", "{clinical}", "--model", "{model}", "--format", "json"],
     "the model (--model) reads same-day samples with the rule it was trained with"),
    (["score", "--markers", "{markers}", "--clinical", "{clinical}", "--model", "{model}", "--format", "json",
      "--chunk-rows", "2"], "the model (--model) reads same-day samples with the rule it was trained with"),
    (["validate", "--markers", "{markers}", "--clinical", "{clinical}", "--model", "{model}", "--out", "{out}"],
     "the model (--model) reads same-day samples with the rule it was trained with"),
])
def test_same_day_samples_advice_names_the_commands_own_option(command, said, model_dir, tmp_path, capsys):
    """Two samples on one day: every command's advice said 'ca125 gcig --duplicates' (kinetics and
    screen have their own --duplicates; score and validate read with the model's rule, which no
    option changes; score --chunk-rows read its chunks in threads that lost the command's names)."""
    paths = {"markers": tmp_path / "m.csv", "clinical": tmp_path / "c.csv", "screen": tmp_path / "s.csv",
             "model": model_dir, "out": tmp_path / "r.html"}
    paths["markers"].write_text(_SAME_DAY)
    paths["clinical"].write_text("patient_id,age,complete_resection\n007,61,1\n008,55,0\n")
    paths["screen"].write_text("patient_id,age,pfi_months,recist\n007,61,14,PR\n008,55,20,CR\n")
    main([part.format(**paths) for part in command])
    out, err = capsys.readouterr()
    text = out + err
    assert "two or more CA-125 samples on day 21" in text
    assert said in text and "ca125 gcig --duplicates" not in text and "read_markers" not in text
    if command[0] == "score":      # validate's one-line refusal shortens the reason
        assert '[gcig] duplicates = \\"mean\\"' in text


def test_train_reads_same_day_samples_with_its_configuration(tmp_path):
    """ca125 train read the markers with GCIG's rule whatever the configuration's [gcig]
    duplicates said: a model trained with duplicates = "mean" had its same-day patients left
    out as invalid, then aggregated them when scoring. Its advice names the configuration."""
    from ca125kinetics.errors import arguments_named
    from ca125kinetics.train import _read_inputs

    markers, clinical = tmp_path / "m.csv", tmp_path / "c.csv"
    markers.write_text(_SAME_DAY)
    clinical.write_text("patient_id,age,ecog,pfi_months,ascites_ml,figo_stage,recurrence_pattern,recist,"
                        "primary_residual_disease,complete_resection\n007,61,0,14,0,III,single,PR,0,1\n"
                        "008,55,0,20,0,III,single,CR,0,0\n")
    with arguments_named({"config": "--config", "markers": "--markers"}):
        mk, _ = _read_inputs(markers, clinical)
    problem = mk.loc[mk["patient_id"] == "007", "problem"].iloc[0]
    assert 'aggregate them explicitly with the training configuration\'s [gcig] duplicates = "mean"' in problem
    assert "(--config)" in problem
    mk, _ = _read_inputs(markers, clinical, duplicates="mean")
    assert mk["problem"].isna().all() and (mk.loc[mk["patient_id"] == "007", "day"] == 21).sum() == 1

    import ca125kinetics.train as train_module

    seen = {}

    def stop(markers, *args, **kwargs):
        seen["problems"] = markers["problem"].notna().sum()
        raise RuntimeError("stop")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("ca125kinetics.features.build_patient_frame", stop)
        with pytest.raises(RuntimeError, match="stop"):
            train_module.fit_and_evaluate(markers, clinical, config={"gcig": {"duplicates": "mean"}})
    assert seen["problems"] == 0


def test_a_text_table_writes_every_missing_value_as_a_dash(tmp_path, capsys):
    """A missing value reads '-' whatever the column's type: an unconfirmed patient alone had
    category 'None' and response days '<NA>' beside another table's '-'."""
    path = tmp_path / "markers.csv"
    path.write_text("patient_id,day,ca125\nA,0,1200.5\nA,21,400.2\n")
    assert main(["gcig", str(path)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:6] == ["A", "35.0", "2", "1200.5", "unconfirmed", "-"]   # category
    assert row[6:10] == ["21", "-", "B", "-"]   # response, confirmation day, progression group, day
    assert "None" not in row and "<NA>" not in row


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as a full disk")
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "PYTHONUNBUFFERED"])
def test_a_table_on_stdout_that_the_disk_cannot_hold_fails_the_command(tmp_path, unbuffered):
    """``ca125 gcig m.csv --format csv > out.csv`` on a full disk: the table's last bytes stay in
    stdout's buffer until the exit, whose flush failed unchecked: the command ended with code 0
    and a truncated table. A flush that fails is an error (code 2, said on stderr); a reader
    that stopped reading (``| head``) still is not. Unbuffered (``PYTHONUNBUFFERED=1``, set by
    many container images), Python wrote the table in one call and did not check that the file
    took all of it: code 0 and a truncated table too."""
    markers = tmp_path / "m.csv"
    markers.write_text("patient_id,day,ca125\n001,0,400\n001,21,150\n001,42,60\n001,63,30\n")
    whole = len(run_cli("gcig", markers, "--format", "csv").stdout.encode())
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({whole - 10}, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
            "from ca125kinetics.cli import main\n"
            f"sys.argv = ['ca125', 'gcig', {str(markers)!r}, '--format', 'csv']\n"
            "main()\n")
    out = tmp_path / "out.csv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open(out, "w") as stdout:
        proc = subprocess.run([sys.executable, "-c", code], stdout=stdout, stderr=subprocess.PIPE, text=True,
                              timeout=120, env=env)
    assert out.stat().st_size == whole - 10
    assert proc.returncode == 2 and "ca125: error: File too large" in proc.stderr, proc.stderr
    head = subprocess.run(f"{sys.executable} -m ca125kinetics.cli gcig {markers} --format csv | head -c 10",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert head.stdout == "patient_id" and "error" not in head.stderr
