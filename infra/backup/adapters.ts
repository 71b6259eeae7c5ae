import type { ServiceConfig } from '../config/config.schema';
import type { ObjectIo } from './artifact.store';
import { HttpHookAdapter } from './http-hook.adapter';
import { PostgresAdapter } from './postgres.adapter';
import { S3PrefixAdapter } from './s3-prefix.adapter';
import type { ServiceAdapter } from './service-adapter.port';

/** One adapter per kind of service; the worker hands them to the backup activities. */
export function createServiceAdapters(io: ObjectIo): (type: ServiceConfig['type']) => ServiceAdapter {
  const adapters = {
    postgres: new PostgresAdapter(),
    http: new HttpHookAdapter(),
    s3: new S3PrefixAdapter(io),
  } as Record<ServiceConfig['type'], ServiceAdapter>;
  return (type) => adapters[type];
}
