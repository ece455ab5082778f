// Opens one notebook in JupyterLab (headless Debian Chromium), restarts the kernel, runs all cells
// and reports what a person would see, as one JSON object on stdout.
// Usage: node run_notebook.mjs <lab base url> <notebook name> <screenshot path> [--click-state-panel]
import { chromium } from "playwright-core";

const [baseUrl, notebook, screenshot, ...flags] = process.argv.slice(2);
const clickStatePanel = flags.includes("--click-state-panel");
const RUN_TIMEOUT_MS = 240_000;

const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function waitForIdleKernel(page) {
  await page.waitForFunction(
    () => document.querySelector("#jp-main-statusbar")?.textContent.includes("Idle"),
    null, { timeout: 60_000 },
  );
}

// Counts prompts, errors, images and widgets in the open notebook.
async function inspect(page) {
  return page.evaluate(() => {
    const panel = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden)");
    const prompts = [...panel.querySelectorAll(".jp-CodeCell .jp-InputArea-prompt")]
      .map((p) => p.textContent.trim());
    const stderr = [...panel.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map((e) => e.textContent.slice(0, 400));
    return {
      prompts,
      executed: prompts.filter((p) => /^\[\d+\]:$/.test(p)).length,
      running: prompts.filter((p) => p === "[*]:").length,
      stderr,
      images: panel.querySelectorAll(".jp-OutputArea-output img").length,
      widgets: panel.querySelectorAll(".jp-OutputArea-output .jupyter-widgets").length,
    };
  });
}

async function runAll(page) {
  // Not awaited inside the page: the command's promise only settles after the dialog is answered.
  await page.evaluate(() => { window.jupyterapp.commands.execute("notebook:restart-run-all"); });
  await page.locator(".jp-Dialog .jp-mod-accept").click();
  const started = Date.now();
  // The stored prompts ([1]: ...) stay until the restarted kernel queues the cells, which can take
  // longer than one poll: a stale set of numbers must not count as done.
  await page.waitForFunction(
    () => [...document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputArea-prompt")]
      .some((p) => p.textContent.trim() === "[*]:"),
    null, { timeout: 60_000 },
  );
  let state = await inspect(page);
  // Stop at the first error output; otherwise wait until every code cell has a number.
  while (Date.now() - started < RUN_TIMEOUT_MS) {
    await page.waitForTimeout(500);
    state = await inspect(page);
    const done = state.running === 0 && state.executed === state.prompts.length;
    if (state.stderr.length > 0 || done) break;
  }
  await waitForIdleKernel(page);
  state = await inspect(page);
  return { ...state, seconds: (Date.now() - started) / 1000 };
}

// Presses Step, Reset, then Step again on the State API panel and reads its label after each click.
// The label ends with "after N actions" whatever it shows (a state, or "undefined" after a reset).
async function clickThePanel(page) {
  const label = page.locator(".widget-html-content", { hasText: /after \d+ actions/ }).first();
  await label.scrollIntoViewIfNeeded();
  const clickAndRead = async (button, previous) => {
    await page.locator("button.widget-button", { hasText: button }).first().click();
    await page.waitForFunction((text) => !document.body.innerText.includes(text), previous);
    return label.textContent();
  };
  const before = await label.textContent();
  const afterStep = await clickAndRead("Step", before);
  const afterReset = await clickAndRead("Reset", afterStep);
  const stepAfterReset = await clickAndRead("Step", afterReset);
  return { before, afterStep, afterReset, stepAfterReset };
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
const result = { notebook };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${baseUrl}/lab/tree/${notebook}?reset`);
  await page.waitForSelector(".jp-NotebookPanel .jp-Cell", { timeout: 60_000 });
  await waitForIdleKernel(page);
  Object.assign(result, await runAll(page));
  if (clickStatePanel && result.stderr.length === 0) {
    result.panel = await clickThePanel(page);
  }
  await page.screenshot({ path: screenshot });
} catch (error) {
  result.failure = String(error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
