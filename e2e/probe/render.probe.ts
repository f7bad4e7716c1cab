// How promptly /play renders while a learner types a line in the editor, before the connection
// drops and after it comes back (the connection spec's steps). The page counts React's commits
// through a devtools hook (installed before React loads; React calls it on every commit),
// Monaco's textupdate events (EditContext: how Chromium's Monaco takes typing) and the save
// badge's changes; it prints, per typed line: how long the badge took to leave "Saved" after
// the first key, how many commits the line caused, and each key's wait for the next commit.
//   npx playwright test -c e2e/probe                       (RENDER_THROTTLE=4: the CPU 4x slower, over CDP)
// Saves a CPU profile of the reconnect and the typing after it to e2e/artifacts/render-probe.cpuprofile
// (open it in Chromium's DevTools, Performance panel).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

interface Probe {
  commits: number[];
  textUpdates: number[];
  badge: [at: number, text: string][];
}

function installProbe(): void {
  const probe: Probe = { commits: [], textUpdates: [], badge: [] };
  const w = window as unknown as { probe: Probe; __REACT_DEVTOOLS_GLOBAL_HOOK__: unknown; EditContext?: { prototype: EventTarget } };
  w.probe = probe;
  // The smallest hook React accepts; only the commit matters here.
  w.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
    isDisabled: false,
    supportsFiber: true,
    renderers: new Map(),
    inject: () => 1,
    checkDCE: () => undefined,
    onCommitFiberRoot: () => void probe.commits.push(performance.now()),
    onPostCommitFiberRoot: () => undefined,
    onCommitFiberUnmount: () => undefined,
  };
  const proto = w.EditContext?.prototype;
  if (!proto) return;
  const add = proto.addEventListener;
  proto.addEventListener = function (this: EventTarget, type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions) {
    if (type === 'textupdate' && typeof listener === 'function') {
      const inner = listener;
      listener = function (this: EventTarget, e: Event) {
        probe.textUpdates.push(performance.now());
        return inner.call(this, e);
      };
    }
    return add.call(this, type, listener, options);
  };
}

/** What happened while `type` ran: the badge's delay after the first key, commits, each key's wait. */
async function measure(page: Page, type: () => Promise<void>): Promise<string> {
  const from = await page.evaluate(() => performance.now());
  await type();
  await page.waitForTimeout(1_500);
  const p = await page.evaluate((from) => {
    const probe = (window as unknown as { probe: Probe }).probe;
    const keys = probe.textUpdates.filter((t) => t >= from);
    const commits = probe.commits.filter((t) => t >= from);
    const unsaved = probe.badge.find(([t, text]) => t >= from && text !== 'Saved');
    return {
      badgeMs: unsaved && keys[0] !== undefined ? Math.round(unsaved[0] - keys[0]) : null,
      commitsDuringLine: commits.filter((t) => t >= keys[0]! && t <= keys.at(-1)! + 50).length,
      keys: keys.length,
      waitForCommitMs: keys.map((k) => Math.round((commits.find((c) => c >= k) ?? NaN) - k)),
    };
  }, from);
  return JSON.stringify(p);
}

async function cutConnections(): Promise<number> {
  const res = await fetch(`${product.relayControlUrl}/cut`, { method: 'POST' });
  return ((await res.json()) as { cut: number }).cut;
}

test('renders while typing, before and after a reconnect', async ({ context }) => {
  const play = await Play.open(context, product.relayUrl, 'en', 'render-probe', async (page) => {
    await page.addInitScript(installProbe);
  });
  await expect(play.saveStatus()).toHaveText(play.n.saved);
  await play.saveStatus().evaluate((badge) => {
    const probe = (window as unknown as { probe: Probe }).probe;
    new MutationObserver(() => probe.badge.push([performance.now(), badge.textContent ?? ''])).observe(badge, { subtree: true, childList: true, characterData: true });
  });
  const cdp = await context.newCDPSession(play.page);
  const throttle = Number(process.env.RENDER_THROTTLE ?? 1);
  await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
  await play.build();
  const pane = await play.run();
  await play.typeInTerminal(pane, 'KEPT=1; echo set-$((1+1))-before\n');
  await play.waitForTerminal(pane, /set-2-before/);
  await play.page.waitForTimeout(3_000);
  if (throttle > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
  console.log(`[before the drop, CPU /${throttle}]`, await measure(play.page, () => play.replaceLine(1, 'FROM busybox')));
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });

  await context.setOffline(true);
  expect(await cutConnections()).toBeGreaterThan(0);
  await expect(play.terminal(pane).getByRole('status')).toHaveText('Connection lost. Reconnecting…', { timeout: 60_000 });
  await play.page.waitForTimeout(2_000);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.start');
  await context.setOffline(false);
  await expect(play.terminal(pane).getByRole('status')).toHaveText(play.n.connected, { timeout: 60_000 });
  await play.typeInTerminal(pane, 'echo kept=$KEPT\n');
  await play.waitForTerminal(pane, /kept=1/);
  if (throttle > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
  console.log(`[after the reconnect, CPU /${throttle}]`, await measure(play.page, () => play.replaceLine(1, 'FROM busybox')));
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  const { profile } = await cdp.send('Profiler.stop');
  const out = join(import.meta.dirname, '..', 'artifacts');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'render-probe.cpuprofile'), JSON.stringify(profile));
});
