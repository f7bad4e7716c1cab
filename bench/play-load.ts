// /play load to an editable editor, and the JavaScript shipped to the browser, in Debian's
// Chromium: from navigation start to Monaco's editor taking a typed character into its model
// (the page hydrated, Monaco and the Dockerfile language loaded, the file fetched), with a cold
// cache each time; and the sum of every script response, gzip-compressed here (level 6), so
// the figure does not depend on how the server compresses. The peer, in the same run and the same
// browser: a page with bare Monaco (the same app/public/monaco/vs files, the AMD loader, one
// editor with the Dockerfile language, no app), served by a plain static server.
//   npx tsx bench/play-load.ts    (root: it starts the whole product, e2e's harness)
import { readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { startProduct } from '../e2e/harness/product.js';
import { fmt, launchChromium, percentile } from './support/browser.js';

const LOADS = 7;
const ROOT = new URL('../', import.meta.url).pathname.replace(/\/$/, '');
const MONACO = join(ROOT, 'app/public/monaco');

const BARE_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bare monaco</title></head>
<body style="margin:0"><div id="editor" style="width:100vw;height:100vh"></div>
<script src="/monaco/vs/loader.js"></script>
<script>
  require.config({ paths: { vs: '/monaco/vs' } });
  require(['vs/editor/editor.main'], function () {
    window.bareEditor = monaco.editor.create(document.getElementById('editor'), { value: 'FROM busybox\\n', language: 'dockerfile' });
  });
</script></body></html>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.json': 'application/json' };

function startBareServer(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path === '/') {
      res.setHeader('content-type', 'text/html');
      res.end(BARE_PAGE);
      return;
    }
    const file = join(MONACO, '..', path);
    if (!path.startsWith('/monaco/') || !existsSync(file)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.end(readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, close: () => server.close() })),
  );
}

/** One cold load: ms from navigation start until a typed character is in the editor's model; script bytes. */
async function load(browser: Browser, url: string, cookieUrl?: string): Promise<{ ms: number; rawBytes: number; gzipBytes: number; scripts: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
  if (cookieUrl) await context.addCookies([{ name: 'layercake-locale', value: 'en', url: cookieUrl }]);
  const page = await context.newPage();
  const bodies: Promise<Buffer | null>[] = [];
  page.on('response', (response) => {
    const type = response.request().resourceType();
    const isScript = type === 'script' || /\.m?js(\?|$)/.test(new URL(response.url()).pathname);
    if (isScript) bodies.push(response.body().catch(() => null));
  });
  await page.goto(url, { waitUntil: 'commit' });
  // Poll in the page each frame: the first moment an editor exists with its input element.
  await page.waitForFunction(() => {
    const m = (window as unknown as { monaco?: { editor: { getEditors(): { getModel(): unknown }[] } } }).monaco;
    return !!m && m.editor.getEditors().some((e) => e.getModel()) && !!document.querySelector('.monaco-editor [role="textbox"]');
  }, undefined, { timeout: 120_000, polling: 'raf' });
  // Monaco's input (a textarea, or an EditContext element where Chromium has it).
  await page.locator('.monaco-editor [role="textbox"]').first().focus();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('#');
  await page.waitForFunction(() => {
    const m = (window as unknown as { monaco: { editor: { getEditors(): { getValue(): string }[] } } }).monaco;
    return m.editor.getEditors().some((e) => e.getValue().endsWith('#'));
  }, undefined, { polling: 'raf' });
  const ms = await page.evaluate(() => performance.now());
  await page.waitForLoadState('networkidle');
  const buffers = (await Promise.all(bodies)).filter((b): b is Buffer => b !== null);
  await context.close();
  return {
    ms,
    rawBytes: buffers.reduce((n, b) => n + b.length, 0),
    gzipBytes: buffers.reduce((n, b) => n + gzipSync(b, { level: 6 }).length, 0),
    scripts: buffers.length,
  };
}

const KiB = (n: number) => `${(n / 1024).toFixed(0)} KiB`;

const product = await startProduct({ apps: 1, workers: 1 });
const bare = await startBareServer();
const browser = await launchChromium();
try {
  const playUrl = new URL('/play', product.apps[0]!).href;
  // A first load of each, not counted: Next compiles nothing in production, but the server's
  // and the OS's caches should be as warm for both.
  await load(browser, playUrl, product.apps[0]!);
  await load(browser, bare.url);
  const ours: Awaited<ReturnType<typeof load>>[] = [];
  const theirs: Awaited<ReturnType<typeof load>>[] = [];
  for (let i = 0; i < LOADS; i++) {
    ours.push(await load(browser, playUrl, product.apps[0]!));
    theirs.push(await load(browser, bare.url));
  }
  const p50 = percentile(ours.map((r) => r.ms), 0.5);
  const peer50 = percentile(theirs.map((r) => r.ms), 0.5);
  const o = ours.at(-1)!;
  const t = theirs.at(-1)!;
  console.log(`load to an editable editor, cold cache, ${LOADS} loads each, Chromium (headless):`);
  console.log(`  /play        p50 ${fmt(p50).padStart(7)} ms  max ${fmt(Math.max(...ours.map((r) => r.ms))).padStart(7)} ms   JS ${KiB(o.gzipBytes)} gzip (${KiB(o.rawBytes)} raw, ${o.scripts} scripts)`);
  console.log(`  bare Monaco  p50 ${fmt(peer50).padStart(7)} ms  max ${fmt(Math.max(...theirs.map((r) => r.ms))).padStart(7)} ms   JS ${KiB(t.gzipBytes)} gzip (${KiB(t.rawBytes)} raw, ${t.scripts} scripts)`);
  console.log(`  ratio: load ${(p50 / peer50).toFixed(2)}× bare Monaco, JS ${(o.gzipBytes / t.gzipBytes).toFixed(2)}× (the app beyond Monaco: ${KiB(o.gzipBytes - t.gzipBytes)} gzip)`);
} finally {
  await browser.close();
  bare.close();
  await product.stop();
}
