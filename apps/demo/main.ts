import { ConfigError, loadConfigFile } from '../../infra/config/config.loader';
import { fencingFromConfig } from './control-reader';
import { createDemoApp, DEFAULT_HANDOFF_DELAY_MS, jsonLog as log } from './demo-app';

/**
 * Runs one demo app instance:
 *   node dist/apps/demo/main.js --region east --host 127.0.1.1 --port 18080 --state-dir DIR \
 *     [--orders-database-url postgres://...] [--handoff-delay-ms 25] \
 *     [--fencing-config switchyard.yaml --fencing-app APP]
 * Each flag may come from the environment instead: DEMO_REGION, DEMO_HOST, DEMO_PORT,
 * DEMO_STATE_DIR, DEMO_ORDERS_DATABASE_URL, DEMO_HANDOFF_DELAY_MS, DEMO_FENCING_CONFIG,
 * DEMO_FENCING_APP. With --fencing-config the instance accepts writes only under the write lease
 * (docs/fencing.md), reading the app's control state from the buckets that file configures. The backup hooks' bearer token
 * comes only from DEMO_HOOK_TOKEN, and the key that signs the region's fence hooks (its
 * `hookSecret`) only from DEMO_HOOK_SECRET (never flags: command lines are visible to every user).
 */
function option(flag: string, envName: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${flag}`);
  return (i >= 0 ? process.argv[i + 1] : undefined) ?? (process.env[envName] || undefined) ?? fallback;
}

function required(flag: string, envName: string, fallback?: string): string {
  const value = option(flag, envName, fallback);
  if (value === undefined) {
    process.stderr.write(`demo: missing --${flag} (or ${envName})\n`);
    process.exit(2);
  }
  return value;
}

const region = required('region', 'DEMO_REGION');
const host = required('host', 'DEMO_HOST', '127.0.0.1');
const port = Number(required('port', 'DEMO_PORT', '18080'));
const stateDir = required('state-dir', 'DEMO_STATE_DIR', `.switchyard/demo-${region}`);
const ordersDatabaseUrl = option('orders-database-url', 'DEMO_ORDERS_DATABASE_URL');
const handoffDelayMs = Number(
  required('handoff-delay-ms', 'DEMO_HANDOFF_DELAY_MS', String(DEFAULT_HANDOFF_DELAY_MS)),
);
if (!Number.isInteger(handoffDelayMs) || handoffDelayMs < 0) {
  process.stderr.write('demo: --handoff-delay-ms expects a whole number of milliseconds\n');
  process.exit(2);
}

const fencingConfig = option('fencing-config', 'DEMO_FENCING_CONFIG');
const fencingApp = option('fencing-app', 'DEMO_FENCING_APP');
if ((fencingConfig === undefined) !== (fencingApp === undefined)) {
  process.stderr.write('demo: --fencing-config and --fencing-app go together\n');
  process.exit(2);
}
let fencing: ReturnType<typeof fencingFromConfig> | undefined;
try {
  fencing = fencingConfig ? fencingFromConfig(loadConfigFile(fencingConfig), fencingApp!) : undefined;
} catch (err) {
  process.stderr.write(`demo: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exit(2);
}

const server = createDemoApp({
  region,
  stateDir,
  log,
  ordersDatabaseUrl,
  handoffDelayMs,
  hookToken: process.env.DEMO_HOOK_TOKEN || undefined,
  hookSecret: process.env.DEMO_HOOK_SECRET || undefined,
  fencing,
});
server.on('error', (err: NodeJS.ErrnoException) => {
  log({ region, level: 'error', msg: `cannot listen on ${host}:${port}: ${err.code ?? err.message}` });
  process.exit(1);
});
server.listen(port, host, () =>
  log({
    region,
    msg: `demo app listening on http://${host}:${port}`,
    orders: ordersDatabaseUrl ? 'postgres' : 'not configured (/numbers answers 503)',
    fencing: fencing
      ? `write lease ${fencing.writeLeaseMs} ms from app ${fencingApp}'s control state`
      : 'the /fence hook only',
  }),
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => server.close(() => process.exit(0)));
}
