// Screenshots of the site's main pages in both languages and at both sizes the playground must
// work at (1280×720, and 800×1100 for a tablet), in Debian's Chromium, to look at by eye.
//   BASE_URL=http://localhost:3000 npx tsx e2e/screens.ts        (the product must be running)
// With a worker running, each /play shot is followed by one after pressing Build (play-built-…),
// showing the layer stack and the editor's gutter notes.
// Writes e2e/artifacts/screens/<page>-<locale>-<w>x<h>.png (gitignored) and prints, per shot,
// what a person would notice first: the page's language, its title, and any control without
// an accessible name or any text clipped by its box.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';

const BASE_URL = process.env.BASE_URL ?? 'http://localhost:3000';
const OUT = join(import.meta.dirname, 'artifacts', 'screens');
const SIZES = [
  { width: 1280, height: 720 },
  { width: 800, height: 1100 },
];
const PAGES = [
  { name: 'home', path: '/' },
  { name: 'play', path: '/play' },
];

/** Buttons, links and inputs with no accessible name, and buttons whose text overflows them. */
async function problems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('button, a[href], input, select, textarea, [role="tab"]')) {
      if (el.closest('[hidden], .monaco-editor, .xterm')) continue;
      const name = (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() || el.getAttribute('title') || (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent) || el.closest('label')?.textContent;
      if (!name && (el as HTMLInputElement).type !== 'hidden') found.push(`no name: <${el.tagName.toLowerCase()} class="${el.className}">`);
      if (el.tagName === 'BUTTON' && el.offsetParent !== null && (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 2)) {
        found.push(`clipped: "${el.textContent?.trim()}" (${el.scrollWidth}×${el.scrollHeight} in ${el.clientWidth}×${el.clientHeight})`);
      }
    }
    if (document.documentElement.scrollWidth > window.innerWidth + 1) found.push(`page scrolls sideways: ${document.documentElement.scrollWidth}px wide`);
    return found;
  });
}

async function report(page: Page, file: string, note = '') {
  const lang = await page.evaluate(() => document.documentElement.lang);
  const issues = await problems(page);
  console.log(`${file}  lang=${lang}  title="${await page.title()}" ${note}${issues.length ? `\n  ${issues.join('\n  ')}` : ''}`);
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
  const host = new URL(BASE_URL).hostname;
  try {
    for (const locale of ['en', 'ko'] as const) {
      for (const size of SIZES) {
        const context = await browser.newContext({ viewport: size, locale: locale === 'ko' ? 'ko-KR' : 'en-US' });
        await context.addCookies([{ name: 'layercake-locale', value: locale, domain: host, path: '/' }]);
        const page = await context.newPage();
        for (const { name, path } of PAGES) {
          await page.goto(new URL(path, BASE_URL).href, { waitUntil: 'networkidle' });
          if (name === 'play') {
            await page.locator('.monaco-editor').first().waitFor({ timeout: 30_000 });
            await page.waitForTimeout(800);
          }
          const file = join(OUT, `${name}-${locale}-${size.width}x${size.height}.png`);
          await page.screenshot({ path: file, fullPage: size.width < 1000 });
          await report(page, file);
          if (name === 'play') {
            const build = page.getByRole('button', { name: locale === 'ko' ? '빌드' : 'Build', exact: true });
            // Enabled once the socket is connected and the page hydrated.
            await page.waitForFunction((el) => !(el as HTMLButtonElement).disabled, await build.elementHandle());
            await page.waitForTimeout(500);
            await build.click();
            // The gutter's layer notes appear as steps run; give a cold build a minute.
            const built = await page
              .locator('.view-lines [class*="note"]')
              .first()
              .waitFor({ timeout: 60_000 })
              .then(() => page.waitForTimeout(2500))
              .then(() => true, () => false);
            const builtFile = join(OUT, `play-built-${locale}-${size.width}x${size.height}.png`);
            await page.screenshot({ path: builtFile, fullPage: size.width < 1000 });
            await report(page, builtFile, built ? '' : '(no build finished: is a worker running?)');
          }
        }
        await context.close();
      }
    }
    // No cookie, a browser that prefers Korean: the first paint is Korean.
    const context = await browser.newContext({ viewport: SIZES[0], locale: 'ko-KR', extraHTTPHeaders: { 'accept-language': 'ko-KR,ko;q=0.9,en;q=0.5' } });
    const page = await context.newPage();
    const response = await page.goto(BASE_URL, { waitUntil: 'domcontentloaded' });
    const html = (await response?.text()) ?? '';
    console.log(`Accept-Language ko, no cookie: <html lang="${/<html[^>]*lang="(\w+)"/.exec(html)?.[1]}">`);
    await context.close();
  } finally {
    await browser.close();
  }
}

await main();
