// Keyboard only (issue 12, "Keyboard reachable"): from the top of /play, Tab reaches the Build
// button and Enter builds; Tab reaches the layer stack and Enter opens a layer's files. The
// editor keeps Tab for indentation, as code editors do; Monaco's own Ctrl+M lets Tab move focus
// on, and the spec presses it when the focus lands in the editor, as a keyboard user is told to.
import { expect, test, type Page } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

/** What has the focus: its role-ish tag and accessible text, for the log and the checks. */
function focused(page: Page) {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    return {
      tag: el?.tagName.toLowerCase() ?? '',
      role: el?.getAttribute('role') ?? '',
      name: (el?.getAttribute('aria-label') || el?.textContent || '').trim().slice(0, 60),
      inEditor: !!el?.closest('.monaco-editor'),
    };
  });
}

/** Presses Tab until `done` holds for the focused element; returns the stops on the way. */
async function tabTo(page: Page, done: (f: Awaited<ReturnType<typeof focused>>) => boolean, max = 80): Promise<string[]> {
  const path: string[] = [];
  let escapedEditor = false;
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    path.push(`${f.role || f.tag}:${f.name}`);
    if (done(f)) return path;
    if (f.inEditor && !escapedEditor) {
      // Monaco: Ctrl+M toggles "Tab moves focus" (announced by its accessibility help, Alt+F1).
      await page.keyboard.press('Control+M');
      escapedEditor = true;
    }
  }
  throw new Error(`Tab never reached the control; stops:\n  ${path.join('\n  ')}`);
}

test('Build, and a layer’s files, with the keyboard alone', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'en', 'keyboard');
  await play.typeDockerfile('FROM busybox\nRUN echo keys > /keys.txt\nCMD ["sh"]');
  // Start from the top of a freshly loaded page (the text is saved; the reload keeps it).
  await expect(play.page.getByRole('status').filter({ hasText: /Saved/ })).toBeVisible();
  await play.reload();
  const path = await tabTo(play.page, (f) => f.tag === 'button' && f.role === '' && f.name === 'Build');
  console.log(`Tab stops to Build (${path.length}): ${path.join(' → ')}`);
  await play.shot('build-focused');
  await play.page.keyboard.press('Enter');
  await expect(play.buildStatus()).toBeVisible({ timeout: 120_000 });
  await expect(play.layers()).toHaveCount(3);

  await tabTo(play.page, (f) => f.tag === 'button' && f.name === 'Show the files of step 2');
  await play.page.keyboard.press('Enter');
  await expect(play.layers().nth(1).getByRole('list', { name: 'Files of this layer' })).toContainText('keys.txt');
  await play.shot('layer-files-by-keyboard');
});
