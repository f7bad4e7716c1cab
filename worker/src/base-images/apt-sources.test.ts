import { describe, expect, it } from 'vitest';
import { hostDebianSources, parseDeb822Sources, parseOneLineSources, toDeb822 } from './apt-sources.js';

describe('host apt sources for the Debian image', () => {
  it('keeps Debian archive entries of bookworm and drops other repositories', () => {
    const text = [
      '# a comment',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main contrib',
      'deb-src http://deb.debian.org/debian bookworm main',
      'deb https://deb.nodesource.com/node_20.x nodistro main',
      'deb http://security.debian.org/debian-security bookworm-security main',
      'deb http://deb.debian.org/debian bookworm-backports main',
      'deb http://mirror.example.org/debian/ bookworm-updates main',
    ].join('\n');
    expect(parseOneLineSources(text)).toEqual([
      { uri: 'http://deb.debian.org/debian', suites: ['bookworm'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
      { uri: 'http://security.debian.org/debian-security', suites: ['bookworm-security'], signedBy: null },
      { uri: 'http://mirror.example.org/debian', suites: ['bookworm-updates'], signedBy: null },
    ]);
  });

  it('reads deb822 stanzas, honouring Enabled: no', () => {
    const text = [
      'Types: deb',
      '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm-proposed-updates',
      'Components: main',
      '',
      'Enabled: no',
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
      'Components: main',
    ].join('\n');
    expect(parseDeb822Sources(text)).toEqual([
      { uri: 'http://deb.debian.org/debian', suites: ['bookworm', 'bookworm-updates'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
    ]);
  });

  it('writes a deb822 file that uses the image’s own Debian keyring', () => {
    expect(toDeb822([{ uri: 'http://deb.debian.org/debian', suites: ['bookworm'], signedBy: '/etc/apt/host-only.gpg' }])).toBe(
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
  });

  it('finds only Debian archives among this host’s sources', async () => {
    for (const source of await hostDebianSources()) expect(source.uri).toMatch(/debian/);
  });
});
