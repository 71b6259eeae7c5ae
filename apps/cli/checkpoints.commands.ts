import type { Command } from 'commander';
import type { CheckpointConfirmation } from '../../workflows/custom-steps';
import type { ApiClient } from './api-client';

/** What the checkpoint commands need from the CLI's entry point (main.ts). */
export interface CheckpointCommandsContext {
  client(): { api: ApiClient; opts: { json?: boolean } };
  print(opts: { json?: boolean }, data: unknown, render: () => string): void;
}

/** `confirm`: lets an operation go on past a manual checkpoint (docs/custom-steps.md). */
export function registerCheckpointCommands(program: Command, ctx: CheckpointCommandsContext): void {
  program
    .command('confirm <operationId> <step>')
    .description('confirm a manual checkpoint the operation is waiting at (operator or admin)')
    .requiredOption('--reason <text>', 'why it is safe to go on (recorded with the operation)')
    .action(async (id: string, step: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<CheckpointConfirmation>(
        'POST',
        `/v1/operations/${encodeURIComponent(id)}/checkpoints/${encodeURIComponent(step)}/confirm`,
        { reason: o.reason },
      );
      ctx.print(
        opts,
        res,
        () => `checkpoint ${res.step} of ${res.operationId} confirmed by ${res.confirmedBy}`,
      );
    });
}
