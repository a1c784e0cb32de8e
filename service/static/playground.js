// The playground: talks to the public API only (GET /v1/model, POST /classify with explain).
"use strict";

const $ = (id) => document.getElementById(id);
let modelShown = false;

function headers() {
  const key = $("api-key").value.trim();
  const sent = { "content-type": "application/json" };
  if (key) sent["authorization"] = `Bearer ${key}`;
  return sent;
}

// The service's error body {"error": {"type", "message"}}, or the status line.
async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body.error) message = `${response.status} ${body.error.type}: ${body.error.message}`;
  } catch (ignored) { /* not JSON: keep the status line */ }
  return new Error(message);
}

function showError(error) {
  $("error").textContent = error.message;
  $("error").hidden = false;
}

async function loadModel() {
  const response = await fetch("v1/model", { headers: headers() });
  if (!response.ok) throw await failure(response);
  const model = await response.json();
  $("model").textContent =
    `${model.name} (${model.variant}), labels: ${model.labels.join(", ")}`;
  modelShown = true;
}

function showLabels(labels) {
  const list = $("labels");
  list.replaceChildren();
  for (const { label, score } of labels) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(100 * score).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.textContent = score.toFixed(3);
    item.append(name, bar, value);
    list.append(item);
  }
}

// The text with each core word in a <mark>, shaded by its score; everything as text nodes.
function showCore(text, core) {
  const box = $("highlighted");
  box.replaceChildren();
  let at = 0;
  for (const word of [...core].sort((a, b) => a.start - b.start)) {
    if (word.start < at) continue;
    box.append(document.createTextNode(text.slice(at, word.start)));
    const mark = document.createElement("mark");
    mark.className = "core";
    mark.textContent = text.slice(word.start, word.end);
    mark.style.backgroundColor = `rgba(255, 170, 0, ${(0.2 + 0.8 * word.score).toFixed(2)})`;
    const group = word.group < 0 ? "none" : word.group;
    mark.title = `score ${word.score.toFixed(3)} · kept ${word.kept_layers} layers · group ${group}`;
    mark.dataset.score = word.score;
    box.append(mark);
    at = word.end;
  }
  box.append(document.createTextNode(text.slice(at)));
}

async function classify(event) {
  event.preventDefault();
  $("error").hidden = true;
  const text = $("document").value;
  const body = {
    documents: [text],
    top_k: 5,
    explain: true,
    explain_top_k: Number($("core-words").value),
  };
  if ($("truncation").value) body.truncation = $("truncation").value;
  $("classify").disabled = true;
  try {
    const response = await fetch("classify", {
      method: "POST", headers: headers(), body: JSON.stringify(body),
    });
    if (!response.ok) throw await failure(response);
    const result = (await response.json()).results[0];
    showLabels(result.labels);
    showCore(text, result.core);
    $("result").hidden = false;
    if (!modelShown) loadModel().catch(() => {});
  } catch (error) {
    showError(error);
  } finally {
    $("classify").disabled = false;
  }
}

$("classify-form").addEventListener("submit", classify);
$("api-key").addEventListener("change", () => loadModel().catch(showError));
loadModel().catch(showError);
