// flagstream dashboard: reads the aggregate's /v1 JSON API and draws the
// report of one experiment as a table and two SVG charts.
//
// Rules kept throughout: every piece of data reaches the page as text
// (textContent, setAttribute), never as markup; a null figure (undefined
// statistic) shows as "—"; the page holds no data of its own, so it asks for
// a token only when the API answers 401.
//
// Test contract: body[data-state] is "loading", "ready", "auth" or "error";
// #experiment[data-experiment][data-metric] names what is drawn; table rows
// are tr[data-variant] with td.users[data-value]; chart series are
// path.series[data-variant][data-points], bands path.band[data-band];
// #srm-warning exists only when the report's srm.warn is true.
"use strict";

(() => {
  const TOKEN_KEY = "flagstream.token";
  const PARAMS = ["metric", "from", "to", "confidence", "control", "weights"];
  // Colour by position in the report (control first), so a variant keeps its
  // colour in the table and both charts. Control is a neutral slate.
  const PALETTE = ["#64748b", "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2", "#ca8a04"];
  const DASH = "—";
  const SVGNS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  let generation = 0; // a newer load makes an older one's answers stale
  let drawn = null; // the last report and daily, to redraw on resize

  // ---------------------------------------------------------------- DOM

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) e.setAttribute(k, String(v));
    }
  }

  function append(e, children) {
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
  }

  function setState(state, message) {
    document.body.dataset.state = state;
    $("status").textContent = message || "";
  }

  // ---------------------------------------------------------------- numbers

  const isNum = (x) => typeof x === "number" && Number.isFinite(x);
  const intFmt = new Intl.NumberFormat("en-US");

  function fmtInt(x) {
    return isNum(x) ? intFmt.format(x) : DASH;
  }

  // Percent with a precision that suits its size.
  function fmtPct(x, digits) {
    if (!isNum(x)) return DASH;
    const p = x * 100;
    const d = digits !== undefined ? digits : Math.abs(p) >= 100 ? 0 : Math.abs(p) >= 10 ? 1 : 2;
    return p.toFixed(d) + "%";
  }

  function signed(s, x) {
    return isNum(x) && x > 0 ? "+" + s : s;
  }

  function fmtLiftPct(x) {
    return isNum(x) ? signed(fmtPct(x), x) : DASH;
  }

  // Percentage points, e.g. "+1.27" (fmtPP adds the unit).
  function fmtPoints(x) {
    if (!isNum(x)) return DASH;
    const p = x * 100;
    return signed(p.toFixed(Math.abs(p) >= 10 ? 1 : 2), x);
  }

  function fmtPP(x) {
    return isNum(x) ? fmtPoints(x) + " pp" : DASH;
  }

  function fmtP(x) {
    if (!isNum(x)) return DASH;
    if (x < 0.001) return "<0.001";
    return x >= 0.1 ? x.toFixed(2) : x.toFixed(3);
  }

  // fmtPSmall keeps tiny p-values readable where their size matters (the
  // sample-ratio check), e.g. "1.2e-6".
  function fmtPSmall(x) {
    if (!isNum(x)) return DASH;
    return x < 0.001 ? x.toExponential(1).replace("e-", "e−") : fmtP(x);
  }

  function fmtInterval(iv, f) {
    if (!Array.isArray(iv) || !isNum(iv[0]) || !isNum(iv[1])) return DASH;
    return "[" + f(iv[0]) + ", " + f(iv[1]) + "]";
  }

  const dateFmt = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
  const dateFmtYear = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });

  function fmtDate(s, withYear) {
    const t = Date.parse(s + "T00:00:00Z");
    if (!Number.isFinite(t)) return String(s || DASH);
    return (withYear ? dateFmtYear : dateFmt).format(t);
  }

  // ---------------------------------------------------------------- API

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch {
      return "";
    }
  }

  async function fetchAPI(path) {
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    let res;
    try {
      res = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
    } catch (e) {
      throw new APIError(0, "network", "the aggregate did not answer (" + e.message + ")");
    }
    return res;
  }

  async function api(path) {
    const res = await fetchAPI(path);
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) {
      const code = body && typeof body.error === "string" ? body.error : "http_" + res.status;
      const msg = body && typeof body.message === "string" ? body.message : res.status + " " + res.statusText;
      throw new APIError(res.status, code, msg);
    }
    if (body === null) throw new APIError(res.status, "bad_json", "the answer to " + path + " is not JSON");
    return body;
  }

  // ---------------------------------------------------------------- routing

  // #/experiments/<key>?metric=... (or ?experiment=<key>&metric=... on the
  // page's own URL, for links from elsewhere). Only report parameters pass.
  function route() {
    let key = "";
    let raw = new URLSearchParams();
    const m = location.hash.match(/^#\/experiments\/([^?]*)(?:\?(.*))?$/);
    if (m) {
      try {
        key = decodeURIComponent(m[1]);
      } catch {
        key = m[1];
      }
      raw = new URLSearchParams(m[2] || "");
    } else {
      raw = new URLSearchParams(location.search);
      key = raw.get("experiment") || "";
    }
    const params = new URLSearchParams();
    for (const p of PARAMS) {
      const v = raw.get(p);
      if (v) params.set(p, v);
    }
    return { key, params };
  }

  function hashFor(key, params) {
    const q = params && params.toString();
    return "#/experiments/" + encodeURIComponent(key) + (q ? "?" + q : "");
  }

  function apiPath(key, what, params) {
    const q = params.toString();
    return "/v1/experiments/" + encodeURIComponent(key) + "/" + what + (q ? "?" + q : "");
  }

  // ---------------------------------------------------------------- load

  async function load() {
    const gen = ++generation;
    setState("loading", "Loading…");
    $("error").hidden = true;
    $("auth").hidden = true;
    $("signout").hidden = !token();
    try {
      const list = await api("/v1/experiments");
      if (gen !== generation) return;
      const experiments = Array.isArray(list.experiments) ? list.experiments : [];
      let { key, params } = route();
      if (!key && experiments.length > 0) key = latest(experiments).key;
      renderList(experiments, key);
      if (!key) {
        $("experiment").hidden = true;
        setState("ready", "No experiments yet");
        return;
      }
      const [report, daily] = await Promise.all([api(apiPath(key, "report", params)), api(apiPath(key, "daily", params))]);
      if (gen !== generation) return;
      const summary = experiments.find((e) => e.key === key) || { key, metrics: [] };
      drawn = { summary, report, daily, params };
      renderExperiment(drawn);
      setState("ready", "Updated " + new Date().toLocaleTimeString("en-GB"));
    } catch (e) {
      if (gen !== generation) return;
      if (e instanceof APIError && (e.status === 401 || e.status === 403)) {
        showAuth(e);
      } else {
        showError(e);
      }
    }
  }

  // latest is the experiment with the most recent data (the list is by key):
  // the one a visitor most likely came for.
  function latest(experiments) {
    return experiments.reduce((best, x) => (String(x.last_day || "") > String(best.last_day || "") ? x : best));
  }

  function showAuth(e) {
    $("experiment").hidden = true;
    $("auth").hidden = false;
    $("auth-message").textContent =
      e.status === 403
        ? "The token given lacks the read scope (" + e.message + "). Enter a token with the read scope."
        : token()
          ? "The token given was refused (" + e.message + "). Enter a token with the read scope."
          : "This aggregate needs a bearer token with the read scope.";
    setState("auth", "Token required");
    $("token").focus();
  }

  function showError(e) {
    // The controls stay usable to correct a parameter, but figures from the
    // previous answer are dimmed: they no longer match the address. Another
    // experiment's figures are hidden altogether.
    const sec = $("experiment");
    if (sec.dataset.experiment && sec.dataset.experiment === route().key) sec.classList.add("stale");
    else sec.hidden = true;
    $("error").hidden = false;
    $("error-message").textContent = e && e.message ? e.message : String(e);
    setState("error", "Error");
  }

  // ---------------------------------------------------------------- list

  function renderList(experiments, current) {
    const ul = $("experiment-list");
    clear(ul);
    $("experiment-empty").hidden = experiments.length > 0;
    for (const x of experiments) {
      const variants = Array.isArray(x.variants) ? x.variants.length : 0;
      const a = el(
        "a",
        { href: hashFor(x.key), "data-experiment": x.key, "aria-current": x.key === current ? "page" : null },
        el("span", { class: "exp-key" }, x.key),
        el(
          "span",
          { class: "exp-sub" },
          fmtInt(x.users) + " users · " + variants + " variant" + (variants === 1 ? "" : "s"),
        ),
        el("span", { class: "exp-sub" }, fmtDate(x.first_day) + " – " + fmtDate(x.last_day)),
      );
      ul.append(el("li", { "data-experiment": x.key }, a));
    }
  }

  // ---------------------------------------------------------------- experiment

  function renderExperiment({ summary, report, daily, params }) {
    const sec = $("experiment");
    sec.hidden = false;
    sec.classList.remove("stale");
    sec.dataset.experiment = report.experiment;
    sec.dataset.metric = report.metric || "";
    const variants = Array.isArray(report.variants) ? report.variants : [];
    const color = colorsOf(report);

    $("exp-title").textContent = report.experiment;
    const users = variants.reduce((s, v) => s + (isNum(v.users) ? v.users : 0), 0);
    $("exp-meta").textContent =
      fmtDate(report.from, true) +
      " – " +
      fmtDate(report.to, true) +
      " · " +
      fmtInt(users) +
      " users · control: " +
      (report.control || DASH) +
      " · confidence " +
      fmtPct(report.confidence, 0);

    renderControls(summary, report, params);
    renderAlerts(report);
    renderTable(report, color);

    const days = Array.isArray(daily.days) ? daily.days : [];
    drawCharts(report, days, color);
    renderNotes(report);
  }

  function renderControls(summary, report, params) {
    const sel = $("metric");
    clear(sel);
    const metrics = Array.isArray(summary.metrics) ? summary.metrics : [];
    for (const m of metrics) {
      sel.append(el("option", { value: m.name, selected: m.name === report.metric ? "" : null }, m.name + " (" + fmtInt(m.converters) + ")"));
    }
    if (report.metric && !metrics.some((m) => m.name === report.metric)) {
      sel.append(el("option", { value: report.metric, selected: "" }, report.metric));
    }
    if (sel.options.length === 0) sel.append(el("option", { value: "" }, "no conversions yet"));
    sel.disabled = metrics.length < 2 && !!report.metric;
    sel.value = report.metric || "";
    $("from").value = params.get("from") || report.from || "";
    $("to").value = params.get("to") || report.to || "";
    $("weights").value = params.get("weights") || "";
  }

  function renderAlerts(report) {
    const box = $("alerts");
    clear(box);
    const srm = report.srm || {};
    if (srm.warn === true) {
      const variants = Array.isArray(report.variants) ? report.variants : [];
      const total = variants.reduce((s, v) => s + (isNum(v.users) ? v.users : 0), 0);
      const expected = srm.expected_share || {};
      const rows = variants.map((v) =>
        el(
          "li",
          null,
          el("strong", null, v.variant),
          ": " + fmtPct(total > 0 ? v.users / total : null, 1) + " of users, " + fmtPct(expected[v.variant], 1) + " expected",
        ),
      );
      const weightsAssumed = (report.warnings || []).some((w) => w && w.code === "srm_weights_assumed");
      box.append(
        el(
          "div",
          { id: "srm-warning", class: "alert alert-srm", role: "alert" },
          el("strong", null, "Sample ratio mismatch"),
          " (χ² p = " + fmtPSmall(srm.p_value) + "): the users per variant do not match the expected split. " +
            "Assignment or logging is broken somewhere, and every comparison below is suspect.",
          el("ul", { class: "srm-shares" }, rows),
          weightsAssumed
            ? el("p", { class: "small" }, "No exposure carried the flag's weights, so the expected split assumes equal weights; if the flag's weights differ, enter them above (control first).")
            : null,
        ),
      );
    }
    if (isNum(report.multiple_exposures) && report.multiple_exposures > 0) {
      box.append(
        el(
          "div",
          { id: "multiple-exposures", class: "alert alert-info" },
          fmtInt(report.multiple_exposures) + " users saw more than one variant and are left out of every figure.",
        ),
      );
    }
  }

  function renderTable(report, color) {
    const tbody = $("variants").tBodies[0];
    clear(tbody);
    const conf = fmtPct(report.confidence, 0);
    $("th-rate-sub").textContent = conf + " CI";
    $("results-sub").textContent = report.metric ? "· metric " + report.metric : "· no metric";
    for (const v of report.variants || []) {
      const t = v.vs_control && v.vs_control.rate;
      const isControl = v.variant === report.control;
      const sig = t && t.significant === true;
      const dir = t && isNum(t.abs_lift) ? (t.abs_lift > 0 ? "up" : t.abs_lift < 0 ? "down" : "") : "";
      const ciCell = (main, sub, cls) => el("td", { class: "num " + (cls || "") }, el("span", { class: "main" }, main), el("span", { class: "ci" }, sub));
      const tr = el(
        "tr",
        { "data-variant": v.variant, class: isControl ? "control" : null },
        el(
          "th",
          { scope: "row" },
          el("span", { class: "swatch", "data-color": color.get(v.variant) }),
          el("span", { class: "vname" }, v.variant),
          isControl ? el("span", { class: "badge" }, "control") : null,
        ),
        el("td", { class: "num users", "data-value": v.users }, fmtInt(v.users)),
        el("td", { class: "num converters", "data-value": v.converters }, fmtInt(v.converters)),
        ciCell(fmtPct(v.rate), fmtInterval(v.rate_ci, (x) => fmtPct(x)), "rate"),
        t ? ciCell(fmtLiftPct(t.rel_lift), fmtInterval(t.rel_ci, fmtLiftPct), "rel-lift " + (sig ? "sig " + dir : "")) : el("td", { class: "num rel-lift" }, DASH),
        t ? ciCell(fmtPP(t.abs_lift), fmtInterval(t.abs_ci, fmtPoints), "abs-lift") : el("td", { class: "num abs-lift" }, DASH),
        el("td", { class: "num p-value" }, t ? fmtP(t.p_value) : DASH),
        el("td", { class: "num p-holm " + (sig ? "sig" : "") }, t ? fmtP(t.p_value_holm) : DASH),
        el("td", { class: "num p-seq" }, t ? fmtP(t.sequential_p_value) : DASH),
        el("td", { class: "num ctbc" }, t ? fmtPct(t.chance_to_beat_control, 1) : DASH),
      );
      tbody.append(tr);
    }
    // Swatch colours come from the palette, never from data; set through the
    // CSSOM, which the page's CSP allows (style attributes it does not).
    for (const s of tbody.querySelectorAll(".swatch")) s.style.backgroundColor = s.dataset.color;
  }

  function renderNotes(report) {
    const ul = $("warnings");
    clear(ul);
    const warnings = Array.isArray(report.warnings) ? report.warnings : [];
    for (const w of warnings) {
      if (!w) continue;
      ul.append(
        el(
          "li",
          { "data-code": w.code || "" },
          el("code", null, w.code || "warning"),
          w.variant ? el("span", { class: "badge" }, w.variant) : null,
          " ",
          w.message || "",
        ),
      );
    }
    $("notes").hidden = warnings.length === 0;
  }

  // ---------------------------------------------------------------- charts

  function drawCharts(report, days, color) {
    const dates = days.map((d) => d.date);
    const conf = fmtPct(report.confidence, 0);
    const variants = (report.variants || []).map((v) => v.variant);
    const byName = (d, name) => (Array.isArray(d.variants) ? d.variants.find((v) => v.variant === name) : null);

    const rateSeries = variants.map((name) => ({
      name,
      color: color.get(name),
      values: days.map((d) => {
        const v = byName(d, name);
        return v && isNum(v.rate) ? v.rate : null;
      }),
      band: days.map((d) => {
        const v = byName(d, name);
        return v && Array.isArray(v.rate_ci) ? v.rate_ci : null;
      }),
    }));
    lineChart($("rate-chart"), "rate", dates, rateSeries, { clampMin: 0, clampMax: 1, label: "conversion rate" });
    legend($("rate-legend"), rateSeries);
    $("rate-note").textContent =
      "Each day shows everyone exposed from " +
      fmtDate(report.from) +
      " up to that day. Shaded: " +
      conf +
      " Wilson interval.";

    const liftSeries = variants
      .filter((name) => name !== report.control)
      .map((name) => ({
        name,
        color: color.get(name),
        values: days.map((d) => {
          const v = byName(d, name);
          const t = v && v.vs_control && v.vs_control.rate;
          return t && isNum(t.rel_lift) ? t.rel_lift : null;
        }),
        band: days.map((d) => {
          const v = byName(d, name);
          const t = v && v.vs_control && v.vs_control.rate;
          return t && Array.isArray(t.rel_ci) ? t.rel_ci : null;
        }),
      }));
    lineChart($("lift-chart"), "lift", dates, liftSeries, { zero: true, signed: true, clampMin: -1, label: "relative lift" });
    legend($("lift-legend"), liftSeries);
    $("lift-note").textContent =
      "(variant − control) / control, cumulative. Shaded: " +
      conf +
      " interval, fixed-horizon: it does not allow for looking every day; the table's Seq. p does.";
  }

  function legend(ul, series) {
    clear(ul);
    for (const s of series) {
      const sw = el("span", { class: "legend-swatch" });
      sw.style.backgroundColor = s.color;
      ul.append(el("li", { "data-variant": s.name }, sw, s.name));
    }
  }

  // niceTicks returns round tick values covering [lo, hi].
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) {
      const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 0.01;
      lo -= pad;
      hi += pad;
    }
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    const start = Math.floor(lo / step + 1e-9) * step;
    const end = Math.ceil(hi / step - 1e-9) * step;
    const ticks = [];
    for (let x = start; x <= end + step / 2; x += step) ticks.push(Math.abs(x) < step / 1e6 ? 0 : x);
    return { ticks, step };
  }

  function quantile(sorted, q) {
    if (sorted.length === 0) return NaN;
    const i = (sorted.length - 1) * q;
    const a = Math.floor(i);
    const b = Math.ceil(i);
    return sorted[a] + (sorted[b] - sorted[a]) * (i - a);
  }

  // lineChart draws one line per series with its interval band. The y range
  // covers every line and all but the widest band ends (the first days'
  // intervals can be huge and would flatten everything else); bands are
  // clipped to the plot.
  function lineChart(box, id, dates, series, opts) {
    clear(box);
    const n = dates.length;
    const W = Math.max(480, Math.round(box.clientWidth || 900));
    const H = 300;
    const m = { top: 12, right: 20, bottom: 34, left: 58 };
    const pw = W - m.left - m.right;
    const ph = H - m.top - m.bottom;

    const lines = [];
    const bandEnds = [];
    for (const s of series) {
      for (const v of s.values) if (isNum(v)) lines.push(v);
      for (const b of s.band) if (b && isNum(b[0]) && isNum(b[1])) bandEnds.push(b[0], b[1]);
    }
    const root = svg("svg", {
      class: "chart",
      id: id + "-svg",
      viewBox: "0 0 " + W + " " + H,
      width: W,
      height: H,
      role: "img",
      "aria-label": opts.label + " by day",
    });
    box.append(root);
    if (series.length === 0 || lines.length === 0) {
      root.append(
        svg(
          "text",
          { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" },
          series.length === 0
            ? "No treatment to compare with the control"
            : "No defined figure to draw in this range (see the notes below)",
        ),
      );
      return;
    }

    bandEnds.sort((a, b) => a - b);
    let lo = Math.min(...lines);
    let hi = Math.max(...lines);
    if (bandEnds.length > 0) {
      lo = Math.min(lo, quantile(bandEnds, 0.1));
      hi = Math.max(hi, quantile(bandEnds, 0.9));
    }
    if (opts.zero) {
      lo = Math.min(lo, 0);
      hi = Math.max(hi, 0);
    }
    if (opts.clampMin !== undefined) lo = Math.max(lo, opts.clampMin);
    if (opts.clampMax !== undefined) hi = Math.min(hi, opts.clampMax);
    const { ticks, step } = niceTicks(lo, hi, 5);
    const y0 = ticks[0];
    const y1 = ticks[ticks.length - 1];
    // As many decimals as the step needs, in percent (0.5% → 1, 2% → 0).
    let digits = 0;
    while (digits < 4 && Math.abs(step * 100 * 10 ** digits - Math.round(step * 100 * 10 ** digits)) > 1e-6) digits++;
    const y = (v) => m.top + ph - ((v - y0) / (y1 - y0)) * ph;
    const x = (i) => m.left + (n === 1 ? pw / 2 : (i * pw) / (n - 1));
    const fmtTick = (v) => (opts.signed && v > 0 ? "+" : "") + (v * 100).toFixed(digits) + "%";

    const clipId = "clip-" + id;
    root.append(svg("defs", null, svg("clipPath", { id: clipId }, svg("rect", { x: m.left, y: m.top, width: pw, height: ph }))));

    // Horizontal grid with percentage labels.
    const grid = svg("g", { class: "grid" });
    for (const t of ticks) {
      grid.append(
        svg("line", { x1: m.left, x2: m.left + pw, y1: y(t), y2: y(t), class: t === 0 && opts.zero ? "zero" : null }),
        svg("text", { x: m.left - 8, y: y(t), "text-anchor": "end", "dominant-baseline": "middle" }, fmtTick(t)),
      );
    }
    root.append(grid);

    // Dates along the bottom: at most one label per ~80 px.
    const axis = svg("g", { class: "x-axis" });
    axis.append(svg("line", { x1: m.left, x2: m.left + pw, y1: m.top + ph, y2: m.top + ph }));
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(pw / 80))));
    const lastLabelled = Math.floor((n - 1) / every) * every;
    for (let i = 0; i < n; i++) {
      // Every every-th day, and the last day when it has room of its own.
      const wanted = i % every === 0 || (i === n - 1 && x(i) - x(lastLabelled) >= 70);
      if (!wanted) continue;
      axis.append(
        svg("line", { x1: x(i), x2: x(i), y1: m.top + ph, y2: m.top + ph + 5 }),
        svg("text", { x: x(i), y: m.top + ph + 20, "text-anchor": "middle" }, fmtDate(dates[i])),
      );
    }
    root.append(axis);

    const plot = svg("g", { "clip-path": "url(#" + clipId + ")" });
    root.append(plot);
    for (const s of series) {
      plot.append(svg("path", { class: "band", "data-band": s.name, d: bandPath(s.band, x, y), fill: s.color }));
    }
    for (const s of series) {
      const points = s.values.filter(isNum).length;
      plot.append(svg("path", { class: "series", "data-variant": s.name, "data-points": points, d: linePath(s.values, x, y), stroke: s.color }));
    }
    // Points with native tooltips, while they are few enough to tell apart.
    if (n <= 62) {
      for (const s of series) {
        s.values.forEach((v, i) => {
          if (!isNum(v)) return;
          const f = opts.signed ? fmtLiftPct : (z) => fmtPct(z);
          const tip = s.name + " · " + fmtDate(dates[i], true) + ": " + f(v) + (s.band[i] ? " " + fmtInterval(s.band[i], f) : "");
          plot.append(svg("circle", { class: "point", cx: x(i), cy: y(v), r: 3, fill: s.color }, svg("title", null, tip)));
        });
      }
    }
  }

  // linePath joins the defined values; a null starts a new segment.
  function linePath(values, x, y) {
    let d = "";
    let pen = false;
    values.forEach((v, i) => {
      if (!isNum(v)) {
        pen = false;
        return;
      }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1);
      pen = true;
    });
    return d;
  }

  // bandPath outlines each run of defined intervals: along the upper ends,
  // back along the lower ones.
  function bandPath(band, x, y) {
    let d = "";
    let run = [];
    const flush = () => {
      if (run.length > 0) {
        const up = run.map((i) => x(i).toFixed(1) + "," + y(band[i][1]).toFixed(1));
        const down = run.map((i) => x(i).toFixed(1) + "," + y(band[i][0]).toFixed(1)).reverse();
        d += "M" + up.join("L") + "L" + down.join("L") + "Z";
      }
      run = [];
    };
    band.forEach((b, i) => {
      if (b && isNum(b[0]) && isNum(b[1])) run.push(i);
      else flush();
    });
    flush();
    return d;
  }

  // ---------------------------------------------------------------- events

  function onControls(ev) {
    ev.preventDefault();
    const { key, params } = route();
    const current = $("experiment").dataset.experiment || key;
    const next = new URLSearchParams();
    for (const p of ["confidence", "control"]) if (params.get(p)) next.set(p, params.get(p));
    const set = (name, v) => {
      v = (v || "").trim();
      if (v) next.set(name, v);
    };
    set("metric", $("metric").value);
    // A date left at the report's default stays out of the address, so the
    // range keeps following the data (and today) on later visits.
    const rep = drawn && drawn.report.experiment === current ? drawn.report : {};
    for (const name of ["from", "to"]) {
      const v = $(name).value;
      if (params.get(name) || v !== rep[name]) set(name, v);
    }
    set("weights", $("weights").value.replace(/\s+/g, ""));
    const h = hashFor(current, next);
    if (location.hash === h) load();
    else location.hash = h;
  }

  async function downloadCSV() {
    const key = $("experiment").dataset.experiment;
    if (!key || !drawn) return;
    // Fetched rather than linked: a link would not carry the token.
    try {
      const res = await fetchAPI(apiPath(key, "report.csv", drawn.params));
      if (!res.ok) throw new APIError(res.status, "http_" + res.status, "report.csv: " + res.status + " " + res.statusText);
      const url = URL.createObjectURL(await res.blob());
      const a = el("a", { href: url, download: key + "_" + (drawn.report.metric || "report") + ".csv" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      showError(e);
    }
  }

  function init() {
    $("auth").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = $("token").value.trim();
      if (!t) return;
      try {
        sessionStorage.setItem(TOKEN_KEY, t);
      } catch {
        // Storage off: the token cannot be kept; the API will ask again.
      }
      $("token").value = "";
      load();
    });
    $("signout").addEventListener("click", () => {
      try {
        sessionStorage.removeItem(TOKEN_KEY);
      } catch {
        // nothing kept
      }
      load();
    });
    $("controls").addEventListener("submit", onControls);
    $("metric").addEventListener("change", () => $("controls").requestSubmit());
    $("download-csv").addEventListener("click", downloadCSV);
    window.addEventListener("hashchange", load);
    let resize = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resize);
      resize = setTimeout(() => {
        if (drawn && document.body.dataset.state === "ready") drawCharts(drawn.report, drawn.daily.days || [], colorsOf(drawn.report));
      }, 150);
    });
    load();
  }

  function colorsOf(report) {
    return new Map((report.variants || []).map((v, i) => [v.variant, PALETTE[i % PALETTE.length]]));
  }

  init();
})();
