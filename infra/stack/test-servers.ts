import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMoto } from './moto.component';
import { startPostgres } from './postgres.component';
import { startPowerDns } from './powerdns.component';
import { type StackInfo } from './stack-info';
import { Supervisor } from './supervisor';
import { startTemporal } from './temporal.component';
import { startVersitygw, type VersitygwRegion } from './versitygw.component';

/** The two S3 regions of the local stack and their backup buckets. */
export const TEST_REGIONS = [
  { region: 'east', bucket: 'switchyard-east' },
  { region: 'west', bucket: 'switchyard-west' },
] as const;

/** The fencing witness: its own versitygw (port, directory), outside both regions. */
export const TEST_WITNESS = { region: 'witness', bucket: 'switchyard-witness' } as const;

/** The S3 servers of a test stack: the two regions, and the witness when asked for. */
export interface S3Servers {
  s3: VersitygwRegion[];
  witness?: VersitygwRegion;
}

/**
 * Starts the regions' versitygw servers (TEST_REGIONS) and, with `witness`, the witness's, at once,
 * each with its bucket. Used by the harness, and by a test that stops an S3 server (SIGSTOP) and so
 * needs servers no other test file uses (test/support/app-fixture.ts `privateS3`).
 */
export async function startS3Servers(
  supervisor: Supervisor,
  options: { witness?: boolean } = {},
): Promise<S3Servers> {
  const all = await Promise.all(
    [...TEST_REGIONS, ...(options.witness ? [TEST_WITNESS] : [])].map((r) =>
      startVersitygw(supervisor, r.region, r.bucket),
    ),
  );
  return { s3: all.slice(0, TEST_REGIONS.length), witness: all[TEST_REGIONS.length] };
}

export interface RunningServers {
  info: StackInfo;
  supervisor: Supervisor;
  /** Stops every process started (also those started later on the same supervisor). */
  stop(): Promise<void>;
}

/**
 * Starts Temporal, two versitygw regions and a small third one (the fencing witness), moto, PowerDNS and PostgreSQL on free loopback ports,
 * all at once. If one fails, the others are stopped and the first error is thrown.
 */
export async function startTestServers(
  runDir: string,
  supervisor: Supervisor = new Supervisor(runDir),
): Promise<RunningServers> {
  mkdirSync(runDir, { recursive: true });
  const results = await Promise.allSettled([
    startTemporal(supervisor),
    startS3Servers(supervisor, { witness: true }),
    startMoto(supervisor),
    startPowerDns(supervisor),
    startPostgres(supervisor),
  ] as const);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    await supervisor.stopAll();
    const [first, ...rest] = failures.map((f) => f.reason as Error);
    if (rest.length > 0 && first)
      first.message += `\n(and ${rest.length} more: ${rest.map((e) => e.message.split('\n')[0]).join('; ')})`;
    throw first;
  }
  const [temporal, { s3, witness: maybeWitness }, moto, powerdns, postgres] = results.map(
    (r) => (r as PromiseFulfilledResult<unknown>).value,
  ) as [
    Awaited<ReturnType<typeof startTemporal>>,
    S3Servers,
    Awaited<ReturnType<typeof startMoto>>,
    Awaited<ReturnType<typeof startPowerDns>>,
    Awaited<ReturnType<typeof startPostgres>>,
  ];
  const witness = maybeWitness!;
  const s3Info = ({ region, endpoint, accessKeyId, secretAccessKey, bucket, dataDir }: typeof witness) => ({
    region,
    endpoint,
    accessKeyId,
    secretAccessKey,
    bucket,
    dataDir,
  });
  const info: StackInfo = {
    runDir,
    temporal: { address: temporal.address, namespace: temporal.namespace, uiUrl: temporal.uiUrl },
    s3: s3.map(s3Info),
    witness: s3Info(witness),
    moto: {
      endpoint: moto.endpoint,
      region: moto.region,
      accessKeyId: moto.accessKeyId,
      secretAccessKey: moto.secretAccessKey,
    },
    powerdns: {
      apiUrl: powerdns.apiUrl,
      apiKey: powerdns.apiKey,
      serverId: powerdns.serverId,
      dnsHost: powerdns.dnsHost,
      dnsPort: powerdns.dnsPort,
    },
    postgres: { url: postgres.url },
    processes: [temporal, ...s3, witness, moto, powerdns, postgres].map(({ name, pid, logFile }) => ({
      name,
      pid,
      logFile,
    })),
    ownerPid: process.pid,
  };
  return { info, supervisor, stop: () => supervisor.stopAll() };
}

/** Writes the StackInfo as JSON (mode 0600: it holds credentials) and returns the file path. */
export function writeStackInfo(info: StackInfo, file = join(info.runDir, 'stack.json')): string {
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  return file;
}
