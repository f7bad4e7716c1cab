// The root of the certificate chain a TLS client on this host is shown by `host`: on this
// machine, whose way out intercepts TLS, the interceptor's CA; elsewhere the site's real root.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export async function chainRoot(host: string): Promise<string> {
  const { stdout } = await promisify(execFile)('openssl', ['s_client', '-connect', `${host}:443`, '-servername', host, '-showcerts'], { timeout: 15_000 }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const pems = stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`openssl showed no certificate of ${host}`);
  return `${pems.at(-1)}\n`;
}
