import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Test files run two at a time. A file's own process keeps one core busy at most, and much of
// its time waits on sandboxes, qemu, squid, Redis or downloads: with vitest's default on 2 cores
// (one worker) the second core sat idle for much of the run. Eight of the heavier files took
// 392 s two at a time against 723 s one at a time, for the same CPU time (load 10-15). Files are
// kept apart by design: each harness has its own temp dir, uid window, cgroup names, Redis key
// prefix and ephemeral ports, and the leak checks judge by ownership (sandbox-native/test/leaks.ts).
const WORKERS = 2;

// Files whose result depends on getting CPU when they ask for it: a neighbour's load landing on
// one side of a comparison and not the other would decide it. They run alone, after the others.
const ALONE = [
  'worker/src/vm/compare.test.ts', // container and VM benchmark figures as ratios to the host's
  'sandbox-native/test/limits.test.ts', // CPU quota against a busy-loop control (failed at load 13-16)
  'worker/src/containers/stats.test.ts', // CPU percent of a loop at 0.5 CPU
];

// The longest files (CI, 2 cores), started first so that no worker is left with one of them at
// the end while the other idles. vitest orders by earlier durations when it has them (a local
// rerun); a fresh clone has none, and it would go by file size instead.
const LONGEST_FIRST = [
  'worker/src/egress/npm.test.ts',
  'worker/src/egress/egress.test.ts',
  'worker/src/vm/vm.test.ts',
  'worker/src/builder/buildah.test.ts',
  'worker/src/cli/tenants.test.ts',
  'worker/src/cli/docker-format.test.ts',
  'worker/src/containers/hostile-upper.test.ts',
  'app/src/components/terminal/terminal.browser.test.ts',
  'worker/src/containers/attach.test.ts',
  'worker/src/base-images/debian-slim.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((path) => f.moduleId.endsWith(`/${path}`));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return sorted.sort((a, b) => a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder || rank(a) - rank(b));
  }
}

const common = {
  exclude: ['node_modules/**', 'e2e/**', '.data/**'],
  // Tests start real sandboxes and real Redis: separate processes, generous timeouts.
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    reporters: ['default'],
    sequence: { sequencer: LongestFirst },
    // Once for the run, not per project: the isolation suite's probe and test rootfs (and its
    // leak check after the run); the run's real redis-server (stopped, and checked gone,
    // afterwards); the run's base-image cache. What they provide reaches both projects.
    globalSetup: [
      'sandbox-native/test/global-setup.ts',
      'worker/src/queue/test-support/redis-global-setup.ts',
      'worker/src/base-images/test-support/global-setup.ts',
    ],
    projects: [
      { test: { ...common, name: 'together', include: ['**/*.test.ts'], exclude: [...common.exclude, ...ALONE], maxWorkers: WORKERS, sequence: { groupOrder: 0 } } },
      { test: { ...common, name: 'alone', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
