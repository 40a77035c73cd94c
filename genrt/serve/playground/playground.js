// The genrt playground: every control becomes a query of this server's API, and
// every picture on the page is that API's PNG, unchanged. No other origin, no build.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const STEPS = 16;   // frames of the interpolation strip
  const PADDING = 2;  // pixels around each tile of genrt's grids (make_grid's padding)
  const STATE = ["model", "seed", "count", "label", "truncation", "interp-a", "interp-b", "frame"];
  let models = [];
  let retry = { grid: null, strip: null };
  let strip = null, stripUrl = "";

  const current = () => models.find((m) => m.name === $("model").value) || models[0];
  const root = () => (models.length > 1 ? `/v1/models/${encodeURIComponent(current().name)}/` : "/v1/");

  function query(params) {
    return Object.entries(params).filter(([, v]) => v !== null && v !== "")
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  }

  function label() {
    return current().conditional ? $("label").value : null;
  }

  function gridUrl() {
    const t = Number($("truncation").value);
    return `${root()}sample.png?` + query({ n: $("count").value, seed: $("seed").value, label: label(),
                                           truncation: t.toString() });
  }

  function stripUrlNow() {
    const l = label();
    return `${root()}interpolate.png?` + query({ a: $("interp-a").value, b: $("interp-b").value, steps: STEPS,
                                                label: l === "all" ? null : l,
                                                truncation: Number($("truncation").value).toString() });
  }

  function show(id, text, kind) {
    const box = $(id);
    box.textContent = text;
    box.className = kind || "";
  }

  // The answer behind a picture that failed: 503 retries after Retry-After, others show the server's words.
  async function explain(url, where, again) {
    try {
      const answer = await fetch(url);
      if (answer.ok) { again(); return; }
      const body = await answer.json().catch(() => ({}));
      if (answer.status === 503) {
        const seconds = Math.max(Number(answer.headers.get("Retry-After")) || 1, 0.2);
        show(where, `The server is busy; retrying in ${seconds} s. (${body.error || "503"})`, "busy");
        retry[where === "status" ? "grid" : "strip"] = setTimeout(again, seconds * 1000);
      } else {
        show(where, `The server refused this: ${body.error || `HTTP ${answer.status}`}`, "error");
      }
    } catch (error) {
      show(where, `The server cannot be reached (${error.message}).`, "error");
    }
  }

  function loadGrid() {
    clearTimeout(retry.grid);
    const url = gridUrl();
    const grid = $("grid");
    grid.onload = () => {
      show("status", "");
      const each = label() === "all" ? `${$("count").value} per class` : `${$("count").value} images` +
        (label() ? `, class ${label()}` : "");
      $("grid-caption").textContent = `seed ${$("seed").value}, ${each}, ` +
        `truncation ${Number($("truncation").value).toFixed(2)}`;
      facts();
    };
    grid.onerror = () => explain(url, "status", () => { grid.removeAttribute("src"); grid.src = url; });
    grid.src = url;
    $("download").href = url;
    $("download").download = `genrt-seed${$("seed").value}.png`;
  }

  function loadStrip() {
    const url = stripUrlNow();
    if (url === stripUrl && strip) { drawFrame(); return; }
    clearTimeout(retry.strip);
    stripUrl = url;
    const image = new Image();
    image.onload = () => { if (stripUrl === url) { strip = image; show("interp-status", ""); drawFrame(); } };
    image.onerror = () => explain(url, "interp-status", () => { stripUrl = ""; loadStrip(); });
    image.src = url;
  }

  function drawFrame() {
    const frame = Number($("frame").value);
    $("frame-value").textContent = `${frame + 1} of ${STEPS}`;
    if (!strip) return;
    const [, h, w] = current().image_shape;
    const canvas = $("frame-view");
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.drawImage(strip, PADDING + frame * (w + PADDING), PADDING, w, h, 0, 0, w, h);
  }

  async function facts() {
    const m = current();
    const [c, h, w] = m.image_shape;
    let latency = "";
    try {
      const stats = (await (await fetch("/v1/stats")).json()).models[m.name];
      if (stats && stats.latency_ms) latency = ` · p50 ${stats.latency_ms.p50} ms over ${stats.requests} ` +
        (stats.requests === 1 ? "request" : "requests");
    } catch (error) { /* the facts stay without latency */ }
    const classes = m.conditional ? `${m.num_classes} classes` : "unconditional";
    $("facts").textContent = `${m.name}: ${m.kind} · ${w}×${h}×${c} · ${classes} · ${m.providers[0]}${latency}`;
  }

  function remember() {
    const params = new URLSearchParams();
    for (const id of STATE) params.set(id, $(id).value);
    const link = `${location.pathname}?${params}`;
    history.replaceState(null, "", link);
    $("share").href = link;
  }

  function labels() {
    const m = current();
    const select = $("label");
    const kept = select.value;
    select.replaceChildren();
    if (m.conditional) {
      const names = m.class_names.length ? m.class_names : [...Array(m.num_classes).keys()].map(String);
      select.append(new Option("all (one row per class)", "all"));
      names.forEach((name, i) => select.append(new Option(name === String(i) ? name : `${i}: ${name}`, String(i))));
      select.value = [...select.options].some((o) => o.value === kept) ? kept : "all";
    }
    $("label-field").hidden = !m.conditional;
  }

  function update() {
    $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
    remember();
    loadGrid();
    loadStrip();
  }

  async function start() {
    try {
      models = (await (await fetch("/v1/models")).json()).models;
    } catch (error) {
      show("status", `The server cannot be reached (${error.message}).`, "error");
      return;
    }
    const select = $("model");
    models.forEach((m) => select.append(new Option(m.name, m.name)));
    $("model-field").hidden = models.length < 2;
    const saved = new URLSearchParams(location.search);
    if (saved.has("model")) select.value = saved.get("model");
    labels();
    for (const id of STATE) if (saved.has(id) && id !== "model") $(id).value = saved.get(id);
    if (label() !== null && $("label").value === "") labels();
    $("model").addEventListener("change", () => { labels(); update(); });
    for (const id of ["seed", "count", "label", "truncation", "interp-a", "interp-b"]) {
      $(id).addEventListener("change", update);
    }
    $("truncation").addEventListener("input", () => {
      $("truncation-value").textContent = Number($("truncation").value).toFixed(2);
    });
    $("frame").addEventListener("input", () => { drawFrame(); remember(); });
    $("random-seed").addEventListener("click", () => {
      $("seed").value = Math.floor(Math.random() * 2 ** 31);
      update();
    });
    update();
  }

  start();
})();
