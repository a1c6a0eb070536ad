"""``ca125 kinetics``: KELIM-like elimination rates of every patient."""

from __future__ import annotations

import sys

from .._columns import constant_text
from ..cohort import DEFAULT_POPULATION_SAMPLE, _check_population_sample
from ..errors import InvalidInputError
from ..io import read_markers, setting_uln
from ..kinetics import fit_kinetics
from ..markers import get_marker
from ..settings import (
    KELIM_FAVOURABLE_SCORE, PROVENANCE_COLUMNS, KineticsSettings, ResponseSettings, kelim_cutoff, with_provenance,
)
from . import (add_chunk_arguments, add_duplicates_argument, add_format_arguments, add_kelim_cutoff_argument,
               add_progress_argument, cohort_stream, markers_options, progress_wanted, require_rows)
from ._output import (check_table_out, counts, emit, max_rows_option, shown_rows, summary_stream, text_table,
                      written_whole)


def add_kinetics_arguments(parser) -> None:
    """Arguments of ``ca125 kinetics``."""
    parser.description = (
        "Fit the KELIM-like floor model C(t) = B + (C0 - B) exp(-k t) to every patient "
        "(population empirical-Bayes by default) and report k, half-life, score and descriptors."
    )
    parser.add_argument("markers", help="markers table (.csv or .parquet) or a FHIR R4 bundle (.json)")
    parser.add_argument("--method", choices=["population", "per-patient", "loglinear"], default="population")
    parser.add_argument("--marker", default="ca125", choices=["ca125", "cea"],
                        help="marker of the table, named by its value column (default ca125; cea for CEA)")
    parser.add_argument("--uln", type=float, default=None,
                        help="assay upper limit of normal in the marker's unit (default: the model's with --model, "
                        "else 35 U/mL for CA-125, 5 ng/mL for CEA)")
    parser.add_argument("--k-ref", type=float, default=None,
                        help="k_ref of the standardized score k / k_ref (default: the model's with --model, "
                        "else the package default 0.05/day)")
    add_duplicates_argument(parser, default=None, default_text="default; with --model, the model's rule, as "
                            "'ca125 score --model' reads the table")
    parser.add_argument("--cycle-days", type=int, default=None, metavar="DAYS",
                        help="cycle length of the percent declines before cycles 2, 3, 4 (default: the model's "
                        "with --model, else 21; 14 for two-weekly regimens such as FOLFOX)")
    parser.add_argument("--cycle-window-days", type=int, default=None, metavar="DAYS",
                        help="the sample before cycle c is the latest within +/- DAYS of day (c - 1) x "
                        "--cycle-days (default: the model's with --model, else 7)")
    parser.add_argument("--model", default=None,
                        help="take k_ref, the kinetics rules and the fitted population of this model (exported "
                        "directory or MLflow URI), so the scores equal those of 'ca125 score --model'")
    parser.add_argument("--response", action="store_true",
                        help="add the response features (post/pre ratio, normalisation, clearance R^2); "
                        "always added for markers other than CA-125")
    # dest: the setting it gives (ResponseSettings.clearance_r2_threshold), as refusals name it
    parser.add_argument("--clearance-r2", type=float, default=None, dest="clearance_r2_threshold",
                        metavar="CLEARANCE_R2",
                        help="R^2 threshold of exponential clearance (default 0.9, FOWARC); with the response "
                        "features only (--response, or a marker other than CA-125)")
    parser.add_argument("--out", help="write the table to this .csv/.json/.parquet file")
    parser.add_argument("--format", choices=["text", "csv", "json"], default=None)
    parser.add_argument("--max-rows", type=max_rows_option, default=None,
                        help="rows shown in the text table (default 40; 0 = all; refused with --out or --format "
                        "csv/json, which write every row)")
    add_format_arguments(parser)
    add_chunk_arguments(parser)
    add_progress_argument(parser)
    add_kelim_cutoff_argument(parser)
    parser.add_argument("--population-sample", type=int, default=None, metavar="N",
                        help="a file read in chunks learns the population on its first N patients "
                        "(default 100000), then fits every patient under it (--method population only; "
                        "not with a --model that has a population: the model's population is used)")
    # the process ends without freeing its modules once the table is written (cli.main)
    parser.set_defaults(exit_without_teardown=True)


def _kinetics_settings_and_population(args, spec=None):
    """(settings, population, method, duplicates) of ``ca125 kinetics``: the model's with
    ``--model`` (its k_ref, rules, fitted population and same-day rule, so the scores equal
    those of ``ca125 score``), else the package defaults; ``--uln``, ``--k-ref``,
    ``--cycle-days``, ``--cycle-window-days`` and ``--duplicates`` override, and the source of
    k_ref is recorded either way."""
    population, method, duplicates = None, args.method, "error"
    if args.model is not None:
        from ..predict import load_model
        from ..predict.engine import _kinetics_step

        bundle = load_model(args.model, scoring_only=True)
        duplicates = bundle.gcig_settings.duplicates     # how ca125 score --model reads the table
        step = _kinetics_step(bundle)
        settings = step.settings_ if step is not None else bundle.kinetics_settings
        # every row says where k_ref (and the population) came from, and that the model learned
        # them from synthetic data when it did
        synthetic = ", trained on synthetic data" if getattr(bundle, "trained_on_synthetic", False) else ""
        settings = settings.replace(k_ref_source=f"model {getattr(bundle, 'name', '')} "
                                    f"{getattr(bundle, 'version', '')}{synthetic}: {settings.k_ref_source}")
        if step is not None and getattr(step, "method", None) == "population" and method == "population":
            population = getattr(step, "population_", None)
    else:   # the package defaults, with the marker's ULN (CA-125: KineticsSettings() itself)
        if spec is None or spec.name == "ca125":
            settings = KineticsSettings()
        else:   # no reference rate is established for another marker: say so with the number
            settings = KineticsSettings(
                uln=spec.default_uln,
                k_ref_source=f"CA-125's package default; no reference rate is established for {spec.label}, "
                             f"so k / k_ref is not a validated scale for it (give --k-ref)")
    if args.uln is not None:
        settings = settings.replace(uln=args.uln)
    if args.k_ref is not None:
        settings = settings.replace(k_ref=args.k_ref, k_ref_source="given on the command line (--k-ref)")
    # the option's dest is the setting's name; both at once: each is checked against the other
    cycles = {name: getattr(args, name) for name in ("cycle_days", "cycle_window_days") if getattr(args, name) is not None}
    if cycles:
        settings = settings.replace(**cycles)
    return settings, population, method, duplicates if args.duplicates is None else args.duplicates


def cli_kinetics(args) -> int:
    """Handler of ``ca125 kinetics``; returns the exit code."""
    spec = get_marker(args.marker)
    _refuse_unused(args, spec)
    check_table_out(args.out, args.format)
    max_rows = shown_rows(args, text=not written_whole(args), default=40)
    cutoff = kelim_cutoff(args.kelim_cutoff)        # refused before anything is read
    settings, population, method, duplicates = _kinetics_settings_and_population(args, spec)
    population_sample = _population_sample(args, method, population)
    read_options = {"marker": spec, "duplicates": duplicates, **markers_options(args)}
    given = {} if args.clearance_r2_threshold is None else {"clearance_r2_threshold": args.clearance_r2_threshold}
    response = ResponseSettings(**given) if args.response or spec.name != "ca125" else None

    def fit(markers, population):
        return _kinetics_table(markers, method, population, settings, spec, response, duplicates)

    stream = cohort_stream(args)
    if stream is None:
        # --uln states the ULN; the settings' (a model's, the marker's default) is not read into a bundle
        markers = read_markers(args.markers, uln=setting_uln(args.markers, settings.uln, args.uln), on_error="flag",
                               **read_options)
        require_rows(markers, args.markers)
        table = fit(markers, population)
    else:  # a large file: read in patient-complete chunks, each fitted as a whole table is
        from ..cohort import chunked_format, iter_kinetics, run_kinetics, write_chunks

        options = dict(method=method, settings=settings, population=population, progress=progress_wanted(args),
                       population_sample=population_sample, read_options=read_options, fit=fit)
        out_format = chunked_format(args.out, args.format)
        if out_format is not None:  # a big result goes to its file chunk by chunk
            n, kept = write_chunks(iter_kinetics(stream, **options), args.out, out_format,
                                   ("method", "status", "k", "half_life_days", "kelim_score",
                                    "post_pre_ratio", "normalised", "exponential_clearance"))
            print(f"wrote {n} row(s) to {args.out}", file=sys.stderr)
            print(_summary(kept, settings, spec, response, cutoff), file=summary_stream(args.out))
            return 0
        table = run_kinetics(stream, **options)
    summary = _summary(table, settings, spec, response, cutoff)
    text = text_table(table.drop(columns=list(PROVENANCE_COLUMNS)), max_rows=max_rows) + "\n\n" + summary
    emit(table, args.out, args.format, text=text)
    if written_whole(args):     # beside the file --out on stdout; with the table on stdout, on stderr
        print(summary, file=summary_stream(args.out))
    return 0


def _refuse_unused(args, spec) -> None:
    """Refuse an option given but not used for this marker, which would be read and ignored:
    the KELIM cut-off is CA-125's, and the clearance threshold belongs to the response
    features (added for CA-125 with --response only)."""
    if args.kelim_cutoff is not None and spec.name != "ca125":
        raise InvalidInputError(f"--kelim-cutoff is the cut-off of the KELIM-like score, defined for CA-125 only; "
                                f"{spec.label} has no favourable/unfavourable cut-off: leave --kelim-cutoff out")
    if args.clearance_r2_threshold is not None and not args.response and spec.name == "ca125":
        raise InvalidInputError("--clearance-r2 is the threshold of the response features' exponential clearance, "
                                "which CA-125 kinetics add with --response only: add --response, or leave "
                                "--clearance-r2 out")


def _population_sample(args, method: str, population) -> int:
    """``--population-sample`` checked (default :data:`~ca125kinetics.cohort.DEFAULT_POPULATION_SAMPLE`),
    and refused where no population is learned (read and ignored otherwise): another
    ``--method``, or the population of the ``--model``."""
    if args.population_sample is None:
        return DEFAULT_POPULATION_SAMPLE
    if method != "population":
        raise InvalidInputError(f"--population-sample sets the patients the population is learned on, which only "
                                f"--method population learns (not --method {method}): leave --population-sample out")
    if population is not None:
        raise InvalidInputError("--population-sample sets the patients the population is learned on; with --model "
                                "the model's fitted population is used and none is learned: leave "
                                "--population-sample out")
    _check_population_sample(args.population_sample, option="--population-sample")
    return args.population_sample


def _kinetics_table(markers, method, population, settings, spec, response, duplicates="error"):
    """The ``ca125 kinetics`` table of read markers (a whole table or one chunk): the
    kinetics, the k_ref used, the response features (``response`` settings given) and the
    provenance columns (with the same-day rule the markers were read by, when one was named)."""
    table = fit_kinetics(markers, method=method, population=population, settings=settings, marker=spec)
    # the standardized score depends on k_ref: each row says which one and where it came from
    table = table.assign(k_ref=settings.k_ref, k_ref_source=constant_text(settings.k_ref_source, len(table)))
    rules = [settings]
    if response is not None:
        from ..response import response_features

        rules.append(response)
        features = response_features(markers, marker=spec, settings=settings, response=response)
        # the columns both tables hold (the same baseline) once
        table = table.merge(features.drop(columns=["uln", "n_samples", "baseline_value", "baseline_day",
                                                   "baseline_censored"]),
                            on="patient_id", how="left", validate="one_to_one")
    extra = {} if spec.name == "ca125" else {"marker": spec.name}
    if duplicates != "error":       # same-day samples aggregated: the rows say how
        extra["duplicates"] = duplicates
    return with_provenance(table, *rules, method=method, **extra)


def _summary(table, settings, spec, response, cutoff: float = KELIM_FAVOURABLE_SCORE) -> str:
    summary = _kinetics_summary(table, settings, spec, cutoff)
    if response is not None:
        summary += "\n" + _response_summary(table, response)
    return summary


def _response_summary(features, response) -> str:
    ratio = features["post_pre_ratio"].dropna()
    norm = features["normalised"].dropna()
    clear = features["exponential_clearance"].dropna()
    return (f"  response: median post/pre ratio {ratio.median():.3g} ({len(ratio)} patient(s)); "
            f"normalised {int(norm.sum())} of {len(norm)} with a raised baseline (and a post value "
            f"known to be normal or not); exponential "
            f"clearance (R^2 > {response.clearance_r2_threshold:g}) {int(clear.sum())} of {len(clear)}")


def _kinetics_summary(table, settings, spec=None, cutoff: float = KELIM_FAVOURABLE_SCORE) -> str:
    ok = table[table["status"] == "ok"]
    marker = "" if spec is None or spec.name == "ca125" else f"{spec.label} "
    lines = [f"KELIM-like {marker}kinetics ({table['method'].iloc[0] if len(table) else '-'}), "
             f"{len(table)} patient(s), {len(ok)} scored; standardized score = k / k_ref with k_ref "
             f"{settings.k_ref:g}/day ({settings.k_ref_source})"
             + (f"; ULN {settings.uln:g} {spec.unit}" if marker else "")]
    if len(ok):
        # the favourable cut-off is the KELIM score's, defined for CA-125 only
        favourable = (f", favourable score (>= {cutoff:g}): {int((ok['kelim_score'] >= cutoff).sum())}"
                      if not marker else
                      f"; no favourable/unfavourable cut-off for {spec.label} (the KELIM cut-off is CA-125's)")
        lines.append(f"  median k {ok['k'].median():.4f}/day, median half-life "
                     f"{ok['half_life_days'].median():.1f} days{favourable}")
    for status, n in counts(table["status"]).items():
        if status != "ok":
            lines.append(f"  not scored, {status}: {n}")
    return "\n".join(lines)
