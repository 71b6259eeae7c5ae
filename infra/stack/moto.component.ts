import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { freePort } from './free-port';
import { type StackInfo } from './stack-info';
import { type Component, type Supervisor } from './supervisor';
import { requireExecutable, toolPaths } from './tools';

export type MotoInfo = StackInfo['moto'];

export interface MotoServer extends MotoInfo, Component {}

/** Starts moto_server (the Route 53 API, among others) from the tools venv. */
export async function startMoto(sup: Supervisor, options: { timeoutMs?: number } = {}): Promise<MotoServer> {
  const bin = requireExecutable('moto_server', toolPaths().motoServer);
  const dir = join(sup.runDir, 'moto');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = await sup.start({
    name: 'moto',
    command: bin,
    args: ['-H', '127.0.0.1', '-p', String(port)],
    cwd: dir,
    readiness: { kind: 'http', url: `${endpoint}/moto-api/data.json` },
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  return {
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'testing',
    secretAccessKey: 'testing',
    name: proc.name,
    pid: proc.pid,
    logFile: proc.logFile,
    stop: proc.stop,
  };
}

/** Clears all of moto's state (every hosted zone, record and health check). */
export async function resetMoto(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
}

export function motoRoute53Client(moto: MotoInfo): Route53Client {
  return new Route53Client({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
  });
}

/** Creates a hosted zone holding one A record; returns the zone id (`/hostedzone/...` stripped). */
export async function createMotoZoneWithA(
  moto: MotoInfo,
  zone: string,
  record: { name: string; ip: string; ttl: number },
): Promise<string> {
  const r53 = motoRoute53Client(moto);
  try {
    const created = await r53.send(
      new CreateHostedZoneCommand({ Name: `${zone}.`, CallerReference: randomUUID() }),
    );
    const id = (created.HostedZone?.Id ?? '').replace(/^\/hostedzone\//, '');
    if (!id) throw new Error(`moto returned no hosted zone id for ${zone}`);
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: id,
        ChangeBatch: {
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: `${record.name}.`,
                Type: 'A',
                TTL: record.ttl,
                ResourceRecords: [{ Value: record.ip }],
              },
            },
          ],
        },
      }),
    );
    return id;
  } finally {
    r53.destroy();
  }
}
