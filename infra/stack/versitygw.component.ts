import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { freePort } from './free-port';
import { type S3RegionInfo } from './stack-info';
import { type Component, type Supervisor } from './supervisor';
import { requireExecutable, toolPaths } from './tools';

export interface VersitygwRegion extends S3RegionInfo, Component {}

/**
 * An S3 client for a local S3 server. Third-party servers reject the SDK's default CRC32
 * checksums and aws-chunked bodies, hence WHEN_REQUIRED.
 */
export function localS3Client(
  info: Pick<S3RegionInfo, 'endpoint' | 'accessKeyId' | 'secretAccessKey'>,
): S3Client {
  return new S3Client({
    endpoint: info.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Starts one S3 "region": versitygw with the posix backend and versioning, its own data dir,
 * and one bucket with versioning and S3 Object Lock enabled (both checked by reading them back).
 * Object Lock protects only versions given a retention (restore points locked by
 * `restorePoints.objectLock`); everything else is written and deleted as in any versioned bucket.
 */
export async function startVersitygw(
  sup: Supervisor,
  region: string,
  bucket: string,
  options: { timeoutMs?: number } = {},
): Promise<VersitygwRegion> {
  const bin = requireExecutable('versitygw', toolPaths().versitygw);
  const name = `versitygw-${region}`;
  const dir = join(sup.runDir, name);
  const dataDir = join(dir, 'data');
  const versionsDir = join(dir, 'versions');
  const iamDir = join(dir, 'iam');
  for (const d of [dataDir, versionsDir, iamDir]) mkdirSync(d, { recursive: true });

  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = `sy${region}${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');

  const proc = await sup.start({
    name,
    command: bin,
    args: [
      '--port',
      `127.0.0.1:${port}`,
      '--iam-dir',
      iamDir,
      '--quiet',
      'posix',
      '--versioning-dir',
      versionsDir,
      dataDir,
    ],
    env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
    // Any answer to an unauthenticated request means the S3 API is serving.
    readiness: { kind: 'http', url: `${endpoint}/`, status: 403 },
    timeoutMs: options.timeoutMs ?? 30_000,
  });

  const info = { region, endpoint, accessKeyId, secretAccessKey, bucket, dataDir };
  const s3 = localS3Client(info);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const { Status } = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    if (Status !== 'Enabled') {
      throw new Error(`bucket ${bucket} reports versioning ${Status ?? '(unset)'} after enabling it`);
    }
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    if (lock.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') {
      throw new Error(`bucket ${bucket} reports no Object Lock after creating it with Object Lock enabled`);
    }
  } catch (err) {
    await proc.stop();
    throw new Error(
      `${name}: setting up bucket ${bucket} failed: ${(err as Error).message} (log ${proc.logFile})`,
      { cause: err },
    );
  } finally {
    s3.destroy();
  }
  return { ...info, name: proc.name, pid: proc.pid, logFile: proc.logFile, stop: proc.stop };
}
