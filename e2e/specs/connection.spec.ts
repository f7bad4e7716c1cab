// A dropped connection (issue 12, "reconnect after a reload or a dropped connection"): the page
// goes through a relay (harness/cuttable-relay.ts) whose TCP connections are reset while the
// browser is offline, as a network that drops and returns does. The page says it is offline,
// then recovers by itself: the same shell (its variable still set), nothing shown twice, and
// Build works again.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { occurrences, Play } from '../harness/play.js';

async function cutConnections(): Promise<number> {
  const res = await fetch(`${product.relayControlUrl}/cut`, { method: 'POST' });
  return ((await res.json()) as { cut: number }).cut;
}

test('after the connection drops, the page reconnects to the same shell and builds again', async ({ context }) => {
  const play = await Play.open(context, product.relayUrl, 'en', 'connection');
  await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
  await play.build();
  const pane = await play.run();
  await play.typeInTerminal(pane, 'KEPT=still-$((40+2)); echo set-$((1+1))-before\n');
  await play.waitForTerminal(pane, /set-2-before/);

  await context.setOffline(true);
  expect(await cutConnections()).toBeGreaterThan(0);
  // Offline: the terminal and the build panel say so, in words.
  await expect(play.terminal(pane).getByRole('status')).toHaveText('Connection lost. Reconnecting…', { timeout: 60_000 });
  await play.tab('buildTab');
  await expect(play.page.getByRole('status').filter({ hasText: /Not connected to the server/ })).toBeVisible({ timeout: 30_000 });
  await play.shot('offline');
  await play.tab('containersTab');
  await play.page.waitForTimeout(2_000);
  await context.setOffline(false);

  await expect(play.terminal(pane).getByRole('status')).toHaveText('Connected', { timeout: 60_000 });
  await play.typeInTerminal(pane, 'echo kept=$KEPT\n');
  const screen = await play.waitForTerminal(pane, /kept=still-42/);
  expect(occurrences(screen, 'set-2-before'), screen).toBe(1);
  await play.shot('reconnected');

  // The rest of the page came back too: the editor's badge follows typing at once (it said
  // "Saved" for a whole typed line after a reconnect, the page not rendering behind the editor's
  // input), and a build runs.
  await expect(play.saveStatus()).toHaveText(play.n.saved);
  await play.saveStatus().evaluate((badge) => {
    const w = window as unknown as { badgeAtKeyUp: string[] };
    w.badgeAtKeyUp = [];
    addEventListener('keyup', (e) => e.key.length === 1 && w.badgeAtKeyUp.push(badge.textContent ?? ''), { capture: true });
  });
  // On a CPU four times slower (CI's loaded machine, where it was seen): an update waiting
  // behind the editor's input and frames shows there.
  const cdp = await context.newCDPSession(play.page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  await play.replaceLine(1, 'FROM busybox');
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  const badgeAtKeyUp = await play.page.evaluate(() => (window as unknown as { badgeAtKeyUp: string[] }).badgeAtKeyUp);
  // As the first typed key comes up, its edit is on the badge.
  expect(badgeAtKeyUp[0], JSON.stringify(badgeAtKeyUp)).toBe(play.n.unsaved);
  await play.build();
  await expect(play.layers()).toHaveCount(2);
});
