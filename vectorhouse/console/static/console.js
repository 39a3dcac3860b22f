// The vectorhouse console: plain JavaScript over the public /v1 API, with the user's key (session storage).
"use strict";

const KEY = "vectorhouse.key";
const app = document.getElementById("app");

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function highlight(text, query) {
  const words = (query.match(/\w{3,}/gu) || []).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const safe = esc(text);
  return words.length ? safe.replace(new RegExp(`(${words.join("|")})`, "giu"), "<mark>$1</mark>") : safe;
}

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

function askKey(message) {
  return new Promise((resolve) => {
    const dialog = document.getElementById("key-dialog");
    document.getElementById("key-error").textContent = message || "";
    document.getElementById("key-form").onsubmit = () => {
      sessionStorage.setItem(KEY, document.getElementById("key-input").value.trim());
      document.getElementById("forget-key").hidden = false;
      resolve();
    };
    if (!dialog.open) dialog.showModal();
  });
}

async function api(method, path, body) {
  for (;;) {
    const init = { method, headers: headers(body instanceof FormData || body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = body instanceof FormData ? body : JSON.stringify(body);
    const response = await fetch(`/v1${path}`, init);
    if (response.status === 401) {
      await askKey(sessionStorage.getItem(KEY) ? "That key was refused." : "");
      continue;
    }
    const data = await response.json();
    if (!response.ok) throw new Error(data.error ? `${data.error.message}` : `HTTP ${response.status}`);
    return data;
  }
}

function upload(file, onProgress) {
  // XMLHttpRequest, not fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("purpose", "assistants");
    form.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/files");
    for (const [name, value] of Object.entries(headers())) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onload = () => {
      const data = JSON.parse(request.responseText || "{}");
      request.status === 200 ? resolve(data) : reject(new Error(data.error ? data.error.message : `HTTP ${request.status}`));
    };
    request.onerror = () => reject(new Error("the upload failed"));
    request.send(form);
  });
}

function show(html) { app.innerHTML = html; }

async function storesPage() {
  const stores = await api("GET", "/vector_stores?limit=100");
  const rows = stores.data.map((s) => `
    <tr data-store="${esc(s.id)}">
      <td><a href="#/store/${esc(s.id)}">${esc(s.name || "(unnamed)")}</a><div class="mono muted">${esc(s.id)}</div></td>
      <td class="status-${esc(s.status)}">${esc(s.status)}</td>
      <td>${s.file_counts.completed}/${s.file_counts.total}${s.file_counts.failed ? ` <span class="error">(${s.file_counts.failed} failed)</span>` : ""}</td>
      <td>${s.usage_bytes}</td><td class="mono">${esc(s.embedding_model || "")}</td>
      <td><button class="delete-store" data-id="${esc(s.id)}">delete</button></td>
    </tr>`).join("");
  show(`<h1>Vector stores</h1>
    <section><form id="new-store" class="row"><input id="new-store-name" placeholder="new store name" required>
      <button type="submit">create store</button></form></section>
    <section><table id="stores"><tr><th>store</th><th>status</th><th>files</th><th>bytes</th><th>model</th><th></th></tr>
      ${rows || '<tr><td colspan="6" class="muted">no stores yet</td></tr>'}</table></section>`);
  document.getElementById("new-store").onsubmit = async (event) => {
    event.preventDefault();
    const store = await api("POST", "/vector_stores", { name: document.getElementById("new-store-name").value });
    location.hash = `#/store/${store.id}`;
  };
  for (const button of document.querySelectorAll(".delete-store")) {
    button.onclick = async () => { await api("DELETE", `/vector_stores/${button.dataset.id}`); storesPage(); };
  }
}

async function storePage(storeId) {
  const store = await api("GET", `/vector_stores/${storeId}`);
  show(`<h1>${esc(store.name || store.id)} <span class="mono muted">${esc(store.id)}</span></h1>
    <section><h2>Add files</h2>
      <div id="drop">drop files here, or <input id="file-input" type="file" multiple></div>
      <table id="uploads"></table></section>
    <section><h2>Search</h2>
      <form id="search" class="row">
        <input id="query" placeholder="query" size="40" required>
        <select id="mode"><option>hybrid</option><option>semantic</option><option>full_text</option></select>
        <input id="filter" placeholder='filter JSON, e.g. {"key":"year","type":"gte","value":2023}' size="44">
        <label>max <input id="max" type="number" value="5" min="1" max="50" style="width:4em"></label>
        <label><input id="provenance" type="checkbox"> provenance</label>
        <button type="submit">search</button>
      </form><p id="search-error" class="error"></p><table id="results"></table></section>
    <section><h2>Files</h2><table id="files"></table><div id="chunks"></div></section>`);
  const input = document.getElementById("file-input");
  const drop = document.getElementById("drop");
  input.onchange = () => addFiles(storeId, input.files);
  drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (event) => { event.preventDefault(); drop.classList.remove("over"); addFiles(storeId, event.dataTransfer.files); };
  document.getElementById("search").onsubmit = (event) => { event.preventDefault(); search(storeId); };
  await listFiles(storeId);
}

async function addFiles(storeId, fileList) {
  const table = document.getElementById("uploads");
  for (const file of Array.from(fileList)) {
    const row = table.insertRow();
    row.dataset.name = file.name;
    row.innerHTML = `<td>${esc(file.name)}</td><td><progress max="1" value="0"></progress></td><td class="state">uploading</td>`;
    const state = row.querySelector(".state");
    try {
      const uploaded = await upload(file, (share) => { row.querySelector("progress").value = share; });
      row.querySelector("progress").value = 1;
      let attached = await api("POST", `/vector_stores/${storeId}/files`, { file_id: uploaded.id });
      while (attached.status === "in_progress") {
        state.textContent = "indexing";
        await new Promise((done) => setTimeout(done, 400));
        attached = await api("GET", `/vector_stores/${storeId}/files/${uploaded.id}`);
      }
      state.className = `state status-${attached.status}`;
      state.textContent = attached.status + (attached.last_error ? `: ${attached.last_error.message}` : "");
    } catch (error) {
      state.className = "state status-failed";
      state.textContent = `failed: ${error.message}`;
    }
    await listFiles(storeId);
  }
}

async function listFiles(storeId) {
  const page = await api("GET", `/vector_stores/${storeId}/files?limit=100`);
  const names = await Promise.all(page.data.map((f) => api("GET", `/files/${f.id}`).then((o) => o.filename, () => "")));
  const rows = page.data.map((f, i) => `
    <tr data-file="${esc(f.id)}"><td>${esc(names[i])}<div class="mono muted">${esc(f.id)}</div></td>
      <td class="status-${esc(f.status)}">${esc(f.status)}${f.last_error ? `: ${esc(f.last_error.message)}` : ""}</td>
      <td class="mono">${esc(JSON.stringify(f.attributes || {}))}</td><td>${f.usage_bytes}</td>
      <td><button class="chunks-of" data-id="${esc(f.id)}">chunks</button>
          <button class="detach" data-id="${esc(f.id)}">delete</button></td></tr>`).join("");
  document.getElementById("files").innerHTML =
    `<tr><th>file</th><th>status</th><th>attributes</th><th>bytes</th><th></th></tr>${rows || '<tr><td colspan="5" class="muted">no files</td></tr>'}`;
  for (const button of document.querySelectorAll(".detach")) {
    button.onclick = async () => { await api("DELETE", `/vector_stores/${storeId}/files/${button.dataset.id}`); listFiles(storeId); };
  }
  for (const button of document.querySelectorAll(".chunks-of")) {
    button.onclick = async () => {
      const content = await api("GET", `/vector_stores/${storeId}/files/${button.dataset.id}/content?include=provenance`);
      document.getElementById("chunks").innerHTML = `<h2>Chunks of ${esc(button.dataset.id)}</h2><ol class="chunks">${
        content.data.map((c) => `<li>${esc(c.text)} <span class="muted mono">${esc(JSON.stringify(c.provenance || {}))}</span></li>`).join("")}</ol>`;
    };
  }
}

async function search(storeId) {
  const query = document.getElementById("query").value;
  const body = { query, max_num_results: Number(document.getElementById("max").value), search_mode: document.getElementById("mode").value };
  const filter = document.getElementById("filter").value.trim();
  const error = document.getElementById("search-error");
  error.textContent = "";
  try {
    if (filter) body.filters = JSON.parse(filter);
    if (document.getElementById("provenance").checked) body.include = ["provenance"];
    const page = await api("POST", `/vector_stores/${storeId}/search`, body);
    document.getElementById("results").innerHTML = `<tr><th>score</th><th>file</th><th>passage</th></tr>${page.data.map((hit) => `
      <tr class="hit"><td>${hit.score.toFixed(3)}</td><td class="filename">${esc(hit.filename)}</td>
        <td class="passage">${highlight(hit.content[0] ? hit.content[0].text : "", query)}${
          hit.content[0] && hit.content[0].provenance ? `<div class="muted mono">${esc(JSON.stringify(hit.content[0].provenance))}</div>` : ""}</td></tr>`).join("")
      || '<tr><td colspan="3" class="muted">no results</td></tr>'}`;
  } catch (failure) {
    error.textContent = failure.message;
  }
}

async function route() {
  const match = location.hash.match(/^#\/store\/([\w-]+)/);
  try {
    await (match ? storePage(match[1]) : storesPage());
  } catch (error) {
    show(`<p class="error">${esc(error.message)}</p><p><a href="#/">back to the stores</a></p>`);
  }
}

document.getElementById("forget-key").hidden = !sessionStorage.getItem(KEY);
document.getElementById("forget-key").onclick = () => { sessionStorage.removeItem(KEY); location.reload(); };
window.addEventListener("hashchange", route);
route();
