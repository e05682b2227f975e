// Drives the runs page in headless Chromium (Debian's, through npm's playwright-core):
//   node browser_check.mjs URL RUN_A RUN_B OUT_DIR
// Checks that the table lists both runs, that a run's loss chart drew, and that compare
// overlays both; saves screenshots in OUT_DIR. Exits non-zero with the reason otherwise.
import { chromium } from "playwright-core";
import fs from "node:fs";

const [url, runA, runB, out, sweep, pipeline] = process.argv.slice(2);
const fail = (why) => { console.error("browser check: " + why); process.exit(1); };
const userData = fs.mkdtempSync("/tmp/anneal-chromium-");
// a fresh profile each time (playwright takes it as the persistent context's folder)
const browser = await chromium.launchPersistentContext(userData, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#runs tbody tr", { timeout: 15000 });
  const ids = await page.$$eval("#runs tbody tr", (rows) => rows.map((r) => r.dataset.id));
  if (!ids.includes(runA) || !ids.includes(runB)) fail(`the table lists ${ids}, not both ${runA} and ${runB}`);
  await page.screenshot({ path: `${out}/runs.png`, fullPage: true });

  // a run's page: its loss chart drew (a canvas with pixels that are not all background)
  await page.click(`a[href="#/run/${runA}"]`);
  await page.waitForSelector('.chart[data-metric="loss"] canvas', { timeout: 15000 });
  const inked = await page.$eval('.chart[data-metric="loss"] canvas', (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
    return n;
  });
  if (inked < 200) fail(`the loss chart is blank (${inked} drawn pixels)`);
  const title = await page.textContent("h1");
  if (!title.includes("completed")) fail(`the run page says "${title}"`);
  await page.screenshot({ path: `${out}/run.png`, fullPage: true });

  // compare: both runs' series in one loss chart, the differing param marked
  await page.goto(`${url.replace(/\/$/, "")}/#/compare/${runA},${runB}`, { waitUntil: "load" });
  await page.waitForSelector('h1:has-text("Compare")', { timeout: 15000 });  // (only the hash changed)
  await page.waitForSelector('.chart[data-metric="loss"] canvas', { timeout: 15000 });
  const legend = await page.$$eval('.chart[data-metric="loss"] .u-legend .u-series', (s) => s.length);
  if (legend < 3) fail(`the compare chart has ${legend - 1} series, not 2`);
  const diffRows = await page.$$eval("tr.diff td:first-child", (tds) => tds.map((t) => t.textContent));
  if (!diffRows.includes("lr")) fail(`compare does not mark lr as differing (${diffRows})`);
  await page.screenshot({ path: `${out}/compare.png`, fullPage: true });
  if (sweep) {
    // a sweep's page: its trials, the canceled ones marked, the objective chart drawn
    await page.goto(`${url.replace(/\/$/, "")}/#/run/${sweep}`, { waitUntil: "load" });
    await page.waitForSelector("#trials tbody tr", { timeout: 15000 });
    const states = await page.$$eval("#trials tbody tr", (rows) => rows.map((r) => r.dataset.status));
    if (!states.includes("canceled") || !states.includes("completed")) fail(`the sweep's trials are ${states}`);
    await page.waitForSelector('.chart[data-metric="objective"] canvas', { timeout: 15000 });
    const dots = await page.$eval('.chart[data-metric="objective"] canvas', (c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
      return n;
    });
    if (dots < 200) fail(`the sweep's objective chart is blank (${dots} drawn pixels)`);
    await page.screenshot({ path: `${out}/sweep.png`, fullPage: true });
  }
  if (pipeline) {
    // a pipeline's page: its steps drawn as a graph, each with its status and a link
    await page.goto(`${url.replace(/\/$/, "")}/#/run/${pipeline}`, { waitUntil: "load" });
    await page.waitForSelector("#graph .step", { timeout: 15000 });
    const steps = await page.$$eval("#graph .step", (a) => a.map((s) => s.dataset.step + "=" + s.dataset.status));
    const want = ["a=completed", "b=completed", "c=completed", "d=completed"];
    if (want.some((w) => !steps.includes(w))) fail(`the pipeline graph shows ${steps}`);
    const arrows = await page.$$eval("#graph path[marker-end]", (p) => p.length);
    if (arrows !== 3) fail(`the pipeline graph has ${arrows} arrows, not 3 (a->b, b->d, c->d)`);
    await page.screenshot({ path: `${out}/pipeline.png`, fullPage: true });
  }
  if (errors.length) fail("the page threw: " + errors.join("; "));
  console.log("browser check: ok");
} finally {
  await browser.close();
  fs.rmSync(userData, { recursive: true, force: true });
}
