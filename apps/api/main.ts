import { ConfigError, configPathFromEnv, loadConfigFile } from '../../infra/config/config.loader';
import { createLogger } from '../../infra/logging/logger';
import { createApi } from './bootstrap';

async function main(): Promise<void> {
  const log = createLogger('api');
  const config = loadConfigFile(configPathFromEnv());
  const app = await createApi({ config, logger: log });
  await app.listen(config.api.port, config.api.host);
  log.info({ url: await app.getUrl() }, 'api listening');
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
