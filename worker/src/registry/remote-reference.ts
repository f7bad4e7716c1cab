// Where a learner's image name lives remotely: `nginx` is Docker Hub's `library/nginx`,
// `localhost:5000/s1/app:v1` is repository `s1/app` on that host. The grammar is the store's
// (image-store/references.ts); this only splits off the registry host.
import { parseReference } from '../image-store/index.js';

export const DOCKER_HUB = 'registry-1.docker.io';

export interface RemoteReference {
  /** The registry host (`localhost:5000`, `registry-1.docker.io`). */
  host: string;
  /** The repository on that registry (`library/nginx`, `s1/app`). */
  repository: string;
  tag: string;
  /** The learner's name for it, as `docker images` shows it (`nginx:latest`, `localhost:5000/s1/app:v1`). */
  name: string;
}

export function remoteReference(input: string): RemoteReference {
  const ref = parseReference(input);
  const parts = ref.repository.split('/');
  const first = parts[0]!;
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasHost) {
    const repository = parts.length === 1 ? `library/${first}` : ref.repository;
    return { host: DOCKER_HUB, repository, tag: ref.tag, name: `${ref.repository}:${ref.tag}` };
  }
  return { host: first, repository: parts.slice(1).join('/'), tag: ref.tag, name: `${ref.repository}:${ref.tag}` };
}
