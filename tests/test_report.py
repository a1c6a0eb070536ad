"""Tests of validation/report.py: the self-contained HTML report, MLflow logging, ``ca125 validate``.

A small ``logistic_main`` bundle is fitted and saved (with its manifest) in a session fixture,
then validated on a second simulated cohort in which one patient has invalid input and one
clinical row has no markers, so that the report has exclusions to list.
"""

from __future__ import annotations

import dataclasses
import html
import re
from argparse import ArgumentParser
from pathlib import Path

import pandas as pd
import pytest

from ca125kinetics.cli.validate import add_validate_arguments, cli_validate
from ca125kinetics.validation.report import (
    SECTIONS,
    log_to_mlflow,
    render_report,
    tripod_items,
    write_report,
)
from ca125kinetics.validation.studies import validate_model

# kinetics' sort check computes inf - inf (a harmless numpy RuntimeWarning reported to its owner)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")

ODD_ID = "<b>&'x"  # a patient id that must be escaped in HTML


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    from ca125kinetics.bundle import ModelBundle, save_bundle
    from ca125kinetics.features import build_patient_frame
    from ca125kinetics.models import make_pipeline
    from ca125kinetics.synth import simulate_cohort

    train = simulate_cohort(120, 11)
    frame = build_patient_frame(train.markers, train.clinical)
    y = train.truth.set_index("patient_id").reindex(frame["patient_id"])["complete_resection_potential"]
    pipeline = make_pipeline("logistic_main").fit(frame, y.to_numpy(dtype=int))
    bundle = ModelBundle(pipeline=pipeline, name="report-test", version="0.0.1+test", model_family="logistic_main",
                         threshold=0.70, trained_on_synthetic=True, training_summary={"n": len(frame)})
    directory = tmp_path_factory.mktemp("model") / "bundle"
    save_bundle(bundle, directory)
    return directory


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """Validation cohort files: one invalid patient, one clinical row without markers."""
    from ca125kinetics.synth import simulate_cohort

    c = simulate_cohort(140, 12)
    markers, clinical = c.markers.copy(), c.clinical.copy()
    bad = clinical.loc[clinical["arm"] == "surgery", "patient_id"].iloc[0]
    markers.loc[markers.index[(markers["patient_id"] == bad) & markers["ca125"].notna()][0], "ca125"] = -1.0
    extra = clinical.iloc[[0]].copy()
    extra["patient_id"] = ODD_ID
    clinical = pd.concat([clinical, extra], ignore_index=True)
    root = tmp_path_factory.mktemp("cohort")
    markers.drop(columns=["censored"]).to_csv(root / "markers.csv", index=False)
    clinical.to_csv(root / "clinical.csv", index=False)
    return root / "markers.csv", root / "clinical.csv", bad


@pytest.fixture(scope="session")
def result(model_dir, files):
    return validate_model(files[0], files[1], model=model_dir)


@pytest.fixture(scope="session")
def html_text(result):
    return render_report(result)


def test_report_is_self_contained(html_text):
    assert html_text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html_text, re.IGNORECASE)
    assert not re.search(r"<script|<link|<iframe|@import|url\(", html_text, re.IGNORECASE)
    images = re.findall(r'<img src="([^"]+)"', html_text)
    assert len(images) >= 5  # ROC, calibration, decision curve, KM curves
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_report_has_every_section_and_the_key_numbers(result, html_text):
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html_text, sid
    assert f"AUC {result.metrics.auc:.3f}" in html_text
    assert "calibration slope (1 ideal)" in html_text
    assert "Decision curve" in html_text and "Kaplan-Meier" in html_text
    assert "report-test" in html_text and "0.0.1+test" in html_text
    assert "Research software, not a medical device." in html_text


def test_exclusions_are_listed_and_escaped(result, files, html_text):
    reasons = result.exclusions.set_index("patient_id")["reason"]
    assert reasons[files[2]] == "invalid_input"
    assert reasons[ODD_ID] == "no_markers"
    assert ODD_ID not in html_text  # never raw HTML
    assert "&lt;b&gt;&amp;&#x27;x" in html_text
    for pid in result.exclusions["patient_id"]:
        assert f"<td>{pid}</td>" in html_text or pid == ODD_ID


def test_synthetic_banner_only_for_synthetic_models(result, html_text):
    assert 'id="synthetic-banner"' in html_text
    real = dataclasses.replace(result, model={**result.model, "trained_on_synthetic": False})
    assert 'id="synthetic-banner"' not in render_report(real)


def test_tripod_section_is_honest(result, html_text):
    items = tripod_items(result).set_index("item")
    assert {"covered", "partly", "not covered"} == set(items["status"])
    for item in ("10c", "10d", "13a", "13b", "16"):
        assert items.loc[item, "status"] == "covered"
    for item in ("1", "6b", "18", "22"):  # the authors' part of a paper
        assert items.loc[item, "status"] == "not covered"
    assert items.loc["8", "status"] == ("covered" if result.sample_size is not None else "not covered")
    assert "TRIPOD 2015" in html_text and "<td>13a</td>" in html_text


def test_write_report_creates_the_file_and_refuses_a_directory(result, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = write_report(result, tmp_path / "sub" / "report.html", title="My study")
    text = path.read_text(encoding="utf-8")
    assert "<title>My study</title>" in text
    from ca125kinetics.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="is a directory"):
        write_report(result, tmp_path)


@pytest.mark.slow  # MLflow's SQLite store: creating the schema takes seconds
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sqlalchemy/alembic inside mlflow's SQLite store
def test_metrics_and_report_are_logged_to_mlflow(result, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    path = write_report(result, tmp_path / "report.html")
    assert not (tmp_path / "mlflow.db").exists()   # writing a report logs nothing, whatever the environment
    log_to_mlflow(result, path, tracking_uri=uri, experiment="validation-test")
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("validation-test")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.metrics["auc"] == pytest.approx(result.metrics.auc)
    assert run.data.metrics["n_excluded"] == len(result.exclusions)
    assert run.data.params["model_name"] == "report-test"
    names = {a.path for a in client.list_artifacts(run.info.run_id, "validation")}
    assert "validation/report.html" in names
    logged = {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run.info.run_id, "validation/tables")}
    assert logged == {f"{name}.csv" for name in result.tables()}
    assert (tmp_path / "mlartifacts").is_dir()  # next to the database, as for training


@pytest.mark.slow  # MLflow's SQLite store: creating the schema takes seconds
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sqlalchemy/alembic inside mlflow's SQLite store
def test_tables_logged_to_mlflow_say_the_model_was_trained_on_synthetic_data(result, model_dir, files, tmp_path,
                                                                            monkeypatch, capsys):
    """The tables logged under validation/tables/ had none of the trained_on_synthetic, rules
    and package_version columns that the same tables written by --tables carry (the docs say
    they are the same tables): ``ca125 validate --tracking-uri`` logs the tables it writes,
    and log_to_mlflow by default stamps the model's trained_on_synthetic on every row."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    parser = ArgumentParser()
    add_validate_arguments(parser)
    args = parser.parse_args(["--model", str(model_dir), "--markers", str(files[0]), "--clinical", str(files[1]),
                              "--out", str(tmp_path / "r.html"), "--tables", str(tmp_path / "tables"),
                              "--tracking-uri", uri, "--experiment", "cli", "--no-progress"])
    assert cli_validate(args) == 0
    capsys.readouterr()
    log_to_mlflow(result, write_report(result, tmp_path / "api.html"), tracking_uri=uri, experiment="api")
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    for experiment in ("cli", "api"):
        (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
        logged = Path(client.download_artifacts(run.info.run_id, "validation/tables", str(tmp_path / experiment)))
        for name in ("metrics", "flow", "predictions"):
            frame = pd.read_csv(logged / f"{name}.csv")
            assert frame["trained_on_synthetic"].all(), (experiment, name)
            if experiment == "cli":
                assert (logged / f"{name}.csv").read_bytes() == (tmp_path / "tables" / f"{name}.csv").read_bytes()


def test_cli_validate_writes_the_report(model_dir, files, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    parser = ArgumentParser()
    add_validate_arguments(parser)
    out = tmp_path / "report.html"
    args = parser.parse_args(["--model", str(model_dir), "--markers", str(files[0]), "--clinical", str(files[1]),
                              "--out", str(out), "--bootstrap", "1", "--n-jobs", "1", "--no-progress"])
    assert cli_validate(args) == 0
    printed = capsys.readouterr().out
    assert "validated report-test" in printed and "optimism-corrected (1 resamples" in printed
    text = out.read_text(encoding="utf-8")
    assert "Harrell's optimism-corrected bootstrap" in text and "optimism-corrected" in text


# ----------------------------------------------------------------------------- researchers' needs

SUMMARY = {"n": 400, "events": 290, "n_holdout": 100, "n_evaluated": 100, "events_evaluated": 71, "auc": 0.81, "auc_ci": [0.76, 0.85], "brier": 0.16,
           "calibration_slope": 1.05, "citl": -0.06, "evaluation_set": "held-out", "date": "2026-11-21",
           "config": {"cv": {"n_splits": 5}, "families": ["logistic_main", "logistic_spline"]},
           "exclusions": [{"n": 12, "reason": "no outcome"}]}


def _section(text: str, sid: str) -> str:
    return text.split(f'<section id="{sid}">', 1)[1].split("</section>", 1)[0]


def test_development_versus_validation_table(result):
    text = render_report(dataclasses.replace(result, model={**result.model, "training_summary": SUMMARY}))
    part = _section(text, "performance")
    assert "<h3>Development versus validation</h3>" in part
    row = re.search(r"<tr><td>AUC</td><td>([^<]*)</td><td>([^<]*)</td><td[^>]*>([^<]*)</td></tr>", part)
    assert row.group(1) == "0.810 (0.760 to 0.850)"
    assert row.group(2).startswith(f"{result.metrics.auc:.3f} (")
    assert row.group(3) == f"{result.metrics.auc - 0.81:.3f}"
    # the counts of the held-out patients the development figures were measured on (it gave the
    # development set's 400 beside the held-out set's AUC)
    assert "<tr><td>patients analysed</td><td>100</td>" in part
    assert "<tr><td>complete resections</td><td>71</td>" in part
    old = {k: v for k, v in SUMMARY.items() if k not in ("n_evaluated", "events_evaluated")}
    part = _section(render_report(dataclasses.replace(result, model={**result.model, "training_summary": old})),
                    "performance")
    assert "<tr><td>patients analysed</td><td>100</td>" in part and "<tr><td>complete resections</td><td>-</td>" in part
    # a model without a training summary says why there is no table
    bare = render_report(dataclasses.replace(result, model={**result.model, "training_summary": {}}))
    assert "records no training summary" in _section(bare, "performance")


def test_no_raw_json_in_the_report(result):
    text = render_report(dataclasses.replace(result, model={**result.model, "training_summary": SUMMARY}))
    body = text.split("</style>", 1)[1]
    assert "{" not in body and "&quot;" not in _section(text, "model")
    model = _section(text, "model")
    assert "<th>training: config.cv.n_splits</th><td>5</td>" in model
    assert "<th>training: config.families</th><td>logistic_main, logistic_spline</td>" in model
    assert "<th>training: exclusions</th><td>n 12, reason no outcome</td>" in model


def test_optimism_columns_add_up_as_printed(result):
    from ca125kinetics.validation.report import _adds_up

    assert _adds_up(0.81249, 0.01151) == (0.812, 0.012, 0.8)
    a, o, c = _adds_up(0.5, float("nan"))
    assert a == 0.5 and o != o and c != c
    opt = pd.DataFrame({"metric": ["auc", "calibration_slope", "citl", "brier"],
                        "apparent": [0.8337, 1.0, 0.0, 0.1549], "bootstrap": [0.85, 1.0, 0.0, 0.15],
                        "test": [0.82, 0.91, 0.01, 0.16], "optimism": [0.0304, 0.0949, -0.0071, -0.0108],
                        "optimism_sd": [0.01] * 4, "n_resamples": [10] * 4})
    opt["corrected"] = opt["apparent"] - opt["optimism"]
    from ca125kinetics.validation.studies import OptimismResult

    o = OptimismResult(table=opt, resamples=pd.DataFrame(), n=100, n_events=70, n_boot=10, n_failed=0, seed=1,
                       n_jobs=1, elapsed_seconds=1.0, failures=(), warnings=(), pipeline="logistic_main")
    with_opt = result.with_optimism(o)
    frame = with_opt.to_frame().dropna(subset=["corrected"])
    assert (frame["apparent"] - frame["optimism"] - frame["corrected"]).abs().max() < 1e-12
    part = _section(render_report(with_opt), "performance")
    checked = 0
    for table in part.split("<table>")[1:]:
        headers = re.findall(r"<th>([^<]*)</th>", table.split("</thead>")[0])
        if "- optimism" not in headers:
            continue
        i, j, k = headers.index("- optimism") - 1, headers.index("- optimism"), headers.index("= corrected")
        assert k == j + 1 and headers[i].startswith("apparent")
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1]):
            cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
            if cells[k] != "-":
                assert round(float(cells[i]) - float(cells[j]), 3) == float(cells[k]), row
                checked += 1
    assert checked == 8  # the performance table and the bootstrap table, four metrics each
    assert "seed 1;" in part
    given = _section(render_report(result.with_optimism(dataclasses.replace(o, seed=None))), "performance")
    assert "resamples given by the caller" in given and "seed None" not in given


def test_decision_curve_has_every_published_rule_or_says_why(result, html_text):
    from ca125kinetics.validation.studies import DECISION_RULES

    part = _section(html_text, "decision-curve")
    for rule, (_, description) in DECISION_RULES.items():
        description = html.escape(description)
        drawn = f"net_benefit_{rule}" in result.decision_curve.columns
        assert (f"<li>{description} (dashed)" in part) == drawn
        assert (f"<li>{description}: left out, because it is available for" in part) == (not drawn)
    assert {"net_benefit_mskcc_offer", "net_benefit_mskcc_offer_or_consider"} <= set(result.decision_curve.columns) \
        or "MSKCC: secondary cytoreduction offered: left out" in part


def test_a_pdf_report_is_refused_naming_html(result, model_dir, files, tmp_path):
    from ca125kinetics.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"HTML only.*ending in \.html"):
        write_report(result, tmp_path / "report.pdf")
    parser = ArgumentParser()
    add_validate_arguments(parser)
    args = parser.parse_args(["--model", str(model_dir), "--markers", str(files[0]), "--clinical", str(files[1]),
                              "--out", str(tmp_path / "x.pdf")])
    with pytest.raises(InvalidInputError, match=r"--out .*x\.pdf.*ending in \.html"):
        cli_validate(args)
    assert not (tmp_path / "x.pdf").exists()


def test_cli_validate_writes_per_patient_predictions(model_dir, files, tmp_path, monkeypatch, capsys):
    import json

    import ca125kinetics

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    parser = ArgumentParser()
    add_validate_arguments(parser)
    args = parser.parse_args(["--model", str(model_dir), "--markers", str(files[0]), "--clinical", str(files[1]),
                              "--out", str(tmp_path / "r.html"), "--predictions", str(tmp_path / "p" / "pred.csv")])
    assert cli_validate(args) == 0
    pred = pd.read_csv(tmp_path / "p" / "pred.csv", dtype={"patient_id": str}, keep_default_na=False,
                       na_values=[""])
    expected = validate_model(files[0], files[1], model=model_dir).predictions
    assert pred["patient_id"].tolist() == expected["patient_id"].astype(str).tolist()
    assert pred["probability"].to_numpy() == pytest.approx(expected["probability"].to_numpy(dtype=float),
                                                           rel=1e-12, nan_ok=True)
    assert list(pred.columns[-3:]) == ["trained_on_synthetic", "rules", "package_version"]
    assert json.loads(pred["rules"].iloc[0])["model"] == "report-test 0.0.1+test"
    assert set(pred["package_version"]) == {ca125kinetics.__version__}
    # a model trained on synthetic data says so in every output, as the score tables do
    synthetic = bool(ca125kinetics.load_model(model_dir).trained_on_synthetic)
    assert synthetic and set(pred["trained_on_synthetic"]) == {True}
    out, err = capsys.readouterr()
    assert "patient prediction(s)" in err and "model trained on synthetic data" in out


def test_cli_validate_writes_every_table_of_the_report(model_dir, files, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    parser = ArgumentParser()
    add_validate_arguments(parser)
    args = parser.parse_args(["--model", str(model_dir), "--markers", str(files[0]), "--clinical", str(files[1]),
                              "--out", str(tmp_path / "r.html"), "--tables", str(tmp_path / "tables")])
    assert cli_validate(args) == 0
    result = validate_model(files[0], files[1], model=model_dir)
    names = {p.stem for p in (tmp_path / "tables").glob("*.csv")}
    assert names == set(result.tables())
    assert {"metrics", "threshold", "flow", "exclusions", "decision_curve", "decision_rules", "comparison",
            "subgroups", "predictions", "notes"} <= names
    metrics_csv = pd.read_csv(tmp_path / "tables" / "metrics.csv").set_index("metric")
    assert metrics_csv.loc["auc", "estimate"] == pytest.approx(result.metrics.auc, rel=1e-14)
    assert list(metrics_csv.columns[-3:]) == ["trained_on_synthetic", "rules", "package_version"]
    assert set(metrics_csv["trained_on_synthetic"]) == {True}
    flow = pd.read_csv(tmp_path / "tables" / "flow.csv").set_index("step")["n"]
    assert flow.to_dict() == result.flow.set_index("step")["n"].to_dict()
    assert "table(s) to" in capsys.readouterr().err


def test_cli_validate_refuses_a_file_as_tables_directory_before_the_work(model_dir, files, tmp_path):
    from ca125kinetics.errors import InvalidInputError

    (tmp_path / "t.csv").write_text("x\n")
    parser = ArgumentParser()
    add_validate_arguments(parser)
    args = parser.parse_args(["--model", str(model_dir), "--markers", str(files[0]), "--clinical", str(files[1]),
                              "--out", str(tmp_path / "r.html"), "--tables", str(tmp_path / "t.csv")])
    with pytest.raises(InvalidInputError, match="is a file"):
        cli_validate(args)
    assert not (tmp_path / "r.html").exists()


def test_net_benefit_is_stated_at_the_models_own_threshold_not_a_neighbour(model_dir, files):
    """A threshold off the 0.01 grid (0.705) is put on the decision curve; the report states the
    net benefit there (it used to print the nearest grid point's, labelled with that point)."""
    import dataclasses

    from ca125kinetics.predict import load_model
    from ca125kinetics.validation.metrics import net_benefit

    bundle = dataclasses.replace(load_model(model_dir), threshold=0.705)
    res = validate_model(files[0], files[1], model=bundle, survival=False, subgroups=())
    dc = res.decision_curve
    assert 0.705 in set(dc["threshold"]) and len(dc) == 100
    pred = res.predictions[res.predictions["included"]]
    expected = net_benefit(pred["complete_resection"].to_numpy(dtype=int), pred["probability"].to_numpy(dtype=float),
                           [0.705])["net_benefit"].iloc[0]
    assert dc.loc[dc["threshold"] == 0.705, "net_benefit"].iloc[0] == expected
    html = render_report(res)
    assert f"At the model's threshold 0.705: model {expected:.3f}," in html
    assert "positive = probability &ge; 0.705)" in html


def test_a_study_takes_the_thresholds_net_benefit_takes_and_refuses_a_curve_of_one_point(model_dir, files):
    """Thresholds are checked by the one check of net_benefit: 0 and a single value give a
    report (the model's threshold 0.7 is added, so the curve has two points); one value that is
    the model's own leaves a curve of one point, which cannot be drawn and is refused saying so;
    a threshold that is not a number is the package's error (it was a bare ValueError)."""
    from ca125kinetics import InvalidInputError
    from ca125kinetics.validation.metrics import net_benefit
    from ca125kinetics.validation.plots import decision_curve_figure

    for given, curve in (([0.0], [0.0, 0.7]), ([0.3], [0.3, 0.7]), ([0.0, 0.5, 0.5], [0.0, 0.5, 0.7])):
        res = validate_model(files[0], files[1], model=model_dir, thresholds=given, survival=False, subgroups=())
        assert res.decision_curve["threshold"].tolist() == curve
        html = render_report(res)
        row = res.decision_curve.set_index("threshold").loc[0.7]
        assert f"At the model's threshold 0.7: model {row['net_benefit']:.3f}," in html
    with pytest.raises(InvalidInputError, match="at least 2 different values: the report draws the decision curve"):
        validate_model(files[0], files[1], model=model_dir, thresholds=[0.7, 0.7], survival=False)
    with pytest.raises(InvalidInputError, match=r"thresholds must be risks in \[0, 1\) given as numbers"):
        validate_model(files[0], files[1], model=model_dir, thresholds=["a", 0.3])
    with pytest.raises(InvalidInputError, match=r"found 1.0 at position 1; net benefit is undefined at 1"):
        validate_model(files[0], files[1], model=model_dir, thresholds=[0.2, 1.0])
    one_point = net_benefit([0, 1, 0, 1], [0.2, 0.8, 0.4, 0.6], [0.3])   # a table of one row is fine
    assert len(one_point) == 1
    with pytest.raises(InvalidInputError, match="a decision curve is drawn between thresholds, and needs two points"):
        decision_curve_figure(one_point)


def test_captions_name_the_level_of_the_intervals_drawn(model_dir, files):
    """At conf_level 0.9 the performance table said 90 % while the calibration caption said
    'Wilson 95 % CI' and every Kaplan-Meier caption '95 % log-log pointwise band' over the
    90 % intervals drawn."""
    text = render_report(validate_model(files[0], files[1], model=model_dir, conf_level=0.9, subgroups=()))
    assert "Wilson 90 % CI" in text and "Kaplan-Meier estimate with 90 % log-log pointwise band" in text
    assert "Wilson 95 %" not in text and "95 % log-log" not in text


def test_every_table_with_intervals_says_their_level_and_method(model_dir, files):
    """The headline, the threshold table, the comparison with published scores, the subgroups,
    the median PFS and the Cox table printed intervals (and p-values) without saying at which
    level or by which method: at conf_level 0.9 only the performance table said 90 %."""
    text = render_report(validate_model(files[0], files[1], model=model_dir, conf_level=0.9))
    plain = re.sub(r"<[^>]+>", "", text)
    headline = re.search(r"patients analysed \(.*?Brier", plain).group(0)
    assert "AUC" in headline and "90 % DeLong CI" in headline
    performance = re.sub(r"<[^>]+>", "", _section(text, "performance")).split("At the model's threshold", 1)[1]
    assert "Wilson score 90 % intervals" in performance
    comparison = re.sub(r"<[^>]+>", "", _section(text, "comparison"))
    assert "90 % DeLong interval" in comparison and "paired DeLong test" in comparison
    subgroups = re.sub(r"<[^>]+>", "", _section(text, "subgroups"))
    assert "90 % DeLong interval" in subgroups
    survival = re.sub(r"<[^>]+>", "", _section(text, "survival"))
    assert "90 % Brookmeyer-Crowley interval" in survival
    assert "90 % Wald interval" in survival and "Wald test" in survival
    for part in (headline, performance, comparison, subgroups, survival):
        assert "95 %" not in part    # no interval said to be at another level
