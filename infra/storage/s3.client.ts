import { S3Client } from '@aws-sdk/client-s3';
import type { BucketConfig } from '../config/config.schema';

/**
 * One S3 client per bucket configuration. Third-party S3 servers (versitygw, MinIO) do not all
 * accept the SDK's default CRC32 trailers and aws-chunked bodies, so checksums are only sent
 * when an operation requires them.
 */
export function createS3Client(bucket: BucketConfig, options: { requestTimeoutMs?: number } = {}): S3Client {
  return new S3Client({
    region: bucket.region,
    endpoint: bucket.endpoint,
    forcePathStyle: bucket.forcePathStyle,
    credentials:
      bucket.accessKeyId && bucket.secretAccessKey
        ? { accessKeyId: bucket.accessKeyId, secretAccessKey: bucket.secretAccessKey }
        : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 10_000, connectionTimeout: 3_000 },
  });
}

/** A message safe to show: the SDK's error name and message, never request details or credentials. */
export function describeS3Error(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { Code?: string }).Code ?? err.name;
    const msg = err.message && err.message !== 'UnknownError' ? err.message : '';
    return msg ? `${code}: ${msg}` : code;
  }
  return String(err);
}
