// safegen page: sends the prompt to /v1/generate:stream, shows progress from the events, then the
// images with their verdicts. Everything is built with textContent (never innerHTML), so prompt
// text, warnings and labels from the server cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);

const STAGE_NAMES = {
  STAGE_PROMPT_MODERATION: "Prompt moderation",
  STAGE_GENERATION: "Generation",
  STAGE_IMAGE_MODERATION: "Image moderation",
};
// Share of the bar each stage fills; generation advances with its denoising steps.
const STAGE_SPAN = {
  STAGE_PROMPT_MODERATION: [0, 10],
  STAGE_GENERATION: [10, 85],
  STAGE_IMAGE_MODERATION: [85, 100],
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function categoryName(category) {
  return String(category || "").replace(/^CATEGORY_/, "").replaceAll("_", " ").toLowerCase();
}

function levelName(level, prefix) {
  return String(level || "").replace(prefix, "").toLowerCase();
}

function seconds(value) {
  const s = Number(value || 0);
  return s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

// ---------------------------------------------------------------- guardrails

async function loadGuardrails() {
  const select = $("guardrail");
  try {
    const resp = await fetch("/v1/guardrails");
    if (!resp.ok) return;
    const body = await resp.json();
    select.replaceChildren();
    for (const g of body.guardrails || []) {
      const label = g.isDefault ? `${g.name || g.id} (default)` : g.name || g.id;
      const option = el("option", { value: g.id, text: label });
      if (g.description) option.title = g.description;
      if (g.isDefault) option.selected = true;
      select.append(option);
    }
  } catch (err) {
    // The default guardrail still applies when the list cannot be read.
  }
}

// ---------------------------------------------------------------- progress

let progressState = { percent: 0 };

function resetProgress() {
  progressState = { percent: 0 };
  $("stages").replaceChildren();
  setProgress(0, "Starting…");
  $("progress").hidden = false;
}

function setProgress(percent, label) {
  progressState.percent = Math.max(progressState.percent, Math.min(100, percent));
  $("progress-bar").value = progressState.percent;
  $("progress-percent").textContent = `${Math.round(progressState.percent)}%`;
  if (label) $("progress-label").textContent = label;
  // For embedders and tests: every step of the indicator, as it happens.
  document.dispatchEvent(new CustomEvent("safegen:progress", { detail: { percent: progressState.percent, label } }));
}

function onStage(event) {
  const name = STAGE_NAMES[event.stage] || event.stage;
  const attempt = event.attempt > 1 ? ` (attempt ${event.attempt})` : "";
  const [start, end] = STAGE_SPAN[event.stage] || [0, 0];
  // One line per stage and attempt: "running…" when it starts, replaced by its outcome when it ends.
  const key = `${event.stage}/${event.attempt || 0}`;
  let item = $("stages").querySelector(`li[data-key="${key}"]`);
  if (!item) {
    item = el("li", { "data-key": key, "data-stage": event.stage });
    $("stages").append(item);
  }
  item.textContent = event.finished
    ? `${name}${attempt}: done in ${seconds(event.seconds)}${event.detail ? ` — ${event.detail}` : ""}`
    : `${name}${attempt}…`;
  item.classList.toggle("done", !!event.finished);
  if (event.attempt > 1 && !event.finished && event.stage === "STAGE_GENERATION") {
    // A regeneration starts over: let the bar go back to the start of generation.
    progressState.percent = start;
  }
  setProgress(event.finished ? end : start, `${name}${attempt}${event.finished ? " done" : "…"}`);
}

function onGenerationProgress(progress) {
  const total = progress.totalSteps || 1;
  const [start, end] = STAGE_SPAN.STAGE_GENERATION;
  setProgress(start + ((end - start) * progress.step) / total, `Generating: step ${progress.step} of ${total}`);
}

// ---------------------------------------------------------------- results

function verdictTable(filters) {
  const table = el("table", { class: "verdicts" });
  table.append(el("tr", {}, el("th", { text: "Category" }), el("th", { text: "Score" }),
    el("th", { text: "Confidence" }), el("th", { text: "Strength" }), el("th", { text: "Verdict" })));
  for (const f of filters || []) {
    const row = el("tr", { "data-category": f.category },
      el("td", { text: categoryName(f.category) }),
      el("td", { class: "num", text: Number(f.score || 0).toFixed(3) }),
      el("td", { text: levelName(f.confidence, "CONFIDENCE_") }),
      el("td", { text: levelName(f.filterStrength, "FILTER_STRENGTH_") }),
      el("td", { text: f.detected ? "detected" : "ok" }));
    if (f.detected) row.classList.add("detected");
    table.append(row);
  }
  return table;
}

function imageCard(image, index) {
  const unsafe = image.action === "ACTION_GUARDRAIL_INTERVENED";
  const card = el("article", { class: "image-card", "data-testid": "image-card", "data-index": String(index),
    "data-seed": String(image.seed), "data-attempt": String(image.attempt) });
  if (unsafe) card.classList.add("unsafe");
  const frame = el("div", { class: "image-frame" });
  if (image.withheld || !image.data) {
    // The server sent no bytes: nothing to show but the fact.
    frame.append(el("div", { class: "withheld-placeholder", "data-testid": "withheld", text: "Image withheld by the content policy" }));
  } else {
    // `data` is already what may be shown: the server blurred it when the verdict said so.
    const img = el("img", { src: `data:${image.mimeType || "image/png"};base64,${image.data}`,
      alt: image.blurred ? `Image ${index + 1} (blurred)` : `Image ${index + 1}`, "data-testid": "generated-image" });
    if (image.blurred) img.classList.add("blurred");
    frame.append(img);
  }

  const info = el("div", { class: "card-info" });
  info.append(el("h3", { text: `Image ${index + 1}` }));
  const badges = el("div");
  if (image.withheld) badges.append(el("span", { class: "badge withheld", "data-testid": "badge-withheld", text: "Withheld" }));
  if (image.blurred) badges.append(el("span", { class: "badge blurred", "data-testid": "badge-blurred", text: "Blurred" }));
  badges.append(unsafe
    ? el("span", { class: "badge unsafe", "data-testid": "badge-unsafe", text: "Unsafe" })
    : el("span", { class: "badge safe", "data-testid": "badge-safe", text: "Safe" }));
  info.append(badges);
  if ((image.filters || []).length) info.append(verdictTable(image.filters));
  if ((image.labels || []).length) {
    const labels = el("ul", { class: "labels" });
    for (const label of image.labels) {
      const where = label.boundingBox
        ? ` at ${Math.round(label.boundingBox.left * 100)}%,${Math.round(label.boundingBox.top * 100)}% ` +
          `(${Math.round(label.boundingBox.width * 100)}×${Math.round(label.boundingBox.height * 100)}%)`
        : "";
      labels.append(el("li", { text: `${label.name} — ${Number(label.confidence || 0).toFixed(1)}%` +
        `${label.category && label.category !== "CATEGORY_UNSPECIFIED" ? ` (${categoryName(label.category)})` : ""}${where}` }));
    }
    info.append(labels);
  }
  info.append(el("p", { class: "meta", text: `seed ${image.seed} · attempt ${image.attempt}` }));
  card.append(frame, info);
  return card;
}

// The prompt with each banned-word match marked; offsets are Unicode code points, as in the proto.
function highlightedPrompt(prompt, words) {
  const chars = Array.from(prompt);
  const spans = (words || []).map((w) => [w.start || 0, w.end || 0]).sort((a, b) => a[0] - b[0]);
  const out = el("p", { id: "prompt-highlight", class: "prompt-highlight" });
  let at = 0;
  for (const [start, end] of spans) {
    if (start < at) continue; // overlapping matches: the first one wins
    out.append(chars.slice(at, start).join(""), el("mark", { text: chars.slice(start, end).join("") }));
    at = end;
  }
  out.append(chars.slice(at).join(""));
  return out;
}

function showResult(result, promptText) {
  $("result").hidden = false;
  const refusal = $("refusal");
  if (result.blockedMessage) {
    refusal.textContent = result.blockedMessage;
    refusal.hidden = false;
  } else {
    refusal.hidden = true;
  }

  const warnings = $("warnings");
  warnings.replaceChildren(...(result.warnings || []).map((w) => el("li", { "data-testid": "warning", text: w })));
  warnings.hidden = !(result.warnings || []).length;

  $("images").replaceChildren(...(result.images || []).map(imageCard));

  const prompt = result.promptAssessment || {};
  const blocked = prompt.action === "ACTION_GUARDRAIL_INTERVENED";
  $("prompt-action").textContent = blocked ? "The guardrail intervened on the prompt." : "The prompt passed.";
  $("prompt-action").className = blocked ? "bad" : "ok";
  const promptFilters = Object.assign(verdictTable(prompt.filters), { id: "prompt-filters" });
  promptFilters.hidden = !(prompt.filters || []).length;
  $("prompt-filters").replaceWith(promptFilters);
  const highlight = highlightedPrompt(promptText || "", prompt.words);
  highlight.hidden = !(prompt.words || []).length;
  $("prompt-highlight").replaceWith(highlight);
  $("prompt-words").replaceChildren(...(prompt.words || []).map((w) =>
    el("li", { text: `“${w.match}” at ${w.start}–${w.end} (${levelName(w.wordList, "WORD_LIST_").replaceAll("_", " ")} list)` })));

  const t = result.timings || {};
  const moderation = Number(t.promptModerationSeconds || 0) + Number(t.imageModerationSeconds || 0);
  const rows = [
    ["Prompt moderation", seconds(t.promptModerationSeconds)],
    ["Generation", seconds(t.generationSeconds)],
    ["Image moderation", seconds(t.imageModerationSeconds)],
    ["Total", seconds(t.totalSeconds)],
    ["Moderation overhead", `${(Number(t.moderationOverheadRatio || 0) * 100).toFixed(1)}% (${seconds(moderation)})`],
  ];
  $("timings").replaceChildren(...rows.map(([name, value]) =>
    el("tr", { "data-timing": name }, el("th", { text: name }), el("td", { class: "num", text: value }))));
  $("meta").textContent = `guardrail ${result.guardrailId || "default"} · model ${result.modelId || "—"} · ` +
    `attempts ${result.attempts || 0}${result.negativePrompt ? ` · negative prompt: ${result.negativePrompt}` : ""}`;
}

function showError(status) {
  const box = $("error");
  box.textContent = `${status.status || "ERROR"}: ${status.message || "the request failed"}`;
  box.hidden = false;
}

// ---------------------------------------------------------------- the request

function buildRequest() {
  const body = { prompt: $("prompt").value };
  const negative = $("negative-prompt").value.trim();
  if (negative) body.negativePrompt = negative;
  if ($("guardrail").value) body.guardrailId = $("guardrail").value;
  const count = parseInt($("num-images").value, 10);
  if (count > 1) body.numImages = count;
  if ($("seed").value !== "") body.seed = String(parseInt($("seed").value, 10)); // int64 travels as a string
  return body;
}

// Reads a text/event-stream body and calls onEvent(name, data) for each event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

async function generate(event) {
  event.preventDefault();
  const button = $("generate");
  button.disabled = true;
  $("error").hidden = true;
  $("result").hidden = true;
  resetProgress();
  document.body.dataset.state = "running";
  let gotResult = false;
  const request = buildRequest();
  try {
    const response = await fetch("/v1/generate:stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(request),
    });
    if (!response.ok) {
      let status = { status: `HTTP ${response.status}`, message: response.statusText };
      try { status = await response.json(); } catch (err) { /* not JSON: keep the HTTP status */ }
      showError(status);
      return;
    }
    await readEvents(response, (name, data) => {
      if (name === "stage") onStage(data.stage);
      else if (name === "progress") onGenerationProgress(data.progress);
      else if (name === "result") {
        gotResult = true;
        setProgress(100, "Done");
        showResult(data.result, request.prompt);
      } else if (name === "error") showError(data);
    });
    if (!gotResult && $("error").hidden) showError({ status: "UNAVAILABLE", message: "the stream ended without a result" });
  } catch (err) {
    showError({ status: "NETWORK", message: String(err) });
  } finally {
    button.disabled = false;
    document.body.dataset.state = gotResult ? "done" : "failed";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("generate-form").addEventListener("submit", generate);
  // Ctrl+Enter (Cmd+Enter) in the prompt generates, as in most prompt boxes.
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("generate-form").requestSubmit();
  });
  loadGuardrails();
});
