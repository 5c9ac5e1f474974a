// Drives safegen's page in Debian's headless Chromium with playwright-core and reports what a person
// would see, as JSON on stdout; tests/web/test_browser.py runs it and makes the assertions.
// Usage: node tests/web/browser.mjs '<json config>'
//   config: {baseUrl?, screenshotDir, executablePath?,
//            scenarios: [{name, baseUrl?, prompt, negativePrompt?, guardrail?, numImages?, seed?, timeoutMs?}]}
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const config = JSON.parse(process.argv[2]);

// The flags that work on this machine's closed network (see the env notes): without the
// background-networking ones Chromium keeps trying to reach Google's hosts.
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

// Records the progress indicator and the stage list every time the page changes them, so the test can
// tell the bar moved while generation ran rather than jumping to the end.
function installRecorder() {
  window.__progress = [];
  window.__stages = [];
  document.addEventListener("safegen:progress", (e) => window.__progress.push(Math.round(e.detail.percent)));
  document.addEventListener("DOMContentLoaded", () => {
    const stages = document.getElementById("stages");
    new MutationObserver(() => {
      window.__stages = Array.from(stages.children, (li) => li.textContent);
    }).observe(stages, { childList: true, subtree: true, characterData: true });
  });
}

async function observe(page) {
  return page.evaluate(() => {
    const visible = (node) => !!node && !node.closest("[hidden]") && node.getClientRects().length > 0;
    const text = (id) => { const n = document.getElementById(id); return visible(n) ? n.textContent.trim() : null; };
    const cards = Array.from(document.querySelectorAll("[data-testid=image-card]")).map((card) => {
      const img = card.querySelector("img[data-testid=generated-image]");
      return {
        visible: visible(card),
        seed: card.dataset.seed,
        attempt: Number(card.dataset.attempt),
        hasImage: !!img,
        imageLoaded: !!img && img.complete && img.naturalWidth > 0,
        naturalWidth: img ? img.naturalWidth : 0,
        src: img ? img.getAttribute("src") : null,
        withheldPlaceholder: visible(card.querySelector("[data-testid=withheld]")),
        badges: Array.from(card.querySelectorAll(".badge"), (b) => b.textContent.trim()),
        detectedCategories: Array.from(card.querySelectorAll("tr.detected"), (r) => r.getAttribute("data-category")),
        categories: Array.from(card.querySelectorAll("tr[data-category]"), (r) => r.getAttribute("data-category")),
        labels: Array.from(card.querySelectorAll(".labels li"), (li) => li.textContent.trim()),
      };
    });
    return {
      state: document.body.dataset.state || null,
      refusal: text("refusal"),
      error: text("error"),
      warnings: Array.from(document.querySelectorAll("[data-testid=warning]")).filter(visible).map((w) => w.textContent.trim()),
      cards,
      timings: Object.fromEntries(Array.from(document.querySelectorAll("#timings tr"), (tr) => [tr.dataset.timing, tr.querySelector("td").textContent])),
      promptAction: text("prompt-action"),
      promptMarks: Array.from(document.querySelectorAll("#prompt-highlight mark")).filter(visible).map((m) => m.textContent),
      promptDetected: Array.from(document.querySelectorAll("#prompt-filters tr.detected"), (r) => r.getAttribute("data-category")),
      progressBar: document.getElementById("progress-bar").value,
      progressSeen: window.__progress,
      stagesSeen: window.__stages,
      guardrailOptions: Array.from(document.querySelectorAll("#guardrail option"), (o) => o.value),
    };
  });
}

const browser = await chromium.launch({ executablePath: config.executablePath || "/usr/bin/chromium", headless: true, args: ARGS });
const report = { scenarios: [] };
try {
  for (const scenario of config.scenarios) {
    // A fresh context per scenario: its own empty profile state, cookies and cache.
    const baseUrl = scenario.baseUrl || config.baseUrl;
    const origin = new URL(baseUrl).origin;
    const context = await browser.newContext({ viewport: scenario.viewport || { width: 1100, height: 900 } });
    const page = await context.newPage();
    const requests = [];
    const consoleErrors = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.addInitScript(installRecorder);

    await page.goto(baseUrl + "/", { waitUntil: "load" });
    // The guardrail list arrives from /v1/guardrails; wait for it so the choice is real.
    await page.waitForFunction(() => document.querySelectorAll("#guardrail option").length > 0 &&
      document.querySelector("#guardrail option").value !== "", null, { timeout: 10000 });
    await page.fill("#prompt", scenario.prompt);
    if (scenario.negativePrompt) await page.fill("#negative-prompt", scenario.negativePrompt);
    if (scenario.guardrail) await page.selectOption("#guardrail", scenario.guardrail);
    if (scenario.numImages) await page.fill("#num-images", String(scenario.numImages));
    if (scenario.seed !== undefined) await page.fill("#seed", String(scenario.seed));
    const started = Date.now();
    await page.click("#generate");
    await page.waitForFunction(() => ["done", "failed"].includes(document.body.dataset.state), null, { timeout: scenario.timeoutMs || 120000 });
    const seconds = (Date.now() - started) / 1000;
    const shot = path.join(config.screenshotDir, `${scenario.name}.png`);
    fs.mkdirSync(config.screenshotDir, { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    const seen = await observe(page);
    report.scenarios.push({
      name: scenario.name, seconds, screenshot: shot, ...seen, consoleErrors,
      requests, foreignRequests: requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:")),
    });
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
