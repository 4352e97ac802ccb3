// Headless check of the OHIF viewer behind the nginx front door.
//
// Logs in (HTTP basic auth), finds the study in the study list, opens it and checks that the
// viewport shows real pixels (variance of a screenshot of the viewport). Uses the system
// Chromium (no browser download); every wait is bounded.
//
// Environment:
//   OHIF_URL          front-door URL, e.g. https://172.17.0.2/            (required)
//   OHIF_USER         login user                                          (required)
//   OHIF_PASSWORD     login password                                      (required)
//   OHIF_STUDY_UID    StudyInstanceUID expected in the list               (required)
//   OHIF_STUDY_TEXT   text of the study row to look for (default: the accession number VIEWER0001)
//   OHIF_OUTPUT_DIR   where screenshots go (default: ../output)
//   CHROMIUM_PATH     browser binary (default: /usr/bin/chromium)
//   OHIF_TIMEOUT_MS   overall budget per step (default: 90000)
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`ohif-smoke: ${name} is required`);
    process.exit(2);
  }
  return value;
};
const baseUrl = env('OHIF_URL').replace(/\/?$/, '/');
const user = env('OHIF_USER');
const password = env('OHIF_PASSWORD');
const studyUid = env('OHIF_STUDY_UID');
const studyText = env('OHIF_STUDY_TEXT', 'VIEWER0001');
const outDir = path.resolve(env('OHIF_OUTPUT_DIR', path.join(here, '..', 'output')));
const chromiumPath = env('CHROMIUM_PATH', '/usr/bin/chromium');
const timeout = Number(env('OHIF_TIMEOUT_MS', '90000'));

fs.mkdirSync(outDir, { recursive: true });
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medimg-chromium-'));
const result = { url: baseUrl, studyUid, steps: [] };
const step = (name, extra = {}) => {
  result.steps.push({ name, t: Date.now(), ...extra });
  console.error(`ohif-smoke: ${name}`);
};

// Mean, standard deviation and distinct grey levels of the central part of a PNG (away from
// the text overlays in the viewport corners), decoded in the page itself.
async function imageStats(page, png) {
  const dataUrl = `data:image/png;base64,${png.toString('base64')}`;
  return page.evaluate(async (src) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const c = document.createElement('canvas');
    const x0 = Math.floor(img.width * 0.25), y0 = Math.floor(img.height * 0.25);
    c.width = Math.max(1, Math.floor(img.width * 0.5));
    c.height = Math.max(1, Math.floor(img.height * 0.5));
    const ctx = c.getContext('2d');
    ctx.drawImage(img, x0, y0, c.width, c.height, 0, 0, c.width, c.height);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0, sum = 0, sq = 0;
    const levels = new Set();
    for (let i = 0; i < d.length; i += 4) {
      const g = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      sum += g; sq += g * g; n += 1;
      levels.add(Math.round(g));
    }
    const mean = sum / n;
    return { width: c.width, height: c.height, mean, stddev: Math.sqrt(Math.max(sq / n - mean * mean, 0)), levels: levels.size };
  }, dataUrl);
}

let context;
let exitCode = 1;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    chromiumSandbox: false,
    ignoreHTTPSErrors: true,   // the lab front door uses a self-signed certificate
    httpCredentials: { username: user, password, origin: new URL(baseUrl).origin, send: 'always' },
    viewport: { width: 1440, height: 900 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // WebGL through SwiftShader (software) so cornerstone can render without a GPU.
      '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  const consoleErrors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text().slice(0, 300)); });
  const failedRequests = [];
  page.on('response', (r) => { if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.url().slice(0, 200)}`); });

  // 1. Study list (the login happens with the first request).
  const first = await page.goto(baseUrl, { waitUntil: 'domcontentloaded' });
  step('loaded', { status: first.status() });
  if (first.status() !== 200) throw new Error(`front door answered HTTP ${first.status()}`);
  const row = page.getByText(studyText, { exact: false }).first();
  await row.waitFor({ state: 'visible', timeout });
  step('study listed');
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(outDir, 'ohif-study-list.png') });

  // 2. Open the study: expand the row, then take the first viewer mode offered.
  await row.click();
  const mode = page.getByRole('button', { name: /basic viewer/i }).first();
  let opened = false;
  try {
    await mode.waitFor({ state: 'visible', timeout: 15000 });
    await mode.click();
    opened = true;
  } catch {
    // Layouts differ between OHIF releases: fall back to the viewer route of the study.
    await page.goto(`${baseUrl}viewer?StudyInstanceUIDs=${encodeURIComponent(studyUid)}`, { waitUntil: 'domcontentloaded' });
  }
  step('study opened', { via: opened ? 'study list' : 'viewer URL' });
  // Dismiss the first-visit guided tour if this release shows one (it would cover the image).
  try {
    const skip = page.getByRole('button', { name: /skip all/i }).or(page.getByText(/^skip all$/i)).first();
    await skip.waitFor({ state: 'visible', timeout: 8000 });
    await skip.click();
  } catch { /* no tour */ }
  if (!page.url().includes(studyUid)) throw new Error(`viewer URL ${page.url()} does not name the study`);

  // 3. Wait for pixels in the first viewport.
  const viewport = page.locator('.cornerstone-viewport-element, [data-viewport-uid]').first();
  await viewport.waitFor({ state: 'visible', timeout });
  const deadline = Date.now() + timeout;
  let stats = null;
  let attempts = 0;
  while (Date.now() < deadline && attempts < 60) {
    attempts += 1;
    await page.waitForTimeout(1500);
    const png = await viewport.screenshot();
    stats = await imageStats(page, png);
    if (stats.stddev > 10 && stats.levels > 16) {
      fs.writeFileSync(path.join(outDir, 'ohif-viewport.png'), png);
      break;
    }
  }
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(outDir, 'ohif-viewer.png') });
  result.viewport = stats;
  result.attempts = attempts;
  result.consoleErrors = consoleErrors.slice(0, 20);
  result.failedRequests = failedRequests.slice(0, 20);
  if (!stats || stats.stddev <= 10 || stats.levels <= 16) {
    throw new Error(`viewport looks blank: ${JSON.stringify(stats)}`);
  }
  step('pixels rendered', stats);
  result.ok = true;
  exitCode = 0;
} catch (err) {
  result.ok = false;
  result.error = String(err && err.message ? err.message : err).slice(0, 1000);
  try {
    const page = context?.pages()[0];
    if (page) await page.screenshot({ path: path.join(outDir, 'ohif-failure.png') });
  } catch { /* best effort */ }
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
fs.writeFileSync(path.join(outDir, 'ohif-smoke.json'), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
process.exit(exitCode);
