import { ConfigError, configPathFromEnv, loadConfigFile } from '../../infra/config/config.loader';
import { createLogger } from '../../infra/logging/logger';
import { createApi } from './bootstrap';
import { installProcessGuards } from './process-guard';
import { Metrics } from './system/metrics';

async function main(): Promise<void> {
  const log = createLogger('api');
  // Guarded from the start; counted once the metrics exist.
  const sink: { metrics?: Metrics } = {};
  installProcessGuards(log, (kind) => sink.metrics?.processErrors.inc({ kind }));
  const config = loadConfigFile(configPathFromEnv());
  const app = await createApi({ config, logger: log });
  sink.metrics = app.get(Metrics);
  await app.listen(config.api.port, config.api.host);
  log.info({ url: await app.getUrl() }, 'api listening');
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
