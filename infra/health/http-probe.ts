/** One HTTP health probe: healthy means a 2xx answer within the timeout. */
export interface ProbeResult {
  healthy: boolean;
  status?: number;
  latencyMs: number;
  /** Why the probe failed, or a short note on success. */
  reason: string;
}

export async function probeHttp(
  url: string,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<ProbeResult> {
  const started = now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await res.arrayBuffer().catch(() => undefined);
    const latencyMs = now() - started;
    const healthy = res.status >= 200 && res.status < 300;
    return { healthy, status: res.status, latencyMs, reason: healthy ? 'ok' : `HTTP ${res.status}` };
  } catch (err) {
    const latencyMs = now() - started;
    const e = err as Error & { cause?: { code?: string } };
    const reason =
      e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (e.cause?.code ?? e.message ?? 'request failed');
    return { healthy: false, latencyMs, reason };
  }
}
