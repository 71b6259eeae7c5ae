import { connect } from 'node:net';
import { probeHttp } from './http-probe';
import type { ProbeTarget } from './monitor-settings';

/** The result of one health probe of a region from a vantage point. */
export interface ProbeOutcome {
  ok: boolean;
  latencyMs: number;
  /** `ok`, or why it failed: `ECONNREFUSED`, `HTTP 503`, `no answer within 800 ms`... */
  reason: string;
}

/** A TCP probe: ok when a connection is accepted within the timeout; closed at once. */
export function probeTcp(
  address: string,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<ProbeOutcome> {
  const sep = address.lastIndexOf(':');
  const host = address.slice(0, sep);
  const port = Number(address.slice(sep + 1));
  const started = now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const done = (ok: boolean, reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, latencyMs: now() - started, reason });
    };
    const timer = setTimeout(() => done(false, `no connection within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(true, 'ok'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
  });
}

/** Probes a target: a 2xx answer from its URL, or a TCP connection to its address. */
export async function probeTarget(target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
  if ('tcp' in target) return probeTcp(target.tcp, timeoutMs);
  const r = await probeHttp(target.http, timeoutMs);
  return { ok: r.healthy, latencyMs: r.latencyMs, reason: r.reason };
}

export function describeTarget(target: ProbeTarget): string {
  return 'tcp' in target ? `tcp://${target.tcp}` : target.http;
}
