import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import type { SwitchyardConfig } from '../config/config.schema';
import { payloadCodecFromConfig } from './payload-codec';
import { FAILURE_CONVERTER_PATH } from './workflow-bundle';
import { setUpdateTimeout, updateDeadlineInterceptor } from './update-deadline';

type TemporalConfig = SwitchyardConfig['temporal'];

function options(t: TemporalConfig) {
  return { address: t.address, tls: t.tls ? {} : undefined, apiKey: t.apiKey };
}

/**
 * The data converter of every client and worker: with `temporal.payloadCodec` on, payloads are
 * encrypted before they leave the process (docs/temporal-security.md). Throws a ConfigError when
 * the codec is on and its key is missing or malformed.
 */
export function dataConverter(t: TemporalConfig, env: NodeJS.ProcessEnv = process.env): DataConverter {
  const codec = payloadCodecFromConfig(t, env);
  return { failureConverterPath: FAILURE_CONVERTER_PATH, ...(codec ? { payloadCodecs: [codec] } : {}) };
}

export async function connectClient(
  t: TemporalConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Client> {
  const codec = payloadCodecFromConfig(t, env);
  const connection = await Connection.connect({
    ...options(t),
    connectTimeout: t.connectTimeoutSeconds * 1000,
  });
  const client = new Client({
    connection,
    namespace: t.namespace,
    dataConverter: codec ? { payloadCodecs: [codec] } : {},
    interceptors: { workflow: [updateDeadlineInterceptor()] },
  });
  setUpdateTimeout(client, t.updateTimeoutSeconds * 1000);
  return client;
}

export function connectWorker(t: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(options(t));
}
