// The render probe's own run (not part of the suite: npm test runs specs/ only), against the same
// product the suite starts. See render.probe.ts.
import { defineConfig } from '@playwright/test';
import base from '../playwright.config.js';

export default defineConfig({
  ...base,
  testDir: '.',
  testMatch: '*.probe.ts',
  globalSetup: '../harness/global-setup.ts',
  outputDir: '../artifacts/results-probe',
  reporter: [['list']],
});
