// scratchnet serve: the page. Plain JavaScript, no dependencies; every number comes from the JSON API.
"use strict";

const state = { models: [], model: null, view: "draw", tune: false, pending: false, dirty: false, tuneTimer: null, generation: 0 };
// For tests and the curious: the last pixels sent, the last answer, and whether a prediction is under way.
window.scratchnet = { lastPixels: null, lastResponse: null, predictions: 0, idle: () => !state.pending && !state.dirty };

const $ = (id) => document.getElementById(id);
const COLORS = ["#2a6fdb", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c", "#5c940d", "#364fc7", "#a61e4d"];

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// ------------------------------------------------------------------ colours
function grey(v) { // 0…1 → black…white
  const g = Math.round(255 * Math.max(0, Math.min(1, v)));
  return [g, g, g];
}
function diverging(v) { // −1…1 → blue…white…red
  const t = Math.max(-1, Math.min(1, v));
  if (t >= 0) return [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))];
  return [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
}
function heat(v) { // 0…1 → white…accent blue
  const t = Math.max(0, Math.min(1, v));
  return [Math.round(255 - 213 * t), Math.round(255 - 144 * t), Math.round(255 - 36 * t)];
}

// An image of h × w values drawn into a canvas, each value a scale × scale cell.
function paintImage(canvas, values, h, w, scale, colour) {
  canvas.width = w * scale;
  canvas.height = h * scale;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = i < values.length && values[i] !== null ? colour(values[i]) : [224, 224, 218]; // padding: no unit
    image.data.set([r, g, b, 255], 4 * i);
  }
  const small = document.createElement("canvas");
  small.width = w;
  small.height = h;
  small.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, w * scale, h * scale);
  return canvas;
}

// How activations of a layer are coloured: signed values diverge around 0, others go black → white.
function layerColour(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo < 0) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return (v) => diverging(v / m);
  }
  const top = hi > 1 ? hi : 1;
  return (v) => grey(v / top);
}

// ------------------------------------------------------------------ drawing
const draw = { canvas: null, ctx: null, drawing: false, last: null, inked: false };

function setupDrawing() {
  const canvas = $("draw");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  draw.canvas = canvas;
  draw.ctx = ctx;
  clearDrawing();
  const point = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * (canvas.width / rect.width), (event.clientY - rect.top) * (canvas.height / rect.height)];
  };
  const stroke = (from, to) => {
    ctx.strokeStyle = "white";
    ctx.fillStyle = "white";
    ctx.lineWidth = 20;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
    draw.inked = true;
    schedulePrediction();
  };
  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    draw.drawing = true;
    draw.last = point(event);
    stroke(draw.last, draw.last);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!draw.drawing) return;
    event.preventDefault();
    const p = point(event);
    stroke(draw.last, p);
    draw.last = p;
  });
  const end = () => { draw.drawing = false; draw.last = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("touchmove", (event) => event.preventDefault(), { passive: false });
  $("clear").addEventListener("click", () => { clearDrawing(); showEmpty(); });
}

function clearDrawing() {
  draw.ctx.fillStyle = "black";
  draw.ctx.fillRect(0, 0, draw.canvas.width, draw.canvas.height);
  draw.inked = false;
  state.generation += 1;
}

// The drawing as 28 × 28 grey levels 0…255 (the mean of each 10 × 10 block), row-major.
function drawingPixels() {
  const { width, height } = draw.canvas;
  const data = draw.ctx.getImageData(0, 0, width, height).data;
  const bw = width / 28, bh = height / 28;
  const pixels = new Array(784).fill(0);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / bh) * 28;
    for (let x = 0; x < width; x++) pixels[row + Math.floor(x / bw)] += data[4 * (y * width + x)];
  }
  return pixels.map((v) => Math.round(v / (bw * bh)));
}

function schedulePrediction() {
  if (state.pending) { state.dirty = true; return; }
  state.pending = true;
  requestAnimationFrame(runPrediction);
}

async function runPrediction() {
  state.dirty = false;
  try {
    if (!state.model || !draw.inked) return;
    const pixels = drawingPixels();
    const generation = state.generation;
    const result = await api("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: state.model, pixels }),
    });
    if (generation !== state.generation) return; // cleared meanwhile
    window.scratchnet.lastPixels = pixels;
    window.scratchnet.lastResponse = result;
    showPrediction(result);
    window.scratchnet.predictions += 1;
  } catch (error) {
    $("prediction").textContent = "!";
    $("input-note").textContent = error.message;
  } finally {
    state.pending = false;
    if (state.dirty) schedulePrediction();
  }
}

function showEmpty() {
  $("prediction").textContent = "–";
  $("probabilities").replaceChildren();
  $("layers").replaceChildren();
  paintImage($("input"), [0], 1, 1, 168, grey);
  $("input-note").textContent = "";
  window.scratchnet.lastResponse = null;
}

function showPrediction(result) {
  const input = result.input;
  const [h, w] = input.shape;
  paintImage($("input"), input.values.map((v) => v / input.max_value), h, w, Math.floor(168 / w), grey);
  $("input-note").textContent = `${h} × ${w} input (0…${input.max_value}), fitted and centred by centre of mass`;
  $("prediction").textContent = String(result.prediction);
  const bars = $("probabilities");
  bars.replaceChildren();
  result.probabilities.forEach((p, k) => {
    const label = document.createElement("span");
    label.textContent = k;
    const bar = document.createElement("div");
    bar.className = "bar" + (k === result.prediction ? " best" : "");
    const fill = document.createElement("div");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.textContent = p.toFixed(3);
    bars.append(label, bar, value);
  });
  showLayers(result.layers);
}

// Dense layers (shape [n]) as a grid of cells; (H, W) as one map; (C, H, W) as C feature maps.
function showLayers(layers) {
  const box = $("layers");
  box.replaceChildren();
  layers.forEach((layer, i) => {
    const div = document.createElement("div");
    div.className = "layer";
    div.dataset.layer = i;
    const title = document.createElement("div");
    title.className = "hint";
    title.textContent = `${layer.name} · shape (${layer.shape.join(", ")})`;
    div.append(title);
    const colour = layerColour(layer.values);
    const shape = layer.shape;
    if (shape.length === 3) {
      const [c, h, w] = shape;
      const maps = document.createElement("div");
      maps.className = "maps";
      const scale = Math.max(2, Math.floor(64 / Math.max(h, w)));
      for (let k = 0; k < c; k++) {
        const canvas = document.createElement("canvas");
        paintImage(canvas, layer.values.slice(k * h * w, (k + 1) * h * w), h, w, scale, colour);
        maps.append(canvas);
      }
      div.append(maps);
    } else {
      let h, w;
      if (shape.length === 2) [h, w] = shape;
      else if (shape[0] <= 16) { h = 1; w = shape[0]; }
      else { w = Math.ceil(Math.sqrt(shape[0])); h = Math.ceil(shape[0] / w); }
      const scale = Math.max(6, Math.min(28, Math.floor(200 / Math.max(h, w))));
      const canvas = document.createElement("canvas");
      paintImage(canvas, layer.values, h, w, scale, colour);
      canvas.title = layer.name;
      div.append(canvas);
    }
    box.append(div);
  });
}

// ------------------------------------------------------------------ charts
function lineChart(canvas, { series, title, logY = false, yMin = null, yMax = null, empty = "no data" }) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, left = 56, right = 10, top = 24, bottom = 30;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#1d1d1f";
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillText(title, left, 14);
  const points = series.flatMap((s) => s.x.map((x, i) => [x, s.y[i]])).filter(([, y]) => y !== null && Number.isFinite(y) && (!logY || y > 0));
  if (!points.length) { ctx.fillStyle = "#6b6b70"; ctx.textAlign = "center"; ctx.fillText(empty, W / 2, H / 2); ctx.textAlign = "start"; return; }
  const f = logY ? Math.log10 : (v) => v;
  let x0 = Math.min(...points.map((p) => p[0])), x1 = Math.max(...points.map((p) => p[0]));
  let y0 = yMin ?? Math.min(...points.map((p) => f(p[1]))), y1 = yMax ?? Math.max(...points.map((p) => f(p[1])));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => left + ((x - x0) / (x1 - x0)) * (W - left - right);
  const Y = (y) => top + (1 - (f(y) - y0) / (y1 - y0)) * (H - top - bottom);
  ctx.strokeStyle = "#e0e0da";
  ctx.fillStyle = "#6b6b70";
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + ((y1 - y0) * i) / 4, py = top + (1 - i / 4) * (H - top - bottom);
    ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(W - right, py); ctx.stroke();
    const label = logY ? (10 ** yv).toExponential(1) : yv.toPrecision(3);
    ctx.fillText(label, 2, py + 4);
  }
  ctx.fillText(String(x0), left, H - 10);
  ctx.fillText(`${x1} (epoch)`, W - right - 70, H - 10);
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color || COLORS[k % COLORS.length];
    ctx.setLineDash(s.dash ? [5, 4] : []);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let started = false;
    s.x.forEach((x, i) => {
      const y = s.y[i];
      if (y === null || !Number.isFinite(y) || (logY && y <= 0)) { started = false; return; }
      if (started) ctx.lineTo(X(x), Y(y)); else { ctx.moveTo(X(x), Y(y)); started = true; }
    });
    ctx.stroke();
  });
  ctx.setLineDash([]);
  let lx = left + 8, ly = top + 12;
  series.slice(0, 10).forEach((s, k) => {
    ctx.fillStyle = s.color || COLORS[k % COLORS.length];
    ctx.fillRect(lx, ly - 8, 10, 3);
    ctx.fillStyle = "#1d1d1f";
    ctx.fillText(s.label, lx + 14, ly - 4);
    ly += 14;
  });
}

// ------------------------------------------------------------------ learn
async function showLearn() {
  if (!state.model) return;
  const data = await api(`/api/learn/${encodeURIComponent(state.model)}`);
  const h = data.history;
  lineChart($("learn-loss"), {
    title: "loss (log scale)", logY: true,
    series: [{ label: "training", x: h.epoch, y: h.loss_training }, { label: "hold-out", x: h.epoch, y: h.loss_test, dash: true }],
  });
  lineChart($("learn-accuracy"), {
    title: "accuracy",
    series: [{ label: "training", x: h.epoch, y: h.accuracy_training }, { label: "hold-out", x: h.epoch, y: h.accuracy_test, dash: true }],
  });
  const d = data.diagnostics;
  const keys = d.length ? Object.keys(d[0]) : [];
  const byLayer = (prefix) => keys.filter((k) => k.startsWith(prefix)).sort((a, b) => Number(a.split("_").pop()) - Number(b.split("_").pop()));
  const epochs = d.map((r) => r.epoch);
  lineChart($("learn-gradients"), {
    title: "‖∂L/∂W⁽ᵏ⁾‖ per layer (log scale)", logY: true,
    series: byLayer("grad_norm_").map((k) => ({ label: `layer ${k.split("_").pop()}`, x: epochs, y: d.map((r) => r[k]) })),
  });
  lineChart($("learn-saturation"), {
    title: "share of saturated hidden units", yMin: 0, yMax: 1,
    empty: d.length ? "no saturating hidden activation (only sigmoid and tanh saturate)" : "no data",
    series: byLayer("saturated_").map((k) => ({ label: `hidden ${k.split("_").pop()}`, x: epochs, y: d.map((r) => r[k]) })),
  });
  $("learn-diagnostics-note").textContent = d.length
    ? `measured after each epoch on 1,000 fixed training rows (${d.length} epochs)`
    : "no diagnostics in this model file: train it with `scratchnet train --diagnostics`";
  const weights = $("learn-weights");
  weights.replaceChildren();
  const [wh, ww] = data.weights.shape;
  data.weights.units.forEach((unit, j) => {
    const canvas = document.createElement("canvas");
    paintImage(canvas, unit, wh, ww, Math.max(2, Math.floor(56 / ww)), diverging);
    canvas.title = `hidden unit ${j + 1}`;
    weights.append(canvas);
  });
  $("learn-weights-note").textContent = `(${data.weights.units.length} of ${data.weights.total} units; red positive, blue negative)`;
  showEvaluation(data.evaluation);
}

function showEvaluation(ev) {
  const table = $("learn-confusion");
  const wrong = $("learn-wrong");
  table.replaceChildren();
  wrong.replaceChildren();
  if (!ev.available) {
    $("learn-split").textContent = ev.message;
    $("learn-accuracy-note").textContent = "";
    return;
  }
  $("learn-split").textContent = `rows: true class, columns: predicted; ${ev.split}`;
  $("learn-accuracy-note").textContent = `(accuracy ${ev.accuracy.toFixed(4)} on ${ev.n})`;
  const n = ev.confusion.length;
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (let j = 0; j < n; j++) { const th = document.createElement("th"); th.textContent = j; head.append(th); }
  table.append(head);
  ev.confusion.forEach((row, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = i;
    tr.append(th);
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, j) => {
      const td = document.createElement("td");
      td.textContent = count;
      const [r, g, b] = i === j ? heat(count / total) : diverging(Math.min(1, (5 * count) / total));
      td.style.background = `rgb(${r},${g},${b})`;
      tr.append(td);
    });
    table.append(tr);
  });
  ev.wrong.forEach((item) => {
    const fig = document.createElement("figure");
    const canvas = document.createElement("canvas");
    const [h, w] = item.shape;
    paintImage(canvas, item.values, h, w, Math.floor(56 / w), grey);
    const caption = document.createElement("figcaption");
    caption.textContent = `${item.label} → ${item.predicted} (${item.score.toFixed(2)})`;
    fig.append(canvas, caption);
    wrong.append(fig);
  });
}

// ------------------------------------------------------------------ tune
async function showTune() {
  const status = $("tune-status");
  if (!state.tune) { status.textContent = "No store: start `scratchnet serve --store STORE.sqlite` to watch a grid search."; return; }
  let data;
  try { data = await api("/api/tune"); } catch (error) { status.textContent = error.message; return; }
  if (!data.available) { status.textContent = `${data.store}: ${data.message}`; return; }
  const fp = data.fingerprint || {};
  status.textContent = `${data.store}: ${data.runs} trainings finished (${fp.folds ?? "?"} folds, ${fp.epochs ?? "?"} epochs each); refreshed ${new Date().toLocaleTimeString()}`;
  const heatmap = $("tune-heatmap");
  heatmap.replaceChildren();
  if (data.heatmap) {
    const hm = data.heatmap;
    const head = document.createElement("tr");
    const corner = document.createElement("th");
    corner.textContent = "layers \\ nodes";
    head.append(corner);
    hm.columns.forEach((c) => { const th = document.createElement("th"); th.textContent = c; head.append(th); });
    heatmap.append(head);
    const values = hm.accuracy.flat().filter((v) => v !== null);
    const lo = Math.min(...values), hi = Math.max(...values);
    hm.rows.forEach((r, i) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = r;
      tr.append(th);
      hm.accuracy[i].forEach((v, j) => {
        const td = document.createElement("td");
        if (v !== null) {
          td.textContent = v.toFixed(3);
          td.title = `learning rate ${hm.learning_rate[i][j]}`;
          const [cr, cg, cb] = heat(hi > lo ? (v - lo) / (hi - lo) : 1);
          td.style.background = `rgb(${cr},${cg},${cb})`;
        }
        tr.append(td);
      });
      heatmap.append(tr);
    });
  }
  lineChart($("tune-curves"), {
    title: "mean validation accuracy per configuration (top 10; layers × nodes, learning rate η)",
    series: data.curves
      .map((c) => ({ label: c.label, x: c.epoch, y: c.accuracy_validation, last: c.accuracy_validation[c.accuracy_validation.length - 1] ?? 0 }))
      .sort((a, b) => b.last - a.last)
      .slice(0, 10),
  });
  const table = $("tune-table");
  table.replaceChildren();
  if (data.table.length) {
    const columns = Object.keys(data.table[0]);
    const head = document.createElement("tr");
    columns.forEach((c) => { const th = document.createElement("th"); th.textContent = c; head.append(th); });
    table.append(head);
    data.table.forEach((row) => {
      const tr = document.createElement("tr");
      columns.forEach((c) => {
        const td = document.createElement("td");
        const v = row[c];
        td.textContent = typeof v === "number" && !Number.isInteger(v) && !["learning_rate", "momentum", "weight_decay", "dropout"].includes(c) ? v.toFixed(4) : v ?? "";
        tr.append(td);
      });
      table.append(tr);
    });
  }
}

// ------------------------------------------------------------------ views and models
function showView(view) {
  state.view = view;
  for (const name of ["draw", "learn", "tune"]) {
    $(`view-${name}`).classList.toggle("hidden", name !== view);
    $(`tab-${name}`).classList.toggle("active", name === view);
  }
  clearInterval(state.tuneTimer);
  if (view === "learn") showLearn().catch((error) => { $("learn-split").textContent = error.message; });
  if (view === "tune") {
    showTune();
    state.tuneTimer = setInterval(() => { if (!document.hidden) showTune(); }, 2000);
  }
}

function describeModel() {
  const m = state.models.find((x) => x.name === state.model);
  const net = m && m.arch
    ? `${m.arch} on (${m.input_shape.join(", ")}), ${m.output} output, ${m.loss} loss; `
    : m && `layers [${m.layers.join(", ")}], ${m.activation} hidden, ${m.output} output, ${m.loss} loss, ${m.init} init; `;
  $("model-info").textContent = m
    ? `${m.name}: ${net}${m.n_parameters.toLocaleString()} parameters; ${m.epochs_trained} epochs on ${m.dataset}`
    : "No model served: name model files on the command line.";
}

async function start() {
  setupDrawing();
  showEmpty();
  const data = await api("/api/models");
  state.models = data.models;
  state.tune = data.tune;
  const picker = $("model");
  for (const m of data.models) {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = m.name;
    picker.append(option);
  }
  state.model = data.models.length ? data.models[0].name : null;
  picker.addEventListener("change", () => {
    state.model = picker.value;
    describeModel();
    if (state.view === "learn") showLearn();
    schedulePrediction();
  });
  describeModel();
  document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => showView(tab.dataset.view)));
  document.body.dataset.ready = "true";
}

start().catch((error) => { $("model-info").textContent = `cannot reach the server: ${error.message}`; });
