/** A Dockerfile by name: `Dockerfile`, `Dockerfile.dev`, `web.dockerfile`, `Containerfile`. */
export function isDockerfilePath(path: string): boolean {
  const name = path.split('/').pop() ?? path;
  return /^(Docker|Container)file(\..+)?$/i.test(name) || /\.(docker|container)file$/i.test(name);
}
