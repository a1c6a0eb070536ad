// Scoring page of ca125kinetics: builds the POST /api/score request from the form and draws
// the answer (verdict, probability, recommendation, SVG plot of the series and fitted curve).
// Self-contained: no external scripts. Server strings are inserted with textContent only.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector("#samples tbody");
  const SVG = "http://www.w3.org/2000/svg";
  let bundleEvents = [];   // exclusion events of a loaded FHIR bundle: sent with the samples

  function timing() { return $("timing-day").checked ? "day" : "date"; }

  function addDays(iso, days) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }
  function dayDiff(iso, startIso) {
    return Math.round((Date.parse(iso + "T00:00:00Z") - Date.parse(startIso + "T00:00:00Z")) / 86400000);
  }

  function addRow(when, value, censored, assay) {
    const tr = document.createElement("tr");
    // a bundle's sample keeps its assay (FHIR method): an assay change makes the GCIG response
    // not evaluable, as in a file; it is sent with the row and shown as the row's title
    if (assay) { tr.dataset.assay = String(assay); tr.title = "assay: " + String(assay); }
    const whenInput = document.createElement("input");
    whenInput.className = "when";
    whenInput.setAttribute("aria-label", "sample date or day");
    setWhenType(whenInput);
    if (when !== undefined && when !== null) whenInput.value = String(when);
    const valueInput = document.createElement("input");
    // a text field: a number field in Chromium drops a typed comma ("420,5" -> 4205); the text
    // is checked by parseNumber, which refuses a comma instead of guessing
    valueInput.type = "text"; valueInput.inputMode = "decimal"; valueInput.className = "value";
    valueInput.setAttribute("aria-label", "CA-125 value, U/mL");
    if (value !== undefined && value !== null) valueInput.value = String(value);
    const cens = document.createElement("input");
    cens.type = "checkbox"; cens.className = "cens"; cens.checked = !!censored;
    cens.setAttribute("aria-label", "value below the assay limit");
    const remove = document.createElement("button");
    remove.type = "button"; remove.textContent = "remove"; remove.className = "remove";
    remove.addEventListener("click", () => { tr.remove(); withdrawResult(); });
    for (const el of [whenInput, valueInput, cens, remove]) {
      const td = document.createElement("td"); td.appendChild(el); tr.appendChild(td);
    }
    tbody.appendChild(tr);
    return tr;
  }

  function setWhenType(input) {
    if (timing() === "date") { input.type = "date"; input.removeAttribute("step"); }
    else { input.type = "number"; input.step = "1"; input.min = "-366"; input.max = "1830"; }
  }

  function switchTiming() {
    const start = $("treatment-start").value;
    const mode = timing();
    $("when-header").textContent = mode === "date" ? "Date" : "Day from first dose";
    $("start-row").hidden = mode !== "date";
    for (const input of tbody.querySelectorAll("input.when")) {
      const old = input.value;
      let converted = "";
      if (old && start) {
        // a day that is not a whole number (21.5) is not converted: the field is left empty
        // (parseInt would give 21, and 1 for "1e2")
        const day = Number(old);
        converted = mode === "day" ? String(dayDiff(old, start)) : Number.isInteger(day) ? addDays(start, day) : "";
      }
      setWhenType(input);
      input.value = converted;
    }
  }

  function loadExample() {
    withdrawResult();
    bundleEvents = [];
    $("bundle-note").textContent = "";
    $("timing-date").checked = true;
    switchTiming();
    const start = "2025-03-03";
    $("treatment-start").value = start;
    $("uln").value = "";
    tbody.textContent = "";
    for (const [day, value] of [[-4, 412], [21, 190], [42, 88], [63, 41], [84, 24]]) {
      addRow(addDays(start, day), value, false);
    }
    $("age").value = "61"; $("ecog").value = "0"; $("ascites").value = "0"; $("figo").value = "IIIC";
    $("residual").value = "0"; $("pfi").value = "19"; $("pattern").value = "single"; $("recist").value = "PR";
  }

  // A number as typed, never guessed: "420,5" (decimal comma) or "1,200" (thousands?) is
  // refused with a message rather than read as 4205 or 1.2.
  function parseNumber(text, label, problems, input) {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
      problems.push({ text: `${label}: "${text}" is not a number; write it with a point as the decimal mark and no ` +
        "thousands separator (e.g. 420.5 or 1200)", fields: input ? [input] : [] });
      return null;
    }
    return Number(text);
  }
  // the form's own name of a field, from FIELDS (by element id)
  function labelOf(id) {
    const entry = Object.values(FIELDS).find(([fieldId]) => fieldId === id);
    return entry ? entry[1] : id;
  }
  function numberOrNull(id, problems) {
    const input = $(id);
    // a type="number" field holds "" when the browser could not read what was typed
    if (input.validity && input.validity.badInput) {
      problems.push({ text: `${labelOf(id)}: not a number; write it with a point as the decimal mark (e.g. 420.5)`,
        fields: [input] });
      return null;
    }
    const v = input.value.trim();
    return v === "" ? null : parseNumber(v, labelOf(id), problems, input);
  }
  function textOrNull(id) {
    const v = $(id).value.trim();
    return v === "" ? null : v;
  }

  // the table row each sample of the last request came from (empty rows are skipped)
  let sampleRows = [];

  function buildRequest() {
    const mode = timing();
    const samples = [];
    const problems = [];
    sampleRows = [];
    tbody.querySelectorAll("tr").forEach((tr, i) => {
      const whenInput = tr.querySelector("input.when"), valueInput = tr.querySelector("input.value");
      const when = whenInput.value.trim();
      const value = valueInput.value.trim();
      const bad = whenInput.validity.badInput || valueInput.validity.badInput;
      if (when === "" && value === "" && !bad) return;  // an empty row is ignored
      if (when === "" || value === "") {
        problems.push({ text: `Sample ${i + 1}: give both the ${mode === "date" ? "date" : "day"} and the CA-125 value`,
          fields: [when === "" ? whenInput : valueInput] });
        return;
      }
      // "<5" typed: the form says below the limit with its box, and says so (not "not a number")
      const below = /^<\s*(.+)$/.exec(value);
      if (below) {
        problems.push({ text: `Sample ${i + 1}, CA-125: "${value}" is a value below the assay limit: write the limit ` +
          `(${below[1]}) as the value and tick "below limit (<)"`, fields: [valueInput] });
      }
      const s = { ca125: below ? null : parseNumber(value, `Sample ${i + 1}, CA-125`, problems, valueInput),
        censored: tr.querySelector("input.cens").checked };
      if (tr.dataset.assay) s.assay = tr.dataset.assay;
      // the day as typed (parseInt would send "21.5" as 21 and "1e2" as 1): the API refuses a
      // fractional day, and the message is shown at the field
      if (mode === "date") s.date = when; else s.day = parseNumber(when, `Sample ${i + 1}, day`, problems, whenInput);
      samples.push(s);
      sampleRows.push(tr);
    });
    if (!samples.length && !problems.length) {
      problems.push({ text: "Enter at least one CA-125 sample", fields: [tbody.querySelector("input.value")] });
    }
    for (const e of bundleEvents) {
      const start = $("treatment-start").value;
      if (mode === "date") samples.push({ date: e.date, ca125: null, event: e.event });
      else if (start) samples.push({ day: dayDiff(e.date, start), ca125: null, event: e.event });
    }
    if (mode === "day" && bundleEvents.length && !$("treatment-start").value) {
      // the events are dated: without day 0 they cannot be placed, and are never dropped silently
      problems.push({ text: `${bundleEvents.length} exclusion event(s) of the FHIR bundle (` +
        bundleEvents.map((e) => `${e.event} ${e.date}`).join(", ") + ") are dated: enter the samples by date " +
        "with the date of the first dose, so that the events can be counted from it", fields: [$("timing-date")] });
    }
    const req = {
      patient_id: "web",
      samples,
      clinical: {
        age: numberOrNull("age", problems), ecog: numberOrNull("ecog", problems),
        ascites_ml: numberOrNull("ascites", problems),
        figo_stage: textOrNull("figo"), primary_residual_disease: numberOrNull("residual", problems),
        pfi_months: numberOrNull("pfi", problems), recurrence_pattern: textOrNull("pattern"), recist: textOrNull("recist"),
      },
    };
    const uln = numberOrNull("uln", problems);
    if (uln !== null) req.uln = uln;
    if (mode === "date") {
      const start = $("treatment-start").value;
      if (!start) problems.push({ text: "Date of the first dose (day 0): enter it (the sample dates are counted from it)",
        fields: [$("treatment-start")] });
      req.treatment_start = start || null;
    }
    return { req, problems };
  }

  // ---------------------------------------------------------------- errors in the form's own words

  const FIELDS = {
    treatment_start: ["treatment-start", "Date of the first dose"], uln: ["uln", "Assay upper limit of normal"],
    age: ["age", "Age"], ecog: ["ecog", "ECOG"], ascites_ml: ["ascites", "Ascites"],
    figo_stage: ["figo", "FIGO stage"], primary_residual_disease: ["residual", "Residual disease after primary surgery"],
    pfi_months: ["pfi", "Platinum-free interval"], recurrence_pattern: ["pattern", "Recurrence pattern"],
    recist: ["recist", "RECIST"], patient_id: ["patient-ref", "Patient reference"],
  };

  function plainMessage(error, field) {
    const type = error.type || "";
    if (field === "figo_stage") return "is not a FIGO stage (I to IV, optionally with a substage such as IIIC)";
    if (type === "string_pattern_mismatch") return "is not a recognised value";
    if (type === "missing") return "is required";
    if (type === "int_type" || type === "int_from_float") return "must be a whole number";  // e.g. day 21.5
    if (/_parsing$|_type$/.test(type)) return "must be a number";
    return String(error.msg || "is not valid").replace(/^Value error, /, "").replace(/^Input should be /, "must be ")
      .replace("greater than or equal to", "at least").replace("less than or equal to", "at most")
      .replace("greater than", "more than");
  }

  // {text, fields} for one pydantic error of the API (loc such as ["body", "samples", "1", "ca125"])
  function describe(error) {
    const loc = (error.loc || []).filter((x) => x !== "body");
    if (loc[0] === "samples" && loc.length >= 2 && /^\d+$/.test(loc[1])) {
      const tr = sampleRows[Number(loc[1])];
      const row = tr ? Array.prototype.indexOf.call(tbody.children, tr) + 1 : Number(loc[1]) + 1;
      const part = loc[2];
      const input = tr && tr.querySelector(part === "ca125" || part === "censored" ? "input.value" : "input.when");
      const name = part === "ca125" ? "CA-125" : part === "day" ? "day" : part === "date" ? "date" : "";
      return { text: `Sample ${row}${name ? ", " + name : ""}: ${plainMessage(error, part)}`,
        fields: input ? [input] : tr ? [tr.querySelector("input.when"), tr.querySelector("input.value")] : [] };
    }
    const key = loc[loc.length - 1];
    if (FIELDS[key]) {
      return { text: `${FIELDS[key][1]}: ${plainMessage(error, key)}`, fields: [$(FIELDS[key][0])] };
    }
    return { text: plainMessage(error, key), fields: [] };
  }

  // the rows of the last request whose day is `day`
  function rowsOnDay(req, day) {
    return req.samples.map((s, i) => [s, sampleRows[i]]).filter(([s]) =>
      (s.day !== undefined ? s.day : dayDiff(s.date, req.treatment_start)) === day).map(([, tr]) => tr);
  }

  // {text, fields} list for an error answer of the API
  function serverProblems(data, req) {
    if (Array.isArray(data.detail)) return data.detail.map(describe);
    const message = String(data.message || data.detail || "the input was refused");
    const seen = new Set(), out = [];
    const duplicate = /two or more CA-125 samples on day (-?\d+)/g;
    let m;
    while ((m = duplicate.exec(message)) !== null) {
      const day = Number(m[1]);
      if (seen.has(day)) continue;
      seen.add(day);
      const rows = rowsOnDay(req, day);
      out.push({ text: `Two samples on day ${day}${rows.length ? " (samples " + rows.map((tr) =>
        Array.prototype.indexOf.call(tbody.children, tr) + 1).join(" and ") + ")" : ""}: enter one CA-125 value per day; ` +
        "remove or correct one of them", fields: rows.map((tr) => tr.querySelector("input.when")) });
    }
    if (out.length) return out;
    // a data-contract message: drop the reader's row/column prefixes and the hints meant for
    // programmers; a sample's problem ("samples.4.date: ...") goes to that row's field
    const items = [], texts = new Set();
    for (const p of message.replace(/^invalid input: /, "").split("; ")) {
      if (/duplicates=|pass [a-z_]+=/.test(p)) continue;
      const at = /^(?:row \d+, )?(?:column '[^']*': )?samples\.(\d+)\.(\w+): /.exec(p);
      let text = p.replace(/(row \d+, )?column '[^']*': |^(samples\.\d+\.\w+|clinical\.\w+): /, "");
      text = text.charAt(0).toUpperCase() + text.slice(1);
      // the form writes a value below the assay's limit with its box, not as the API's "censored" key
      text = text.replace(/as the report states it: the limit in 'ca125' with "censored": true \(e\.g\. 5 for '<5'\)/,
        "as the report states it (the limit, with " +
        "'below the assay limit' ticked)");
      const tr = at ? sampleRows[Number(at[1])] : undefined;
      const fields = [];
      if (tr) {
        fields.push(tr.querySelector(at[2] === "ca125" || at[2] === "censored" ? "input.value" : "input.when"));
        text = `Sample ${Array.prototype.indexOf.call(tbody.children, tr) + 1}: ${text}`;
      }
      if (texts.has(text)) continue;
      texts.add(text);
      items.push({ text, fields });
    }
    return items;
  }

  function clearInvalid() {
    for (const el of document.querySelectorAll(".invalid")) unmark(el);
  }

  function unmark(el) {
    el.classList.remove("invalid");
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
    const next = el.nextElementSibling;
    if (next && next.classList.contains("field-error")) next.remove();
  }

  let errorCount = 0;

  // highlight a field and write the problem under it (announced with the field by screen readers)
  function mark(el, text) {
    if (el.classList.contains("invalid")) return;
    el.classList.add("invalid");
    el.setAttribute("aria-invalid", "true");
    const span = document.createElement("span");
    span.className = "field-error";
    span.id = `field-error-${++errorCount}`;
    span.textContent = text;
    el.setAttribute("aria-describedby", span.id);
    el.insertAdjacentElement("afterend", span);
  }

  function showProblems(problems) {
    $("result").hidden = false;
    $("answer").hidden = true;
    $("print-header").hidden = true;
    $("stale").hidden = true;
    $("error").hidden = false;
    $("error-title").textContent = problems.some((p) => p.fields.length)
      ? "Please correct the highlighted field(s):" : "The input could not be scored:";
    const ul = $("error-list");
    ul.textContent = "";
    let first = null;
    for (const p of problems) {
      const li = document.createElement("li"); li.textContent = p.text; ul.appendChild(li);
      for (const el of p.fields) {
        if (!el) continue;
        mark(el, p.text);
        first = first || el;
      }
    }
    if (first) {  // take the surgeon to the (first) field to correct; the list sums them all up
      first.scrollIntoView({ block: "center" });
      first.focus({ preventScroll: true });
    } else {
      showResult();
    }
  }

  // a problem that belongs to no field (e.g. a file that could not be read)
  function showError(text) {
    showProblems([{ text, fields: [] }]);
  }

  // A result is that of the form as it was scored: once the form changes (a value, a factor,
  // the patient reference), the result and its printout are withdrawn until Score is pressed
  // again, so that no result is shown or printed beside values or a reference it was not
  // computed from.
  function withdrawResult() {
    if ($("answer").hidden) return;
    $("answer").hidden = true;
    $("print-header").hidden = true;
    $("stale").hidden = false;
  }

  function showResult() {
    $("result").scrollIntoView({ block: "start" });
    $("result").focus({ preventScroll: true });
  }

  function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

  // As the package's texts write them (_columns.threshold_text, probability_text): a threshold
  // with two decimals unless that rounds it; a probability with as many more as it takes for
  // the number shown to stand on the threshold's side that the probability does (0.69995
  // against 0.70 is not shown as "0.70": the rule compares exactly).
  function thresholdText(t) { const s = t.toFixed(2); return Number(s) === t ? s : String(t); }
  function probabilityText(p, t) {
    if (p === null || p === undefined) return "–";
    for (let d = 2; d < 18; d++) {
      const s = p.toFixed(d);
      if (Math.sign(Number(s) - t) === Math.sign(p - t)) return s;
    }
    return String(p);
  }

  function verdictText(g) {
    if (!g || !g.status) return "not assessed";
    if (g.status === "response") {
      return `response (${g.category}): fall on day ${g.response_day}, confirmed on day ${g.confirmation_day}`;
    }
    const words = { unconfirmed: "unconfirmed fall", not_confirmed: "fall not confirmed",
      no_response: "no response", awaiting: "awaiting a CA-125 after the first dose",
      not_evaluable: "not evaluable" };
    return (words[g.status] || g.status) + (g.reason ? ` — ${g.reason}` : "");
  }

  // What a withheld decision's probability was computed with (the reason of rule 5 says
  // "computed with them [and the kinetics] imputed" or "computed with the kinetics imputed").
  function imputedNote(reason) {
    if (!reason.includes("imputed")) return " — insufficient information: no decision";
    const what = [reason.includes("computed with them") && "unknown clinical factors",
      reason.includes("the kinetics imputed") && "the CA-125 kinetics (no CA-125 after the first dose)"];
    return ` — computed with ${what.filter(Boolean).join(" and ")} imputed: no decision`;
  }

  function render(data) {
    $("result").hidden = false;
    $("error").hidden = true;
    $("stale").hidden = true;
    $("answer").hidden = false;
    $("print-header").hidden = false;
    const iv = (MODEL && MODEL.interval) || { level: 0.95, n_members: null };
    const level = Math.round(100 * iv.level);
    if (data.probability === null) {
      $("probability").textContent = "not scored";
      $("interval").textContent = data.reason ? `(${data.reason})` : "";
      $("interval-note").textContent = "";
    } else {
      $("probability").textContent = probabilityText(data.probability, data.threshold);
      const hasInterval = data.p_low !== null && data.p_high !== null;
      $("interval").textContent = (hasInterval
        ? `(${level} % model interval ${fmt(data.p_low, 2)}–${fmt(data.p_high, 2)}; ` +
          `threshold ${thresholdText(data.threshold)})`
        : `(threshold ${thresholdText(data.threshold)}; this model has no interval)`)
        + (data.status !== "insufficient" ? "" : imputedNote(data.reason || ""));
      $("interval-note").textContent = hasInterval
        ? `The model interval is the ${(100 - level) / 2}th to ${100 - (100 - level) / 2}th percentile of the probabilities ` +
          `given by ${iv.n_members || "the"} copies of the model refitted on bootstrap resamples of its development ` +
          "patients. It shows how uncertain the fitted model is, not a range of outcomes for this patient."
        : "";
    }
    $("verdict").textContent = verdictText(data.gcig);
    gcigSteps(data);
    const p = data.progression || {};
    $("progression").textContent = p.progressed
      ? `GCIG CA-125 progression: group ${p.group}, day ${p.day}`
      : `GCIG CA-125 progression: ${p.status ? p.status.replace(/_/g, " ") : "–"}`;
    const k = data.kinetics || {};
    const cut = (MODEL && MODEL.kelim_favourable_score) || 1;
    const kin = (data.model && data.model.kinetics) || {};
    if (k.k === null || k.k === undefined) {
      $("kinetics").textContent = k.reason || "not estimated";
      $("kelim-group").textContent = "";
      $("kelim-note").textContent = "";
    } else {
      $("kinetics").textContent = `k = ${fmt(k.k, 4)}/day, half-life ${fmt(k.half_life_days, 1)} days, ` +
        `KELIM-like score ${fmt(k.kelim_score, 2)}:`;
      const favourable = k.kelim_score >= cut;
      $("kelim-group").textContent = favourable ? `favourable (score ≥ ${cut})` : `unfavourable (score < ${cut})`;
      $("kelim-group").className = favourable ? "favourable" : "unfavourable";
      $("kelim-note").textContent = `The score is this package's open KELIM-like score, k / k_ref with k_ref = ` +
        `${fmt(kin.k_ref, 4)}/day (${kin.k_ref_source || "model setting"}); favourable from ${cut} (a named setting). ` +
        "It is not the KELIM number of the closed biomarker-kinetics.org calculator: do not compare the two.";
    }
    const ps = data.published_scores || {};
    const parts = [];
    if (ps.ago_positive !== undefined && ps.ago_positive !== null) parts.push(`AGO ${ps.ago_positive ? "positive" : "negative"}`);
    if (ps.imodel_low_risk !== undefined && ps.imodel_low_risk !== null) {
      parts.push(`iMODEL ${ps.imodel_low_risk ? "low" : "high"} risk` + (ps.imodel_points !== null && ps.imodel_points !== undefined ? ` (${fmt(ps.imodel_points, 1)} points)` : ""));
    }
    if (ps.mskcc_recommendation) parts.push(`MSKCC: ${ps.mskcc_recommendation} secondary cytoreduction`);
    for (const [score, name] of [["ago", "AGO"], ["imodel", "iMODEL"], ["mskcc", "MSKCC"]]) {
      const st = ps[`${score}_status`];
      if (st && st !== "ok" && st !== "ok_with_missing") parts.push(`${name} not determined (${ps[`${score}_reason`]})`);
    }
    $("published").textContent = parts.length ? "Published scores: " + parts.join("; ") : "";
    $("recommendation").textContent = data.recommendation;
    const ul = $("warnings");
    ul.textContent = "";
    for (const w of data.warnings || []) {
      const li = document.createElement("li"); li.textContent = w; ul.appendChild(li);
    }
    drawPlot(data);
    drawTrajectory(data);
    stampPrint();
  }

  // the GCIG reading step by step, in words (the same facts the plot marks)
  function gcigSteps(data) {
    const ol = $("gcig-steps");
    ol.textContent = "";
    const add = (text) => { const li = document.createElement("li"); li.textContent = text; ol.appendChild(li); };
    const g = data.gcig || {}, rules = (data.model && data.model.gcig) || {};
    const uln = g.uln || rules.uln || 35, factor = rules.evaluable_factor || 2, frac = rules.response_fraction || 0.5;
    const win = rules.baseline_window_days || 14, gap = rules.confirmation_days || 28, tol = rules.assay_tolerance || 1.1;
    const valueOn = (day) => { const s = (data.series || []).find((x) => x.day === day && x.ca125 !== null); return s ? s.ca125 : null; };
    if (g.baseline_value === null || g.baseline_value === undefined) {
      add(`Baseline: none — no pretreatment sample in the ${win} days before the first dose, so the GCIG ` +
        "response cannot be assessed." + (g.reason ? ` (${g.reason})` : ""));
      return;
    }
    const need = factor * uln;
    add(`Baseline: ${fmt(g.baseline_value, 0)} U/mL on day ${g.baseline_day} (the latest sample in the ${win} days ` +
      `before the first dose). It must be at least ${factor} × ULN = ${fmt(need, 0)} U/mL: ` +
      (g.evaluable ? "met, so the response can be assessed." : "not met, so the response cannot be assessed."));
    if (!g.evaluable) { if (g.reason) add(g.reason); return; }
    const line = frac * g.baseline_value;
    add(`The ${Math.round(100 * frac)} % line: ${fmt(line, 0)} U/mL; a response is a value at or below it.`);
    if (g.response_day === null || g.response_day === undefined) {
      add(g.reason || "No value fell to the line.");
      return;
    }
    add(`First value at or below the line: ${fmt(valueOn(g.response_day), 0)} U/mL on day ${g.response_day} (the response date).`);
    if (g.confirmation_day === null || g.confirmation_day === undefined) {
      add(g.reason || `Not confirmed: no later sample at least ${gap} days after the fall kept the response.`);
      return;
    }
    const cv = valueOn(g.confirmation_day);
    add(`Confirming sample: ${fmt(cv, 0)} U/mL on day ${g.confirmation_day}, ${g.confirmation_day - g.response_day} days ` +
      `after the fall (at least ${gap} needed); every value in between stayed at or below the line and at most ` +
      `${Math.round(100 * (tol - 1))} % above the one before (or within the normal range).`);
    add(`${g.category}: the confirming value is ${cv !== null && cv <= uln ? "within" : "above"} the normal range ` +
      `(ULN ${fmt(uln, 0)} U/mL).`);
  }

  let lastRequest = null;

  // the printed page repeats what was entered: the series and the clinical factors
  function stampPrint() {
    $("print-ref").textContent = $("patient-ref").value.trim() || "(no reference entered)";
    $("print-date").textContent = new Date().toLocaleString();
    const req = lastRequest;
    if (!req) return;
    // an exclusion event of a bundle is a row without a value: printed as what it is
    $("print-samples").textContent = req.samples.map((s) => `${s.date || "day " + s.day}: ` +
      (s.ca125 === null ? s.event : `${s.censored ? "<" : ""}${s.ca125}`))
      .join("; ") + (req.treatment_start ? ` (first dose ${req.treatment_start})` : "") + (req.uln ? `; ULN ${req.uln}` : "");
    const labels = { age: "age", ecog: "ECOG", ascites_ml: "ascites mL", figo_stage: "FIGO", primary_residual_disease:
      "residual after primary surgery", pfi_months: "PFI months", recurrence_pattern: "pattern", recist: "RECIST" };
    $("print-clinical").textContent = Object.entries(labels).map(([key, label]) =>
      `${label} ${req.clinical[key] === null ? "unknown" : req.clinical[key]}`).join("; ");
  }

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function drawPlot(data) {
    const box = $("plot");
    box.textContent = "";
    const obs = (data.series || []).filter((s) => s.ca125 !== null && s.ca125 > 0);
    const curve = (data.curve || []).filter((c) => c.ca125 !== null && c.ca125 > 0);
    if (!obs.length) return;
    const g = data.gcig || {}, rules = (data.model && data.model.gcig) || {};
    const uln = g.uln || rules.uln || 35;
    const line = g.baseline_value ? (rules.response_fraction || 0.5) * g.baseline_value : null;
    const narrow = box.clientWidth > 0 && box.clientWidth < 560;  // a phone: fewer units, larger text
    const W = narrow ? 420 : 760, H = narrow ? 330 : 360, L = 56, R = 14, T = 16, B = 46;
    const days = obs.map((s) => s.day).concat(curve.map((c) => c.day));
    const vals = obs.map((s) => s.ca125).concat(curve.map((c) => c.ca125), [uln, 2 * uln], line ? [line] : []);
    const x0 = Math.min(...days, 0) - 5, x1 = Math.max(...days, 21) + 5;
    const y0 = Math.log10(Math.max(Math.min(...vals) / 1.6, 0.1)), y1 = Math.log10(Math.max(...vals) * 1.6);
    const sx = (d) => L + (d - x0) / (x1 - x0) * (W - L - R);
    const sy = (v) => T + (y1 - Math.log10(v)) / (y1 - y0) * (H - T - B);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "plot-svg",
      "aria-label": "CA-125 series with the fitted curve" });
    svg.appendChild(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#9aa8b6" }));
    // y ticks: 1-2-5 per decade
    for (let e = Math.floor(y0); e <= Math.ceil(y1); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, e), lv = Math.log10(v);
        if (lv < y0 || lv > y1) continue;
        const y = sy(v);
        svg.appendChild(el("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#e6ebf0" }));
        svg.appendChild(el("text", { x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#44505c" }, String(v)));
      }
    }
    // x ticks every 21 days (cycles)
    for (let d = Math.ceil(x0 / 21) * 21; d <= x1; d += 21) {
      const x = sx(d);
      svg.appendChild(el("line", { x1: x, x2: x, y1: T, y2: H - B, stroke: "#e6ebf0" }));
      svg.appendChild(el("text", { x: x, y: H - B + 16, "text-anchor": "middle", "font-size": 11, fill: "#44505c" }, String(d)));
    }
    svg.appendChild(el("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", "font-size": 12 }, "day from the first dose"));
    svg.appendChild(el("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", "font-size": 12,
      transform: `rotate(-90 14 ${(T + H - B) / 2})` }, "CA-125 (U/mL)"));
    for (const [v, label] of [[uln, "ULN"], [2 * uln, "2 × ULN"]]) {
      const y = sy(v);
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#b07a00", "stroke-dasharray": "5 4" }));
      svg.appendChild(el("text", { x: W - R - 4, y: y - 4, "text-anchor": "end", "font-size": 10, fill: "#b07a00" }, label));
    }
    if (line) {
      const y = sy(line);
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#7b3fa0", "stroke-dasharray": "2 3",
        class: "response-line" }));
      svg.appendChild(el("text", { x: W - R - 4, y: y - 4, "text-anchor": "end", "font-size": 10, fill: "#7b3fa0" },
        `${Math.round(100 * (rules.response_fraction || 0.5))} % of baseline (${Math.round(line)})`));
    }
    // the fitted curve: solid up to the last sample, dotted (and labelled) beyond it
    const lastDay = Math.max(...obs.map((s) => s.day));
    const path = (pts) => pts.map((c, i) => `${i ? "L" : "M"}${sx(c.day).toFixed(1)},${sy(c.ca125).toFixed(1)}`).join(" ");
    const fitted = curve.filter((c) => c.day <= lastDay);
    const beyond = curve.filter((c) => c.day > lastDay);
    if (fitted.length > 1) {
      svg.appendChild(el("path", { d: path(fitted), fill: "none", stroke: "#1f6fb2", "stroke-width": 2, class: "fitted-curve" }));
    }
    if (beyond.length && fitted.length) {
      const ext = [fitted[fitted.length - 1]].concat(beyond);
      svg.appendChild(el("path", { d: path(ext), fill: "none", stroke: "#1f6fb2", "stroke-width": 1.5,
        "stroke-dasharray": "2 4", opacity: 0.8, class: "extrapolated-curve" }));
      const end = ext[ext.length - 1];
      svg.appendChild(el("text", { x: sx(end.day), y: sy(end.ca125) + 16, "text-anchor": "end", "font-size": 10,
        fill: "#1f6fb2", class: "extrapolation-label" }, "extrapolation"));
    }
    const marks = {};
    if (g.baseline_value) marks[g.baseline_day] = "baseline";
    if (g.response_day !== null && g.response_day !== undefined) marks[g.response_day] = "fall";
    if (g.confirmation_day !== null && g.confirmation_day !== undefined) marks[g.confirmation_day] = "confirms";
    for (const s of obs) {
      const c = el("circle", { cx: sx(s.day), cy: sy(s.ca125), r: 4.5, class: "observed",
        fill: s.censored ? "#fff" : "#c0392b", stroke: "#c0392b", "stroke-width": 1.5 });
      c.appendChild(el("title", {}, `day ${s.day}: ${s.censored ? "<" : ""}${s.ca125} U/mL`));
      svg.appendChild(c);
      if (marks[s.day]) {
        svg.appendChild(el("circle", { cx: sx(s.day), cy: sy(s.ca125), r: 8, fill: "none", stroke: "#7b3fa0",
          "stroke-width": 1.5, class: `gcig-mark gcig-${marks[s.day]}` }));
        svg.appendChild(el("text", { x: sx(s.day) + 10, y: sy(s.ca125) - 8, "font-size": 11, fill: "#7b3fa0",
          "font-weight": 600 }, `${marks[s.day]} (day ${s.day})`));
      }
    }
    if (g.response_day !== null && g.response_day !== undefined && g.confirmation_day !== null && g.confirmation_day !== undefined) {
      const y = H - B - 10, xa = sx(g.response_day), xb = sx(g.confirmation_day);
      svg.appendChild(el("path", { d: `M${xa},${y - 4} V${y} H${xb} V${y - 4}`, fill: "none", stroke: "#7b3fa0",
        class: "confirmation-gap" }));
      svg.appendChild(el("text", { x: (xa + xb) / 2, y: y - 4, "text-anchor": "middle", "font-size": 10, fill: "#7b3fa0" },
        `${g.confirmation_day - g.response_day} days (≥ ${rules.confirmation_days || 28})`));
    }
    box.appendChild(svg);
  }

  // Probability against landmark (day 35, after cycles 2-4, then all samples), interval bars
  // and the threshold line; the summary says whether the decision has been stable.
  function drawTrajectory(data) {
    const box = $("trajectory");
    box.textContent = "";
    const t = data.trajectory;
    $("trajectory-summary").textContent = t ? t.summary : "";
    // every landmark without a probability says why (not reached, no model, not scored), and
    // one without a decision too (no CA-125 after the first dose by then: drawn in grey); the
    // models' evaluation and the synthetic-data note stay beside the figure
    const notes = $("trajectory-notes");
    notes.textContent = "";
    const note = (text) => {
      const li = document.createElement("li");
      li.className = "trajectory-note";
      li.textContent = text;
      notes.appendChild(li);
    };
    for (const p of t ? t.points.filter((q) => q.reason && (q.probability === null || q.decision === null)) : []) {
      note(`${p.label}: ${p.reason}`);
    }
    if (t && t.trained_on_synthetic) {
      note("The landmark models were trained on synthetic data: their AUCs describe the simulator, not patients.");
    }
    const pts = t && t.status === "ok" ? t.points.filter((p) => p.probability !== null) : [];
    $("trajectory-figure").hidden = !t;
    if (!pts.length) return;
    const W = 760, H = 240, L = 64, R = 20, T = 16, B = 62;
    const step = (W - L - R) / pts.length;
    const sx = (i) => L + step * (i + 0.5);
    const sy = (p) => T + (1 - p) * (H - T - B);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "trajectory-svg",
      "aria-label": "Probability of complete resection at each landmark" });
    svg.appendChild(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#9aa8b6" }));
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), stroke: "#e6ebf0" }));
      svg.appendChild(el("text", { x: L - 6, y: sy(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#44505c" }, v.toFixed(2)));
    }
    svg.appendChild(el("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", "font-size": 12,
      transform: `rotate(-90 14 ${(T + H - B) / 2})` }, "probability"));
    const ty = sy(t.threshold);
    svg.appendChild(el("line", { x1: L, x2: W - R, y1: ty, y2: ty, stroke: "#b07a00", "stroke-dasharray": "5 4", class: "threshold" }));
    svg.appendChild(el("text", { x: W - R - 4, y: ty - 4, "text-anchor": "end", "font-size": 10, fill: "#b07a00" },
      `threshold ${fmt(t.threshold, 2)}`));
    pts.forEach((p, i) => {
      const x = sx(i), colour = p.decision === "resectable" ? "#1e7a3c"
        : p.decision === "not_resectable" ? "#c0392b" : "#8a949e";
      if (p.p_low !== null && p.p_high !== null) {
        svg.appendChild(el("line", { x1: x, x2: x, y1: sy(p.p_low), y2: sy(p.p_high), stroke: colour, "stroke-width": 2, class: "interval" }));
        for (const v of [p.p_low, p.p_high]) {
          svg.appendChild(el("line", { x1: x - 6, x2: x + 6, y1: sy(v), y2: sy(v), stroke: colour, "stroke-width": 2 }));
        }
      }
      const c = el("circle", { cx: x, cy: sy(p.probability), r: 5, fill: colour, class: "landmark-point" });
      c.appendChild(el("title", {}, `${p.label}: p ${fmt(p.probability, 2)} (${fmt(p.p_low, 2)}–${fmt(p.p_high, 2)}), ` +
        `${p.n_samples} samples to day ${p.last_day} (days ${p.sample_days.join(", ")})` +
        (p.auc === null ? "" : `; model AUC ${fmt(p.auc, 2)} (${fmt(p.auc_ci_low, 2)}–${fmt(p.auc_ci_high, 2)}), ` +
          `n ${p.n_evaluated}`)));
      svg.appendChild(c);
      const [first, ...rest] = p.label.split(" (");
      svg.appendChild(el("text", { x, y: H - B + 16, "text-anchor": "middle", "font-size": 11, fill: "#44505c" }, first));
      if (rest.length) {
        svg.appendChild(el("text", { x, y: H - B + 30, "text-anchor": "middle", "font-size": 10, fill: "#44505c" }, "(" + rest.join(" (")));
      }
    });
    box.appendChild(svg);
  }

  async function submit(ev) {
    ev.preventDefault();
    clearInvalid();
    const { req, problems } = buildRequest();
    if (problems.length) { showProblems(problems); return; }
    $("score").disabled = true;
    try {
      const resp = await fetch("/api/score", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(req) });
      const data = await resp.json().catch(() => ({ message: `the server answered HTTP ${resp.status}` }));
      if (!resp.ok) showProblems(serverProblems(data, req));
      else { lastRequest = req; render(data); showResult(); }
    } catch (err) {
      showError("Could not reach the scoring server: " + err);
    } finally {
      $("score").disabled = false;
    }
  }

  // The bundle is read by the server (the package's FHIR reader), never parsed here.
  async function loadBundle() {
    const file = $("fhir-file").files[0];
    if (!file) return;
    try {
      const resp = await fetch("/api/fhir/samples", { method: "POST",
        headers: { "Content-Type": "application/fhir+json" }, body: await file.text() });
      const data = await resp.json().catch(() => ({ message: `HTTP ${resp.status}` }));
      if (!resp.ok) { showError(data.message || `HTTP ${resp.status}`); return; }
      $("timing-date").checked = true;
      switchTiming();
      $("treatment-start").value = data.treatment_start || "";
      $("uln").value = data.uln === null || data.uln === undefined ? "" : String(data.uln);
      tbody.textContent = "";
      bundleEvents = data.samples.filter((s) => s.event);
      const values = data.samples.filter((s) => !s.event);
      for (const s of values) addRow(s.date, s.ca125, s.censored, s.assay);
      let note = `${file.name}: patient ${data.patient_id}, ${values.length} sample(s)`;
      const assays = [...new Set(values.map((s) => s.assay).filter((a) => a))];
      if (assays.length) note += ` (assay${assays.length > 1 ? "s" : ""} ${assays.join(", ")}, sent with the samples)`;
      if (bundleEvents.length) note += `, ${bundleEvents.length} exclusion event(s) (` +
        bundleEvents.map((e) => `${e.event} ${e.date}`).join(", ") + ") sent with the samples";
      if (data.skipped_resources) note += `; ${data.skipped_resources} resource(s) not read`;
      if (data.warnings && data.warnings.length) note += `; ${data.warnings.join("; ")}`;
      $("bundle-note").textContent = note + ". Enter the clinical factors below.";
    } catch (err) {
      showError("could not read the bundle: " + err);
    }
  }

  let MODEL = null;

  async function modelInfo() {
    try {
      const resp = await fetch("/api/model");
      if (!resp.ok) return;
      const m = await resp.json();
      MODEL = m;
      $("model-info").textContent = `Model ${m.name} ${m.version}, threshold ${Number(m.threshold).toFixed(2)}` +
        (m.trained_on_synthetic ? " — trained on synthetic data, not for clinical use." : ".");
      // an empty ULN field is the served model's GCIG setting, which a site's model may set otherwise than 35
      if (m.gcig && m.gcig.uln) $("uln").placeholder = String(m.gcig.uln);
    } catch (err) { /* the page works without it */ }
  }

  $("add-row").addEventListener("click", () => addRow());
  $("example").addEventListener("click", loadExample);
  $("timing-date").addEventListener("change", switchTiming);
  $("timing-day").addEventListener("change", switchTiming);
  $("score-form").addEventListener("submit", submit);
  $("score-form").addEventListener("input", withdrawResult);
  $("score-form").addEventListener("change", withdrawResult);
  $("fhir-file").addEventListener("change", loadBundle);
  $("print").addEventListener("click", () => { stampPrint(); window.print(); });
  window.addEventListener("beforeprint", stampPrint);
  // a corrected field loses its highlight
  document.addEventListener("input", (ev) => {
    if (ev.target.classList && ev.target.classList.contains("invalid")) unmark(ev.target);
  });
  for (let i = 0; i < 4; i++) addRow();
  modelInfo();
})();
