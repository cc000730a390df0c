// Image viewer. Two ways to draw an image:
//  * native: uncompressed frames from WADO-RS (the server decodes any stored compression),
//    window/level applied here, so dragging is immediate;
//  * server: PS3.18 rendered frames (PNG, window/level and scaling done by the server), for
//    colour and palette images, large images (less to transfer than raw pixels), and for
//    everything when "server rendering" is ticked. Changing window/level asks for a new one.
"use strict";
const Viewer = (() => {
  const BIG = 1024 * 1024;               // pixels above which grey images are rendered by the server
  const st = {items: [], index: 0, meta: null, pixels: null, wc: NaN, ww: NaN, study: "", series: "",
              mode: "native", image: null, pending: null, busy: false, token: 0};
  const el = id => document.getElementById(id);

  async function open(study, series) {
    st.study = study; st.series = series;
    const found = await DW.query(`/studies/${study}/series/${series}/instances`, {});
    found.sort((a, b) => DW.number(a, "00200013", 0) - DW.number(b, "00200013", 0));
    const frames = [];
    for (const it of found) {
      const n = Math.max(DW.number(it, "00280008", 1), 1);
      for (let f = 1; f <= n; f++) frames.push({sop: DW.value(it, "00080018"), frame: f, count: n});
    }
    st.items = frames;
    st.meta = null;
    el("viewer").hidden = false;
    el("v-slider").max = Math.max(frames.length - 1, 0);
    await show(0);
  }

  function instanceUrl(sop) {
    return `${DW.root}/studies/${st.study}/series/${st.series}/instances/${sop}`;
  }

  function chooseMode(m) {
    const spp = DW.number(m, "00280002", 1);
    const photometric = String(DW.value(m, "00280004") || "");
    const pixels = DW.number(m, "00280010", 0) * DW.number(m, "00280011", 0);
    if (el("v-server").checked || spp !== 1 || photometric === "PALETTE COLOR" || pixels > BIG) return "server";
    return "native";
  }

  async function show(index) {
    if (!st.items.length) return;
    st.index = Math.min(Math.max(index, 0), st.items.length - 1);
    el("v-slider").value = st.index;
    const item = st.items[st.index];
    if (!st.meta || st.meta.sop !== item.sop) {
      const meta = await DW.json(`${instanceUrl(item.sop)}/metadata`);
      st.meta = {sop: item.sop, obj: meta[0]};
      const m = meta[0];
      st.wc = DW.number(m, "00281050", NaN); st.ww = DW.number(m, "00281051", NaN);
      st.resetW = null;
    }
    st.mode = chooseMode(st.meta.obj);
    const colour = DW.number(st.meta.obj, "00280002", 1) !== 1;
    el("v-width").disabled = el("v-center").disabled = colour;
    if (st.mode === "native") {
      const parts = await DW.frames(st.study, st.series, item.sop, item.frame);
      st.pixels = decode(parts[0].body, st.meta.obj);
      if (!(st.ww > 0) || isNaN(st.wc)) autoWindow();
      if (!st.resetW) st.resetW = {wc: st.wc, ww: st.ww};
      draw();
    } else {
      st.pixels = null;
      if (!st.resetW) st.resetW = {wc: st.wc, ww: st.ww};
      await render();
    }
    el("v-info").textContent = `image ${st.index + 1} / ${st.items.length}` +
      (item.count > 1 ? ` (frame ${item.frame} of ${item.count})` : "") +
      (st.mode === "server" ? " - server rendered" : "");
  }

  // -- server rendering --------------------------------------------------------------------
  function renderedUrl() {
    const item = st.items[st.index], m = st.meta.obj;
    const q = new URLSearchParams();
    const rows = DW.number(m, "00280010", 0), cols = DW.number(m, "00280011", 0);
    const box = Math.min(Math.max(rows, cols), 1024);
    if (Math.max(rows, cols) > box) q.set("viewport", `${box},${box}`);
    if (st.ww > 0 && !isNaN(st.wc)) q.set("window", `${st.wc},${st.ww},linear`);
    return `${instanceUrl(item.sop)}/frames/${item.frame}/rendered?${q}`;
  }

  // one request at a time; the newest wish wins when several come while one is under way
  async function render() {
    st.pending = renderedUrl();
    if (st.busy) return;
    st.busy = true;
    try {
      while (st.pending) {
        const url = st.pending;
        st.pending = null;
        const resp = await DW.check(await fetch(url, {headers: {Accept: "image/png"}}));
        const bitmap = await createImageBitmap(await resp.blob());
        if (!st.pending && st.mode === "server") { st.image = bitmap; paint(); }
      }
    } finally { st.busy = false; }
  }

  function paint() {
    const canvas = el("v-canvas"), image = st.image;
    canvas.width = image.width; canvas.height = image.height;
    canvas.getContext("2d").drawImage(image, 0, 0);
    showWindow();
  }

  function showWindow() {
    el("v-width").value = st.ww > 0 ? Math.round(st.ww) : "";
    el("v-center").value = isNaN(st.wc) ? "" : Math.round(st.wc);
  }

  // -- native drawing ----------------------------------------------------------------------
  function decode(bytes, m) {
    const rows = DW.number(m, "00280010", 0), cols = DW.number(m, "00280011", 0);
    const bits = DW.number(m, "00280100", 16), signed = DW.number(m, "00280103", 0) === 1;
    const slope = DW.number(m, "00281053", 1), intercept = DW.number(m, "00281052", 0);
    const photometric = String(DW.value(m, "00280004") || "MONOCHROME2");
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    let raw;
    if (bits === 8) raw = signed ? new Int8Array(buf) : new Uint8Array(buf);
    else if (bits === 32) raw = signed ? new Int32Array(buf) : new Uint32Array(buf);
    else raw = signed ? new Int16Array(buf.slice(0, buf.byteLength - buf.byteLength % 2)) :
                        new Uint16Array(buf.slice(0, buf.byteLength - buf.byteLength % 2));
    return {rows, cols, slope, intercept, raw, photometric};
  }

  function autoWindow() {
    const p = st.pixels;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < p.raw.length; i++) { const v = p.raw[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
    lo = lo * p.slope + p.intercept; hi = hi * p.slope + p.intercept;
    st.wc = (lo + hi) / 2; st.ww = Math.max(hi - lo, 1);
  }

  function draw() {
    if (st.mode === "server") { render().catch(err => { el("v-info").textContent = String(err.message || err); }); return; }
    const p = st.pixels, canvas = el("v-canvas");
    if (!p || !p.rows) return;
    canvas.width = p.cols; canvas.height = p.rows;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(p.cols, p.rows);
    const n = p.rows * p.cols, out = img.data;
    showWindow();
    const low = st.wc - st.ww / 2, scale = 255 / Math.max(st.ww, 1);
    const invert = p.photometric === "MONOCHROME1";
    for (let i = 0; i < n; i++) {
      let v = ((p.raw[i] * p.slope + p.intercept) - low) * scale;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      if (invert) v = 255 - v;
      out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = v; out[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function startWindow() {
    // a rendered grey image without a window of its own: start from the range of its stored values
    if (st.ww > 0 && !isNaN(st.wc)) return;
    const m = st.meta.obj, bits = DW.number(m, "00280101", 8), signed = DW.number(m, "00280103", 0) === 1;
    const slope = DW.number(m, "00281053", 1), intercept = DW.number(m, "00281052", 0);
    const range = Math.pow(2, bits), low = signed ? -range / 2 : 0;
    st.wc = intercept + slope * (low + range / 2); st.ww = Math.max(1, Math.abs(slope) * range);
  }

  function bind() {
    const canvas = el("v-canvas");
    let drag = null;
    canvas.addEventListener("mousedown", e => {
      if (el("v-width").disabled) return;
      startWindow();
      drag = {x: e.clientX, y: e.clientY, wc: st.wc, ww: st.ww};
    });
    window.addEventListener("mouseup", () => { drag = null; });
    canvas.addEventListener("mousemove", e => {
      if (!drag) return;
      st.ww = Math.max(1, drag.ww + (e.clientX - drag.x) * Math.max(drag.ww / 256, 1));
      st.wc = drag.wc + (e.clientY - drag.y) * Math.max(drag.ww / 256, 1);
      draw();
    });
    canvas.addEventListener("wheel", e => { e.preventDefault(); show(st.index + (e.deltaY > 0 ? 1 : -1)); });
    el("v-prev").onclick = () => show(st.index - 1);
    el("v-next").onclick = () => show(st.index + 1);
    el("v-slider").oninput = e => show(Number(e.target.value));
    el("v-width").onchange = e => { startWindow(); st.ww = Math.max(1, Number(e.target.value)); draw(); };
    el("v-center").onchange = e => { startWindow(); st.wc = Number(e.target.value); draw(); };
    el("v-reset").onclick = () => { if (st.resetW) { st.wc = st.resetW.wc; st.ww = st.resetW.ww; } draw(); };
    el("v-server").onchange = () => show(st.index);
    el("v-close").onclick = () => { el("viewer").hidden = true; };
    document.addEventListener("keydown", e => {
      if (el("viewer").hidden || e.target.tagName === "INPUT") return;
      if (["ArrowDown", "ArrowRight", "PageDown"].includes(e.key)) show(st.index + 1);
      if (["ArrowUp", "ArrowLeft", "PageUp"].includes(e.key)) show(st.index - 1);
    });
  }

  return {open, show, bind, state: st};
})();
