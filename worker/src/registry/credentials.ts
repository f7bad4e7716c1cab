// `docker login`'s memory: a session's registry credentials, in the engine's data dir
// (sessions/<s>/registry-auth.json, mode 0600, written whole and renamed), never shared with
// another session. For the project's own registry a session needs no login: its credentials
// are derived on this host (project-registry.ts) and used when nothing is stored.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Credentials } from './distribution-client.js';

export class CredentialStore {
  private readonly file: string;

  constructor(dataDir: string, session: string) {
    this.file = join(dataDir, 'sessions', session, 'registry-auth.json');
  }

  async get(host: string): Promise<Credentials | null> {
    return (await this.read())[host] ?? null;
  }

  async set(host: string, credentials: Credentials): Promise<void> {
    const all = await this.read();
    all[host] = credentials;
    await this.write(all);
  }

  private async write(all: Record<string, Credentials>): Promise<void> {
    await mkdir(join(this.file, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(all), { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }

  async remove(host: string): Promise<boolean> {
    const all = await this.read();
    if (!(host in all)) return false;
    delete all[host];
    await this.write(all);
    return true;
  }

  private async read(): Promise<Record<string, Credentials>> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as Record<string, Credentials>;
    } catch {
      return {};
    }
  }
}
