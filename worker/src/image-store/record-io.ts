/**
 * How the store reads its small records (configs, manifests, layer records, tags): through the
 * thread pool (node:fs/promises) in a long-lived process, which must not block, or at once on the
 * calling thread in a short one that asked for it. A `layercake images` makes a few hundred such
 * reads; through the pool each waits its turn for a thread and then for the main thread to hear of
 * it, which on a loaded host was most of the command's time. The command line asks at its start
 * (cli/entry.ts); the worker never does. Either way each call returns a promise and fails with
 * the same errors (`code` ENOENT…).
 */
import { accessSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { access, mkdir, readdir, readFile } from 'node:fs/promises';

let atOnce = false;

/** For a process that lives for one command: reads stop going through the thread pool. */
export function readRecordsAtOnce(): void {
  atOnce = true;
}

export function readRecord(path: string): Promise<Buffer>;
export function readRecord(path: string, encoding: 'utf8'): Promise<string>;
export async function readRecord(path: string, encoding?: 'utf8'): Promise<Buffer | string> {
  if (!atOnce) return encoding ? readFile(path, encoding) : readFile(path);
  return encoding ? readFileSync(path, encoding) : readFileSync(path);
}

export async function listRecords(dir: string): Promise<string[]> {
  return atOnce ? readdirSync(dir) : readdir(dir);
}

export async function recordExists(path: string): Promise<boolean> {
  try {
    if (atOnce) accessSync(path);
    else await access(path);
    return true;
  } catch {
    return false;
  }
}

/** `mkdir -p`: the store makes its folders at each open. */
export async function makeRecordDir(path: string, mode?: number): Promise<void> {
  if (atOnce) mkdirSync(path, { recursive: true, mode });
  else await mkdir(path, { recursive: true, mode });
}
