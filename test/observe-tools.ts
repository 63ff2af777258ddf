// Real parts for the observability tests: Python's prometheus_client as the reference parser of
// the text format (in a virtual environment this creates once), and Debian's chromium driven by
// playwright-core (scripts/browser.mjs installs it; `npm test` runs that first).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { root, spawnTracked } from './helpers.js';

const VENV = join(root, '.d4', 'venv-prometheus');
const PROMETHEUS_CLIENT = 'prometheus-client==0.26.0';

function python(): string {
  const py = join(VENV, 'bin', 'python');
  if (!existsSync(join(VENV, '.ready'))) {
    execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    execFileSync(py, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', PROMETHEUS_CLIENT], { stdio: 'inherit' });
    execFileSync(py, ['-c', 'open(__import__("sys").argv[1], "w").close()', join(VENV, '.ready')]);
  }
  return py;
}

export interface PromSample { family: string; type: string; name: string; labels: Record<string, string>; value: number | '+Inf' | null }

/** Parses an exposition with prometheus_client's parser; rejects when it does not parse. */
export function parseExposition(text: string): Promise<PromSample[]> {
  const py = python();
  return new Promise((resolve, reject) => {
    const child = spawnTracked(py, [join(root, 'test', 'fixtures', 'prom_parse.py')]);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8'); // whole characters, also across chunks
    child.stdout.on('data', (d: string) => { out += d.toString(); });
    child.stderr.setEncoding('utf8'); // whole characters, also across chunks
    child.stderr.on('data', (d: string) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as PromSample[]) : reject(new Error(`prometheus_client refused the exposition (exit ${code}):\n${err}`))));
    child.stdin.end(text);
  });
}

/** The value of one sample (name and labels exactly), or undefined. */
export function sampleValue(samples: readonly PromSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => x.name === name && Object.keys(x.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return typeof s?.value === 'number' ? s.value : undefined;
}

export const CHROMIUM = process.env.D4_CHROMIUM ?? '/usr/bin/chromium';

/** A headless Debian chromium through playwright-core; fails (never skips) without one. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: run node scripts/browser.mjs (npm test does), or set D4_CHROMIUM`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

export interface PageFacts {
  /** Every chart: its element id, the points it draws, whether uPlot made its canvas. */
  readonly charts: { id: string; points: number; canvas: boolean }[];
  /** data-stat id → the value shown. */
  readonly stats: Record<string, string>;
  readonly errors: string[];
}

/** Opens a page in headless chromium, waits until it has drawn `drawn` times, reads its charts and figures, writes a screenshot. */
export async function inspectPage(url: string, screenshot: string, drawn = 1): Promise<PageFacts> {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(`Number(document.body.getAttribute("data-drawn")) >= ${drawn}`, undefined, { timeout: 20_000 });
    const charts = await page.$$eval('.chart', (els) => els.map((e) => ({ id: e.id, points: Number(e.getAttribute('data-points')), canvas: e.querySelector('canvas') !== null })));
    const stats = Object.fromEntries(await page.$$eval('[data-stat]', (els) => els.map((e) => [e.getAttribute('data-stat')!, e.querySelector('[data-value]')!.getAttribute('data-value')!])));
    await page.screenshot({ path: screenshot, fullPage: true });
    return { charts, stats, errors };
  } finally {
    await browser.close();
  }
}
