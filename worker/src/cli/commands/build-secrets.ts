// `build --secret`: Docker's flag (buildx's parseSecret, BuildKit's secretsprovider): comma-separated
// type=file|env, id, src|source, env. id alone reads the variable of that name if this shell has
// it, else the file of that name; type=env with src names the variable. A file is read now (it
// must exist, at most 500 KiB), a variable's value as this shell has it ('' when unset, as Go's
// os.Getenv). The bytes go to the builder in memory only, never into an event or a file.
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LearnerError } from '../../../../protocol/errors.js';

/** BuildKit's MaxSecretSize. */
const MAX_BYTES = 500 * 1024;

interface SecretSource {
  id: string;
  file: string | null;
  env: string | null;
}

function parseSecret(value: string, env: NodeJS.ProcessEnv): SecretSource {
  const bad = (): never => {
    throw new LearnerError('cli.secretSyntax', { value });
  };
  let type: string | null = null;
  let id = '';
  let file = '';
  let variable = '';
  for (const field of value.split(',')) {
    const eq = field.indexOf('=');
    if (eq === -1) bad();
    const key = field.slice(0, eq).toLowerCase();
    const v = field.slice(eq + 1);
    if (key === 'type') type = v === 'file' || v === 'env' ? v : bad();
    else if (key === 'id') id = v;
    else if (key === 'src' || key === 'source') file = v;
    else if (key === 'env') variable = v;
    else bad();
  }
  if (id === '') bad();
  if (type === 'env' && variable === '') [variable, file] = [file, ''];
  if (variable === '' && file === '') {
    if (env[id] !== undefined) variable = id;
    else file = id;
  }
  // Both given: the variable wins (BuildKit's store reads env first).
  return { id, file: variable !== '' ? null : file, env: variable !== '' ? variable : null };
}

async function readSecretFile(id: string, path: string): Promise<Buffer> {
  const unreadable = (err: unknown): never => {
    throw new LearnerError('cli.secretUnreadable', { id, path, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
  };
  const handle = await open(resolve(path), 'r').catch(unreadable);
  try {
    const { size } = await handle.stat();
    if (size > MAX_BYTES) throw new LearnerError('cli.secretTooLarge', { id, size: `${Math.ceil(size / 1024)} KiB` });
    // One byte more than the bound: a file that grew since fstat is refused too.
    const buffer = Buffer.alloc(MAX_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0).catch(unreadable);
    if (bytesRead > MAX_BYTES) throw new LearnerError('cli.secretTooLarge', { id, size: `> ${MAX_BYTES / 1024} KiB` });
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Every `--secret`, read: id → bytes (a later one with the same id wins, as in Docker's map). */
export async function readBuildSecrets(entries: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Record<string, Buffer>> {
  const secrets: Record<string, Buffer> = {};
  for (const entry of entries) {
    const source = parseSecret(entry, env);
    const bytes = source.env !== null ? Buffer.from(env[source.env] ?? '') : await readSecretFile(source.id, source.file!);
    if (bytes.length > MAX_BYTES) throw new LearnerError('cli.secretTooLarge', { id: source.id, size: `${Math.ceil(bytes.length / 1024)} KiB` });
    secrets[source.id] = bytes;
  }
  return secrets;
}
