// dgate web UI: study lists with search, series, viewer, query/move, upload, status, logs.
"use strict";
(() => {
  const el = id => document.getElementById(id);
  const esc = s => String(s == null ? "" : s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  let status = {read_only: true};

  function tab(name) {
    document.querySelectorAll("nav button").forEach(b => b.classList.toggle("active", b.dataset.tab === name));
    document.querySelectorAll(".tab").forEach(t => t.classList.toggle("active", t.id === name));
    if (name === "status") loadStatus();
    if (name === "logs") loadLogs();
    if (name === "remote") loadAEs();
  }

  function fail(target, err) { target.innerHTML = `<span class="error">${esc(err.message || err)}</span>`; }

  // -- studies ----------------------------------------------------------------------------
  async function searchStudies(ev) {
    if (ev) ev.preventDefault();
    const params = Object.fromEntries(new FormData(el("study-search")).entries());
    params.includefield = "00081030";
    const body = el("study-table").querySelector("tbody");
    try {
      const studies = await DW.query("/studies", params);
      body.innerHTML = studies.map(s => `<tr data-study="${esc(DW.value(s, "0020000D"))}">
        <td>${esc(DW.value(s, "00100010"))}</td><td>${esc(DW.value(s, "00100020"))}</td>
        <td>${esc(DW.value(s, "00080020"))}</td><td>${esc((s["00080061"] && s["00080061"].Value || []).join("/"))}</td>
        <td>${esc(DW.value(s, "00081030"))}</td><td>${esc(DW.value(s, "00201206"))}</td>
        <td>${esc(DW.value(s, "00201208"))}</td>
        <td><a href="/app/ohif/viewer?StudyInstanceUIDs=${esc(DW.value(s, "0020000D"))}" target="_blank">OHIF</a></td></tr>`).join("");
      body.querySelectorAll("tr").forEach(tr => tr.onclick = ev2 => {
        if (ev2.target.tagName !== "A") openStudy(tr.dataset.study);
      });
      if (!studies.length) body.innerHTML = `<tr><td colspan="8">No studies found</td></tr>`;
    } catch (err) { body.innerHTML = `<tr><td colspan="8" class="error">${esc(err.message)}</td></tr>`; }
  }

  async function openStudy(study) {
    el("series-panel").hidden = false;
    el("series-title").textContent = "Series of study " + study;
    const body = el("series-table").querySelector("tbody");
    try {
      const series = await DW.query(`/studies/${study}/series`, {});
      series.sort((a, b) => DW.number(a, "00200011", 0) - DW.number(b, "00200011", 0));
      body.innerHTML = series.map(s => `<tr data-series="${esc(DW.value(s, "0020000E"))}">
        <td><img class="thumb" alt="" loading="lazy"
          src="${DW.root}/studies/${esc(study)}/series/${esc(DW.value(s, "0020000E"))}/thumbnail?viewport=64,64"></td>
        <td>${esc(DW.value(s, "00200011"))}</td><td>${esc(DW.value(s, "00080060"))}</td>
        <td>${esc(DW.value(s, "0008103E"))}</td><td>${esc(DW.value(s, "00201209"))}</td>
        <td><button class="view">View</button></td></tr>`).join("");
      body.querySelectorAll("tr").forEach(tr => tr.onclick = () =>
        Viewer.open(study, tr.dataset.series).catch(err => fail(el("v-info"), err)));
    } catch (err) { body.innerHTML = `<tr><td colspan="6" class="error">${esc(err.message)}</td></tr>`; }
  }

  // -- remote AEs: query and move ---------------------------------------------------------
  async function loadAEs() {
    try {
      const aes = await (await DW.check(await fetch("/api/dgate/aes"))).json();
      const options = aes.map(a => `<option value="${esc(a.ae)}">${esc(a.ae)} (${esc(a.ip)}:${esc(a.port)})</option>`).join("");
      const keep1 = el("remote-ae").value, keep2 = el("move-target").value;
      el("remote-ae").innerHTML = options; el("move-target").innerHTML = options;
      if (keep1) el("remote-ae").value = keep1;
      if (keep2) el("move-target").value = keep2;
    } catch (err) { fail(el("move-result"), err); }
  }

  async function queryRemote(ev) {
    ev.preventDefault();
    const params = Object.fromEntries(new FormData(el("remote-search")).entries());
    const ae = params.ae; delete params.ae;
    const body = el("remote-table").querySelector("tbody");
    try {
      const studies = await DW.json(`/api/dicom/rs/modalities/${encodeURIComponent(ae)}/studies?` + new URLSearchParams(
        Object.entries(params).filter(([, v]) => v !== "")));
      body.innerHTML = studies.map(s => `<tr data-study="${esc(DW.value(s, "0020000D"))}">
        <td>${esc(DW.value(s, "00100010"))}</td><td>${esc(DW.value(s, "00100020"))}</td>
        <td>${esc(DW.value(s, "00080020"))}</td><td>${esc((s["00080061"] && s["00080061"].Value || []).join("/"))}</td>
        <td>${esc(DW.value(s, "0020000D"))}</td>
        <td><button class="move" ${status.read_only ? "disabled" : ""}>Move</button></td></tr>`).join("");
      body.querySelectorAll("button.move").forEach(b => b.onclick = () =>
        move(ae, b.closest("tr").dataset.study, b.closest("tr")));
      if (!studies.length) body.innerHTML = `<tr><td colspan="6">No studies found</td></tr>`;
    } catch (err) { body.innerHTML = `<tr><td colspan="6" class="error">${esc(err.message)}</td></tr>`; }
  }

  async function move(source, study, row) {
    const target = el("move-target").value;
    el("move-result").textContent = `moving to ${target}...`;
    try {
      const resp = await fetch("/api/dgate/move", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({source, destination: target, study})});
      const answer = await resp.json().catch(async () => ({ok: false, message: await resp.text()}));
      el("move-result").textContent = answer.ok ? `moved to ${target}` : `move failed: ${answer.message || resp.status}`;
      if (row) row.classList.toggle("selected", !!answer.ok);
    } catch (err) { fail(el("move-result"), err); }
  }

  async function echo() {
    const ae = el("remote-ae").value;
    const text = await (await fetch(`/api/dicom/rs/modalities/${encodeURIComponent(ae)}`)).text();
    el("remote-echo-result").textContent = text === "1" ? `${ae} answers` : `${ae} does not answer`;
  }

  // -- upload -----------------------------------------------------------------------------
  async function upload() {
    const files = [...el("upload-files").files];
    if (!files.length) return;
    el("upload-result").textContent = "uploading...";
    const r = await DW.stow(files);
    const ok = (r.body && r.body["00081199"] && r.body["00081199"].Value || []).length;
    const failed = (r.body && r.body["00081198"] && r.body["00081198"].Value || []).length;
    el("upload-result").textContent = `HTTP ${r.status}: ${ok} stored, ${failed} failed` + (r.warning ? `\n${r.warning}` : "");
  }

  // -- status, queues and logs --------------------------------------------------------------
  async function loadStatus() {
    try {
      status = await (await DW.check(await fetch("/api/dgate/status"))).json();
      el("status-text").textContent = status.status_text;
      const c = status.counts || {};
      el("counts").innerHTML = ["patient", "study", "series", "image"].map(k =>
        `<span>${k}: <b>${esc(c[k] == null ? "?" : c[k])}</b></span>`).join("") + (c.error ? `<span class="error">${esc(c.error)}</span>` : "");
      el("server-line").textContent = `${status.ae} on port ${status.port}` + (status.read_only ? " (read-only)" : "");
      el("tab-upload").hidden = !!status.read_only;
    } catch (err) { fail(el("status-text"), err); }
  }

  const QUEUE_COLUMNS = ["queued", "busy", "waiting_for_retry", "done", "failures", "given_up", "open"];

  function showQueues(q) {
    const target = el("queues");
    if (!q.queues.length) { target.textContent = q.note || "no queues"; return; }
    const used = QUEUE_COLUMNS.filter(c => q.queues.some(row => row[c] != null));
    target.innerHTML = `<table class="queues"><thead><tr><th>queue</th>${used.map(c =>
      `<th>${esc(c.replace(/_/g, " "))}</th>`).join("")}</tr></thead><tbody>${q.queues.map(row =>
      `<tr><td>${esc(row.name)}</td>${used.map(c => `<td>${esc(row[c] == null ? "" : row[c])}</td>`).join("")}</tr>`
    ).join("")}</tbody></table>`;
  }

  async function loadLogs() {
    const get = async url => (await (await DW.check(await fetch(url))).json());
    try {
      const q = await get("/api/dgate/queues");
      showQueues(q);
      el("log-trouble").textContent = (await get("/api/dgate/logs/trouble?lines=200")).lines.join("\n");
      el("log-user").textContent = (await get("/api/dgate/logs/user?lines=200")).lines.join("\n");
    } catch (err) { fail(el("queues"), err); }
  }

  document.querySelectorAll("nav button").forEach(b => b.onclick = () => tab(b.dataset.tab));
  el("study-search").onsubmit = searchStudies;
  el("remote-search").onsubmit = queryRemote;
  el("remote-echo").onclick = echo;
  el("upload-go").onclick = upload;
  Viewer.bind();
  loadStatus().then(searchStudies);
})();
