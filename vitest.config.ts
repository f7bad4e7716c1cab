import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'e2e/**', '.data/**'],
    // Tests start real sandboxes and real Redis: separate processes, generous timeouts.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // The isolation suite's probe and test rootfs (and its leak check after the run); the run's
    // real redis-server (stopped, and checked gone, afterwards); the run's base-image cache.
    globalSetup: [
      'sandbox-native/test/global-setup.ts',
      'worker/src/queue/test-support/redis-global-setup.ts',
      'worker/src/base-images/test-support/global-setup.ts',
    ],
  },
});
