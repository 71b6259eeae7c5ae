import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTE_NAMES } from '../../workflows/definitions';
import { freePort } from './free-port';
import { type Component, type Supervisor } from './supervisor';
import { requireExecutable, toolPaths } from './tools';

/** The search attributes Switchyard's workflows set; registered when the dev server starts. */
export const SWITCHYARD_SEARCH_ATTRIBUTES = SEARCH_ATTRIBUTE_NAMES.map((name) => `${name}=Keyword`);

export interface TemporalOptions {
  /** `Name=Type` pairs, e.g. `SwitchyardApp=Keyword`; default SWITCHYARD_SEARCH_ATTRIBUTES. */
  searchAttributes?: string[];
  /** Serve the Web UI on a free port; default true. */
  ui?: boolean;
  namespace?: string;
  timeoutMs?: number;
  /** The frontend's gRPC port; default a free one. Pass the old port to restart on the same address. */
  port?: number;
}

export interface TemporalServer extends Component {
  address: string;
  namespace: string;
  /** '' when started headless. */
  uiUrl: string;
  dbFile: string;
}

/**
 * Starts `temporal server start-dev` with a SQLite file in the run dir. Ready when the
 * frontend answers gRPC for the namespace and lists every requested search attribute.
 */
export async function startTemporal(
  sup: Supervisor,
  options: TemporalOptions = {},
  name = 'temporal',
): Promise<TemporalServer> {
  const bin = requireExecutable('temporal CLI', toolPaths().temporal);
  const namespace = options.namespace ?? 'default';
  const searchAttributes = options.searchAttributes ?? SWITCHYARD_SEARCH_ATTRIBUTES;
  const dir = join(sup.runDir, name);
  mkdirSync(dir, { recursive: true });
  const dbFile = join(dir, 'temporal.sqlite');
  const port = options.port ?? (await freePort());
  const uiPort = options.ui === false ? 0 : await freePort();
  const address = `127.0.0.1:${port}`;

  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', dbFile];
  args.push(...(uiPort ? ['--ui-port', String(uiPort)] : ['--headless']));
  if (namespace !== 'default') args.push('--namespace', namespace); // default always exists
  args.push('--log-level', 'warn');
  for (const sa of searchAttributes) args.push('--search-attribute', sa);

  const expected = searchAttributes.map((sa) => sa.split('=')[0] ?? sa);
  const proc = await sup.start({
    name,
    command: bin,
    args,
    readiness: {
      kind: 'fn',
      what: `namespace "${namespace}" with search attributes ${expected.join(', ')} on ${address}`,
      check: () => namespaceReady(address, namespace, expected),
    },
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  return {
    address,
    namespace,
    uiUrl: uiPort ? `http://127.0.0.1:${uiPort}` : '',
    dbFile,
    name: proc.name,
    pid: proc.pid,
    logFile: proc.logFile,
    stop: proc.stop,
  };
}

async function namespaceReady(
  address: string,
  namespace: string,
  searchAttributes: string[],
): Promise<boolean> {
  // Loaded lazily: only the stack pays for the Temporal client.
  const { Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    const res = await connection.operatorService.listSearchAttributes({ namespace });
    const custom = Object.keys(res.customAttributes ?? {});
    return searchAttributes.every((sa) => custom.includes(sa));
  } finally {
    await connection.close();
  }
}

/** True when some worker polls one of the task queues (workflow or activity). */
export async function taskQueueHasPollers(
  address: string,
  namespace: string,
  taskQueues: string[],
): Promise<boolean> {
  const { Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    for (const name of taskQueues) {
      for (const taskQueueType of [1, 2]) {
        const res = await connection.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name },
          taskQueueType,
        });
        if ((res.pollers ?? []).length > 0) return true;
      }
    }
    return false;
  } finally {
    await connection.close();
  }
}
