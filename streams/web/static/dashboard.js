// The loyalty-streams dashboard: reads /api/loyalty/v1/dashboard/ every few seconds and draws it.
// Rates come from the workers' cumulative counters, differentiated here per worker between two reads;
// a counter that went down was reset by a restart and counts from zero (as Prometheus' rate() does).
"use strict";

const API = "/api/loyalty/v1";
const KEEP = 120; // points per series
const COLORS = ["#1d3557", "#e63946", "#2a9d8f", "#f4a261", "#6a4c93", "#457b9d", "#8ab17d", "#b5838d",
  "#264653", "#e76f51"];

const state = {
  previous: {}, // worker url -> its last figures
  series: { events: {}, latency: {}, models: {}, errors: {}, offers: {} },
  refresh: 3,
  timer: null,
};

function $(id) { return document.getElementById(id); }

function token() { return sessionStorage.getItem("loyalty-token") || ""; }

async function getJSON(path) {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401) {
    $("token-form").hidden = false;
    throw new Error("the API needs the bearer token");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || ("HTTP " + response.status));
  return body;
}

function sum(values) { return values.reduce((a, b) => a + b, 0); }
function total(map) { return sum(Object.values(map || {})); }

// The increase of a counter since the last read, reset-aware.
function increase(now, before) {
  if (before === undefined || before === null) return null;
  return now >= before ? now - before : now;
}

function push(group, name, t, value) {
  const series = state.series[group];
  (series[name] = series[name] || []).push([t, value]);
  if (series[name].length > KEEP) series[name].shift();
}

// Prometheus' histogram_quantile: linear within the bucket that holds the quantile.
function quantile(q, buckets) {
  if (!buckets.length) return null;
  const count = buckets[buckets.length - 1][1];
  if (!count) return null;
  const rank = q * count;
  let lowerBound = 0, lowerCount = 0;
  for (const [bound, cumulative] of buckets) {
    if (cumulative >= rank) {
      if (bound >= 1e9) return lowerBound;
      return lowerBound + (bound - lowerBound) * ((rank - lowerCount) / Math.max(cumulative - lowerCount, 1e-12));
    }
    lowerBound = bound; lowerCount = cumulative;
  }
  return lowerBound;
}

function addBuckets(into, buckets, sign = 1) {
  buckets.forEach(([bound, n], i) => {
    if (!into[i]) into[i] = [bound, 0];
    into[i][1] += sign * n;
  });
  return into;
}

function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function fillTable(id, rows) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    cells.forEach((cell) => tr.appendChild(cell instanceof Node ? cell : el("td", cell)));
    return tr;
  }));
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Lines over time, one per series, with a legend and the top of the scale.
function lineChart(svg, seriesMap) {
  const box = svg.viewBox.baseVal;
  const width = box.width, height = box.height, left = 42, right = 8, top = 8, bottom = 18;
  const names = Object.keys(seriesMap).filter((n) => seriesMap[n].length).sort();
  const points = names.flatMap((n) => seriesMap[n]);
  const children = [];
  if (points.length) {
    const t0 = Math.min(...points.map((p) => p[0])), t1 = Math.max(...points.map((p) => p[0]));
    const ymax = Math.max(...points.map((p) => p[1]), 1e-9) * 1.1;
    const x = (t) => left + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (width - left - right);
    const y = (v) => top + (1 - v / ymax) * (height - top - bottom);
    children.push(svgEl("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, stroke: "#c9ced4" }));
    children.push(svgEl("text", { x: 2, y: top + 9, class: "legend", fill: "#5a6570" }, fmt(ymax, ymax < 10 ? 2 : 0)));
    children.push(svgEl("text", { x: 2, y: height - bottom, class: "legend", fill: "#5a6570" }, "0"));
    const span = Math.round(t1 - t0);
    children.push(svgEl("text", { x: left, y: height - 4, class: "legend", fill: "#5a6570" }, `last ${span} s`));
    names.forEach((name, i) => {
      const color = COLORS[i % COLORS.length];
      const coords = seriesMap[name].map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      children.push(svgEl("polyline", { points: coords, fill: "none", stroke: color, "stroke-width": 1.6, "data-series": name }));
      children.push(svgEl("text", { x: width - right - 4, y: top + 10 + i * 12, "text-anchor": "end", class: "legend", fill: color }, name));
    });
  }
  svg.replaceChildren(...children);
  svg.dataset.drawn = names.some((n) => seriesMap[n].length >= 2) ? "true" : "false";
}

function quality(report) {
  if (!report.samples) return [null, null]; // nothing learned or judged yet
  for (const key of ["roc_auc", "mae", "hit_rate_at_5", "redemption_rate"]) {
    if (report[key] !== undefined && report[key] !== null) return [key, report[key]];
  }
  const hit = Object.keys(report).find((k) => k.startsWith("hit_rate_at_"));
  return hit ? [hit, report[hit]] : [null, null];
}

function heuristic(report) {
  const v = report.vs_baseline;
  if (!v) return "–";
  if (v.baseline_roc_auc !== undefined) {
    const verdict = v.beats_baseline === null ? "" : v.beats_baseline ? ": model ahead" : ": MODEL BEHIND";
    return `AUC ${fmt(v.baseline_roc_auc, 3)} (model ${fmt(v.model_roc_auc, 3)} on the same labels)${verdict}`;
  }
  if (v.running_mean_mae !== undefined) return `mean MAE ${fmt(v.running_mean_mae, 2)}`;
  return "–";
}

function interval(figure, digits) {
  if (!figure || figure.difference === null) return el("td", "–");
  const sign = (v) => (v >= 0 ? "+" : "") + fmt(v, digits);
  return el("td", `${sign(figure.difference)} [${sign(figure.low)}, ${sign(figure.high)}]`,
    figure.significant ? "good" : "");
}

function render(data) {
  const t = data.read_at;
  const workers = data.workers.filter((w) => !w.error);
  const failed = data.workers.filter((w) => w.error);
  // A worker whose Redis does not answer fails every offer decision closed: said beside the count, flagged.
  const noRedis = workers.filter((w) => w.redis && !w.redis.reachable).length;
  $("workers").textContent = `${workers.length}` + (failed.length ? ` (+${failed.length} not answering)` : "") +
    (noRedis ? ` · Redis unreachable on ${noRedis}` : "");
  $("workers").className = noRedis ? "flag" : "";

  // Stream: totals, rates per topic, latency.
  const eventsIn = {}, deadByTopic = {};
  let offers = 0;
  const intervalBuckets = [], cumulativeBuckets = [];
  const rates = {}, offerIncrease = {};
  let rated = false;
  for (const w of workers) {
    const c = w.counters;
    for (const [topic, n] of Object.entries(c.events_in)) eventsIn[topic] = (eventsIn[topic] || 0) + n;
    for (const [topic, n] of Object.entries(c.dead_lettered)) deadByTopic[topic] = (deadByTopic[topic] || 0) + n;
    offers += c.offers;
    addBuckets(cumulativeBuckets, w.latency_buckets);
    const before = state.previous[w.worker];
    if (before) {
      const seconds = Math.max(w.read_at - before.read_at, 1e-3);
      rated = true;
      for (const [topic, n] of Object.entries(c.events_in)) {
        rates[topic] = (rates[topic] || 0) + increase(n, before.counters.events_in[topic] || 0) / seconds;
      }
      for (const [cid, n] of Object.entries(c.offers_by_campaign)) {
        offerIncrease[cid] = (offerIncrease[cid] || 0) + increase(n, before.counters.offers_by_campaign[cid] || 0) / seconds;
      }
      const reset = total(c.events_in) < total(before.counters.events_in);
      addBuckets(intervalBuckets, w.latency_buckets);
      if (!reset) addBuckets(intervalBuckets, before.latency_buckets, -1);
    }
    state.previous[w.worker] = w;
  }
  $("total-events-in").textContent = fmt(total(eventsIn));
  $("total-offers").textContent = fmt(offers);
  $("total-dead-letters").textContent = fmt(total(deadByTopic));
  const p50 = quantile(0.5, cumulativeBuckets), p99 = quantile(0.99, cumulativeBuckets);
  $("latency-p50").textContent = p50 === null ? "–" : fmt(p50 * 1000, 1) + " ms";
  $("latency-p99").textContent = p99 === null ? "–" : fmt(p99 * 1000, 1) + " ms";
  if (rated) {
    for (const topic of Object.keys(eventsIn)) push("events", topic, t, rates[topic] || 0);
    $("events-rate").textContent = fmt(sum(Object.values(rates)), 1);
    const i50 = quantile(0.5, intervalBuckets), i99 = quantile(0.99, intervalBuckets);
    if (i50 !== null) { push("latency", "p50", t, i50 * 1000); push("latency", "p99", t, i99 * 1000); }
    for (const campaign of data.campaigns) push("offers", campaign.campaign_id, t, offerIncrease[campaign.campaign_id] || 0);
  }
  lineChart($("chart-events"), state.series.events);
  lineChart($("chart-latency"), state.series.latency);

  fillTable("lag", workers.flatMap((w) => w.lag.map((l) => [l.topic, l.partition, fmt(l.lag), w.worker])));
  const reasons = {};
  for (const w of workers) for (const d of w.dead_letter_reasons) {
    const key = d.topic + "\u0000" + d.reason;
    reasons[key] = (reasons[key] || 0) + d.count;
  }
  fillTable("dead-letters", Object.entries(reasons).sort().map(([key, n]) => [...key.split("\u0000"), fmt(n)]));

  // Models: the answering worker's (with learners, every worker scores with the same version).
  const here = workers.find((w) => w.worker === data.answered_by) || workers[0];
  if (here) {
    const source = here.model_source || {};
    $("model-source").textContent = source.from === "learners"
      ? `scoring with the learners' version ${source.version ?? "(none yet)"}`
      : "each worker learns its own models (LOYALTY_MODELS_FROM=worker): these are " + here.worker + "'s";
    const rows = [];
    for (const [name, report] of Object.entries(here.models).sort()) {
      const [metric, value] = quality(report);
      // Rates and AUCs share a 0-1 scale; errors (MAE) are in money and get their own chart.
      if (metric && value !== null && rated) push(metric === "mae" ? "errors" : "models", name, t, value);
      rows.push([name, metric ? `${metric} ${fmt(value, 3)}` : "–", heuristic(report), fmt(report.samples),
        fmt(report.pending_labels), el("td", report.drift ? "DRIFT" : "ok", report.drift ? "flag" : ""), report.version]);
    }
    fillTable("model-table", rows);
  }
  lineChart($("chart-models"), state.series.models);
  lineChart($("chart-errors"), state.series.errors);

  // Campaigns: offers, budgets, blocks, holdout and uplift.
  const blocks = {};
  for (const w of workers) for (const b of w.blocks) {
    blocks[b.campaign_id] = blocks[b.campaign_id] || {};
    blocks[b.campaign_id][b.reason] = (blocks[b.campaign_id][b.reason] || 0) + b.count;
  }
  const offersBy = {};
  for (const w of workers) for (const [cid, n] of Object.entries(w.counters.offers_by_campaign)) offersBy[cid] = (offersBy[cid] || 0) + n;
  fillTable("campaign-table", data.campaigns.map((c) => {
    const used = c.used || {}, perf = c.performance;
    const blocked = Object.entries(blocks[c.campaign_id] || {}).map(([r, n]) => `${r} ${n}`).join(", ") || "–";
    return [c.campaign_id, fmt(offersBy[c.campaign_id] || 0),
      `${fmt(used.total)} / ${c.total_budget ?? "∞"}`, `${fmt(used.day)} / ${c.daily_budget ?? "∞"}`,
      c.customer_cap ?? "–", blocked, `${fmt(100 * c.control_share, 0)}%`,
      `${perf.treated.customers} / ${perf.held_out.customers}`,
      interval(perf.purchase_rate, 3), interval(perf.spend_per_customer, 2)];
  }));
  lineChart($("chart-offers"), state.series.offers);

  $("status").textContent = `${workers.length ? "live" : "no worker answered"} · read ${new Date(t * 1000).toLocaleTimeString()} by ${data.answered_by}`;
}

async function tick() {
  try {
    const data = await getJSON(API + "/dashboard/");
    state.refresh = data.refresh_seconds || state.refresh;
    render(data);
    if (!window.dashboardFirstRender) window.dashboardFirstRender = performance.now(); // bench/dashboard_load.py
  } catch (error) {
    $("status").textContent = "error: " + error.message;
  } finally {
    clearTimeout(state.timer);
    state.timer = setTimeout(tick, state.refresh * 1000);
  }
}

async function lookUp(event) {
  event.preventDefault();
  const id = $("customer-id").value.trim();
  const out = $("customer");
  if (!id) return;
  out.replaceChildren(el("p", "looking up " + id + "…", "muted"));
  try {
    const days = $("customer-horizon").value;
    const body = await getJSON(`${API}/customers/${encodeURIComponent(id)}/scores/?horizon_days=${encodeURIComponent(days)}`);
    const h = body.horizon;
    const s = body.scores && body.source === "redis" ? { customer_id: id, ...body.scores } : body;
    const parts = [];
    parts.push(el("h3", `${s.customer_id} · as of ${s.as_of ?? body.as_of ?? "?"} · from ${body.source}`));
    const table = el("table");
    table.id = "customer-scores";
    const rows = [["churn probability", s.churn ? fmt(s.churn.probability, 3) + ` (${s.churn.risk_band})` : "–"],
      ["propensity to buy", fmt(s.propensity_to_buy, 3)], ["lifetime value", fmt(s.lifetime_value, 2)],
      ["engagement score", fmt(s.engagement_score, 1)], ["payment default risk", fmt(s.payment_default_risk, 3)],
      ["upsell propensity", fmt(s.upsell_propensity, 3)],
      [`within ${days} days`, h ? `no purchase ${fmt(h.churn_probability, 3)} · spend ${fmt(h.lifetime_value, 2)}`
        + ` · purchase days ${fmt(h.expected_purchases, 2)}` : "–"],
      ["RFM", s.rfm ? `${s.rfm.rfm_code} ${s.rfm.segment}` : "–"],
      ["badges", (s.badges || []).join(", ") || "none"]];
    for (const [k, v] of rows) { const tr = el("tr"); tr.append(el("th", k), el("td", v)); table.append(tr); }
    parts.push(table);
    if (s.churn && s.churn.factors) {
      parts.push(el("h3", `churn explained: ${s.churn.view}`));
      const list = el("ul");
      for (const f of s.churn.factors) list.append(el("li", `${f.feature} = ${fmt(f.value, 2)} ${f.effect} the risk (${fmt(f.contribution, 3)})`));
      parts.push(list);
    }
    parts.push(el("h3", "last decisions"));
    const decisions = el("ul");
    decisions.id = "customer-decisions";
    for (const d of s.last_decisions || []) {
      const why = d.chosen_campaign_id ? `offered ${d.chosen_campaign_id}`
        : d.held_out && d.held_out.length ? `held out of ${d.held_out.join(", ")} (control group): no offer`
        : "nothing eligible passed its rules and limits";
      decisions.append(el("li", `${d.decided_at} · ${d.trigger} · ${why}`));
    }
    if (!decisions.children.length) decisions.append(el("li", "none yet", "muted"));
    parts.push(decisions);
    out.replaceChildren(...parts);
  } catch (error) {
    out.replaceChildren(el("p", error.message, "flag"));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("customer-form").addEventListener("submit", lookUp);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("loyalty-token", $("token").value);
    $("token-form").hidden = true;
    tick();
  });
  tick();
});
