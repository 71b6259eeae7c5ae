import { promises as dnsp, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

/**
 * Checks an app through its public name, the way a client would reach it: the host is resolved
 * through the given DNS servers (the authoritative ones in the local stack) and the health URL is
 * requested from the address they return.
 */
export interface EndpointCheck {
  url: string;
  resolvedAddresses: string[];
  status?: number;
  healthy: boolean;
  reason: string;
}

export async function resolveA(host: string, resolvers: string[]): Promise<string[]> {
  const r = new dnsp.Resolver({ timeout: 2000, tries: 2 });
  if (resolvers.length > 0) r.setServers(resolvers);
  return (await r.resolve4(host)).sort();
}

export async function checkEndpoint(
  url: string,
  resolvers: string[],
  timeoutMs: number,
): Promise<EndpointCheck> {
  const u = new URL(url);
  let addresses: string[];
  try {
    addresses = await resolveA(u.hostname, resolvers);
  } catch (err) {
    return {
      url,
      resolvedAddresses: [],
      healthy: false,
      reason: `cannot resolve ${u.hostname}: ${(err as Error).message}`,
    };
  }
  const lookup: LookupFunction = (_host, opts, cb) => {
    const all = (opts as { all?: boolean }).all;
    if (all)
      (cb as (e: null, a: LookupAddress[]) => void)(
        null,
        addresses.map((a) => ({ address: a, family: 4 })),
      );
    else cb(null, addresses[0]!, 4);
  };
  const client = u.protocol === 'https:' ? https : http;
  return new Promise<EndpointCheck>((resolve) => {
    const req = client.get(url, { lookup, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const healthy = status >= 200 && status < 300;
        resolve({
          url,
          resolvedAddresses: addresses,
          status,
          healthy,
          reason: healthy ? 'ok' : `HTTP ${status}`,
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) =>
      resolve({ url, resolvedAddresses: addresses, healthy: false, reason: err.message }),
    );
  });
}
