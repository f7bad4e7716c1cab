// What the global setup started, as the specs see it.
function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npx playwright test -c e2e\` (its globalSetup starts the product)`);
  return value;
}

export const product = {
  get apps(): string[] {
    return need('E2E_APPS').split(',');
  },
  get relayUrl(): string {
    return need('E2E_RELAY_URL');
  },
  get relayControlUrl(): string {
    return need('E2E_RELAY_CONTROL_URL');
  },
  get redisUrl(): string {
    return need('E2E_REDIS_URL');
  },
  get prefix(): string {
    return need('E2E_PREFIX');
  },
  get hosts(): string[] {
    return need('E2E_HOSTS').split(',');
  },
};
