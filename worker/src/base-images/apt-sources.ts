/**
 * The host's Debian apt sources, reduced to what a bookworm image needs: `deb` entries of the
 * Debian archive (the main, updates and security suites, component main). The host may list
 * other repositories (Node, cloud SDKs) that have no place in a Debian base image, and mirrors
 * or snapshot URLs it was configured with are honoured.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface AptSource {
  uri: string;
  suites: string[];
  signedBy: string | null;
}

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const SUITES = ['bookworm', 'bookworm-updates', 'bookworm-security'];

function isDebianArchive(uri: string): boolean {
  try {
    const url = new URL(uri);
    return /(^|\.)debian\.org$/.test(url.hostname) || /\/debian(-security)?\/?$/.test(url.pathname);
  } catch {
    return false;
  }
}

function keep(types: string[], uris: string[], suites: string[], components: string[], signedBy: string | null): AptSource[] {
  if (!types.includes('deb') || !components.includes('main')) return [];
  const wanted = suites.filter((suite) => SUITES.includes(suite));
  if (wanted.length === 0) return [];
  return uris.filter(isDebianArchive).map((uri) => ({ uri: uri.replace(/\/+$/, ''), suites: wanted, signedBy }));
}

/** One-line format: `deb [opt=value ...] uri suite component...`. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const options = /\[([^\]]*)\]/.exec(line)?.[1] ?? '';
    const words = line.replace(/\[[^\]]*\]/, ' ').split(/\s+/).filter(Boolean);
    const [type, uri, suite, ...components] = words;
    if (!type || !uri || !suite) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(options)?.[1] ?? null;
    out.push(...keep([type], [uri], [suite], components, signedBy));
  }
  return out;
}

/** deb822 format (`*.sources`): stanzas of `Field: value` separated by blank lines. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | null = null;
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && last !== null) {
        fields.set(last, `${fields.get(last)}\n${raw.trim()}`); // continuation line
        continue;
      }
      const match = /^([\w-]+):\s*(.*)$/.exec(raw);
      if (!match) continue;
      last = match[1]!.toLowerCase();
      fields.set(last, match[2]!.trim());
    }
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const list = (name: string) => (fields.get(name) ?? '').split(/\s+/).filter(Boolean);
    const signedBy = fields.get('signed-by') ?? null;
    // An inline key block is not a path; the image's own keyring is used instead.
    out.push(...keep(list('types'), list('uris'), list('suites'), list('components'), signedBy?.startsWith('/') ? signedBy : null));
  }
  return out;
}

/** The same sources as a deb822 file for the image (mmdebstrap takes it as its mirror list). */
export function toDeb822(sources: readonly AptSource[]): string {
  return sources
    .map((source) =>
      [
        'Types: deb',
        `URIs: ${source.uri}`,
        `Suites: ${source.suites.join(' ')}`,
        'Components: main',
        // Inside the image the Debian keyring package provides this path.
        `Signed-By: ${DEBIAN_KEYRING}`,
      ].join('\n'),
    )
    .join('\n\n')
    .concat('\n');
}

/** Debian's own default, used when the host lists no Debian archive at all. */
export const DEFAULT_DEBIAN_SOURCES: readonly AptSource[] = [
  { uri: 'http://deb.debian.org/debian', suites: ['bookworm', 'bookworm-updates'], signedBy: null },
  { uri: 'http://deb.debian.org/debian-security', suites: ['bookworm-security'], signedBy: null },
];

/** Reads /etc/apt/sources.list and sources.list.d/ (*.list, *.sources) of this host. */
export async function hostDebianSources(etcApt = '/etc/apt'): Promise<AptSource[]> {
  const found: AptSource[] = [];
  const read = async (path: string) => readFile(path, 'utf8').catch(() => '');
  found.push(...parseOneLineSources(await read(join(etcApt, 'sources.list'))));
  const dir = join(etcApt, 'sources.list.d');
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.list')) found.push(...parseOneLineSources(await read(join(dir, name))));
    else if (name.endsWith('.sources')) found.push(...parseDeb822Sources(await read(join(dir, name))));
  }
  return found;
}
