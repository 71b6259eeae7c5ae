import { S3Client } from '@aws-sdk/client-s3';
import type { BucketConfig } from '../config/config.schema';

/**
 * One S3 client per bucket configuration. Third-party S3 servers (versitygw, MinIO) do not all
 * accept the SDK's default CRC32 trailers and aws-chunked bodies, so checksums are only sent
 * when an operation requires them.
 */
export function createS3Client(
  bucket: BucketConfig,
  options: { requestTimeoutMs?: number; maxAttempts?: number } = {},
): S3Client {
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
    maxAttempts: options.maxAttempts ?? 3,
    // Without throwOnRequestTimeout the SDK only warns and a server that stopped answering hangs the call.
    requestHandler: {
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      connectionTimeout: 3_000,
      throwOnRequestTimeout: true,
    },
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
