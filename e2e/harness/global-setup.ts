// Playwright globalSetup: the product once per run (harness/product.ts); specs find it through
// E2E_* variables (read with harness/env.ts). The returned function is the run's teardown.
import { startProduct } from './product.js';

export default async function globalSetup(): Promise<() => Promise<void>> {
  const started = Date.now();
  const product = await startProduct({ apps: 2, workers: 2 });
  process.env.E2E_APPS = product.apps.join(',');
  process.env.E2E_RELAY_URL = product.relayUrl;
  process.env.E2E_RELAY_CONTROL_URL = product.relayControlUrl;
  process.env.E2E_REDIS_URL = product.redisUrl;
  process.env.E2E_PREFIX = product.prefix;
  process.env.E2E_HOSTS = product.hostIds.join(',');
  console.log(`[e2e] product up in ${Math.round((Date.now() - started) / 1000)} s: apps ${product.apps.join(' ')}, workers ${product.hostIds.join(' ')}`);
  return () => product.stop();
}
