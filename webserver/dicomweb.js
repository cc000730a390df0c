// Small DICOMweb helpers for dgate's web UI (PS3.18): QIDO, metadata, frames, STOW.
"use strict";
const DW = (() => {
  const root = "/dicom-web";

  async function check(resp) {
    if (!resp.ok) {
      const text = await resp.text();
      throw new Error(resp.status + " " + (text.trim() || resp.statusText));
    }
    return resp;
  }

  async function json(url, opts) {
    const resp = await check(await fetch(url, Object.assign({headers: {Accept: "application/dicom+json"}}, opts || {})));
    return resp.json();
  }

  function query(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) q.append(k, v);
    const s = q.toString();
    return json(root + path + (s ? "?" + s : ""));
  }

  // first value of an attribute ("00100010") in a DICOM JSON object, as text
  function value(obj, tag, index) {
    const item = obj && obj[tag];
    if (!item || !item.Value || item.Value.length <= (index || 0)) return "";
    const v = item.Value[index || 0];
    if (v && typeof v === "object" && "Alphabetic" in v) return v.Alphabetic;
    return v;
  }

  function number(obj, tag, fallback, index) {
    const v = value(obj, tag, index);
    if (v === "" || v == null) return fallback;
    const n = Number(v);
    return isNaN(n) ? fallback : n;
  }

  // split a multipart/related body into parts [{type, body: Uint8Array}]
  function parseMultipart(buffer, contentType) {
    const m = /boundary="?([^";]+)"?/i.exec(contentType || "");
    if (!m) throw new Error("no boundary in " + contentType);
    const data = new Uint8Array(buffer);
    const delim = new TextEncoder().encode("--" + m[1]);
    const find = (needle, from) => {
      outer: for (let i = from; i <= data.length - needle.length; i++) {
        for (let j = 0; j < needle.length; j++) if (data[i + j] !== needle[j]) continue outer;
        return i;
      }
      return -1;
    };
    const parts = [];
    let pos = find(delim, 0);
    while (pos >= 0) {
      pos += delim.length;
      if (data[pos] === 45 && data[pos + 1] === 45) break;        // "--": closing delimiter
      const headEnd = find(new Uint8Array([13, 10, 13, 10]), pos);
      const head = new TextDecoder().decode(data.subarray(pos, headEnd));
      const typeMatch = /content-type:\s*([^\r\n]+)/i.exec(head);
      const start = headEnd + 4;
      const next = find(delim, start);
      const end = next - 2;                                         // CRLF before the delimiter
      parts.push({type: typeMatch ? typeMatch[1].trim() : "", body: data.slice(start, end)});
      pos = next;
    }
    return parts;
  }

  async function frames(study, series, sop, frame) {
    const url = `${root}/studies/${study}/series/${series}/instances/${sop}/frames/${frame}`;
    const resp = await check(await fetch(url, {headers: {Accept:
      'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'}}));
    return parseMultipart(await resp.arrayBuffer(), resp.headers.get("Content-Type"));
  }

  async function stow(files) {
    const boundary = "dgate" + Math.random().toString(16).slice(2);
    const chunks = [];
    for (const f of files) {
      chunks.push(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
      chunks.push(await f.arrayBuffer());
      chunks.push("\r\n");
    }
    chunks.push(`--${boundary}--\r\n`);
    const resp = await fetch(root + "/studies", {method: "POST", body: new Blob(chunks), headers: {
      "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
      Accept: "application/dicom+json"}});
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    return {status: resp.status, body, warning: resp.headers.get("Warning") || ""};
  }

  return {root, json, query, value, number, frames, stow, check};
})();
