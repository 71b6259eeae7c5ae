import { randomBytes } from 'node:crypto';
import { readStackInfoFromEnv, type StackInfo } from '../../infra/stack/stack-info';

/** Helpers for tests that run against the servers started by test/support/run-tests. */

let cached: StackInfo | undefined;

/** The running servers ($SWITCHYARD_TEST_STACK), read once. */
export function stack(): StackInfo {
  cached ??= readStackInfoFromEnv();
  return cached;
}

/** A name no other test (or earlier run against the same servers) uses: `prefix-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export interface WaitForOptions {
  timeoutMs?: number;
  /** What is awaited, for the error message: "the DNS answer to change". */
  what: string;
  intervalMs?: number;
}

/**
 * Polls `fn` until it returns a value other than false/undefined/null and returns that value.
 * Throws an error naming `what` (and the last error `fn` threw) after `timeoutMs` (default 10 s).
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 10_000, what, intervalMs = 50 }: WaitForOptions,
): Promise<Exclude<T, false | undefined | null>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== false && value !== undefined && value !== null)
        return value as Exclude<T, false | undefined | null>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
