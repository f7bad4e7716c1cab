// Session time (issue 12, "Session time left and an idle warning with 'keep working', shown
// before anything is reaped"): the header counts down to the idle stop; shortly before it, a
// warning names the container with a Keep working button, which tells the engine (a touch) and
// puts the countdown back. The page's clock is moved on (Playwright's clock) instead of waiting
// half an hour; the engine's clock is not, so its deadline is the real one.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

test('the idle warning comes before the stop, and Keep working tells the engine and resets the time', async ({ context }) => {
  const sent: string[] = [];
  const received: string[] = [];
  const pageErrors: string[] = [];
  const play = await Play.open(context, product.apps[0]!, 'en', 'session-time', async (page) => {
    // The clock fakes `performance` too, with a stand-in whose getEntriesByName() is always []:
    // Monaco times every keystroke (performance.mark/measure, then getEntriesByName(name)[0]
    // .duration) and threw a TypeError per key under it ("reading 'duration'"). Only Date matters
    // here and install() cannot be told to leave performance alone, so the page keeps its own:
    // kept before the clock's script runs, put back after it (context scripts run in order).
    await context.addInitScript(() => {
      (globalThis as { realPerformance?: Performance }).realPerformance = globalThis.performance;
    });
    await page.clock.install();
    await context.addInitScript(() => {
      const real = (globalThis as { realPerformance?: Performance }).realPerformance;
      if (real) Object.defineProperty(globalThis, 'performance', { value: real, configurable: true, writable: true });
    });
    page.on('pageerror', (err) => pageErrors.push(err.stack ?? err.message));
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => typeof f.payload === 'string' && sent.push(f.payload));
      ws.on('framereceived', (f) => typeof f.payload === 'string' && received.push(f.payload));
    });
  });
  await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
  await play.build();
  await expect(play.page.getByRole('status').filter({ hasText: 'No containers running' })).toBeVisible();
  const pane = await play.run();
  const timer = play.page.getByRole('timer');
  await expect(timer).toHaveText(/^Time left (29:[0-5]\d|30:00)$/);
  await expect(timer).toHaveAccessibleName(/^Your containers keep running for \d+:\d\d more without activity\.$/);
  const name = (await pane.getByRole('heading', { level: 3 }).innerText()).trim();

  // 28.5 minutes on: the warning, before the engine's reaper would act (at 30).
  const now = await play.page.evaluate(() => Date.now());
  await play.page.clock.setSystemTime(now + 28.5 * 60_000);
  const warning = play.page.getByRole('alert').filter({ hasText: `${name} will be stopped in` });
  await expect(warning).toBeVisible();
  await expect(timer).toHaveText(/^Time left 1:[0-3]\d$/);
  await play.shot('idle-warning');

  await warning.getByRole('button', { name: 'Keep working' }).click();
  await expect(play.page.getByRole('status').filter({ hasText: `Thanks, ${name} keeps running.` })).toBeVisible();
  await expect(warning).toHaveCount(0);
  await expect(timer).toHaveText(/^Time left (29:[0-5]\d|30:00)$/);
  // It went to the engine: a touch of that container, answered with its new last activity.
  expect(sent.some((f) => f.includes('"runs:container"') && f.includes('"op":"touch"'))).toBe(true);
  expect(received.some((f) => f.includes('"op":"touch"') && /"lastActivityAt":"\d{4}-/.test(f))).toBe(true);
  await play.shot('kept-working');
  // The container still runs: the shell answers.
  await play.typeInTerminal(pane, 'echo still-here\n');
  await play.waitForTerminal(pane, /still-here\s*\n.*still-here/);
  // Typing in the editor and the terminal under the page's fake clock threw nothing.
  expect(pageErrors).toEqual([]);
});
