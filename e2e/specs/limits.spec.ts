// A container past its memory limit (issue 12, "a clear notice for an OOM kill"): the kernel
// kills it, and the pane says so in words, with the limit and the exit code, in both languages.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play, type Locale } from '../harness/play.js';

for (const locale of ['en', 'ko'] as Locale[]) {
  test(`${locale}: a shell that fills its memory is killed by the kernel, and the pane says why`, async ({ context }) => {
    const play = await Play.open(context, product.apps[0]!, locale, `limits-${locale}`);
    await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
    await play.build();
    const pane = await play.run();
    // The container's own process (exec) holds 400 MB in a variable: past the 256 MiB limit.
    await play.typeInTerminal(pane, `exec sh -c 'x=$(head -c 400000000 /dev/zero | tr "\\0" a); echo survived'\n`);
    const notice = pane.getByRole('alert');
    await expect(notice).toHaveText(
      locale === 'ko'
        ? /^메모리 부족: 컨테이너가 한도 256\sMiB보다 많은 메모리를 써서 커널이 프로세스를 멈췄어요 \(종료 코드 137\)\.$/
        : /^Out of memory: the kernel stopped the process because the container used more than its limit of 256\sMiB \(exit code 137\)\.$/,
      { timeout: 60_000 },
    );
    await expect(pane.getByRole('button', { name: play.n.stop, exact: true })).toBeDisabled();
    expect(await play.terminalText(pane)).not.toContain('survived\n');
    await play.shot('oom-killed');
  });
}
