// Whether this host reaches a package archive at all: the egress tests skip, saying why, where it does not.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export function reachable(host: string, scheme: 'http' | 'https' = 'http'): Promise<boolean> {
  const request = scheme === 'https' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request({ host, path: '/', method: 'HEAD', timeout: 5_000 }, (res) => (res.resume(), resolve(true)));
    req.on('error', () => resolve(false));
    req.on('timeout', () => (req.destroy(), resolve(false)));
    req.end();
  });
}
