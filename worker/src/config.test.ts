import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALLOW_LIST } from './egress/allow-list.js';
import { ConfigError, loadConfig, REPO_ROOT } from './config.js';

describe('loadConfig', () => {
  it('gives every unset (or empty) variable its default, as written', () => {
    const c = loadConfig({ LAYERCAKE_DATA: '', PATH: '/bin' });
    expect(c.dataDir).toBe(join(REPO_ROOT, '.data/engine'));
    expect(c.dataSizeBytes).toBe(20 * 1024 ** 3);
    expect(c.redisUrl).toBeUndefined();
    expect(c.baseImages).toEqual(['busybox', 'debian']);
    expect(c.egress).toMatchObject({ enabled: true, containers: true, dir: join(REPO_ROOT, '.data/engine/egress'), allow: DEFAULT_ALLOW_LIST });
    expect(c.logLevel).toBe('info');
    expect(c.terminalEndpoint).toEqual({ port: 3001, host: undefined, publicUrl: undefined });
  });

  it('reads a set variable through its schema: relative paths, sizes, lists', () => {
    const c = loadConfig({ LAYERCAKE_DATA: 'rel/data', LAYERCAKE_DATA_SIZE: '512M', LAYERCAKE_BASE_IMAGES: 'node, busybox', LAYERCAKE_EGRESS_ALLOW: 'Deb.Debian.org,.npmjs.org', LAYERCAKE_EGRESS: 'off' });
    expect(c.dataDir).toBe(join(REPO_ROOT, 'rel/data'));
    expect(c.dataSizeBytes).toBe(512 * 1024 ** 2);
    expect(c.baseImages).toEqual(['node', 'busybox']);
    expect(c.egress).toMatchObject({ enabled: false, allow: ['deb.debian.org', '.npmjs.org'], dir: join(REPO_ROOT, 'rel/data/egress') });
  });

  it('names every bad variable in one error', () => {
    const bad = { LAYERCAKE_DATA_SIZE: 'lots', TERMINAL_PORT: '70000', LAYERCAKE_EGRESS_ALLOW: 'a b', LAYERCAKE_LOG_LEVEL: 'loud' };
    expect(() => loadConfig(bad)).toThrow(ConfigError);
    const message = (() => {
      try {
        loadConfig(bad);
      } catch (err) {
        return (err as Error).message;
      }
    })();
    for (const name of Object.keys(bad)) expect(message).toContain(`  ${name}: `);
    expect(message).toContain('a size such as 20G');
  });
});
