// A container past its time limit (issue 12, "a clear notice ... for the time limit"): the limit is
// the host operator's (LAYERCAKE_CONTAINER_TIME_LIMIT_MS; learners cannot set it), 4 h unless
// set, so this spec starts a worker host of its own with a limit of seconds and places its
// learner's session there (the pin the gateway reads, as scale-out.spec.ts sets it). The suite runs
// one spec at a time (workers: 1), so no other spec's new session is placed on this host while it
// lives; it leaves the registry when it stops, after this file's tests. A shell that just waits is
// stopped by the launcher's wall clock; the pane says so with the limit and the exit code.
import { mkdtempSync, rmSync } from 'node:fs';
import { expect, test, type BrowserContext } from '@playwright/test';
import { SESSION_COOKIE } from '../../protocol/socket/common.js';
import { connectRedis } from '../../queue-client/connection.js';
import { sessionPinKey } from '../../queue-client/names.js';
import { product } from '../harness/env.js';
import { lowContrast, overflowsSideways, Play, type Locale } from '../harness/play.js';
import { SPEC_HOST_ID_RANGE_BASE, startWorkerHost, stopWorkerHosts, type WorkerHost } from '../harness/product.js';

const LIMIT_MS = 10_000;

test.describe.configure({ mode: 'serial' });

let host: WorkerHost | null = null;
let scratch = '';

test.beforeAll(async () => {
  scratch = mkdtempSync('/tmp/lc-e2e-time-limit-');
  host = await startWorkerHost({
    name: 'worker-time-limit',
    hostId: `${product.prefix}-time-limit`,
    scratch,
    redisUrl: product.redisUrl,
    prefix: product.prefix,
    idRangeBase: SPEC_HOST_ID_RANGE_BASE,
    env: { LAYERCAKE_CONTAINER_TIME_LIMIT_MS: String(LIMIT_MS) },
  });
});

test.afterAll(async () => {
  const problems = host ? await stopWorkerHosts([host]) : [];
  if (problems.length === 0) rmSync(scratch, { recursive: true, force: true });
  expect(problems, 'the time-limit host left things behind').toEqual([]);
});

async function sessionIdOf(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
  if (!cookie) throw new Error('no session cookie after loading /play');
  return cookie.value.split('.')[0]!;
}

const NOTICE = {
  en: /^Time limit: the container ran for its limit of 10\ss and was stopped \(exit code 137\)\. Run starts a new one\.$/,
  ko: /^시간 제한: 컨테이너가 실행 시간 한도 10초에 이르러 멈췄어요 \(종료 코드 137\)\. 실행을 누르면 새 컨테이너를 시작해요\.$/,
};

for (const locale of ['en', 'ko'] as Locale[]) {
  test(`${locale}: a shell that just waits is stopped at the host's time limit, and the pane says why`, async ({ context }) => {
    const spec = `time-limit-${locale}`;
    const first = await Play.open(context, product.apps[0]!, locale, spec);
    // The page's first lists pinned the session already; it has nothing yet, so moving it loses nothing.
    const redis = connectRedis(product.redisUrl, 'e2e-time-limit');
    try {
      await redis.set(sessionPinKey(product.prefix, await sessionIdOf(context)), host!.hostId, 'EX', 3600);
    } finally {
      await redis.quit();
    }
    await first.page.close();

    const play = await Play.open(context, product.apps[0]!, locale, spec);
    await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
    await play.build();
    const pane = await play.run();
    const startedAt = Date.now();
    // The shell waits for input that never comes: only the clock can end it.
    await expect(pane.getByText(locale === 'ko' ? '실행 중' : 'Running', { exact: true })).toBeVisible();
    // The header counts down to the limit (it comes before the idle stop), and says so.
    await expect(play.page.getByRole('timer')).toHaveAccessibleName(
      locale === 'ko' ? /^\S+ 컨테이너는 작업 중이어도 0:0\d 뒤에 이 서버의 시간 제한으로 멈춰요\.$/ : /^\S+ reaches this host’s time limit in 0:0\d and is stopped then, busy or not\.$/,
    );
    await play.shot('running');

    const notice = pane.getByRole('alert');
    await expect(notice).toHaveText(NOTICE[locale], { timeout: LIMIT_MS + 30_000 });
    // Not before the limit: the launcher's clock started after the page's Run.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(LIMIT_MS - 2_000);
    await expect(pane.getByText(locale === 'ko' ? '종료됨' : 'Exited', { exact: true })).toBeVisible();
    await expect(pane.getByRole('button', { name: play.n.stop, exact: true })).toBeDisabled();
    // The notice reads on its background (WCAG AA) and the page still fits the window.
    expect(await lowContrast(play.page)).toEqual([]);
    expect(await overflowsSideways(play.page)).toBe(false);
    await play.shot('time-limit');
  });
}
