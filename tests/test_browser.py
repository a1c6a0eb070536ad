"""End to end in a real headless browser: the scoring page served by uvicorn, driven in Chromium.

Chromium comes from the distribution's packages (``/usr/bin/chromium``; ``scripts/test.sh``
installs it with apt-get when run as root) and is driven by Playwright's Python package with
``executable_path`` (no browser download). Without Chromium the tests are skipped with the
reason. The server runs in a thread on a free loopback port.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from test_predict import build_small_model

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is absent: install the distribution's chromium package "
                              "(scripts/test.sh does so with apt-get when run as root)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from ca125kinetics.web import create_app

    model_dir = build_small_model(tmp_path_factory.mktemp("browser") / "model")[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(model_dir), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # Chromium logs every 4xx response as a console error; the page handles those (last test)
    page.on("console", lambda msg: problems.append(f"console: {msg.text}")
            if msg.type == "error" and "status of 422" not in msg.text else None)
    page.on("request", lambda req: problems.append(f"off-site request: {req.url}")
            if not req.url.startswith((server, "data:")) else None)
    page.goto(server + "/")
    yield page
    context.close()
    assert not problems, problems


def _fill_rows(page, rows):
    page.click("#timing-day")
    for i, (day, value) in enumerate(rows):
        if page.locator("#samples tbody tr").count() <= i:
            page.click("#add-row")
        row = page.locator("#samples tbody tr").nth(i)
        row.locator("input.when").fill(str(day))
        row.locator("input.value").fill(str(value))


def test_surgeon_enters_a_series_and_sees_verdict_probability_and_plot(page):
    _fill_rows(page, [(0, 400), (21, 180), (42, 195), (63, 150)])
    page.select_option("#ecog", "0")
    page.fill("#age", "61")
    page.select_option("#recist", "PR")
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert page.text_content("#verdict") == "response (PR): fall on day 21, confirmed on day 63"
    probability = float(page.text_content("#probability"))
    assert 0.0 <= probability <= 1.0
    assert "threshold 0.70" in page.text_content("#interval")
    recommendation = page.text_content("#recommendation")
    assert "GCIG CA-125 response (PR) confirmed on day 63" in recommendation
    assert recommendation.endswith("Model trained on synthetic data.")
    assert page.locator("#plot svg circle.observed").count() == 4
    assert page.locator("#plot svg path.fitted-curve").count() == 1
    assert "Model test-small" in page.text_content("#model-info")


def test_an_empty_uln_field_shows_the_served_models_uln(page):
    """The ULN field's placeholder said 35 whatever the model: a site's model trained with
    another GCIG ULN (training config ``uln = 30``) scored an empty field with 30 while the form
    showed 35."""
    import json

    assert page.get_attribute("#uln", "placeholder") == "35"

    def thirty(route):
        answer = route.fetch()
        data = answer.json()
        data["gcig"]["uln"] = 30.0
        route.fulfill(response=answer, body=json.dumps(data))

    page.route("**/api/model", thirty)
    page.reload()
    page.wait_for_selector("#model-info:not(:empty)", timeout=30_000)
    assert page.get_attribute("#uln", "placeholder") == "30"


def test_dates_and_example_patient(page):
    page.click("#example")
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert page.text_content("#verdict").startswith("response (PR)")
    assert page.locator("#plot svg circle.observed").count() == 5


def test_invalid_input_shows_the_servers_message(page):
    _fill_rows(page, [(0, 400), (0, 380), (21, 100)])
    page.click("#score")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    error = page.text_content("#error")
    assert "Two samples on day 0 (samples 1 and 2): enter one CA-125 value per day" in error
    assert "duplicates=" not in error and "row 0" not in error  # the form's words, not the library's
    assert page.is_hidden("#answer")
    invalid = page.locator("#samples tbody tr input.when.invalid")
    assert invalid.count() == 2 and invalid.first.get_attribute("aria-invalid") == "true"
    assert "Two samples on day 0" in page.text_content("#samples tbody tr:first-child .field-error")
    # correcting the field removes its highlight
    page.locator("#samples tbody tr").nth(1).locator("input.when").fill("42")
    assert page.locator("#samples tbody tr").nth(1).locator("input.when.invalid").count() == 0


def test_field_errors_name_the_field_and_highlight_it(page):
    _fill_rows(page, [(0, 400), (21, 180), (42, 95)])
    page.fill("#age", "130")
    page.click("#score")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert page.text_content("#error-list") == "Age: must be at most 120"
    assert "clinical.age" not in page.text_content("#error")
    assert page.get_attribute("#age", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "age"  # taken to the field
    # a sample's value: named by its row, highlighted in that row
    page.fill("#age", "61")
    page.locator("#samples tbody tr").nth(1).locator("input.value").fill("2000000")
    page.click("#score")
    page.wait_for_selector("#samples tbody tr:nth-child(2) input.value.invalid", timeout=30_000)
    assert page.text_content("#error-list") == "Sample 2, CA-125: must be at most 1000000"


def test_a_data_contract_refusal_of_a_sample_is_shown_at_its_row(page):
    """The reader's refusal of one sample (a CA-125 of 0, which no assay measures) was shown
    above the form without the row, and told the surgeon to type '<5', which the value field
    refuses: it is now at the sample's row, in the form's words."""
    _fill_rows(page, [(0, 400), (21, 0), (42, 95)])
    page.click("#score")
    page.wait_for_selector("#samples tbody tr:nth-child(2) input.value.invalid", timeout=30_000)
    text = page.text_content("#error-list")
    assert text.startswith("Sample 2: CA-125 value 0.0: no assay measures 0 U/mL")
    assert "'below the assay limit' ticked" in text and "samples.1" not in text
    assert page.locator("#answer").is_hidden()


def test_a_fractional_day_is_refused_not_truncated(page):
    # the day field held "21.5" and the page sent parseInt's 21 (and "1e2" as day 1)
    _fill_rows(page, [(0, 400), ("21.5", 180), (42, 95)])
    page.click("#score")
    page.wait_for_selector("#samples tbody tr:nth-child(2) input.when.invalid", timeout=30_000)
    assert page.text_content("#error-list") == "Sample 2, day: must be a whole number"
    assert page.locator("#answer").is_hidden()


def test_switching_to_dates_never_truncates_a_day(page):
    # switching day -> date converted parseInt("21.5") = 21 (and "1e2" = 1) into a date
    page.click("#timing-date")
    page.fill("#treatment-start", "2025-03-03")
    page.click("#timing-day")
    rows = page.locator("#samples tbody tr")
    rows.nth(0).locator("input.when").fill("21.5")
    rows.nth(1).locator("input.when").fill("1e2")
    page.click("#timing-date")
    assert rows.nth(0).locator("input.when").input_value() == ""       # not 2025-03-24
    assert rows.nth(1).locator("input.when").input_value() == "2025-06-11"   # day 100


def test_the_gcig_reasoning_interval_and_kelim_group_are_explained(page):
    _fill_rows(page, [(0, 400), (21, 180), (42, 195), (63, 150)])
    page.select_option("#figo", "IIIC")  # substages are offered
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    steps = page.locator("#gcig-steps li").all_text_contents()
    assert steps[0].startswith("Baseline: 400 U/mL on day 0") and "2 × ULN = 70 U/mL: met" in steps[0]
    assert steps[1].startswith("The 50 % line: 200 U/mL")
    assert steps[2] == "First value at or below the line: 180 U/mL on day 21 (the response date)."
    assert steps[3].startswith("Confirming sample: 150 U/mL on day 63, 42 days after the fall (at least 28 needed)")
    assert steps[4].startswith("PR: the confirming value is above the normal range")
    # the same reading on the plot: the 50 % line, the three marked samples, the 42-day gap
    assert page.locator("#plot svg line.response-line").count() == 1
    for mark in ("baseline", "fall", "confirms"):
        assert page.locator(f"#plot svg circle.gcig-{mark}").count() == 1
    assert page.locator("#plot svg path.confirmation-gap").count() == 1
    note = page.text_content("#interval-note")
    assert "percentile of the probabilities given by 5 copies of the model refitted on bootstrap" in note
    assert "not a range of outcomes for this patient" in note
    group = page.text_content("#kelim-group")
    assert group in ("favourable (score ≥ 1)", "unfavourable (score < 1)")
    assert "not the KELIM number of the closed biomarker-kinetics.org calculator" in page.text_content("#kelim-note")


def test_the_curve_beyond_the_last_sample_is_marked_as_extrapolation(page):
    _fill_rows(page, [(0, 400), (21, 180), (42, 95)])
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    last_x = max(float(c.get_attribute("cx")) for c in page.locator("#plot svg circle.observed").all())
    solid = page.get_attribute("#plot svg path.fitted-curve", "d")
    assert max(float(p.split(",")[0][1:]) for p in solid.split(" ")) <= last_x + 0.1
    assert page.locator("#plot svg path.extrapolated-curve").count() == 1
    assert page.text_content("#plot svg .extrapolation-label") == "extrapolation"


def test_the_page_fits_a_390_px_phone_and_scrolls_to_the_result(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(server + "/")
    page.click("#example")
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    for selector in ("#score-form", "#result", "#plot svg", "#samples"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    top = page.evaluate("document.getElementById('result').getBoundingClientRect().top")
    assert -1 < top < 50  # the result was scrolled into view (to within a sub-pixel of layout rounding)
    context.close()


def test_print_view_has_the_patient_reference_and_no_controls(page):
    page.fill("#patient-ref", "MRN-0042")
    page.click("#example")
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    page.emulate_media(media="print")
    assert page.is_visible("#print-header") and page.is_hidden("#score-form") and page.is_hidden("#print")
    assert page.text_content("#print-ref") == "MRN-0042"
    assert "2025-03-24: 190" in page.text_content("#print-samples")
    assert "ECOG 0" in page.text_content("#print-clinical")
    page.emulate_media(media="screen")
    assert page.is_hidden("#print-header")


def test_fhir_bundle_fills_the_form(page, tmp_path):
    pytest.importorskip("fhir.resources", reason="optional extra 'fhir' not installed")
    from pathlib import Path

    from ca125kinetics.sources.fhir import cohort_to_fhir, write_fhir

    cohort = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "default"
    bundle = cohort_to_fhir(cohort / "markers.csv", cohort / "clinical.csv")
    # patient 000050 has a paracentesis on day 30
    one = dict(bundle, entry=[e for e in bundle["entry"] if "/000050" in e["fullUrl"]])
    path = write_fhir(one, tmp_path / "000050.json")
    page.set_input_files("#fhir-file", str(path))
    # (no wait_for_function: the page's CSP forbids evaluating strings)
    page.locator("#bundle-note", has_text="patient 000050").wait_for(timeout=30_000)
    note = page.text_content("#bundle-note")
    assert "1 exclusion event(s) (paracentesis" in note
    n_values = sum(1 for e in one["entry"] if e["resource"]["resourceType"] == "Observation")
    assert page.locator("#samples tbody tr").count() == n_values
    assert page.input_value("#treatment-start") == one["entry"][1]["resource"]["effectiveDateTime"]
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert page.locator("#plot svg circle.observed").count() == n_values
    # the printout lists the paracentesis as such (it printed "2025-10-09: null", a CA-125 of null)
    printed = page.text_content("#print-samples")
    assert "null" not in printed and ": paracentesis" in printed
    # days without the date of the first dose: the dated paracentesis cannot be placed; it was
    # dropped without a word (the note still said "sent with the samples")
    page.fill("#treatment-start", "")
    _fill_rows(page, [(21 * i - 3, 100) for i in range(n_values)])
    page.click("#score")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "1 exclusion event(s) of the FHIR bundle" in page.text_content("#error-list")


def test_a_bundles_assays_go_with_its_samples(page, tmp_path):
    """The page filled its rows from a bundle without the samples' assays and sent none: an
    assay change after the baseline was scored as a confirmed GCIG response."""
    import json

    U = "http://unitsofmeasure.org"

    def obs(value, oid, when, assay):
        quantity = {"value": value, "unit": "U/mL", "system": U, "code": "U/mL"}
        return {"resourceType": "Observation", "id": oid, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "10334-1"}]},
                "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when, "valueQuantity": quantity,
                "referenceRange": [{"high": dict(quantity, value=35)}], "method": {"text": assay}}

    dose = {"resourceType": "MedicationAdministration", "id": "ma", "status": "completed",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "40048"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-04"}
    entries = [obs(400, "a", "2025-01-01", "Elecsys"), obs(180, "b", "2025-01-25", "Architect"),
               obs(95, "c", "2025-02-15", "Architect"), obs(40, "d", "2025-03-08", "Architect"), dose]
    path = tmp_path / "assays.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in entries]}))
    page.set_input_files("#fhir-file", str(path))
    page.locator("#bundle-note", has_text="assays Elecsys, Architect").wait_for(timeout=30_000)
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert "assay changed from 'Elecsys'" in page.text_content("body")


def test_decimal_comma_is_refused_and_imputed_probability_is_marked(page):
    _fill_rows(page, [(0, 400), (21, 180), (42, 195), (63, 150)])
    value = page.locator("#samples tbody tr").nth(1).locator("input.value")
    value.fill("")
    value.press_sequentially("180,5")           # typed as on a European keyboard
    page.click("#score")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    # (a number field in Chromium drops the comma and sends 1805: the field is text, checked)
    assert 'Sample 2, CA-125: "180,5" is not a number' in page.text_content("#error")
    page.fill("#age", "61,5")
    page.click("#score")
    assert 'Age: "61,5" is not a number' in page.text_content("#error")
    page.fill("#age", "")
    _fill_rows(page, [(0, 400), (21, 180.5), (42, 195), (63, 150)])
    page.click("#score")                        # no clinical factor given: the decision is withheld
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert "computed with unknown clinical factors imputed: no decision" in page.text_content("#interval")
    assert page.text_content("#recommendation").startswith("Insufficient information: give age, ecog")


def test_a_baseline_only_is_marked_as_computed_with_the_kinetics_imputed(page):
    """No CA-125 after the first dose: the kinetics are imputed (rule 5), which the probability
    line says, beside the clinical factors left unknown."""
    _fill_rows(page, [(-3, 400)])
    page.select_option("#recist", "PR")
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert ("computed with unknown clinical factors and the CA-125 kinetics (no CA-125 after the first dose) "
            "imputed: no decision") in page.text_content("#interval")
    assert page.text_content("#recommendation").startswith("Insufficient information: give age, ecog")


def test_a_value_typed_as_below_the_limit_is_told_to_tick_the_box(page):
    """'<5' typed into a CA-125 field was refused as a number with a decimal comma or thousands
    separator ('write it with a point as the decimal mark'), which says nothing of the box."""
    _fill_rows(page, [(-3, 400), (21, 180), (42, "< 5")])
    page.click("#score")
    page.wait_for_selector("#samples tbody tr:nth-child(3) input.value.invalid", timeout=30_000)
    assert page.text_content("#error-list") == ('Sample 3, CA-125: "< 5" is a value below the assay limit: write '
                                                'the limit (5) as the value and tick "below limit (<)"')


def test_a_result_is_withdrawn_once_the_form_changes(page):
    """A result stayed on screen, and in the printout, after the form was changed: scored for
    patient A, then given patient B's reference (or values), the page printed 'Patient: B'
    above A's result."""
    page.fill("#patient-ref", "PATIENT-A")
    page.click("#example")
    page.click("#score")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    for change in (lambda: page.fill("#patient-ref", "PATIENT-B"),
                   lambda: page.locator("#samples tbody tr").nth(1).locator("input.value").fill("390"),
                   lambda: page.select_option("#ecog", "2"),
                   lambda: page.locator("#samples tbody tr").nth(4).locator("button.remove").click()):
        change()
        assert page.is_hidden("#answer")
        assert "press Score" in page.text_content("#stale") and page.is_visible("#stale")
        page.emulate_media(media="print")
        assert page.is_hidden("#answer") and page.is_hidden("#print-header")
        page.emulate_media(media="screen")
        page.click("#score")
        page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
        assert page.is_hidden("#stale")
    page.emulate_media(media="print")
    assert page.text_content("#print-ref") == "PATIENT-B" and page.is_visible("#print-header")
    assert "2025-03-24: 390" in page.text_content("#print-samples") and "ECOG 2" in page.text_content("#print-clinical")
    page.emulate_media(media="screen")
