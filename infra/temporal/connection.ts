import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { SwitchyardConfig } from '../config/config.schema';

type TemporalConfig = SwitchyardConfig['temporal'];

function options(t: TemporalConfig) {
  return { address: t.address, tls: t.tls ? {} : undefined, apiKey: t.apiKey };
}

export async function connectClient(t: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({
    ...options(t),
    connectTimeout: t.connectTimeoutSeconds * 1000,
  });
  return new Client({ connection, namespace: t.namespace });
}

export function connectWorker(t: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(options(t));
}
