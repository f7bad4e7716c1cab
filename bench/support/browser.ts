// Debian's Chromium for the browser benches (no browser downloads here), and percentiles.
import { chromium, type Browser, type Page } from 'playwright-core';

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
