#!/usr/bin/env node
// Renders experiments/report.html (or the file given) to a PNG beside it with headless Chromium, so the report can
// be looked at without a browser: `node tools/render-report.mjs [report.html] [out.png] [width]`.
// Chromium is optional (apt-get install chromium); without it this prints one line and exits 0.
// Runs with a fresh, empty profile and everything that would reach the network turned off.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const html = resolve(process.argv[2] ?? 'experiments/report.html');
const png = resolve(process.argv[3] ?? html.replace(/\.html$/, '.png'));
const width = Number(process.argv[4] ?? 1240);

function findChromium() {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('which', [name], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  }
  return null;
}

const chromium = findChromium();
if (chromium === null) {
  console.log('render-report: no Chromium found (apt-get install chromium); skipped');
  process.exit(0);
}
if (!existsSync(html)) {
  console.error(`render-report: ${html} does not exist; run \`npm start\` (zerots experiments) first`);
  process.exit(1);
}
const profile = mkdtempSync(join(tmpdir(), 'zerots-chromium-'));
// the page's height: long enough for the whole report (Chromium crops the screenshot to the window)
const height = Number(process.argv[5] ?? 2000);
try {
  execFileSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      `--window-size=${width},${height}`,
      `--screenshot=${png}`,
      pathToFileURL(html).href,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
  );
} finally {
  rmSync(profile, { recursive: true, force: true });
}
console.log(`render-report: ${png}`);
