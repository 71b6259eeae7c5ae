import {
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/**
 * S3 Object Lock of single object versions (docs/platform-notes.md#object-lock): whether a bucket
 * has it, a version's retention, and a compliance retention put on a version.
 */

function errorName(err: unknown): string {
  const e = err as { name?: string; Code?: string };
  return e.Code ?? e.name ?? '';
}

/**
 * Whether Object Lock is enabled on the bucket. A bucket without it answers
 * `ObjectLockConfigurationNotFoundError` (404); a server without the API `NotImplemented`.
 */
export async function objectLockEnabled(client: S3Client, bucket: string): Promise<boolean> {
  try {
    const out = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    return out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
  } catch (err) {
    const name = errorName(err);
    if (name === 'ObjectLockConfigurationNotFoundError' || name === 'NotImplemented') return false;
    throw err;
  }
}

/** A version's retention; null when it has none (`NoSuchObjectLockConfiguration`). */
export async function objectRetention(
  client: S3Client,
  bucket: string,
  key: string,
  versionId: string | undefined,
): Promise<{ mode?: string; retainUntil?: string } | null> {
  try {
    const out = await client.send(
      new GetObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
    );
    return {
      mode: out.Retention?.Mode,
      retainUntil: out.Retention?.RetainUntilDate?.toISOString(),
    };
  } catch (err) {
    if (errorName(err) === 'NoSuchObjectLockConfiguration') return null;
    throw err;
  }
}

/** Locks a version in compliance mode until `until` (refused by S3 if that would shorten a lock). */
export async function putComplianceRetention(
  client: S3Client,
  bucket: string,
  key: string,
  versionId: string | undefined,
  until: string,
): Promise<void> {
  await client.send(
    new PutObjectRetentionCommand({
      Bucket: bucket,
      Key: key,
      VersionId: versionId,
      Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(until) },
    }),
  );
}
