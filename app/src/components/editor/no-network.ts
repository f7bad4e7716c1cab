// Stands in for node's `https` in the browser bundle (see next.config.ts): the Dockerfile
// language service's Docker Hub client gets a request that fails at once, so tag completion
// simply offers nothing; the playground never talks to a registry from the browser.
type Listener = (error: Error) => void;

export function get(): { on(event: string, listener: Listener): unknown; end(): void } {
  const request = {
    on(event: string, listener: Listener) {
      if (event === 'error') queueMicrotask(() => listener(new Error('no network from the browser')));
      return request;
    },
    end() {},
  };
  return request;
}

export const request = get;
const https = { get, request };
export default https;
