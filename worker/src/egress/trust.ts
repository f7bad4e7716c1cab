// The operator's extra CA for RUN steps and containers (LAYERCAKE_EGRESS_CA): for a host whose own
// way out intercepts TLS (this machine's presents certificates of its "sandboxing-egress-ca"),
// HTTPS through the proxy's CONNECT tunnels reaches the archive only if the client trusts that
// CA, which no image's bundle holds. Each step and container gets two files of the engine's in its
// init layer (runtime/etc-files.ts: below its writable layer, so never in a layer, a diff or a
// commit), and variables naming them:
//   /etc/layercake/ca-certificates.crt  Debian's public roots (the host's ca-certificates package,
//                                      /usr/share/ca-certificates/mozilla) plus the operator's CA:
//                                      what an image with ca-certificates trusts, and the CA added.
//                                      SSL_CERT_FILE (OpenSSL, curl, Python's ssl), CURL_CA_BUNDLE,
//                                      REQUESTS_CA_BUNDLE and PIP_CERT (pip) name it: each of them
//                                      replaces its client's default bundle, hence the public roots.
//   /etc/layercake/extra-ca.pem        the operator's CA alone: NODE_EXTRA_CA_CERTS (npm, node)
//                                      adds it to node's own roots.
// Like the proxy's variables they are the step's, not the image's: commit and the build's image
// config leave them out, and they are not part of a step's cache key.
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const TRUST_DIR = '/etc/layercake';
const BUNDLE = `${TRUST_DIR}/ca-certificates.crt`;
const EXTRA = `${TRUST_DIR}/extra-ca.pem`;
const PUBLIC_ROOTS = '/usr/share/ca-certificates/mozilla';

export interface Trust {
  /** Files for the init layer, paths relative to the container's root. */
  files: { path: string; content: string }[];
  env: string[];
}

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads and checks the operator's CA file: one or more PEM certificates, each one a CA. */
export async function loadTrust(caFile: string, publicRoots = PUBLIC_ROOTS): Promise<Trust> {
  const text = await readFile(caFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`LAYERCAKE_EGRESS_CA: cannot read ${caFile} (${err.code ?? err.message})`);
  });
  const pems = text.match(PEM) ?? [];
  if (pems.length === 0) throw new Error(`LAYERCAKE_EGRESS_CA: ${caFile} holds no PEM certificate`);
  for (const pem of pems) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (err) {
      throw new Error(`LAYERCAKE_EGRESS_CA: a certificate of ${caFile} does not parse (${(err as Error).message})`);
    }
    if (!cert.ca) throw new Error(`LAYERCAKE_EGRESS_CA: ${cert.subject.replace(/\n/g, ', ')} in ${caFile} is not a CA certificate`);
  }
  const extra = `${pems.join('\n')}\n`;
  const roots: string[] = [];
  for (const name of (await readdir(publicRoots).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.crt')) roots.push((await readFile(join(publicRoots, name), 'utf8')).trim());
  }
  const bundle = `${[...roots, extra.trim()].join('\n')}\n`;
  return {
    files: [
      { path: BUNDLE.slice(1), content: bundle },
      { path: EXTRA.slice(1), content: extra },
    ],
    env: [`SSL_CERT_FILE=${BUNDLE}`, `CURL_CA_BUNDLE=${BUNDLE}`, `REQUESTS_CA_BUNDLE=${BUNDLE}`, `PIP_CERT=${BUNDLE}`, `NODE_EXTRA_CA_CERTS=${EXTRA}`],
  };
}
