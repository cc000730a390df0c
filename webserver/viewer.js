// Image viewer: native (uncompressed) frames from WADO-RS, window/level on a canvas.
"use strict";
const Viewer = (() => {
  const st = {items: [], index: 0, frame: 0, meta: null, pixels: null, wc: 0, ww: 0, study: "", series: ""};
  const el = id => document.getElementById(id);

  async function open(study, series) {
    st.study = study; st.series = series;
    const found = await DW.query(`/studies/${study}/series/${series}/instances`, {});
    st.items = found.sort((a, b) => DW.number(a, "00200013", 0) - DW.number(b, "00200013", 0));
    const frames = [];
    for (const it of st.items) {
      const n = Math.max(DW.number(it, "00280008", 1), 1);
      for (let f = 1; f <= n; f++) frames.push({sop: DW.value(it, "00080018"), frame: f, count: n});
    }
    st.items = frames;
    el("viewer").hidden = false;
    el("v-slider").max = Math.max(frames.length - 1, 0);
    await show(0);
  }

  async function show(index) {
    if (!st.items.length) return;
    st.index = Math.min(Math.max(index, 0), st.items.length - 1);
    el("v-slider").value = st.index;
    const item = st.items[st.index];
    if (!st.meta || st.meta.sop !== item.sop) {
      const meta = await DW.json(`${DW.root}/studies/${st.study}/series/${st.series}/instances/${item.sop}/metadata`);
      st.meta = {sop: item.sop, obj: meta[0]};
      const m = meta[0];
      st.wc = DW.number(m, "00281050", NaN); st.ww = DW.number(m, "00281051", NaN);
      st.needWindow = !(st.ww > 0) || isNaN(st.wc);
      st.resetW = null;
    }
    const parts = await DW.frames(st.study, st.series, item.sop, item.frame);
    st.pixels = decode(parts[0].body, st.meta.obj);
    if (st.needWindow) { autoWindow(); st.needWindow = false; }
    if (!st.resetW) st.resetW = {wc: st.wc, ww: st.ww};
    draw();
    el("v-info").textContent = `image ${st.index + 1} / ${st.items.length}` +
      (item.count > 1 ? ` (frame ${item.frame} of ${item.count})` : "");
  }

  function decode(bytes, m) {
    const rows = DW.number(m, "00280010", 0), cols = DW.number(m, "00280011", 0);
    const bits = DW.number(m, "00280100", 16), signed = DW.number(m, "00280103", 0) === 1;
    const spp = DW.number(m, "00280002", 1), planar = DW.number(m, "00280006", 0);
    const slope = DW.number(m, "00281053", 1), intercept = DW.number(m, "00281052", 0);
    const photometric = String(DW.value(m, "00280004") || "MONOCHROME2");
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    let raw;
    if (bits === 8) raw = signed ? new Int8Array(buf) : new Uint8Array(buf);
    else if (bits === 32) raw = signed ? new Int32Array(buf) : new Uint32Array(buf);
    else raw = signed ? new Int16Array(buf.slice(0, buf.byteLength - buf.byteLength % 2)) :
                        new Uint16Array(buf.slice(0, buf.byteLength - buf.byteLength % 2));
    return {rows, cols, spp, planar, slope, intercept, raw, photometric};
  }

  function autoWindow() {
    const p = st.pixels;
    if (p.spp !== 1) { st.wc = 127.5; st.ww = 256; return; }
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < p.raw.length; i++) { const v = p.raw[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
    lo = lo * p.slope + p.intercept; hi = hi * p.slope + p.intercept;
    st.wc = (lo + hi) / 2; st.ww = Math.max(hi - lo, 1);
  }

  function draw() {
    const p = st.pixels, canvas = el("v-canvas");
    if (!p || !p.rows) return;
    canvas.width = p.cols; canvas.height = p.rows;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(p.cols, p.rows);
    const n = p.rows * p.cols, out = img.data;
    el("v-width").value = Math.round(st.ww); el("v-center").value = Math.round(st.wc);
    if (p.spp === 3) {
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < 3; c++) out[4 * i + c] = p.planar ? p.raw[c * n + i] : p.raw[3 * i + c];
        out[4 * i + 3] = 255;
      }
    } else {
      const low = st.wc - st.ww / 2, scale = 255 / Math.max(st.ww, 1);
      const invert = p.photometric === "MONOCHROME1";
      for (let i = 0; i < n; i++) {
        let v = ((p.raw[i] * p.slope + p.intercept) - low) * scale;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        if (invert) v = 255 - v;
        out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = v; out[4 * i + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function bind() {
    const canvas = el("v-canvas");
    let drag = null;
    canvas.addEventListener("mousedown", e => { drag = {x: e.clientX, y: e.clientY, wc: st.wc, ww: st.ww}; });
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
    el("v-width").onchange = e => { st.ww = Math.max(1, Number(e.target.value)); draw(); };
    el("v-center").onchange = e => { st.wc = Number(e.target.value); draw(); };
    el("v-reset").onclick = () => { if (st.resetW) { st.wc = st.resetW.wc; st.ww = st.resetW.ww; } draw(); };
    el("v-close").onclick = () => { el("viewer").hidden = true; };
    document.addEventListener("keydown", e => {
      if (el("viewer").hidden || e.target.tagName === "INPUT") return;
      if (["ArrowDown", "ArrowRight", "PageDown"].includes(e.key)) show(st.index + 1);
      if (["ArrowUp", "ArrowLeft", "PageUp"].includes(e.key)) show(st.index - 1);
    });
  }

  return {open, show, bind, state: st};
})();
