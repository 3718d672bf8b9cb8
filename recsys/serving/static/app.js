// recsys UI: plain JS, no build step, no CDN. Charts are inline SVG drawn here.
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Horizontal bar chart: rows [{label, sub, value, cls, onclick}]; bars signed around zero.
function barChart(container, rows, format) {
  container.textContent = "";
  const width = 560, row = 34, left = 250, right = 60;
  const max = Math.max(1e-9, ...rows.map((r) => Math.abs(r.value)));
  const signed = rows.some((r) => r.value < 0);
  const zero = signed ? left + (width - left - right) / 2 : left;
  const scale = (signed ? (width - left - right) / 2 : width - left - right) / max;
  const svg = el("svg", {width: "100%", viewBox: `0 0 ${width} ${rows.length * row + 4}`, role: "img"});
  rows.forEach((r, i) => {
    const g = el("g", {class: r.cls || "", transform: `translate(0, ${i * row})`});
    g.appendChild(el("text", {x: 0, y: 14}, r.label.length > 38 ? r.label.slice(0, 37) + "…" : r.label));
    if (r.sub) g.appendChild(el("text", {x: 0, y: 28, class: "genre"}, r.sub));
    const length = Math.abs(r.value) * scale;
    const x = r.value < 0 ? zero - length : zero;
    g.appendChild(el("rect", {class: "bar", x, y: 6, width: Math.max(1, length), height: 18,
      fill: r.value < 0 ? "#c0504d" : "#4f81bd"}));
    g.appendChild(el("text", {x: r.value < 0 ? x - 4 : x + length + 4, y: 20,
      "text-anchor": r.value < 0 ? "end" : "start"}, format(r.value)));
    if (r.onclick) g.addEventListener("click", r.onclick);
    svg.appendChild(g);
  });
  container.appendChild(svg);
}

// -- similar movies ---------------------------------------------------------------------
let suggestions = [], active = -1, typing = 0;

async function suggest() {
  const prefix = $("title-input").value.trim();
  const ticket = ++typing;
  if (!prefix) { renderSuggestions([]); return; }
  try {
    const body = await api(`/movies?prefix=${encodeURIComponent(prefix)}&limit=8`);
    if (ticket === typing) renderSuggestions(body.movies);
  } catch (error) { showError(error); }
}

function renderSuggestions(movies) {
  suggestions = movies; active = movies.length ? 0 : -1;
  const list = $("suggestions");
  list.textContent = "";
  movies.forEach((m, i) => {
    const item = document.createElement("li");
    item.textContent = `${m.title}${m.year ? ` (${m.year})` : ""}`;
    item.className = i === active ? "active" : "";
    item.addEventListener("mousedown", () => pick(m));
    list.appendChild(item);
  });
}

function pick(movie) {
  $("title-input").value = movie.title;
  renderSuggestions([]);
  showSimilar(movie.movie_id);
}

async function showSimilar(movieId) {
  try {
    const body = await api(`/similar?movie_id=${encodeURIComponent(movieId)}&k=10`);
    showError("");
    const m = body.movie;
    $("similar-heading").textContent =
      `Most similar to ${m.title}${m.year ? ` (${m.year})` : ""} — cosine similarity, model ${body.model} v${body.version}`;
    barChart($("similar-chart"), body.items.map((item) => ({
      label: item.title || item.movie_id, sub: item.genres.join(", "), value: item.score,
      cls: "similar-item", onclick: () => showSimilar(item.movie_id)})), (v) => v.toFixed(3));
  } catch (error) { showError(error); }
}

$("title-input").addEventListener("input", suggest);
$("title-input").addEventListener("keydown", (event) => {
  if (!suggestions.length) return;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    active = (active + (event.key === "ArrowDown" ? 1 : suggestions.length - 1)) % suggestions.length;
    [...$("suggestions").children].forEach((li, i) => { li.className = i === active ? "active" : ""; });
    event.preventDefault();
  } else if (event.key === "Enter" && active >= 0) {
    pick(suggestions[active]);
    event.preventDefault();
  }
});

// -- a user's recommendations -------------------------------------------------------------
async function showUser(userId) {
  try {
    const [user, recs] = await Promise.all([
      api(`/users/${encodeURIComponent(userId)}?history=20`),
      api(`/recommend?user_id=${encodeURIComponent(userId)}&k=10&exclude_seen=true`)]);
    showError("");
    const who = [user.gender, user.age, user.occupation].filter((x) => x).join(", ");
    $("user-heading").textContent =
      `User ${userId}${who ? ` (${who})` : ""}: ${user.ratings} ratings; model ${recs.model} v${recs.version}, unseen movies only`;
    barChart($("user-recs"), recs.items.map((item) => ({
      label: item.title || item.movie_id, sub: item.genres.join(", "), value: item.score,
      cls: "rec", onclick: () => explain(userId, item)})), (v) => v.toFixed(3));
    const history = $("user-history");
    history.textContent = "";
    for (const h of user.history) {
      const li = document.createElement("li");
      li.textContent = `${h.title} — ${h.rating}★ (${h.genres.join(", ")})`;
      history.appendChild(li);
    }
    if (recs.items.length) explain(userId, recs.items[0]);
  } catch (error) { showError(error); }
}

async function explain(userId, item) {
  $("explain-title").textContent = item.title || item.movie_id;
  try {
    const body = await api(`/explain?user_id=${encodeURIComponent(userId)}&movie_id=${encodeURIComponent(item.movie_id)}`);
    $("explain-method").textContent =
      `${body.explained} ${body.score.toFixed(3)} = baseline ${body.baseline_score.toFixed(3)} + contributions (${body.method})`;
    // Per-feature explanations name the feature and its value; older exports name groups only.
    barChart($("explain-chart"), body.contributions.map((c) => ({
      label: c.value == null ? c.feature : `${c.feature}: ${c.value}`, sub: c.reference && `vs ${c.reference}`,
      value: c.contribution, cls: "contribution"})), (v) => (v >= 0 ? "+" : "") + v.toFixed(3));
  } catch (error) { showError(error); }
}

$("user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = $("user-input").value.trim();
  if (id) showUser(id);
});

api("/readyz").then((body) => {
  $("models").textContent = "models: " + Object.entries(body.models).map(([n, v]) => `${n} v${v}`).join(", ");
}).catch(showError);
