#!/usr/bin/env node
// End-to-end browser test of the IntelliDox web app against a real stack.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=/tmp/shots node e2e/upload.mjs
//
// It drives Debian's Chromium through playwright-core: uploads a clean file
// and EICAR together, watches the progress bars and the live engine results,
// checks verdicts, the known-content shortcut, the details view (hashes,
// rescan), history search and a 360 px window, then measures in-browser
// SHA-256 hashing and upload throughput on a 100 MB file. Every wait has a
// deadline; nothing sleeps for a fixed time. Exit status 1 on any failure.
import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BASE = (process.env.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const SHOTS = process.env.SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'intellidox-shots-'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 90_000);
const BIG_MB = Number(process.env.E2E_BIG_MB || 100);

// The EICAR test string is decoded at run time and written to a temp file, so
// that neither it nor this script trips a virus scanner on a checkout.
const EICAR = Buffer.from('WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=', 'base64').toString('latin1');
if (crypto.createHash('sha256').update(EICAR).digest('hex') !== '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f') {
  throw new Error('the EICAR test string did not decode to the standard file');
}

const failures = [];
let passed = 0;
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`, ...a);
function check(cond, msg) {
  if (cond) {
    passed++;
    log('ok  ', msg);
  }
  else {
    failures.push(msg);
    log('FAIL', msg);
  }
}
const hex = (alg, b) => crypto.createHash(alg).update(b).digest('hex');

fs.mkdirSync(SHOTS, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'intellidox-e2e-'));
const nonce = `${Date.now()}-${crypto.randomBytes(6).toString('hex')}`;
const files = {
  notes: path.join(work, 'notes.txt'),
  eicar: path.join(work, 'eicar.com'),
  copy: path.join(work, 'eicar-copy.com'),
  suspicious: path.join(work, 'quarterly-macro.txt'),
  big: path.join(work, `big-${BIG_MB}MB.bin`),
  flaky: path.join(work, 'flaky-network.txt'),
};
fs.writeFileSync(path.join(work, 'flaky-network.txt'), `Uploaded over a bad connection (${nonce}).\n`);
fs.writeFileSync(files.notes, `Meeting notes, ${new Date().toISOString()}.\nNothing to see here (${nonce}).\n`);
fs.writeFileSync(files.eicar, EICAR);
fs.writeFileSync(files.copy, EICAR);
// The project's ClamAV signature set rates this marker as heuristic: suspicious.
fs.writeFileSync(files.suspicious, `Pasted from an email: INTELLIDOX-TEST-SUSPICIOUS-2b81d0 (${nonce})\n`);

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'intellidox-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
  ],
});
context.setDefaultTimeout(TIMEOUT);
const page = context.pages()[0] ?? (await context.newPage());

// Listen for file choosers from the start: Playwright turns interception on
// asynchronously, and a chooser opened before that would be missed.
const choosers = [];
page.on('filechooser', (fc) => choosers.push(fc));
async function until(what, cond) {
  const end = Date.now() + TIMEOUT;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => m.type() === 'error' && log('console error:', m.text()));
const eventStreams = [];
page.on('request', (r) => /\/v1\/files\/[^/]+\/events(\?|$)/.test(r.url()) && eventStreams.push(r.url()));

// The stack requires an API key: the page finds it where the key field would
// store it.
if (process.env.API_KEY) {
  await page.addInitScript((key) => localStorage.setItem('intellidox.apiKey', key), process.env.API_KEY);
}

// Record, in the page, every state each row and progress bar goes through, so
// that progress is checked as it happened and not only at the end.
await page.addInitScript(() => {
  const seen = (window.__seen = {});
  const scan = () => {
    for (const row of document.querySelectorAll('li.upload-row')) {
      const name = row.getAttribute('data-name');
      const s = (seen[name] ??= { stages: [], bars: {}, results: [] });
      const stage = row.getAttribute('data-stage');
      if (s.stages[s.stages.length - 1] !== stage) s.stages.push(stage);
      for (const bar of row.querySelectorAll('[role=progressbar]')) {
        const label = bar.getAttribute('aria-label').split(' ')[0];
        const v = Number(bar.getAttribute('aria-valuenow'));
        const vals = (s.bars[label] ??= []);
        if (vals[vals.length - 1] !== v) vals.push(v);
      }
      for (const tr of row.querySelectorAll('tr[data-engine]')) {
        const r = `${tr.getAttribute('data-engine')}:${tr.getAttribute('data-result')}`;
        if (!s.results.includes(r)) s.results.push(r);
      }
    }
  };
  new MutationObserver(scan).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
});

const row = (name) => page.locator(`li.upload-row[data-name="${name}"]`);
const seen = () => page.evaluate(() => window.__seen);
async function waitVerdict(name, verdict) {
  await page.waitForFunction(
    ([n]) => document.querySelector(`li.upload-row[data-name="${n}"]`)?.getAttribute('data-verdict'),
    [name],
    { timeout: TIMEOUT, polling: 100 },
  );
  const got = await row(name).getAttribute('data-verdict');
  check(got === verdict, `${name}: verdict ${verdict} (got ${got})`);
}

let exitCode = 0;
try {
  log(`opening ${BASE}/`);
  await page.goto(`${BASE}/`);
  await page.getByRole('heading', { name: 'What is in these files?' }).waitFor();

  // 1. A clean file and EICAR together, picked from the keyboard: the drop
  //    zone is a button that opens the file picker.
  const zone = page.getByRole('button', { name: /Drop files here, or choose files/ });
  await zone.focus();
  await page.keyboard.press('Enter');
  await until('the file chooser', () => choosers.length > 0);
  const chooser = choosers.shift();
  check(chooser.isMultiple(), 'the file picker accepts many files');
  await chooser.setFiles([files.notes, files.eicar]);
  log('picked notes.txt and eicar.com');

  await waitVerdict('notes.txt', 'clean');
  await waitVerdict('eicar.com', 'malicious');
  let s = await seen();
  for (const n of ['notes.txt', 'eicar.com']) {
    const bars = s[n]?.bars ?? {};
    check(bars.Hashing !== undefined || s[n].stages.includes('hashing'), `${n}: hashing was shown (${JSON.stringify(bars.Hashing ?? [])})`);
    check(bars.Upload?.at(-1) === 100, `${n}: upload progress bar reached 100 % (${JSON.stringify(bars.Upload ?? [])})`);
    check(['uploading', 'confirming', 'processing'].every((st) => s[n].stages.includes(st)), `${n}: went through upload, confirm, processing (${s[n].stages.join(' → ')})`);
  }
  // The verdict comes with the stream's status event and the results that
  // made it just after (or just before, live): wait for them, not an instant.
  await page
    .waitForFunction(() => window.__seen['eicar.com']?.results.includes('clamav:malicious'), null, { timeout: TIMEOUT, polling: 100 })
    .catch(() => undefined);
  s = await seen();
  check(s['eicar.com'].results.includes('clamav:malicious'), `eicar.com: clamav result arrived live in the row (${s['eicar.com'].results.join(', ')})`);
  check(await row('eicar.com').locator('tr[data-engine="clamav"]').getByText(/EICAR/i).count() > 0, 'eicar.com: the threat name is shown');
  check(await row('notes.txt').locator('.row-side .badge', { hasText: 'Clean' }).count() === 1, 'notes.txt: Clean badge with its word');
  const announced = await page.getByTestId('announcer').textContent();
  check(/: (clean|malicious)/.test(announced ?? ''), `verdicts are announced to screen readers ("${announced}")`);
  await page.screenshot({ path: path.join(SHOTS, '01-clean-and-eicar.png'), fullPage: true });

  // 2. Content IntelliDox already has: the upload is skipped.
  await page.getByTestId('file-input').setInputFiles(files.copy);
  await waitVerdict('eicar-copy.com', 'malicious');
  s = await seen();
  check((await row('eicar-copy.com').getAttribute('data-skipped')) === 'true', 'eicar-copy.com: known content, upload skipped');
  check(!s['eicar-copy.com'].bars.Upload && !s['eicar-copy.com'].stages.includes('uploading'), 'eicar-copy.com: no upload progress was ever shown');
  check(await row('eicar-copy.com').getByText(/upload skipped/).count() === 1, 'eicar-copy.com: the row says the upload was skipped');

  // 3. A suspicious file, for a mix of verdicts.
  await page.getByTestId('file-input').setInputFiles(files.suspicious);
  await waitVerdict('quarterly-macro.txt', 'suspicious');

  // 3b. The connection drops during the storage PUT: plain words, and a
  //     Retry that resumes the upload.
  let dropped = 0;
  const dropOnce = (u) => u.searchParams.has('X-Amz-Signature') && dropped === 0;
  await page.route(dropOnce, (route) => {
    dropped++;
    return route.abort('connectionreset');
  });
  await page.getByTestId('file-input').setInputFiles(files.flaky);
  const flaky = row('flaky-network.txt');
  await flaky.locator('[role=alert]').waitFor();
  const alert = await flaky.locator('[role=alert]').textContent();
  check(dropped === 1 && /Network problem/.test(alert) && /connection to storage was lost/.test(alert), `flaky-network.txt: network loss explained ("${alert.trim()}")`);
  await page.unroute(dropOnce);
  await flaky.getByRole('button', { name: 'Retry' }).click();
  await waitVerdict('flaky-network.txt', 'clean');
  check(await flaky.locator('[role=alert]').count() === 0, 'flaky-network.txt: the error is gone after a successful retry');

  // 3c. Drag and drop.
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], 'dropped.txt', { type: 'text/plain' }));
    return d;
  }, `Dropped on the page (${nonce}).\n`);
  await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: dt });
  await waitVerdict('dropped.txt', 'clean');

  // 4. 100 MB: browser hashing time and upload throughput to storage.
  log(`writing a ${BIG_MB} MiB file`);
  {
    const fd = fs.openSync(files.big, 'w');
    const block = crypto.randomBytes(1 << 20);
    for (let i = 0; i < BIG_MB; i++) {
      block.writeUInt32LE(i, 0);
      fs.writeSync(fd, block);
    }
    fs.closeSync(fd);
  }
  const bigName = path.basename(files.big);
  const size = BIG_MB * (1 << 20);
  await page.getByTestId('file-input').setInputFiles(files.big);
  await page.waitForFunction(
    ([n]) => document.querySelector(`li.upload-row[data-name="${n}"]`)?.hasAttribute('data-upload-ms'),
    [bigName],
    { timeout: TIMEOUT, polling: 100 },
  );
  const hashMs = Number(await row(bigName).getAttribute('data-hash-ms'));
  const uploadMs = Number(await row(bigName).getAttribute('data-upload-ms'));
  const mb = size / 1e6;
  s = await seen();
  const up = s[bigName].bars.Upload ?? [];
  const hs = s[bigName].bars.Hashing ?? [];
  check(hs.some((v) => v > 0 && v < 100), `${bigName}: hashing progress was live (${hs.length} steps)`);
  check(up.some((v) => v > 0 && v < 100) && up.at(-1) === 100, `${bigName}: upload progress was live and reached 100 % (${up.length} steps)`);
  check(await row(bigName).getByText(/MB\/s/).count() > 0, `${bigName}: the upload rate is shown in MB/s`);
  await waitVerdict(bigName, 'clean');
  // Small files can be final before the page asks; this one cannot.
  const bigId = await row(bigName).getAttribute('data-id');
  check(!!bigId && eventStreams.some((u) => u.includes(`/v1/files/${bigId}/events`)),
    `${bigName}: live status came over Server-Sent Events (${eventStreams.length} streams opened)`);
  const browserSha = await row(bigName).locator('code[title]').first().getAttribute('title');
  check(browserSha === hex('sha256', fs.readFileSync(files.big)), `${bigName}: browser SHA-256 matches node's`);

  // 5. The results page with every verdict.
  const summary = (await page.getByRole('list', { name: 'Summary' }).innerText()).replace(/\s+/g, ' ');
  check(summary.includes('Malicious 2') && summary.includes('Suspicious 1') && summary.includes('Clean 4'), `results summary counts verdicts ("${summary}")`);
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  await page.screenshot({ path: path.join(SHOTS, 'results.png'), fullPage: true });

  // 6. Details view of EICAR: verdict, engines, hashes with copy buttons, metadata, rescan.
  await row('eicar.com').getByRole('link', { name: /Details/ }).click();
  await page.waitForURL(/\/files\/[^/]+$/);
  const details = page.locator('section.details[data-verdict="malicious"]');
  await details.waitFor();
  check(await page.getByRole('heading', { level: 1 }).textContent() === 'eicar.com', 'details: heading names the file');
  check(await page.locator('section.details table.engines tr[data-engine="clamav"][data-result="malicious"]').count() === 1, 'details: clamav row says malicious');
  const hashes = {};
  for (const [label, alg] of [['SHA-256', 'sha256'], ['SHA-1', 'sha1'], ['MD5', 'md5']]) {
    hashes[alg] = await page.locator(`code[data-hash="${label}"]`).textContent();
    check(hashes[alg] === hex(alg, EICAR), `details: ${label} is ${hex(alg, EICAR)}`);
    check(await page.getByRole('button', { name: `Copy ${label}` }).count() === 1, `details: copy button for ${label}`);
  }
  check(await page.getByRole('heading', { name: 'File type' }).count() === 1, 'details: metadata has a File type section');
  await page.screenshot({ path: path.join(SHOTS, 'details.png'), fullPage: true });

  const [rescan] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/rescan') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Rescan' }).click(),
  ]);
  check(rescan.status() === 202, `details: Rescan is accepted (HTTP ${rescan.status()})`);
  const note = page.locator('.note[role=status]');
  await note.waitFor();
  check(/Rescan requested/.test(await note.textContent()), `details: the rescan is acknowledged ("${await note.textContent()}")`);
  // The page follows the rescan until the engine reports again, or gives up
  // after its deadline (engines reuse results for unchanged signatures).
  await page.waitForFunction(() => !/waiting for/.test(document.querySelector('.note[role=status]')?.textContent ?? ''), undefined, { timeout: TIMEOUT, polling: 200 });
  check(await page.locator('section.details table.engines tr[data-engine="clamav"][data-result="malicious"]').count() === 1, `details: after the rescan clamav still says malicious ("${await note.textContent()}")`);
  check(await page.getByRole('alert').count() === 0, 'details: no error after the rescan');

  // 6b. Download: EICAR is refused with its verdict and reasons, and the
  // browser receives no file; a clean file downloads as an attachment.
  let downloads = 0;
  page.on('download', () => { downloads++; });
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/download')),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  check(refused.status() === 403, `details: the download gate refuses EICAR (HTTP ${refused.status()})`);
  const refusal = page.locator('.refusal[role=alert]');
  await refusal.waitFor();
  check((await refusal.getAttribute('data-refused-verdict')) === 'malicious', 'details: the refusal names the verdict');
  check(/EICAR/i.test(await refusal.textContent()), `details: the refusal gives the engines' reasons ("${await refusal.textContent()}")`);
  await page.screenshot({ path: path.join(SHOTS, 'download-refused.png'), fullPage: true });
  check(downloads === 0, 'details: no file reached the browser for EICAR');

  await page.goBack();
  await row('notes.txt').getByRole('link', { name: /Details/ }).click();
  await page.locator('section.details[data-verdict="clean"]').waitFor();
  if (process.env.STORAGE_SETS_DISPOSITION !== '0') {
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: TIMEOUT }),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    check(download.suggestedFilename() === 'notes.txt', `details: the clean file downloads as notes.txt (${download.suggestedFilename()})`);
    const saved = await download.path();
    check(saved && fs.readFileSync(saved).equals(fs.readFileSync(files.notes)), 'details: the downloaded bytes are the uploaded ones');
  } else {
    // This storage ignores response overrides, so the browser would show
    // the file instead of saving it: check that the button asks storage for
    // an attachment and that storage serves the bytes, then answer the
    // navigation with 204 so the page keeps its state, as a real download does.
    let asked = '';
    let served = null;
    let fetched;
    const done = new Promise((resolve) => { fetched = resolve; });
    await page.route((u) => u.searchParams.has('response-content-disposition'), async (route) => {
      asked = new URL(route.request().url()).searchParams.get('response-content-disposition') ?? '';
      const resp = await route.fetch();
      served = resp.status() === 200 ? await resp.body() : null;
      // A 204 answer to a navigation leaves the page where it is.
      await route.fulfill({ status: 204 });
      fetched();
    });
    await page.getByRole('button', { name: 'Download' }).click();
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('the Download button never asked storage for the file')), TIMEOUT))]);
    check(asked.startsWith('attachment; filename="notes.txt"'), `details: the download asks storage for an attachment named notes.txt (${asked})`);
    check(served !== null && served.equals(fs.readFileSync(files.notes)), 'details: storage serves the uploaded bytes');
    await page.unroute((u) => u.searchParams.has('response-content-disposition'));
  }

  // 7. History: newest first, search by name and by hash, then paging.
  await page.getByRole('navigation').getByRole('link', { name: 'History' }).click();
  await page.locator('table.history-table').waitFor();
  const names = await page.locator('table.history-table tbody th').allTextContents();
  check(names[0] === bigName, `history: newest first (${names.slice(0, 3).join(', ')}…)`);
  check(['notes.txt', 'eicar.com', 'eicar-copy.com', 'quarterly-macro.txt'].every((n) => names.includes(n)), 'history: lists every uploaded file');
  await page.getByLabel(/Search by file name or any hash/).fill(hashes.md5);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('table.history-table tbody th')].map((e) => e.textContent);
    return rows.length > 0 && rows.every((n) => n.startsWith('eicar'));
  }, undefined, { timeout: TIMEOUT, polling: 100 });
  const found = await page.locator('table.history-table tbody th').allTextContents();
  check(found.length === 2, `history: search by MD5 finds both EICAR uploads (${found.join(', ')})`);
  await page.screenshot({ path: path.join(SHOTS, 'history.png'), fullPage: true });

  // 21 files registered through the API (never uploaded) make a second page.
  const tag = `paging-${nonce.slice(-6)}`;
  for (let i = 1; i <= 21; i++) {
    const body = JSON.stringify({ name: `${tag}-${String(i).padStart(2, '0')}.bin`, size: 10, sha256: hex('sha256', `${nonce}-${i}`) });
    const headers = { 'Content-Type': 'application/json' };
    if (process.env.API_KEY) headers.Authorization = `Bearer ${process.env.API_KEY}`;
    const r = await fetch(`${BASE}/v1/files`, { method: 'POST', headers, body });
    if (r.status !== 201) throw new Error(`register paging file: HTTP ${r.status} ${await r.text()}`);
  }
  await page.getByLabel(/Search by file name or any hash/).fill(tag);
  await page.getByRole('button', { name: 'Search' }).click();
  const more = page.getByRole('button', { name: 'Show older files' });
  await more.waitFor();
  let paged = await page.locator('table.history-table tbody th').allTextContents();
  check(paged.length === 20 && paged[0] === `${tag}-21.bin`, `history: first page holds 20 files, newest first (${paged[0]} … ${paged.at(-1)})`);
  await more.click();
  await page.waitForFunction(() => document.querySelectorAll('table.history-table tbody th').length > 20, undefined, { timeout: TIMEOUT, polling: 100 });
  paged = await page.locator('table.history-table tbody th').allTextContents();
  check(paged.length === 21 && paged[20] === `${tag}-01.bin`, `history: "Show older files" loads the rest (${paged.length} files)`);
  check(await more.count() === 0, 'history: no more pages after the last');

  // 8. A narrow (360 px) window: back to the results, nothing overflows.
  await page.getByRole('navigation').getByRole('link', { name: 'Scan files' }).click();
  await row('eicar.com').waitFor();
  await page.setViewportSize({ width: 360, height: 780 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `360 px window: no horizontal scrolling (overflow ${overflow}px)`);
  await page.screenshot({ path: path.join(SHOTS, 'results-narrow.png'), fullPage: true });
  await row('eicar.com').getByRole('link', { name: /Details/ }).click();
  await page.locator('section.details[data-verdict="malicious"]').waitFor();
  const overflowDetails = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflowDetails <= 0, `360 px window: details view does not scroll sideways (overflow ${overflowDetails}px)`);
  await page.screenshot({ path: path.join(SHOTS, 'details-narrow.png'), fullPage: true });

  // 9. A large file goes up in parts; cut off after its first part, it
  // resumes after a reload when chosen again: only the missing part is sent.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('navigation').getByRole('link', { name: 'Scan files' }).click();
  const resumeFile = path.join(work, 'resume-70MB.bin');
  {
    const fd = fs.openSync(resumeFile, 'w');
    const block = crypto.randomBytes(1 << 20);
    for (let i = 0; i < 70; i++) {
      block.writeUInt32LE(i + 1000, 0);
      fs.writeSync(fd, block);
    }
    fs.closeSync(fd);
  }
  const resumeName = path.basename(resumeFile);
  const partPuts = { before: {}, after: {} };
  let phase = 'before';
  const partOf = (u) => new URL(u).searchParams.get('partNumber');
  page.on('request', (r) => {
    const n = r.method() === 'PUT' && partOf(r.url());
    if (n) partPuts[phase][n] = (partPuts[phase][n] ?? 0) + 1;
  });
  let part1Done;
  const part1 = new Promise((resolve) => (part1Done = resolve));
  page.on('requestfinished', (r) => r.method() === 'PUT' && partOf(r.url()) === '1' && part1Done());
  // The network drops part 2, once part 1 is stored.
  const cut = (u) => u.searchParams.get('partNumber') === '2';
  await page.route(cut, async (route) => {
    await part1;
    await route.abort('internetdisconnected');
  });
  await page.getByTestId('file-input').setInputFiles(resumeFile);
  await row(resumeName).and(page.locator('[data-stage="failed"]')).waitFor();
  check(partPuts.before['1'] === 1 && partPuts.before['2'] >= 1, `${resumeName}: sent in parts, part 2 cut off (${JSON.stringify(partPuts.before)})`);
  await page.unroute(cut);
  await page.reload();
  phase = 'after';
  await page.getByTestId('file-input').setInputFiles(resumeFile);
  await waitVerdict(resumeName, 'clean');
  check(await row(resumeName).getAttribute('data-resumed') === 'true', `${resumeName}: the upload was resumed after the reload`);
  check(!partPuts.after['1'] && partPuts.after['2'] === 1, `${resumeName}: only the missing part was sent again (${JSON.stringify(partPuts.after)})`);
  await page.screenshot({ path: path.join(SHOTS, 'resumed.png'), fullPage: true });

  check(pageErrors.length === 0, `no uncaught errors in the page ${pageErrors.join('; ')}`);

  console.log('');
  const label = `${BIG_MB} MiB (${mb.toFixed(1)} MB)`;
  console.log(`RESULT hash ${label} in the browser (Web Worker, hash-wasm): ${hashMs} ms = ${(mb / (hashMs / 1000)).toFixed(0)} MB/s`);
  console.log(`RESULT upload ${label} to local S3 (XHR PUT, presigned URL): ${uploadMs} ms = ${(mb / (uploadMs / 1000)).toFixed(0)} MB/s`);
} catch (e) {
  failures.push(String(e?.stack || e));
  log('FAIL', e);
  await page.screenshot({ path: path.join(SHOTS, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`screenshots: ${SHOTS}`);
console.log(`browser e2e: ${passed} passed, ${failures.length} failed`);
if (failures.length) {
  console.log(`\n${failures.length} check(s) failed:\n - ${failures.join('\n - ')}`);
  exitCode = 1;
}
process.exit(exitCode);
