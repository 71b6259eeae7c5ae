import { createDemoApp, jsonLog as log } from './demo-app';

/**
 * Runs one demo app instance:
 *   node dist/apps/demo/main.js --region east --host 127.0.1.1 --port 18080 --state-dir DIR
 * Each flag may come from the environment instead: DEMO_REGION, DEMO_HOST, DEMO_PORT, DEMO_STATE_DIR.
 */
function option(flag: string, envName: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${flag}`);
  const value = (i >= 0 ? process.argv[i + 1] : undefined) ?? process.env[envName] ?? fallback;
  if (value === undefined) {
    process.stderr.write(`demo: missing --${flag} (or ${envName})\n`);
    process.exit(2);
  }
  return value;
}

const region = option('region', 'DEMO_REGION');
const host = option('host', 'DEMO_HOST', '127.0.0.1');
const port = Number(option('port', 'DEMO_PORT', '18080'));
const stateDir = option('state-dir', 'DEMO_STATE_DIR', `.switchyard/demo-${region}`);

const server = createDemoApp({ region, stateDir, log });
server.on('error', (err: NodeJS.ErrnoException) => {
  log({ region, level: 'error', msg: `cannot listen on ${host}:${port}: ${err.code ?? err.message}` });
  process.exit(1);
});
server.listen(port, host, () => log({ region, msg: `demo app listening on http://${host}:${port}` }));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => server.close(() => process.exit(0)));
}
