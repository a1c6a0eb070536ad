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

  function addRow(when, value, censored) {
    const tr = document.createElement("tr");
    const whenInput = document.createElement("input");
    whenInput.className = "when";
    whenInput.setAttribute("aria-label", "sample date or day");
    setWhenType(whenInput);
    if (when !== undefined && when !== null) whenInput.value = String(when);
    const valueInput = document.createElement("input");
    valueInput.type = "number"; valueInput.min = "0"; valueInput.step = "any"; valueInput.className = "value";
    valueInput.setAttribute("aria-label", "CA-125 value, U/mL");
    if (value !== undefined && value !== null) valueInput.value = String(value);
    const cens = document.createElement("input");
    cens.type = "checkbox"; cens.className = "cens"; cens.checked = !!censored;
    cens.setAttribute("aria-label", "value below the assay limit");
    const remove = document.createElement("button");
    remove.type = "button"; remove.textContent = "remove"; remove.className = "remove";
    remove.addEventListener("click", () => tr.remove());
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
        converted = mode === "day" ? String(dayDiff(old, start)) : addDays(start, parseInt(old, 10));
      }
      setWhenType(input);
      input.value = converted;
    }
  }

  function loadExample() {
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
    $("age").value = "61"; $("ecog").value = "0"; $("ascites").value = "0"; $("figo").value = "III";
    $("residual").value = "0"; $("pfi").value = "19"; $("pattern").value = "single"; $("recist").value = "PR";
  }

  function numberOrNull(id) {
    const v = $(id).value.trim();
    return v === "" ? null : Number(v);
  }
  function textOrNull(id) {
    const v = $(id).value.trim();
    return v === "" ? null : v;
  }

  function buildRequest() {
    const mode = timing();
    const samples = [];
    const problems = [];
    tbody.querySelectorAll("tr").forEach((tr, i) => {
      const when = tr.querySelector("input.when").value.trim();
      const value = tr.querySelector("input.value").value.trim();
      if (when === "" && value === "") return;  // an empty row is ignored
      if (when === "" || value === "") { problems.push(`sample ${i + 1}: give both the ${mode} and the value`); return; }
      const s = { ca125: Number(value), censored: tr.querySelector("input.cens").checked };
      if (mode === "date") s.date = when; else s.day = parseInt(when, 10);
      samples.push(s);
    });
    if (!samples.length) problems.push("enter at least one CA-125 sample");
    for (const e of bundleEvents) {
      const start = $("treatment-start").value;
      if (mode === "date") samples.push({ date: e.date, ca125: null, event: e.event });
      else if (start) samples.push({ day: dayDiff(e.date, start), ca125: null, event: e.event });
    }
    const req = {
      patient_id: "web",
      samples,
      clinical: {
        age: numberOrNull("age"), ecog: numberOrNull("ecog"), ascites_ml: numberOrNull("ascites"),
        figo_stage: textOrNull("figo"), primary_residual_disease: numberOrNull("residual"),
        pfi_months: numberOrNull("pfi"), recurrence_pattern: textOrNull("pattern"), recist: textOrNull("recist"),
      },
    };
    const uln = numberOrNull("uln");
    if (uln !== null) req.uln = uln;
    if (mode === "date") {
      const start = $("treatment-start").value;
      if (!start) problems.push("enter the date of the first dose (day 0)");
      req.treatment_start = start || null;
    }
    return { req, problems };
  }

  function showError(text) {
    $("result").hidden = false;
    $("answer").hidden = true;
    const e = $("error");
    e.hidden = false;
    e.textContent = text;
  }

  function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

  function verdictText(g) {
    if (!g || !g.status) return "not assessed";
    if (g.status === "response") {
      return `response (${g.category}): fall on day ${g.response_day}, confirmed on day ${g.confirmation_day}`;
    }
    const words = { unconfirmed: "unconfirmed fall", not_confirmed: "fall not confirmed",
      no_response: "no response", not_evaluable: "not evaluable" };
    return (words[g.status] || g.status) + (g.reason ? ` — ${g.reason}` : "");
  }

  function render(data) {
    $("result").hidden = false;
    $("error").hidden = true;
    $("answer").hidden = false;
    if (data.probability === null) {
      $("probability").textContent = "not scored";
      $("interval").textContent = data.reason ? `(${data.reason})` : "";
    } else {
      $("probability").textContent = fmt(data.probability, 2);
      $("interval").textContent = `(interval ${fmt(data.p_low, 2)}–${fmt(data.p_high, 2)}; threshold ${fmt(data.threshold, 2)})`;
    }
    $("verdict").textContent = verdictText(data.gcig);
    const p = data.progression || {};
    $("progression").textContent = p.progressed
      ? `GCIG CA-125 progression: group ${p.group}, day ${p.day}`
      : `GCIG CA-125 progression: ${p.status ? p.status.replace(/_/g, " ") : "–"}`;
    const k = data.kinetics || {};
    $("kinetics").textContent = k.k === null || k.k === undefined
      ? (k.reason || "not estimated")
      : `k = ${fmt(k.k, 4)}/day, half-life ${fmt(k.half_life_days, 1)} days, score ${fmt(k.kelim_score, 2)} (favourable ≥ 1)`;
    const ps = data.published_scores || {};
    const parts = [];
    if ("ago_positive" in ps) parts.push(`AGO ${ps.ago_positive ? "positive" : "negative"}`);
    if (ps.imodel_low_risk !== undefined && ps.imodel_low_risk !== null) {
      parts.push(`iMODEL ${ps.imodel_low_risk ? "low" : "high"} risk` + (ps.imodel_points !== null && ps.imodel_points !== undefined ? ` (${fmt(ps.imodel_points, 1)} points)` : ""));
    }
    if (ps.mskcc_recommendation) parts.push(`MSKCC: ${ps.mskcc_recommendation} secondary cytoreduction`);
    $("published").textContent = parts.length ? "Published scores: " + parts.join("; ") : "";
    $("recommendation").textContent = data.recommendation;
    const ul = $("warnings");
    ul.textContent = "";
    for (const w of data.warnings || []) {
      const li = document.createElement("li"); li.textContent = w; ul.appendChild(li);
    }
    drawPlot(data);
    drawTrajectory(data);
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
    const uln = (data.gcig && data.gcig.uln) || (data.model && data.model.gcig && data.model.gcig.uln) || 35;
    const W = 760, H = 360, L = 64, R = 20, T = 16, B = 46;
    const days = obs.map((s) => s.day).concat(curve.map((c) => c.day));
    const vals = obs.map((s) => s.ca125).concat(curve.map((c) => c.ca125), [uln, 2 * uln]);
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
    if (curve.length > 1) {
      const d = curve.map((c, i) => `${i ? "L" : "M"}${sx(c.day).toFixed(1)},${sy(c.ca125).toFixed(1)}`).join(" ");
      svg.appendChild(el("path", { d, fill: "none", stroke: "#1f6fb2", "stroke-width": 2, class: "fitted-curve" }));
    }
    for (const s of obs) {
      const c = el("circle", { cx: sx(s.day), cy: sy(s.ca125), r: 4.5, class: "observed",
        fill: s.censored ? "#fff" : "#c0392b", stroke: "#c0392b", "stroke-width": 1.5 });
      c.appendChild(el("title", {}, `day ${s.day}: ${s.censored ? "<" : ""}${s.ca125} U/mL`));
      svg.appendChild(c);
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
      const x = sx(i), colour = p.decision === "resectable" ? "#1e7a3c" : "#c0392b";
      if (p.p_low !== null && p.p_high !== null) {
        svg.appendChild(el("line", { x1: x, x2: x, y1: sy(p.p_low), y2: sy(p.p_high), stroke: colour, "stroke-width": 2, class: "interval" }));
        for (const v of [p.p_low, p.p_high]) {
          svg.appendChild(el("line", { x1: x - 6, x2: x + 6, y1: sy(v), y2: sy(v), stroke: colour, "stroke-width": 2 }));
        }
      }
      const c = el("circle", { cx: x, cy: sy(p.probability), r: 5, fill: colour, class: "landmark-point" });
      c.appendChild(el("title", {}, `${p.label}: p ${fmt(p.probability, 2)} (${fmt(p.p_low, 2)}–${fmt(p.p_high, 2)}), ` +
        `${p.n_samples} samples to day ${p.last_day}`));
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
    const { req, problems } = buildRequest();
    if (problems.length) { showError(problems.join("; ")); return; }
    $("score").disabled = true;
    try {
      const resp = await fetch("/api/score", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(req) });
      const data = await resp.json().catch(() => ({ message: `HTTP ${resp.status}` }));
      if (!resp.ok) showError(data.message || (typeof data.detail === "string" ? data.detail : `HTTP ${resp.status}`));
      else render(data);
    } catch (err) {
      showError("could not reach the scoring server: " + err);
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
      for (const s of values) addRow(s.date, s.ca125, s.censored);
      let note = `${file.name}: patient ${data.patient_id}, ${values.length} sample(s)`;
      if (bundleEvents.length) note += `, ${bundleEvents.length} exclusion event(s) (` +
        bundleEvents.map((e) => `${e.event} ${e.date}`).join(", ") + ") sent with the samples";
      if (data.skipped_resources) note += `; ${data.skipped_resources} resource(s) not read`;
      $("bundle-note").textContent = note + ". Enter the clinical factors below.";
    } catch (err) {
      showError("could not read the bundle: " + err);
    }
  }

  async function modelInfo() {
    try {
      const resp = await fetch("/api/model");
      if (!resp.ok) return;
      const m = await resp.json();
      $("model-info").textContent = `Model ${m.name} ${m.version}, threshold ${Number(m.threshold).toFixed(2)}` +
        (m.trained_on_synthetic ? " — trained on synthetic data, not for clinical use." : ".");
    } catch (err) { /* the page works without it */ }
  }

  $("add-row").addEventListener("click", () => addRow());
  $("example").addEventListener("click", loadExample);
  $("timing-date").addEventListener("change", switchTiming);
  $("timing-day").addEventListener("change", switchTiming);
  $("score-form").addEventListener("submit", submit);
  $("fhir-file").addEventListener("change", loadBundle);
  for (let i = 0; i < 4; i++) addRow();
  modelInfo();
})();
