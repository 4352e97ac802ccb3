// Headless check of the OHIF viewer behind the nginx front door.
//
// Logs in (HTTP basic auth), finds the study in the study list, opens it and checks that the
// viewport shows real pixels (variance of a screenshot of the viewport), then switches to the
// MPR layout (a CT volume in three volume viewports: axial, sagittal, coronal) and checks each
// of the three viewports the same way. Throughout, it checks that the front door's security
// headers are sent and hold: the page is cross-origin isolated (COOP + COEP) and the
// Content-Security-Policy blocks nothing the viewer needs (no violation event, no
// "Refused to ..." message, in the page or its web workers). Uses the system Chromium (no
// browser download); every wait is bounded.
//
// Environment:
//   OHIF_URL          front-door URL, e.g. https://172.17.0.2/            (required)
//   OHIF_USER         login user                                          (required)
//   OHIF_PASSWORD     login password                                      (required)
//   OHIF_STUDY_UID    StudyInstanceUID expected in the list; for the MPR step it must hold a CT
//                     volume, e.g. from molecule/viewer/files/stow_study.py --slices 48
//                     --transfer-syntax jpeg-ls (compressed: the WASM decoders run too)  (required)
//   OHIF_STUDY_TEXT   text of the study row to look for (default: the accession number VIEWER0001)
//   OHIF_OUTPUT_DIR   where screenshots go (default: ../output)
//   CHROMIUM_PATH     browser binary (default: /usr/bin/chromium)
//   OHIF_TIMEOUT_MS   overall budget per step (default: 90000)
//   OHIF_MPR          1: also open the study in the MPR layout and check its three viewports;
//                     0: skip that step (default: 1)
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
const mprEnabled = !/^(0|false|no|off)$/i.test(env('OHIF_MPR', '1'));
// Response headers the front door must send with the viewer page.
const securityHeaders = [
  'strict-transport-security', 'content-security-policy', 'x-content-type-options',
  'x-frame-options', 'referrer-policy', 'cross-origin-opener-policy',
  'cross-origin-embedder-policy', 'cross-origin-resource-policy', 'permissions-policy',
];
const blankStats = (s) => !s || s.stddev <= 10 || s.levels <= 16;

fs.mkdirSync(outDir, { recursive: true });
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medimg-chromium-'));
const result = { url: baseUrl, studyUid, mpr: mprEnabled, steps: [] };
const step = (name, extra = {}) => {
  result.steps.push({ name, t: Date.now(), ...extra });
  console.error(`ohif-smoke: ${name}`);
};

// Mean, standard deviation and distinct grey levels of the central part of a PNG (away from
// the text overlays in the viewport corners), decoded in the page itself. The PNG goes in as
// bytes (a Blob), not as a data: URL, so the page's img-src policy does not apply to it.
async function imageStats(page, png) {
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    const img = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const c = document.createElement('canvas');
    const x0 = Math.floor(img.width * 0.25), y0 = Math.floor(img.height * 0.25);
    c.width = Math.max(1, Math.floor(img.width * 0.5));
    c.height = Math.max(1, Math.floor(img.height * 0.5));
    const ctx = c.getContext('2d');
    ctx.drawImage(img, x0, y0, c.width, c.height, 0, 0, c.width, c.height);
    img.close();
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
  }, png.toString('base64'));
}

// Content-Security-Policy violations, from every source Chromium reports them on: the
// securitypolicyviolation event (documents: init script; workers: added when they start), the
// "Refused to ..." console messages, and exceptions thrown for blocked operations.
const cspViolations = [];
const consoleErrors = [];
const failedRequests = [];
const cspPattern = /Refused to |Content[- ]Security[- ]Policy|securitypolicyviolation|CSP violation/i;
const addViolation = (source, text) => {
  const entry = { source, text: String(text).slice(0, 300) };
  if (!cspViolations.some((v) => v.source === entry.source && v.text === entry.text)) cspViolations.push(entry);
};
// Runs in documents (init script) and in workers (evaluate): reports each violation event.
function listenForViolations(report) {
  self.addEventListener('securitypolicyviolation', (e) => {
    report(`${e.effectiveDirective || e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`
      + ` at ${e.sourceFile || '?'}:${e.lineNumber || 0}${e.sample ? ` sample=${e.sample}` : ''}`);
  }, true);
}

// Screenshots of the visible viewports until each one shows real pixels (or the deadline).
async function waitForPixels(page, viewports, expected, savePrefix) {
  const deadline = Date.now() + timeout;
  let stats = [];
  let attempts = 0;
  while (Date.now() < deadline && attempts < 60) {
    attempts += 1;
    await page.waitForTimeout(1500);
    const count = await viewports.count();
    if (count < expected) continue;
    stats = [];
    for (let i = 0; i < expected; i += 1) {
      const vp = viewports.nth(i);
      const png = await vp.screenshot({ timeout: 15000 });
      const s = await imageStats(page, png);
      s.viewportId = await vp.getAttribute('data-viewport-uid').catch(() => null);
      stats.push(s);
      if (savePrefix && !blankStats(s)) fs.writeFileSync(path.join(outDir, `${savePrefix}-${i + 1}.png`), png);
    }
    if (stats.length === expected && !stats.some(blankStats)) break;
  }
  return { stats, attempts };
}

// Dismiss the first-visit guided tour if this release shows one (it would cover the image).
async function dismissTour(page, wait) {
  try {
    const skip = page.getByRole('button', { name: /skip all/i }).or(page.getByText(/^skip all$/i)).first();
    await skip.waitFor({ state: 'visible', timeout: wait });
    await skip.click();
  } catch { /* no tour */ }
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
  await context.exposeBinding('__medimgCspViolation', (_source, text) => addViolation('event', text));
  await context.addInitScript(`(${listenForViolations.toString()})((t) => self.__medimgCspViolation(t));`);
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error') consoleErrors.push(text.slice(0, 300));
    if ((msg.type() === 'error' || msg.type() === 'warning') && cspPattern.test(text)) addViolation('console', text);
  });
  page.on('pageerror', (err) => { if (cspPattern.test(String(err && err.message))) addViolation('exception', err.message); });
  page.on('worker', (worker) => {
    // Workers are not reached by init scripts: listen inside each one as it starts; a violation
    // is logged to the worker's console, which the page's console listener above receives.
    worker.evaluate(`(${listenForViolations.toString()})((t) => console.error('CSP violation in worker: ' + t));`)
      .catch(() => { /* worker already gone */ });
  });
  page.on('response', (r) => { if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.url().slice(0, 200)}`); });
  // requests that got no answer at all (aborted, refused, a network change): named with Chromium's reason
  page.on('requestfailed', (r) => failedRequests.push(`${(r.failure() && r.failure().errorText) || 'failed'} ${r.url().slice(0, 200)}`));

  // 1. Study list (the login happens with the first request).
  const first = await page.goto(baseUrl, { waitUntil: 'domcontentloaded' });
  step('loaded', { status: first.status() });
  if (first.status() !== 200) throw new Error(`front door answered HTTP ${first.status()}`);
  const headers = await first.allHeaders();
  result.securityHeaders = Object.fromEntries(securityHeaders.map((h) => [h, headers[h] ?? null]));
  const missing = securityHeaders.filter((h) => !headers[h]);
  if (missing.length > 0) throw new Error(`the viewer page lacks security headers: ${missing.join(', ')}`);
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
  let via = opened ? 'study list' : 'viewer URL';
  if (opened) {
    // Several studies may show the same text (e.g. the accession number of an earlier run):
    // if the row opened another study, open ours through the viewer route instead.
    await page.waitForURL(/\/viewer/, { timeout: 15000 }).catch(() => {});
    if (!page.url().includes(studyUid)) {
      via = 'viewer URL (the study list row opened another study)';
      await page.goto(`${baseUrl}viewer?StudyInstanceUIDs=${encodeURIComponent(studyUid)}`, { waitUntil: 'domcontentloaded' });
    }
  }
  step('study opened', { via });
  await dismissTour(page, 8000);
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
    if (!blankStats(stats)) {
      fs.writeFileSync(path.join(outDir, 'ohif-viewport.png'), png);
      break;
    }
  }
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(outDir, 'ohif-viewer.png') });
  result.viewport = stats;
  result.attempts = attempts;
  if (blankStats(stats)) {
    throw new Error(`viewport looks blank: ${JSON.stringify(stats)}`);
  }
  step('pixels rendered', stats);

  // Cross-origin isolation: COOP same-origin + COEP require-corp took effect (and every
  // resource the viewer loaded passed COEP, or it would not have rendered).
  result.crossOriginIsolated = await page.evaluate(() => self.crossOriginIsolated === true);
  if (result.crossOriginIsolated !== true) throw new Error('the viewer page is not cross-origin isolated (COOP/COEP)');
  step('cross-origin isolated');

  // 4. The CT volume in the MPR layout: three volume viewports (axial, sagittal, coronal),
  // loaded by the web workers and WASM codecs, each must show real pixels.
  if (mprEnabled) {
    let via = 'layout selector';
    try {
      await page.getByRole('button', { name: /change layout/i }).first().click({ timeout: 15000 });
      const mpr = page.locator('[data-cy="MPR"]').or(page.getByText(/^MPR$/)).first();
      await mpr.waitFor({ state: 'visible', timeout: 10000 });
      await mpr.click({ timeout: 10000 });
    } catch {
      // No layout selector in this release: the MPR hanging protocol through the viewer URL.
      via = 'viewer URL';
      await page.goto(`${baseUrl}viewer?StudyInstanceUIDs=${encodeURIComponent(studyUid)}&hangingprotocolId=mpr`,
        { waitUntil: 'domcontentloaded' });
      await dismissTour(page, 8000);
    }
    step('mpr layout chosen', { via });
    const mprViewports = page.locator('.cornerstone-viewport-element');
    const mprDeadline = Date.now() + timeout;
    while (Date.now() < mprDeadline && (await mprViewports.count()) < 3) await page.waitForTimeout(500);
    const mprCount = await mprViewports.count();
    result.mprViewportCount = mprCount;
    if (mprCount !== 3) {
      throw new Error(`the MPR layout shows ${mprCount} viewport(s), not 3 (is the series a volume? `
        + 'stow_study.py --slices 48)');
    }
    const mprResult = await waitForPixels(page, mprViewports, 3, 'ohif-mpr-viewport');
    await page.waitForTimeout(1000);
    await page.screenshot({ path: path.join(outDir, 'ohif-mpr.png') });
    result.mprViewports = mprResult.stats;
    result.mprAttempts = mprResult.attempts;
    if (mprResult.stats.length !== 3 || mprResult.stats.some(blankStats)) {
      throw new Error(`MPR viewport(s) look blank: ${JSON.stringify(mprResult.stats)}`);
    }
    const ids = new Set(mprResult.stats.map((v) => v.viewportId));
    if (ids.size !== 3) throw new Error(`the MPR viewports are not three distinct viewports: ${[...ids].join(', ')}`);
    step('mpr pixels rendered', { viewports: mprResult.stats.map((v) => v.viewportId) });
  }

  // 5. Nothing the viewer did was blocked by the Content-Security-Policy (late reports included).
  await page.waitForTimeout(500);
  if (cspViolations.length > 0) {
    throw new Error(`Content-Security-Policy violations: ${JSON.stringify(cspViolations.slice(0, 5))}`);
  }
  step('no csp violations');
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
  result.cspViolations = cspViolations.slice(0, 20);
  result.consoleErrors = consoleErrors.slice(0, 20);
  result.failedRequests = failedRequests.slice(0, 20);
  if (context) await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
fs.writeFileSync(path.join(outDir, 'ohif-smoke.json'), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
process.exit(exitCode);
