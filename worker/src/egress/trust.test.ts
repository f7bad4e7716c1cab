// The operator's CA file is checked when the service starts: a file of CA certificates becomes
// the steps' bundle (public roots first, the CA last) and their variables; anything else fails
// the start with a message that names the setting. Real openssl-made certificates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrust } from './trust.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync('/tmp/lc-trust-');
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=intercepting CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  // A leaf (not a CA) signed by it.
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=leaf', '-keyout', 'leaf.key', '-out', 'leaf.csr');
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\n');
  ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'leaf.pem', '-extfile', 'leaf.ext');
  writeFileSync(join(dir, 'junk.pem'), 'not a certificate\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LAYERCAKE_EGRESS_CA', () => {
  it('becomes the public roots plus the CA, and the variables that name them', async () => {
    const ca = readFileSync(join(dir, 'ca.pem'), 'utf8').trim();
    const trust = await loadTrust(join(dir, 'ca.pem'));
    const bundle = trust.files.find((f) => f.path === 'etc/layercake/ca-certificates.crt')!.content;
    expect(bundle.trim().endsWith(ca)).toBe(true);
    // Debian's public roots come first (the host's ca-certificates package, where installed).
    expect((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length).toBeGreaterThan(100);
    expect(trust.files.find((f) => f.path === 'etc/layercake/extra-ca.pem')!.content.trim()).toBe(ca);
    expect(trust.env).toContain('SSL_CERT_FILE=/etc/layercake/ca-certificates.crt');
    expect(trust.env).toContain('NODE_EXTRA_CA_CERTS=/etc/layercake/extra-ca.pem');
    // Without public roots on the host, the bundle is the CA alone.
    const alone = await loadTrust(join(dir, 'ca.pem'), join(dir, 'no-such-dir'));
    expect(alone.files[0]!.content.trim()).toBe(ca);
  });

  it('refuses a file that is not CA certificates, naming the setting', async () => {
    await expect(loadTrust(join(dir, 'leaf.pem'))).rejects.toThrow(/LAYERCAKE_EGRESS_CA: .*leaf.* is not a CA certificate/);
    await expect(loadTrust(join(dir, 'junk.pem'))).rejects.toThrow(/LAYERCAKE_EGRESS_CA: .* holds no PEM certificate/);
    await expect(loadTrust(join(dir, 'missing.pem'))).rejects.toThrow(/LAYERCAKE_EGRESS_CA: cannot read .*ENOENT/);
  });
});
