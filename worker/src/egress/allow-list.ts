// Which package hosts a build step or container may reach. An entry is a host name ("pypi.org")
// or, with a leading dot, a domain and every name under it (".debian.org"). IP literals never
// match: an archive is always named, and a name is what the proxy resolves.

/** Debian's and Ubuntu's apt archives, npm, PyPI, the Go module proxy, Alpine's CDN. */
export const DEFAULT_ALLOW_LIST: readonly string[] = [
  'deb.debian.org',
  'security.debian.org',
  'archive.ubuntu.com',
  'security.ubuntu.com',
  'ports.ubuntu.com',
  'registry.npmjs.org',
  'pypi.org',
  'files.pythonhosted.org',
  'proxy.golang.org',
  'sum.golang.org',
  'dl-cdn.alpinelinux.org',
];

const hostPattern = /^\.?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** Validates an operator's list (comma-separated in LAYERCAKE_EGRESS_ALLOW). */
export function parseAllowList(text: string): string[] {
  const entries = text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const e of entries) if (!hostPattern.test(e)) throw new Error(`not a host name or .domain: ${JSON.stringify(e)}`);
  return entries;
}

export function isAllowed(host: string, allow: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (!hostPattern.test(h) || h.startsWith('.')) return false;
  if (/^[0-9.]+$/.test(h)) return false; // a dotted IPv4 literal ([v6] literals fail the pattern)
  return allow.some((e) => (e.startsWith('.') ? h === e.slice(1) || h.endsWith(e) : h === e));
}
