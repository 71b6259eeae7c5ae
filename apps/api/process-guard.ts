import type { Logger } from '../../infra/logging/logger';

export type ProcessErrorKind = 'unhandled-rejection' | 'uncaught-exception';

/**
 * What the API process does with an error no request handler caught (docs/api.md, "Input rules"):
 * an unhandled rejection is logged and counted and the process keeps serving, since its state is
 * intact (a promise nobody awaited failed); an uncaught exception is logged and counted and the
 * process exits 1 for its supervisor to restart, since a synchronous throw may have left state
 * half-changed. Either way it is never silent.
 */
export function installProcessGuards(
  log: Logger,
  count: (kind: ProcessErrorKind) => void,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  const describe = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.on('unhandledRejection', (reason) => {
    count('unhandled-rejection');
    log.error({ err: describe(reason), kind: 'unhandled-rejection' }, 'unhandled promise rejection (a bug)');
  });
  process.on('uncaughtException', (err) => {
    count('uncaught-exception');
    log.fatal(
      { err: describe(err), kind: 'uncaught-exception' },
      'uncaught exception: exiting for a restart',
    );
    exit(1);
  });
}
