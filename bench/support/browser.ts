// Debian's Chromium for the browser benches (no browser downloads here), percentiles, and /play made ready.
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
}

export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

export const fmt = (ms: number) => ms.toFixed(1);

/** Replaces the open Dockerfile in /play by typing it (as e2e/harness/play.ts does), and checks the editor holds it. */
export async function typeDockerfile(page: Page, text: string): Promise<void> {
  await page.waitForFunction(() => (window as unknown as { monaco?: { editor: { getEditors(): unknown[] } } }).monaco?.editor.getEditors().length, undefined, { timeout: 60_000 });
  await page.getByRole('region', { name: /Editor/ }).getByRole('textbox').first().focus();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    await page.keyboard.type(line);
    await page.keyboard.press('Escape');
    if (i < lines.length - 1) await page.keyboard.press('Enter');
  }
  const value = await page.evaluate(() => (window as unknown as { monaco: { editor: { getEditors(): { getValue(): string }[] } } }).monaco.editor.getEditors()[0]!.getValue());
  if (value !== text) throw new Error(`the editor holds ${JSON.stringify(value)}, not ${JSON.stringify(text)}`);
}

/** /play at `appUrl`: a busybox shell image built, run, and its terminal connected and focused. */
export async function openPlayTerminal(page: Page, appUrl: string): Promise<{ terminal: Locator; connected: Locator }> {
  await page.goto(new URL('/play', appUrl).href);
  const build = page.getByRole('button', { name: 'Build', exact: true });
  await build.waitFor();
  await typeDockerfile(page, 'FROM busybox\nCMD ["sh"]');
  await page.waitForFunction((el) => !(el as HTMLButtonElement).disabled, await build.elementHandle(), { timeout: 60_000 });
  await build.click();
  await page.getByRole('status').filter({ hasText: /^Built / }).waitFor({ timeout: 120_000 });
  await page.getByRole('tab', { name: 'Containers' }).click();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const terminal = page.getByRole('region', { name: 'Terminal', exact: true });
  const connected = terminal.getByRole('status').filter({ hasText: 'Connected' });
  if (!(await connected.waitFor({ timeout: 20_000 }).then(() => true, () => false))) {
    // The pane's terminal can ask to attach before the container has started, and then gives up
    // ("cannot attach to a stopped container"; reported): a reload attaches to it running.
    console.log(`  (terminal: "${await terminal.getByRole('status').innerText()}"; reloading to attach)`);
    await page.reload();
    await page.getByRole('tab', { name: 'Containers' }).click();
    await connected.waitFor({ timeout: 60_000 });
  }
  await terminal.locator('textarea').focus();
  await page.waitForTimeout(1000);
  return { terminal, connected };
}

/**
 * Types `keystrokes` letters into a focused terminal, 20 to a line of a no-op command (':' then
 * the letters, so Enter prints nothing but a prompt), each key sent only after the page's probe
 * saw the echo of the one before. The page's probe (each bench installs its own, recording what
 * it measures) is armed with the line it should see: { want, armed, t0, resolve, done }.
 */
export async function typeEchoedKeys(page: Page, keystrokes: number): Promise<void> {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let typed = 0; typed < keystrokes; ) {
    await page.keyboard.type(': ');
    await page.waitForTimeout(50);
    let line = '';
    for (let i = 0; i < 20 && typed < keystrokes; i++, typed++) {
      const c = letters[(typed + i) % letters.length]!;
      line += c;
      await page.evaluate((want) => {
        const p = (window as unknown as { probe: { want: string; armed: boolean; t0: number; resolve: () => void; done?: Promise<void> } }).probe;
        p.want = want;
        p.t0 = 0;
        p.armed = true;
        p.done = new Promise<void>((r) => (p.resolve = r));
      }, `: ${line}`);
      await page.keyboard.press(c);
      await page.evaluate(() => Promise.race([
        (window as unknown as { probe: { done: Promise<void> } }).probe.done,
        new Promise((_, reject) => setTimeout(() => reject(new Error('no echo within 5 s')), 5000)),
      ]));
    }
    await page.keyboard.press('Enter');
    await page.waitForTimeout(80);
  }
}
