// The file tree as a learner uses it, in Debian's Chromium against a running product, checked:
// a new file typed into and reloaded at once keeps its text (the draft is pushed before the
// debounced save would have run), F2 renames, an upload over the per-file limit is refused
// before sending with the limit in words, a binary upload is listed, Delete deletes.
//   BASE_URL=http://localhost:3000 npx tsx e2e/files.ts
// A quick check for this widget until the e2e suite covers it; exits non-zero on a failure.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE_URL = process.env.BASE_URL ?? 'http://localhost:3000';

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    await context.addCookies([{ name: 'layercake-locale', value: 'en', domain: new URL(BASE_URL).hostname, path: '/' }]);
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    const files = page.getByRole('list', { name: 'Build context files' });
    const editorText = () => page.evaluate(() => (window as unknown as { monaco: { editor: { getEditors(): { getValue(): string }[] } } }).monaco.editor.getEditors()[0]?.getValue());

    await page.goto(new URL('/play', BASE_URL).href, { waitUntil: 'networkidle' });
    await page.locator('.monaco-editor .view-lines').first().waitFor();

    await page.getByRole('button', { name: 'New file' }).click();
    await page.getByLabel('Name of the new file').fill('notes.txt');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /notes\.txt/ }).waitFor();
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.type('typed just before a reload');
    await page.reload({ waitUntil: 'networkidle' });
    await page.getByRole('heading', { name: /notes\.txt/ }).waitFor();
    await page.waitForFunction(() => document.querySelector('.monaco-editor .view-lines')?.textContent?.includes('reload'), undefined, { timeout: 10_000 });
    assert.equal(await editorText(), 'typed just before a reload', 'the text typed before the reload');
    console.log('ok  text typed just before a reload is there after it');

    await files.getByRole('button', { name: 'notes.txt', exact: true }).focus();
    await page.keyboard.press('F2');
    await page.keyboard.type('renamed.txt');
    await page.keyboard.press('Enter');
    await files.getByRole('button', { name: 'renamed.txt', exact: true }).waitFor();
    console.log('ok  F2 renames');

    await page.locator('input[type=file]').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(3 * 1024 * 1024) });
    await page.getByRole('alert').filter({ hasText: 'big.bin is 3 MiB; one file may be at most 2 MiB.' }).waitFor({ timeout: 5_000 });
    assert.equal(await files.getByRole('button', { name: /^big\.bin/ }).count(), 0);
    console.log('ok  an upload over the limit is refused with the limit in words');

    await page.locator('input[type=file]').setInputFiles({ name: 'small.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0, 1, 2, 255, 254]) });
    await files.getByRole('button', { name: /^small\.bin/ }).waitFor();
    console.log('ok  a binary upload is listed');

    await files.getByRole('button', { name: 'renamed.txt', exact: true }).focus();
    await page.keyboard.press('Delete');
    await files.getByRole('button', { name: 'renamed.txt', exact: true }).waitFor({ state: 'detached' });
    await page.reload({ waitUntil: 'networkidle' });
    await files.getByRole('button', { name: /^small\.bin/ }).waitFor();
    assert.equal(await files.getByRole('button', { name: 'renamed.txt', exact: true }).count(), 0);
    console.log('ok  Delete deletes, and the server agrees after a reload');
  } finally {
    await browser.close();
  }
}

await main();
