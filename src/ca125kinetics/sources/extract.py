"""``ca125 extract fhir|omop``: write the markers table read from a FHIR bundle or an OMOP CDM
database, and next to it the list of skipped records with their reasons."""

from __future__ import annotations

import sys
from pathlib import Path

from ..cli import add_code_arguments, source_codes_options
from ..errors import InvalidInputError, not_a_file

__all__ = ["add_extract_arguments", "cli_extract", "skipped_path"]


def add_extract_arguments(parser) -> None:
    """Add the ``ca125 extract`` sub-subcommands to an argparse parser."""
    sub = parser.add_subparsers(dest="source_kind", metavar="SOURCE", parser_class=type(parser))
    sub.required = True
    f = sub.add_parser("fhir", help="a FHIR R4 bundle (.json)",
                       description="Read CA-125 or CEA observations, paracentesis/thoracentesis procedures "
                       "and platinum administrations from a FHIR R4 bundle.")
    f.add_argument("bundle", help="FHIR R4 Bundle (.json)")
    o = sub.add_parser("omop", help="an OMOP CDM v5.4 database",
                       description="Extract CA-125 or CEA measurements, exclusion procedures and platinum "
                       "drug exposures of a cohort from an OMOP CDM v5.4 database.")
    o.add_argument("--url", required=True,
                   help="SQLAlchemy URL: duckdb:///cdm.duckdb (embedded) or postgresql+psycopg://user@host/db")
    who = o.add_mutually_exclusive_group()
    who.add_argument("--cohort-id", type=int, help="cohort_definition_id of the cohort table")
    who.add_argument("--person-ids", help="file with one person_id per line")
    o.add_argument("--patient-id", choices=["person_id", "person_source_value"], default="person_id",
                   help="column written as patient_id (default person_id)")
    o.add_argument("--schema", help="schema of the CDM tables (default: the connection's)")
    o.add_argument("--drug-type", type=int, action="append", default=None, metavar="CONCEPT_ID",
                   help="a drug_type_concept_id whose drug_exposure rows are doses (e.g. the site's EHR "
                   "administration record; repeat for several): exposures of other types (a prescription written, "
                   "a dispensing) are skipped. Without it every type is read, and a person whose first exposure "
                   "differs by type gets no treatment start")
    for p in (f, o):
        p.add_argument("--marker", choices=["ca125", "cea"], default="ca125", help="marker read (default ca125)")
        p.add_argument("--treatment-start", help="first dose (YYYY-MM-DD) for every patient, instead of the "
                       "platinum records of the source")
        p.add_argument("--uln", type=float, help="ULN for samples without a reference range (CA-125 default 35 U/mL)")
        add_code_arguments(p)
        p.add_argument("--out", required=True, help="markers table to write (.csv, .parquet or .json); the skipped "
                       "records go beside it, markers.parquet -> markers.skipped.csv")


def skipped_path(out) -> Path:
    """Where the skipped records of ``--out`` are written: ``markers.parquet`` -> ``markers.skipped.csv``."""
    out = Path(out)
    return out.with_name(out.stem + ".skipped.csv")


def cli_extract(args) -> int:
    """Handler of ``ca125 extract``: read, validate with the markers reader, write both tables."""
    from ..cli._output import TABLE_SUFFIXES, format_for_out
    from ..io import read_markers, write_table

    format_for_out(args.out, None, TABLE_SUFFIXES)    # before reading: a suffix it cannot write is refused
    if args.source_kind == "fhir":
        from .fhir import read_fhir

        result = read_fhir(args.bundle, marker=args.marker, treatment_start=args.treatment_start, uln=args.uln,
                           **source_codes_options(args))
    else:
        from .omop import read_omop

        person_ids = None
        if args.person_ids:
            path = Path(args.person_ids)
            if not path.is_file():
                raise InvalidInputError(f"{not_a_file(path)}; give a file with one person_id per line", source=str(path))
            lines = [w.strip() for w in path.read_text().splitlines() if w.strip()]
            bad = [w for w in lines if not w.lstrip("-").isdigit()]
            if bad:
                raise InvalidInputError(f"person_id {bad[0]!r} is not a whole number", source=str(path))
            person_ids = [int(w) for w in lines]
        result = read_omop(args.url, marker=args.marker, cohort_id=args.cohort_id, person_ids=person_ids,
                           patient_id=args.patient_id, treatment_start=args.treatment_start, uln=args.uln,
                           schema=args.schema, drug_types=args.drug_type, **source_codes_options(args))
    checked = read_markers(result.markers, on_error="flag", uln=result.marker.default_uln,
                           marker=result.marker.name)
    flagged = checked.loc[checked["problem"].notna(), "patient_id"].nunique()
    from .._atomic import file_set

    with file_set():        # the markers and their skipped records replaced together, or neither
        out = write_table(result.markers, args.out)
        skipped = write_table(result.skipped, skipped_path(args.out))
    print(result.summary())
    print(f"wrote {len(result.markers)} row(s) to {out} and {len(result.skipped)} skipped record(s) to {skipped}",
          file=sys.stderr)
    if flagged:
        print(f"{flagged} patient(s) break the markers data contract (ca125 gcig {out} shows why)",
              file=sys.stderr)
    return 0
