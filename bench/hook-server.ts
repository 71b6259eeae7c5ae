import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pseudoRandomStream } from './support';

/**
 * An in-bench service behind Switchyard's HTTP backup hooks (infra/backup/http-hook.adapter.ts)
 * whose state is `size` bytes of deterministic pseudo-random data: the snapshot is generated as
 * it is sent (never stored) and a restore is hashed and counted as it arrives (never stored).
 * One instance serves every region under `/<region>/...`.
 */

export interface ReceivedArtifact {
  restorePointId: string;
  bytes: number;
  sha256: string;
}

export interface HookServer {
  /** Base URL of one region's hooks, e.g. http://127.0.0.1:P/east. */
  url(region: string): string;
  healthUrl: string;
  /** SHA-256 of the last snapshot sent in full, and how many were (a retried snapshot sends again). */
  snapshot: { sha256?: string; bytes: number; sent: number };
  /** What each region's restore hook received. */
  restored: Map<string, ReceivedArtifact>;
  close(): Promise<void>;
}

class Hasher extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    done: (err?: Error | null, data?: Buffer) => void,
  ) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startHookServer(opts: { size: number; seed: string }): Promise<HookServer> {
  const quiesced = new Map<string, { id: string; timer: NodeJS.Timeout }>();
  const state: Pick<HookServer, 'snapshot' | 'restored'> = {
    snapshot: { bytes: 0, sent: 0 },
    restored: new Map(),
  };

  const release = (region: string) => {
    const q = quiesced.get(region);
    if (q) clearTimeout(q.timer);
    quiesced.delete(region);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://hooks');
    if (url.pathname === '/healthz') return json(res, 200, { ok: true });
    const [, region, hook] = url.pathname.split('/');
    if (!region || !hook) return json(res, 404, { error: 'not-found', message: url.pathname });
    const route = `${req.method} ${hook}`;
    switch (route) {
      case 'POST quiesce': {
        const body = await readJson(req);
        const id = String(body.restorePointId);
        const held = quiesced.get(region);
        if (held && held.id !== id) {
          return json(res, 409, { error: 'quiesced', message: `quiesced for ${held.id}` });
        }
        release(region);
        const leaseMs = Number(body.leaseSeconds) * 1000;
        quiesced.set(region, { id, timer: setTimeout(() => quiesced.delete(region), leaseMs).unref() });
        return json(res, 200, { quiesced: true });
      }
      case 'POST marker':
        await readJson(req);
        return json(res, 200, { generator: 'aes-128-ctr', bytes: opts.size });
      case 'POST snapshot': {
        await readJson(req);
        const hasher = new Hasher();
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': opts.size });
        await pipeline(pseudoRandomStream(opts.seed, opts.size), hasher, res);
        state.snapshot.sha256 = hasher.digest();
        state.snapshot.bytes = hasher.bytes;
        state.snapshot.sent++;
        return;
      }
      case 'POST release':
        await readJson(req);
        release(region);
        return json(res, 200, { released: true });
      case 'POST restore': {
        const hasher = new Hasher();
        // Counted and hashed on the way; nothing is kept.
        await pipeline(req, hasher, new Writable({ write: (_c, _e, done) => done() }));
        const got = {
          restorePointId: url.searchParams.get('restorePointId') ?? '',
          bytes: hasher.bytes,
          sha256: hasher.digest(),
        };
        state.restored.set(region, got);
        return json(res, 200, { detail: `received ${got.bytes} bytes, SHA-256 ${got.sha256.slice(0, 12)}…` });
      }
      case 'GET verify': {
        const got = state.restored.get(region);
        const ok = !!got && got.sha256 === state.snapshot.sha256 && got.bytes === state.snapshot.bytes;
        return json(res, 200, {
          ok,
          detail: got
            ? `${got.bytes} bytes restored, SHA-256 ${ok ? 'matches' : 'differs from'} the snapshot's`
            : 'nothing restored yet',
        });
      }
      default:
        return json(res, 404, { error: 'not-found', message: route });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: 'internal', message: (err as Error).message });
      else res.destroy(err as Error);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    ...state,
    url: (region) => `${base}/${region}`,
    healthUrl: `${base}/healthz`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of [...quiesced.keys()]) release(r);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
