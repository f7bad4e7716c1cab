// Scale-out (issue 12 Acceptance): two app processes and two worker processes on one Redis;
// builds and terminals work from either app process. Two learners, one pinned to each worker
// host (the pin set before their first build, so both hosts are used whatever the least-busy
// choice would be), each working through both app processes.
import { expect, test, type BrowserContext } from '@playwright/test';
import { SESSION_COOKIE } from '../../protocol/socket/common.js';
import { connectRedis } from '../../queue-client/connection.js';
import { sessionPinKey } from '../../queue-client/names.js';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

async function sessionIdOf(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
  if (!cookie) throw new Error('no session cookie after loading /play');
  return cookie.value.split('.')[0]!;
}

test('builds and terminals work from either app process, for sessions on either worker host', async ({ browser }) => {
  const apps = product.apps;
  const hosts = product.hosts;
  expect(apps.length).toBeGreaterThanOrEqual(2);
  expect(hosts.length).toBeGreaterThanOrEqual(2);
  const redis = connectRedis(product.redisUrl, 'e2e-scale-out');
  try {
    for (const [learner, host] of hosts.slice(0, 2).entries()) {
      const context = await browser.newContext();
      const first = await Play.open(context, apps[0]!, 'en', `scale-out-learner${learner}-app0`);
      const sessionId = await sessionIdOf(context);
      // The page's first lists pinned the session already (to the least busy host): it has no
      // image or container yet, so pointing it at the host this learner is for loses nothing.
      expect(await redis.set(sessionPinKey(product.prefix, sessionId), host, 'EX', 3600, 'XX')).toBe('OK');
      await first.page.close();

      for (const [i, app] of apps.slice(0, 2).entries()) {
        // The same cookie on each app process (one secret for all): the same learner, the same files.
        const play = await Play.open(context, app, 'en', `scale-out-learner${learner}-app${i}`);
        if (i === 0) await play.typeDockerfile(`FROM busybox\nRUN echo learner${learner} > /who\nCMD ["sh"]`);
        else await expect.poll(() => play.editorText()).toContain(`learner${learner}`);
        await play.build();
        // Through the second app process the build finds the first one's layers: the same host.
        expect(await play.badges()).toEqual(i === 0 ? ['Base image', 'Built', 'Built'] : ['Base image', 'CACHED', 'CACHED']);
        const pane = await play.run();
        await play.typeInTerminal(pane, `cat /who; echo via-app$((${i}+0))-ok\n`);
        await play.waitForTerminal(pane, new RegExp(`learner${learner}[\\s\\S]*via-app${i}-ok`));
        await play.shot(`terminal-on-${host}`);
        await play.page.close();
      }
      expect(await redis.get(sessionPinKey(product.prefix, sessionId))).toBe(host);
      await context.close();
    }
  } finally {
    await redis.quit();
  }
});
