import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

/**
 * The demo app: one instance per region. It stores "writes" and can be fenced; a fenced
 * instance refuses writes until unfenced. State survives restarts in `stateDir/state.json`.
 */
export interface DemoState {
  fenced: boolean;
  epoch: number;
  writes: { value: unknown; at: string }[];
}

export interface DemoAppOptions {
  region: string;
  stateDir: string;
  log?: (event: Record<string, unknown>) => void;
}

export const jsonLog = (event: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);

export function createDemoApp({ region, stateDir, log = jsonLog }: DemoAppOptions): Server {
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, 'state.json');
  let state: DemoState = { fenced: false, epoch: 0, writes: [] };
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as DemoState;
  } catch {
    // first start
  }
  let unhealthy = false;
  const persist = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify(state));
    renameSync(`${file}.tmp`, file);
  };

  const routes: Record<string, (body: Record<string, unknown>) => [number, unknown]> = {
    'GET /healthz': () => [
      unhealthy ? 503 : 200,
      { status: unhealthy ? 'unhealthy' : 'ok', region, fenced: state.fenced, epoch: state.epoch },
    ],
    'POST /fence': (b) => {
      const epoch = Number(b.epoch ?? state.epoch);
      if (!Number.isInteger(epoch) || epoch < state.epoch) {
        return [409, { error: 'stale_epoch', message: `epoch ${String(b.epoch)} is below ${state.epoch}` }];
      }
      state = { ...state, fenced: true, epoch };
      persist();
      return [200, { region, fenced: true, epoch }];
    },
    'POST /unfence': (b) => {
      const epoch = Number(b.epoch ?? state.epoch);
      if (!Number.isInteger(epoch) || epoch < state.epoch) {
        return [409, { error: 'stale_epoch', message: `epoch ${String(b.epoch)} is below ${state.epoch}` }];
      }
      state = { ...state, fenced: false, epoch };
      persist();
      return [200, { region, fenced: false, epoch }];
    },
    'POST /admin/unhealthy': () => ((unhealthy = true), [200, { region, healthy: false }]),
    'POST /admin/healthy': () => ((unhealthy = false), [200, { region, healthy: true }]),
    'POST /writes': (b) => {
      if (state.fenced)
        return [409, { error: 'fenced', message: `region ${region} is fenced (epoch ${state.epoch})` }];
      const write = { value: b.value ?? null, at: new Date().toISOString() };
      state.writes.push(write);
      persist();
      return [201, write];
    },
    'GET /writes': () => [200, { region, writes: state.writes }],
  };

  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
      let status: number;
      let payload: unknown;
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
        const route = routes[key];
        [status, payload] = route ? route(body) : [404, { error: 'not_found', message: `no route ${key}` }];
      } catch (err) {
        [status, payload] = [400, { error: 'bad_request', message: (err as Error).message }];
      }
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload));
      if (key !== 'GET /healthz' || status !== 200) log({ region, request: key, status });
    });
  });
}
