// lambdarec console: a hash router over four pages, each drawn from the admin JSON endpoints.
// The admin key lives in sessionStorage (this tab only) and travels as the X-API-Key header;
// it is never put in a URL. Every value is inserted as text (no innerHTML of data).
"use strict";

const KEY_STORE = "lambdarec.console.key";
const $ = (sel) => document.querySelector(sel);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "className") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class AuthError extends Error {}

async function api(path, opts = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) throw new AuthError("no admin key");
  const headers = { "X-API-Key": key, ...(opts.body ? { "Content-Type": "application/json" } : {}) };
  const resp = await fetch(path, { method: opts.method || "GET", headers, body: opts.body });
  if (resp.status === 401 || resp.status === 403) {
    sessionStorage.removeItem(KEY_STORE);
    throw new AuthError((await resp.json().catch(() => ({}))).detail || `HTTP ${resp.status}`);
  }
  if (opts.raw) return resp;
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = new Error((body && body.detail) || `HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

// ---- formatting -------------------------------------------------------------------------------
const fmt = (v, d = 4) => (v === null || v === undefined ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(d)) : String(v));
const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)} %`);
function age(s) {
  if (s === null || s === undefined) return "–";
  const a = Math.abs(s);
  const txt = a < 120 ? `${Math.round(a)} s` : a < 7200 ? `${Math.round(a / 60)} min` : a < 172800 ? `${(a / 3600).toFixed(1)} h` : `${(a / 86400).toFixed(1)} days`;
  return s < 0 ? `in ${txt}` : `${txt} ago`;
}
const card = (title, ...body) => h("section", { className: "card" }, h("h2", {}, title), ...body);
const wide = (title, ...body) => h("section", { className: "card wide" }, h("h2", {}, title), ...body);
function table(head, rows, opts = {}) {
  return h("table", { id: opts.id },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { className: c.num ? "num" : "" }, c.label || c)))),
    h("tbody", {}, rows.map((r) => h("tr", { className: r.className || "" }, r.cells.map((v, i) =>
      h("td", { className: head[i].num ? "num" : "" }, v))))));
}
const kv = (pairs, id) => h("table", { className: "kv", id }, h("tbody", {}, pairs.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v)))));
const userLink = (u) => h("a", { href: `#/user/${encodeURIComponent(u)}` }, u);
const itemLink = (i, title) => h("a", { href: `#/item/${encodeURIComponent(i)}` }, title ? `${title} (${i})` : i);
const empty = (text) => h("p", { className: "muted" }, text);

// ---- overview ---------------------------------------------------------------------------------
const EVAL_METRICS = ["recall@10", "recall@50", "ndcg@10", "hit_rate@10", "coverage@10", "novelty@10"];

function evaluationCard(ev) {
  if (!ev || !Object.keys(ev.models || {}).length) return wide("Evaluation", empty("This bundle records no evaluation."));
  const models = ev.models;
  const best = Math.max(0, ...["ease", "item_knn"].filter((b) => models[b]).map((b) => models[b]["recall@10"] || 0));
  const head = ["model", ...EVAL_METRICS.map((m) => ({ label: m, num: true })), { label: "vs best of EASE/item-kNN", num: true }];
  const rows = Object.entries(models).map(([name, m]) => ({
    className: name === "served" ? "highlight" : "",
    cells: [name, ...EVAL_METRICS.map((k) => fmt(m[k])), best > 0 && m["recall@10"] !== undefined ? `${(m["recall@10"] / best).toFixed(2)}x` : "–"],
  }));
  const split = ev.split ? `${ev.split.protocol}; ${ev.split.n_eval_users} users, ${ev.split.n_catalogue} items` : `from the bundle's ${ev.source}`;
  const plots = h("div", { id: "plots" });
  for (const name of ev.plots || []) {
    api(`/v1/admin/console/plots/${encodeURIComponent(name)}`, { raw: true })
      .then((r) => (r.ok ? r.blob() : null))
      .then((b) => b && plots.append(h("img", { className: "plot", alt: name, src: URL.createObjectURL(b) })));
  }
  return wide("Evaluation: the served blend vs baselines", h("p", { className: "muted" }, split), table(head, rows, { id: "eval-table" }), plots);
}

async function overviewPage(root) {
  const o = await api("/v1/admin/console/overview");
  const b = o.bundle;
  const bundleCard = b
    ? card("Bundle", kv([["version", h("span", { id: "bundle-version" }, b.version)], ["created", `${b.created_at} (${age(b.age_s)})`],
        ["training data", `${b.training_data[0]} → ${b.training_data[1]}`], ["catalogue / users", `${b.items} items, ${b.users} users`],
        ["value model", JSON.stringify(b.value_model_weights)], ["ranker", b.served_ranker ? "served-candidate ranker" : "legacy ranker"]]))
    : card("Bundle", h("p", { className: "error", id: "bundle-version" }, `no bundle loaded: ${o.bundle_error || "nothing published"}`));
  const f = o.freshness;
  const fresh = card("Feature freshness", kv([
    ["last materialization (data up to)", h("span", { id: "features-version" }, f.features_version ? `${f.features_version} (${age(f.features_age_s)})` : "never (no stamp in Redis)")],
    ["item features in memory", f.served_features_version || "none read"],
    ["batch histories published for", f.history_version || "never"]]));
  const r = o.redis;
  const redisCard = card("Redis", r.up
    ? kv([["state", h("span", { className: "ok", id: "redis-state" }, "up")], ["version", r.redis_version], ["memory", `${r.used_memory_human} (max ${r.maxmemory_human})`],
        ["keys", fmt(r.keys)], ["clients", fmt(r.connected_clients)], ["uptime", age(r.uptime_in_seconds).replace(" ago", "")]])
    : h("p", { className: "error", id: "redis-state" }, `down: ${r.error}`));
  const streamRows = o.streams.flatMap((s) => (s.groups.length ? s.groups : [null]).map((g) => ({
    cells: [s.stream, fmt(s.length), g ? g.name : "no consumer group", g ? fmt(g.consumers) : "–", g ? fmt(g.pending) : "–", g ? fmt(g.lag) : "–"] })));
  const streams = wide("Speed layer streams", table(["stream", { label: "length", num: true }, "group", { label: "consumers", num: true },
    { label: "pending", num: true }, { label: "lag", num: true }], streamRows, { id: "streams-table" }),
    h("p", { className: "muted" }, "pending: delivered, not yet acknowledged; lag: not yet delivered to the group."));
  const c = o.cache;
  const cacheCard = card("Response cache", h("p", { id: "cache-rate" }, c.requests ? `hit rate ${pct(c.hit_rate)} of ${c.requests} lookups` : "no recommendation request yet"),
    table(["layer", { label: "hit", num: true }, { label: "miss", num: true }], Object.entries(c.layers).map(([l, v]) => ({ cells: [l, fmt(v.hit || 0), fmt(v.miss || 0)] }))));
  const lat = (rows, key, id) => table([key, { label: "count", num: true }, { label: "mean ms", num: true }, { label: "p50 ≤ ms", num: true }, { label: "p95 ≤ ms", num: true }],
    rows.map((s) => ({ cells: [s[key], fmt(s.count), fmt(s.mean_ms, 2), fmt(s.p50_ms, 1), fmt(s.p95_ms, 1)] })), { id });
  const stages = card("Latency per stage (this process, since start)", o.stages.length ? lat(o.stages, "stage", "stages-table") : empty("no request served yet"),
    h("details", {}, h("summary", {}, "per endpoint"), lat(o.endpoints, "endpoint", "endpoints-table")));
  const exps = wide("Experiments: live CTR per variant", o.experiments.length
    ? table(["experiment", "variant", { label: "items served", num: true }, { label: "clicks + likes", num: true }, { label: "CTR", num: true }, { label: "95 % CI (Wilson)", num: true }],
      o.experiments.map((e) => ({ cells: [e.experiment || "(none)", e.variant, fmt(e.impressions), fmt(e.clicks), pct(e.ctr), `${pct(e.ci_low)} – ${pct(e.ci_high)}`] })), { id: "experiments-table" })
    : empty("no experiment configured"),
    h("p", { className: "muted" }, "From this process's counters (all workers in multiprocess mode): click and like events of each variant's users over the items served to them, not attributed per impression. The attributed report with significance tests: python -m jobs.experiments_report."));
  root.append(h("h1", {}, "Overview"), h("div", { className: "grid" }, bundleCard, fresh, redisCard, streams, cacheCard, stages, evaluationCard(o.evaluation), exps));
}

// ---- user -------------------------------------------------------------------------------------
function idForm(label, value, go) {
  const input = h("input", { id: `${label}-id`, value: value || "", placeholder: `${label} id`, required: true, pattern: "[A-Za-z0-9_.:\\-]{1,64}" });
  return h("form", { className: "inline", id: `${label}-form`, onsubmit: (e) => { e.preventDefault(); location.hash = `#/${label}/${encodeURIComponent(input.value.trim())}`; } },
    input, h("button", { type: "submit" }, "Open"), go || null);
}

function breakdown(trace, itemId) {
  if (!trace) return null;
  const s = (trace.scored || []).find((x) => x.item_id === itemId);
  if (!s) return null;
  return h("details", {}, h("summary", {}, "score breakdown"), kv([
    ["score", fmt(s.score)], ["heads", JSON.stringify(s.heads || {})], ["sources", JSON.stringify(s.sources || {})],
    ["features", h("pre", {}, JSON.stringify(s.features || {}, null, 1))]]));
}

function traceCard(trace) {
  if (!trace) return card("Trace", empty("This server returned no trace (explain=true not supported)."));
  const gens = Object.entries(trace.generators || {}).map(([g, c]) => ({ cells: [g, fmt(c.length)] }));
  const filt = Object.entries(trace.filters || {}).map(([r, items]) => ({ cells: [r, fmt(items.length), items.slice(0, 8).join(", ")] }));
  const div = (trace.diversity || []).map((d) => ({ cells: [d.item_id, fmt(d.from_position), fmt(d.to_position)] }));
  return card("Trace of this list",
    table(["generator", { label: "candidates", num: true }], gens, { id: "trace-generators" }),
    filt.length ? table(["filter", { label: "removed", num: true }, "items"], filt, { id: "trace-filters" }) : empty("no filter removed anything"),
    div.length ? table(["moved by diversity", { label: "from", num: true }, { label: "to", num: true }], div) : null,
    h("p", { className: "muted" }, "timings (ms): ", Object.entries(trace.timings_ms || {}).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(" · ")),
    trace.degraded && trace.degraded.length ? h("p", { className: "error" }, `degraded: ${trace.degraded.join(", ")}`) : null);
}

async function loadRecs(userId) {
  return api(`/v1/recommendations/${encodeURIComponent(userId)}?k=10&explain=true`);
}

function recsTable(userId, rec, onEvent) {
  const rows = rec.items.map((it, i) => ({ cells: [String(i + 1), itemLink(it.item_id, it.title), fmt(it.score), it.source,
    h("span", {}, it.reason, breakdown(rec.trace, it.item_id)),
    h("span", {}, h("button", { type: "button", "data-item": it.item_id, className: "like", onclick: () => onEvent(it, "like") }, "Like"), " ",
      h("button", { type: "button", "data-item": it.item_id, className: "not-interested", onclick: () => onEvent(it, "not_interested") }, "Not interested"))] }));
  return table(["#", "item", { label: "score", num: true }, "sources", "reason", "act as the user"], rows, { id: "recs-table" });
}

function stateCards(s) {
  if (s.store_error) return [card("Stored state", h("p", { className: "error" }, `Redis unavailable: ${s.store_error}`))];
  const items = (list) => (list.length ? h("ul", {}, list.map((x) => h("li", {}, itemLink(x.item_id, x.title), x.at ? h("span", { className: "muted" }, ` ${x.at}`) : null))) : empty("none"));
  return [
    card(`History (batch layer): ${s.history.count} items`, h("div", { id: "history" }, items(s.history.items))),
    card(`Real-time state (speed layer)`, h("div", { id: "realtime" },
      h("p", {}, `seen: ${s.seen.count}, not interested: ${s.not_interested.count}, cache generation ${s.cache_generation}`),
      h("h2", {}, "recent"), items(s.recent), h("h2", {}, "seen (newest first)"), items(s.seen.items), h("h2", {}, "not interested"), items(s.not_interested.items))),
    card("Features (Feast online store)", Object.keys(s.features).length
      ? kv(Object.entries(s.features).map(([k, v]) => [k, typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v)]), "user-features") : empty("no feature stored")),
  ];
}

async function userPage(root, userId) {
  root.append(h("h1", {}, "User"), idForm("user", userId));
  if (!userId) return root.append(empty("Enter a user id (links from the Item page lead here too)."));
  const [state, rec] = await Promise.all([api(`/v1/admin/console/users/${encodeURIComponent(userId)}`), loadRecs(userId)]);
  const recBox = h("div", { id: "recs" });
  const change = h("div", { id: "rec-change" });
  const drawRecs = (r) => { recBox.replaceChildren(h("p", { className: "muted" }, `model ${r.model_version || "none"}, variant ${r.variant}${r.degraded ? `, DEGRADED: ${r.degraded_reasons.join(", ")}` : ""}${r.cached ? ", from cache" : ""}`), recsTable(userId, r, onEvent)); traceBox.replaceChildren(traceCard(r.trace)); };
  const traceBox = h("div", {});
  let current = rec;
  async function onEvent(item, type) {
    const before = current.items.map((x) => x.item_id);
    await api(`/v1/admin/console/users/${encodeURIComponent(userId)}/events`, { method: "POST", body: JSON.stringify({ item_id: item.item_id, type }) });
    current = await loadRecs(userId);
    const after = current.items.map((x) => x.item_id);
    const removed = before.filter((x) => !after.includes(x));
    const added = after.filter((x) => !before.includes(x));
    change.replaceChildren(h("p", { className: "change" }, `${type === "like" ? "Liked" : "Not interested in"} ${item.title || item.item_id}: `,
      `removed ${removed.join(", ") || "nothing"}; new ${added.join(", ") || "nothing"}.`));
    drawRecs(current);
    refreshState();
  }
  const stateBox = h("div", { className: "grid" }, stateCards(state));
  async function refreshState() { stateBox.replaceChildren(...stateCards(await api(`/v1/admin/console/users/${encodeURIComponent(userId)}`))); }
  drawRecs(rec);
  const whyInput = h("input", { id: "whynot-item", placeholder: "item id", required: true });
  const whyOut = h("div", { id: "whynot-result" });
  const whyForm = h("form", { className: "inline", id: "whynot-form", onsubmit: async (e) => {
    e.preventDefault();
    whyOut.replaceChildren(empty("asking…"));
    try {
      const w = await api(`/v1/users/${encodeURIComponent(userId)}/why-not/${encodeURIComponent(whyInput.value.trim())}`);
      whyOut.replaceChildren(h("p", {}, h("span", { className: "badge", id: "whynot-outcome" }, w.outcome), " ", h("span", { className: "muted" }, `stage: ${w.stage || "–"}`)),
        h("p", { id: "whynot-sentence" }, w.sentence), h("details", {}, h("summary", {}, "evidence"), h("pre", {}, JSON.stringify(w.evidence, null, 1))));
    } catch (err) {
      if (err instanceof AuthError) throw err;
      whyOut.replaceChildren(h("p", { className: "error" }, err.status === 404 || err.status === 405 ? "why-not is not available on this server" : err.message));
    }
  } }, whyInput, h("button", { type: "submit" }, "Why not?"));
  const forgetOut = h("div", { id: "forget-result" });
  const forgetBtn = h("button", { type: "button", className: "danger", id: "forget", onclick: async () => {
    if (forgetBtn.dataset.armed !== "1") { forgetBtn.dataset.armed = "1"; forgetBtn.textContent = "Confirm: forget this user everywhere"; return; }
    forgetBtn.disabled = true;
    try {
      const r = await api(`/v1/users/${encodeURIComponent(userId)}`, { method: "DELETE" });
      forgetOut.replaceChildren(h("p", { className: "ok" }, `Forgotten: ${r.removed_keys} keys removed, tombstone ${r.tombstoned ? "recorded for the next batch run" : "not recorded"}.`));
      await refreshState();
    } catch (err) {
      if (err instanceof AuthError) throw err;
      forgetOut.replaceChildren(h("p", { className: "error" }, `not forgotten: ${err.message}`));
    }
  } }, "Forget this user");
  root.append(
    h("p", {}, h("strong", { id: "user-title" }, userId), " ", state.known_to_bundle ? h("span", { className: "badge good" }, "in the bundle") : h("span", { className: "badge" }, "cold start"),
      " ", h("span", { className: "muted" }, `experiment ${state.experiment || "none"}, variant ${state.variant}`)),
    h("div", { className: "grid" }, wide("Current recommendations (explain=true)", change, recBox), traceBox,
      card("Why not…?", h("p", { className: "muted" }, "Ask why an item is not in this user's list."), whyForm, whyOut),
      card("Forget", h("p", { className: "muted" }, "Removes the user from every online store and records a tombstone for the next batch run."), forgetBtn, forgetOut)),
    stateBox);
}

// ---- item -------------------------------------------------------------------------------------
async function itemPage(root, itemId) {
  root.append(h("h1", {}, "Item"), idForm("item", itemId));
  if (!itemId) return root.append(empty("Enter an item id (or follow a link from a user's list)."));
  let it;
  try { it = await api(`/v1/admin/console/items/${encodeURIComponent(itemId)}`); } catch (err) {
    if (err.status === 404) return root.append(h("p", { className: "error", id: "item-missing" }, err.message));
    throw err;
  }
  const meta = it.metadata || {};
  const simCard = (src, label) => card(label, (it.similar[src] || []).length
    ? h("ol", { id: `similar-${src}` }, it.similar[src].map((s) => h("li", {}, itemLink(s.item_id, s.title), h("span", { className: "muted" }, ` ${fmt(s.score, 3)}`))))
    : empty("none in this bundle"));
  const served = it.served_to;
  root.append(h("p", {}, h("strong", { id: "item-title" }, it.title || it.item_id), " ", it.in_catalogue ? h("span", { className: "badge good" }, "in catalogue") : h("span", { className: "badge bad" }, "not served (not in catalogue)")),
    h("div", { className: "grid" },
      card("Metadata", kv([["item id", it.item_id], ["genres", (meta.genres || []).join(", ") || "–"], ["year", fmt(meta.year)],
        ["in the model's vocabulary", it.in_vocabulary ? "yes" : "no"], ["interactions (training data)", it.popularity ? fmt(it.popularity.interactions, 0) : "–"],
        ["popularity percentile", it.popularity ? pct(it.popularity.percentile) : "–"], ["bundle", it.bundle_version]], "item-meta")),
      card("Batch features (in memory)", it.features ? kv(Object.entries(it.features).map(([k, v]) => [k, fmt(v)])) : empty("no features materialized for this item")),
      simCard("similar_collab", "Similar: collaborative"), simCard("similar_text", "Similar: text"), simCard("similar_embedding", "Similar: item embeddings"),
      card("Recently served to", h("p", { className: "muted" }, `Users whose served lists contained it among the newest ${served.scanned} impressions still in the Redis stream (not the whole audience).`),
        served.users.length ? table(["user", { label: "position", num: true }, "variant", "source", "at"], served.users.map((u) => ({ cells: [userLink(u.user_id), fmt(u.position), u.variant, u.source, u.at] })), { id: "served-to" })
          : empty(served.error ? `Redis unavailable: ${served.error}` : "not served in that window"))));
}

// ---- pipelines --------------------------------------------------------------------------------
async function pipelinesPage(root) {
  const p = await api("/v1/admin/console/pipelines");
  const a = p.airflow;
  let airflow;
  if (!a.configured) airflow = h("p", { className: "muted", id: "airflow-state" }, `Airflow not configured: ${a.error}.`);
  else if (!a.reachable) airflow = h("p", { className: "error", id: "airflow-state" }, `Airflow not reachable at ${a.ui_url}: ${a.error}`);
  else airflow = h("div", { id: "airflow-state" }, h("p", {}, "Airflow: ", h("a", { href: a.ui_url, target: "_blank", rel: "noopener" }, a.ui_url)),
    a.dags.map((d) => h("div", {}, h("h2", {}, h("a", { href: d.url, target: "_blank", rel: "noopener" }, d.dag_id)),
      d.error ? h("p", { className: "error" }, d.error) : d.runs.length
        ? table(["run", "state", "type", "started", "ended"], d.runs.map((r) => ({ cells: [h("a", { href: r.url, target: "_blank", rel: "noopener" }, r.run_id),
            h("span", { className: `badge ${r.state === "success" ? "good" : r.state === "failed" ? "bad" : ""}` }, r.state), r.run_type, r.start_date || "–", r.end_date || "–"] })), { id: `runs-${d.dag_id}` })
        : empty("no run yet"))));
  const gateText = (g) => (g.length ? g.map((x) => `${x.decision}: ${x.message}`).join("\n") : "no gate decision on record");
  const bundles = p.bundles.length
    ? table(["bundle", "where", { label: "served recall@10", num: true }, { label: "served lift@10", num: true }, "gate decisions"], p.bundles.map((b) => ({
        className: b.current ? "highlight" : "",
        cells: [b.current ? `${b.version} (current)` : b.version, b.where, fmt(b.metrics["served_recall@10"]), fmt(b.metrics["served_lift@10"], 3), h("pre", {}, gateText(b.gate))] })), { id: "bundles-table" })
    : empty("no bundle on disk");
  const log = p.gate_log.length
    ? table(["decided", "bundle", "decision", { label: "new", num: true }, { label: "current", num: true }, "message"], p.gate_log.map((g) => ({
        cells: [g.decided_at, g.bundle_version, h("span", { className: `badge ${g.decision === "refused" ? "bad" : "good"}` }, g.decision), fmt(g.new, 3), fmt(g.current, 3), g.message] })), { id: "gate-log" })
    : empty("no quality-gate decision recorded yet (models/gate_decisions.jsonl)");
  root.append(h("h1", {}, "Pipelines"), h("div", { className: "grid" }, wide("Airflow DAGs: last runs", airflow), wide("Published and staged bundles", bundles), wide("Quality gate decisions, newest first", log)));
}

// ---- router -----------------------------------------------------------------------------------
const PAGES = { overview: overviewPage, user: userPage, item: itemPage, pipelines: pipelinesPage };

async function route() {
  const [, page = "overview", arg] = location.hash.replace(/^#/, "").split("/");
  const name = PAGES[page] ? page : "overview";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  const root = $("#page");
  if (!sessionStorage.getItem(KEY_STORE)) return showLogin();
  $("#login").hidden = true;
  $("#logout").hidden = false;
  const fresh = h("div", { id: `page-${name}`, "data-route": location.hash, "aria-busy": "true" });
  root.replaceChildren(fresh);
  try {
    await PAGES[name](fresh, arg ? decodeURIComponent(arg) : "");
  } catch (err) {
    if (err instanceof AuthError) return showLogin(err.message);
    fresh.append(h("p", { className: "error", id: "page-error" }, `Could not load this page: ${err.message}`));
  } finally {
    fresh.removeAttribute("aria-busy");
  }
}

function showLogin(message) {
  $("#page").replaceChildren();
  $("#login").hidden = false;
  $("#logout").hidden = true;
  $("#login-error").textContent = message || "";
  $("#admin-key").focus();
}

$("#login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY_STORE, $("#admin-key").value);
  $("#admin-key").value = "";
  route();
});
$("#logout").addEventListener("click", () => { sessionStorage.removeItem(KEY_STORE); showLogin(); });
window.addEventListener("hashchange", route);
route();
