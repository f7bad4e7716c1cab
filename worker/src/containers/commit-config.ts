// The image config `docker commit` makes: the container's image config, with the container's own
// run settings (its command, environment, working dir, user) as the new defaults, one more layer
// and one more history entry saying what the container ran and why it was committed.
import type { Digest, ImageConfig, ImageConfigInput } from '../image-store/index.js';
import type { ContainerRecord } from './record.js';

export interface CommitMeta {
  message?: string | undefined;
  author?: string | undefined;
  created: string;
}

/** Without the HOSTNAME the daemon added: it names this container, not the image. */
function imageEnv(record: ContainerRecord): string[] {
  return record.config.env.filter((e) => e !== `HOSTNAME=${record.config.hostname}`);
}

export function commitConfig(base: ImageConfig, record: ContainerRecord, diffId: Digest, meta: CommitMeta): ImageConfigInput {
  const history = [...(base.history ?? [])];
  // A loaded image may come without history; the store wants one entry per layer if any exist.
  const layerEntries = history.filter((h) => h.empty_layer !== true).length;
  const missing = base.rootfs.diff_ids.length - layerEntries;
  for (let i = 0; i < missing; i++) history.unshift({ created_by: '' });
  history.push({
    created: meta.created,
    created_by: record.config.args.join(' '),
    ...(meta.author ? { author: meta.author } : {}),
    ...(meta.message ? { comment: meta.message } : {}),
  });
  const runConfig = { ...(base.config ?? {}) };
  runConfig.Env = imageEnv(record);
  runConfig.Cmd = record.config.cmd;
  runConfig.Entrypoint = record.config.entrypoint;
  runConfig.WorkingDir = record.config.workingDir === '/' && !base.config?.WorkingDir ? '' : record.config.workingDir;
  runConfig.User = record.config.user;
  if (runConfig.WorkingDir === '') delete runConfig.WorkingDir;
  if (runConfig.User === '') delete runConfig.User;
  return {
    ...base,
    created: meta.created,
    ...(meta.author ? { author: meta.author } : {}),
    config: runConfig,
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, diffId] },
    history,
  };
}
