"""``ca125 score``: one patient -> a report readable by a clinician; several -> one row each."""

from __future__ import annotations

import json
import sys

import pandas as pd

from .._atomic import write_file
from ..errors import Ca125KineticsError, InvalidInputError
from ..io import _padded_ids, json_records, read_clinical, read_markers, setting_uln, write_table
from ..predict import load_model, predict, score_frame
from ..predict.engine import _score_read
from ..predict.decision import _notice
from ..predict.loading import _URI_SCHEMES, _registry_location
from . import (add_chunk_arguments, add_format_arguments, add_progress_argument, cohort_stream, format_options,
               markers_options, progress_wanted, require_rows, source_codes_options)


_SUMMARY_COLUMNS = ("patient_id", "status", "probability", "p_low", "p_high", "gcig_status", "gcig_category",
                    "progressed", "kelim_score", "decision")


def add_score_arguments(parser) -> None:
    """Add the ``ca125 score`` options to an argparse parser."""
    parser.add_argument("--markers", required=True,
                        help="markers table (.csv or .parquet), data contract, or a FHIR R4 bundle (.json)")
    parser.add_argument("--clinical", help="clinical table (.csv or .parquet); unknown factors may be left empty")
    parser.add_argument("--patient", help="score only this patient_id (default: every patient in the table)")
    parser.add_argument("--model", default=None,
                        help="exported model directory, bundle.joblib or MLflow URI such as "
                        "models:/ca125-complete-resection@champion (default: the shipped model)")
    parser.add_argument("--format", choices=["text", "json", "csv", "fhir"], default=None,
                        help="output format (default: text on the terminal, or by --out suffix); fhir: a FHIR "
                        "R4 RiskAssessment (a Bundle of them for several patients)")
    parser.add_argument("--out", help="write the result to this file (.csv, .parquet, .json or .txt)")
    parser.add_argument("--allow-imputed", action="store_true",
                        help="decide even when clinical factors are unknown, or there is no CA-125 after the first "
                        "dose for the kinetics (the model imputes them); by default such a patient gets "
                        "status 'insufficient' and no decision")
    add_format_arguments(parser)
    add_chunk_arguments(parser)
    add_progress_argument(parser)
    # the process ends without freeing its modules once the output is written (cli.main)
    parser.set_defaults(exit_without_teardown=True)


def cli_score(args) -> int:
    """Handler of ``ca125 score``: one patient -> a report readable by a clinician; several ->
    one row per patient. Returns the exit code (0)."""
    from ..task import bundle_task

    bundle = _load_quietly(args.model)
    if not bundle_task(bundle).is_default:
        return _cli_score_task(args, bundle)
    allow_imputed = bool(getattr(args, "allow_imputed", False))
    fmt = _format_from_suffix(args.out, args.format)
    # a large file (several patients, not --patient, not one FHIR document): patient-complete chunks
    stream = cohort_stream(args) if args.patient is None and fmt != "fhir" else None
    if stream is not None and stream.only_patient() is not None:
        # one patient's markers, longer than a chunk: that patient's report (its row), as read
        # whole; the clinical table is where its clinical row is found, whatever else it holds
        stream = None
    if stream is not None:
        return _cli_score_chunked(args, bundle, stream, fmt, allow_imputed)
    markers, clinical = _cli_tables(args, bundle)
    ids = sorted(set(markers["patient_id"].astype(str)))
    one = len(ids) == 1     # one patient's markers: its report (predict), the clinical table its row's lookup
    if fmt == "parquet":       # the table, one row per patient (as a chunked run writes it)
        frame = (predict(markers, clinical, model=bundle, allow_imputed=allow_imputed).to_frame() if one
                 else _score_read(bundle, markers, clinical, allow_imputed=allow_imputed,
                                  read_options=format_options(args)))
        write_table(_stamped(frame, bundle), args.out, fmt="parquet")
        print(f"wrote {len(frame)} patient(s) to {args.out}", file=sys.stderr)
        return 0
    if fmt == "fhir":
        text, n = _fhir_text(markers, clinical, one, bundle, allow_imputed)
    elif one:
        result = predict(markers, clinical, model=bundle, allow_imputed=allow_imputed)
        if fmt == "json":
            text = json.dumps(_stamped(result.to_dict(), bundle), indent=2) + "\n"
        elif fmt == "csv":
            text = _stamped(result.to_frame(), bundle).to_csv(index=False)
        else:
            text = result.to_text() + "\n"
        n = 1
    else:
        frame = _stamped(_score_read(bundle, markers, clinical, allow_imputed=allow_imputed,
                                     read_options=format_options(args)), bundle)
        text, n = _cohort_output(frame, fmt), len(frame)
    return _write_score_output(text, n, args.out)


def _cohort_output(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "json":
        return json_records(frame) + "\n"
    if fmt == "csv":
        import io

        from ..cohort import write_csv

        out = io.BytesIO()
        write_csv(frame, out)
        return out.getvalue().decode("utf-8")
    return _cohort_text(frame)


def _cli_score_chunked(args, bundle, stream, fmt: str, allow_imputed: bool) -> int:
    """``ca125 score`` of a large markers file, chunk by chunk (:mod:`ca125kinetics.cohort`):
    each chunk read and scored as :func:`_cli_tables` and ``predict_cohort`` treat a whole
    table, with the same options and provenance columns; CSV output is written as it comes."""
    from ..cohort import chunked_format, iter_score, run_score, write_chunks

    read_options = format_options(args)
    _preload_compiled()     # while the clinical table is read
    clinical = (read_clinical(args.clinical, on_error="flag", require=("patient_id",), **read_options)
                if args.clinical else None)
    if clinical is not None:
        require_rows(clinical, args.clinical, "clinical")
    options = dict(allow_imputed=allow_imputed, read_options=read_options, progress=progress_wanted(args),
                   finish=lambda frame: _stamped(frame, bundle))
    kind = chunked_format(args.out, fmt)
    if kind in ("csv", "parquet"):
        n, _ = write_chunks(iter_score(stream, clinical, bundle, **options), args.out, kind, ())
        print(f"wrote {n} patient(s) to {args.out}", file=sys.stderr)
        return 0
    frame = run_score(stream, clinical, bundle, **options)
    return _write_score_output(_cohort_output(frame, fmt), len(frame), args.out)


def _preload_compiled() -> None:
    """Load the compiled GCIG rules and kinetics fits (numba and their cached machine code,
    about 1 s) in background threads: a large file is scored by them, and its first chunk
    would otherwise wait for them after the clinical table is read."""
    import threading

    from .._kinetics_engine import load_compiled
    from ..gcig import preload_compiled

    preload_compiled()
    threading.Thread(target=load_compiled, name="ca125kinetics-kinetics-compiled", daemon=True).start()


def _cli_score_task(args, bundle) -> int:
    """``ca125 score`` with a model of another task (:mod:`ca125kinetics.task`): the table of
    :func:`score_frame` (columns :data:`~ca125kinetics.predict.TASK_SCORE_COLUMNS`, then
    ``rules`` and ``package_version``) as text, CSV, JSON or Parquet."""
    from ..task import bundle_task

    from ..settings import with_provenance

    task = bundle_task(bundle)
    fmt = _format_from_suffix(args.out, args.format)
    if fmt == "fhir":
        raise InvalidInputError(f"--format fhir writes the complete-resection RiskAssessment; the model "
                                f"{bundle.name!r} predicts {task.description}: use text, csv or json")
    codes = [f"--{name[:-1].replace('_', '-')}" for name in source_codes_options(args)]
    if codes:   # score_frame reads the markers without FHIR codes: they would be read and ignored
        raise InvalidInputError(f"{' and '.join(codes)}: the markers of the model {bundle.name!r}, which predicts "
                                f"{task.description}, are read without FHIR drug or event codes: leave "
                                f"{' and '.join(codes)} out")
    frame = score_frame(bundle, args.markers, args.clinical,
                        allow_imputed=bool(getattr(args, "allow_imputed", False)), **format_options(args))
    if args.patient is not None:
        frame = frame[frame["patient_id"] == str(args.patient)].reset_index(drop=True)
        if frame.empty:
            raise InvalidInputError(f"patient {args.patient!r} is not in the markers or clinical table")
    # the rules this model applied: its kinetics settings (no GCIG rule, no published score)
    frame = with_provenance(frame, bundle.kinetics_settings, model=f"{bundle.name} {bundle.version}",
                            threshold=float(bundle.threshold), task=task.name)
    if fmt == "parquet":
        write_table(frame, args.out, fmt="parquet")
        print(f"wrote {len(frame)} patient(s) to {args.out}", file=sys.stderr)
        return 0
    if fmt in ("json", "csv"):
        text = json_records(frame) + "\n" if fmt == "json" else frame.to_csv(index=False)
    else:   # the rules once, under the table, and what the model is
        text = (frame.drop(columns=["rules", "package_version"]).to_string(index=False) + "\n"
                + (f"rules: {frame['rules'].iloc[0]}; ca125kinetics {frame['package_version'].iloc[0]}\n"
                   if len(frame) else "")
                + _model_line(bundle.name, bundle.version, float(bundle.threshold),
                              bool(getattr(bundle, "trained_on_synthetic", False))) + "\n")
    return _write_score_output(text, len(frame), args.out)


def _write_score_output(text: str, n: int, out) -> int:
    """``ca125 score``'s output: to ``out`` (saying how many patients on stderr) or stdout."""
    if out:
        write_file(out, text)
        print(f"wrote {n} patient(s) to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _load_quietly(model):
    """The model, scoring form; when mlflow must download it, without mlflow's progress bars
    and log lines in a clinician's report (a local SQLite registry needs no mlflow at all)."""
    if isinstance(model, str) and model.startswith(_URI_SCHEMES) and _registry_location(model) is None:
        from ..tracking import quiet_mlflow

        with quiet_mlflow():
            return load_model(model, scoring_only=True)
    return load_model(model, scoring_only=True)


def _fhir_text(markers, clinical, one: bool, bundle, allow_imputed: bool = False) -> tuple[str, int]:
    """``ca125 score --format fhir``: one RiskAssessment, or a collection Bundle of them, one
    per patient of the cohort table the other formats write (:func:`_score_read`: a patient
    with markers and no clinical row, or a clinical row and no markers, is in it, not scored,
    with the reason; one bad patient never stops the cohort); and how many patients it holds
    (those of the markers had been said, not those of the clinical table without markers).
    ``one``: the markers hold one patient (its RiskAssessment, as the other formats report it)."""
    from ..predict.result import _prediction_from_row
    from ..sources.fhir import risk_assessment

    if one:                 # as the other formats report one patient
        return json.dumps(risk_assessment(predict(markers, clinical, model=bundle, allow_imputed=allow_imputed)),
                          indent=2) + "\n", 1
    frame = _score_read(bundle, markers, clinical, allow_imputed=allow_imputed)
    entries = [{"resource": risk_assessment(_prediction_from_row(row, (), bundle))}
               for row in frame.to_dict("records")]
    bundle_text = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}, indent=2)
    return bundle_text + "\n", len(entries)


def _stamped(table, bundle):
    """``table`` (DataFrame, or a prediction's dict) with the ``rules`` and ``package_version``
    of :func:`ca125kinetics.scores.with_model_provenance`."""
    from ..scores import with_model_provenance

    if isinstance(table, pd.DataFrame):
        return with_model_provenance(table, bundle)
    stamped = with_model_provenance(pd.DataFrame([{}]), bundle)
    return {**table, "rules": json.loads(stamped["rules"].iloc[0]), "package_version": stamped["package_version"].iloc[0]}


def _format_from_suffix(out, given=None) -> str:
    """``--format`` (``given``) or the format ``--out``'s suffix names (:func:`format_for_out`)."""
    from ._output import format_for_out

    return format_for_out(out, given, {".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet",
                                      ".txt": "text"})


def _cli_tables(args, bundle):
    """Markers (and clinical) of ``ca125 score``, restricted to ``--patient`` when given."""
    fmt = format_options(args)
    clinical = read_clinical(args.clinical, on_error="flag", require=("patient_id",), **fmt) if args.clinical else None
    if clinical is not None:
        require_rows(clinical, args.clinical, "clinical")
    markers = read_markers(args.markers, clinical=clinical, uln=setting_uln(args.markers, float(bundle.gcig_settings.uln)),
                           on_error="flag", duplicates=bundle.gcig_settings.duplicates, **markers_options(args))
    if args.patient is not None:
        wanted = str(args.patient).strip()
        ids = markers["patient_id"].astype(str)
        markers = markers[ids == wanted].reset_index(drop=True)
        if markers.empty:
            # '7' for '007': the table's id with its leading zeros, as the readers' hint names it
            padded = _padded_ids(ids.unique()).get(wanted.lstrip("0")) if wanted.isascii() and wanted.isdigit() \
                else None
            hint = f" (the table has patient {padded!r}: give --patient {padded})" if padded else ""
            raise InvalidInputError(f"patient {wanted!r} has no rows in the markers table; check --patient{hint}",
                                    source=str(args.markers), column="patient_id")
        if clinical is not None:
            clinical = clinical[clinical["patient_id"].astype(str) == wanted].reset_index(drop=True)
    require_rows(markers, args.markers)
    return markers, clinical


def _cohort_text(frame: pd.DataFrame, max_rows: int = 40) -> str:
    shown = frame.loc[:, list(_SUMMARY_COLUMNS)].head(max_rows)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.3f}".format):
        lines = [shown.to_string(index=False, na_rep="-")]
    if len(frame) > max_rows:
        lines.append(f"... {len(frame) - max_rows} more patient(s); use --out FILE or --format csv for all")
    lines.append("")
    lines.append(f"{len(frame)} patient(s): " + ", ".join(f"{k} {v}" for k, v in frame["decision"].value_counts().items()))
    if len(frame):
        lines.append(_model_line(frame["model_name"].iloc[0], frame["model_version"].iloc[0],
                                 float(frame["threshold"].iloc[0]), bool(frame["trained_on_synthetic"].iloc[0])))
    return "\n".join(lines) + "\n"


def _model_line(name, version, threshold: float, synthetic: bool) -> str:
    """The line under a text table of scores: the model, its threshold, and that this is
    research software (and a model trained on synthetic data, when it is)."""
    return f"model {name} {version}, threshold {threshold:.2f}. {_notice(synthetic)}"


def _main(argv=None) -> int:
    """``python -m ca125kinetics.predict --markers ...``: ``ca125 score`` without the CLI module."""
    import argparse
    parser = argparse.ArgumentParser(prog="ca125 score", description="Score patients with a trained model.")
    add_score_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cli_score(args)
    except Ca125KineticsError as exc:
        print(f"ca125: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
