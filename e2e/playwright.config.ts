// The e2e suite: one spec per learner-visible feature (e2e/specs/), against the whole product
// started once per run by harness/global-setup.ts, in Debian's Chromium (no browser downloads
// here). Run: npx playwright test -c e2e   (npm test runs it after vitest; see scripts/test.sh)
// Screenshots of each main state and the product's logs: e2e/artifacts/ (gitignored).
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './specs',
  outputDir: './artifacts/results',
  globalSetup: './harness/global-setup.ts',
  // Two cores for everything: one browser at a time, specs one after another.
  workers: 1,
  fullyParallel: false,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  // CI retries a failed spec once: the list reporter then marks it "flaky" (with the first
  // failure's error and diagnosis printed), so an intermittent fault stays visible without one
  // slow-machine race sinking a whole run. A spec that fails twice fails the run.
  retries: process.env.CI ? 1 : 0,
  reporter: [['list'], ['html', { outputFolder: './artifacts/report', open: 'never' }]],
  use: {
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
    },
    viewport: { width: 1280, height: 720 },
    locale: 'en-US',
    actionTimeout: 20_000,
    navigationTimeout: 60_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
});
