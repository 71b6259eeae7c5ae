import type { Command } from 'commander';
import { CONTROL_OVERRIDE_ACTIONS } from '../../workflows/control';
import type { ApiClient } from './api-client';
import { describeSoftChange, type SoftDeleteStarted } from './soft-delete.commands';

/** What the control-state commands need from the CLI's entry point (main.ts). */
export interface ControlCommandsContext {
  client(): { api: ApiClient; opts: { json?: boolean } };
  print(opts: { json?: boolean }, data: unknown, render: () => string): void;
}

/** `regions remove` and `override` (docs/soft-deletes.md, docs/fencing.md#overrides). */
export function registerControlCommands(program: Command, ctx: ControlCommandsContext): void {
  const regions =
    program.commands.find((c) => c.name() === 'regions') ??
    program.command('regions').description("an app's regions");
  regions
    .command('remove <app> <region>')
    .description(
      'remove a region from an app: hidden and never a target now, final when the undo window ends',
    )
    .requiredOption('--reason <text>', 'why (recorded with the operation)')
    .action(async (app: string, region: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<SoftDeleteStarted>(
        'DELETE',
        `/v1/apps/${encodeURIComponent(app)}/regions/${encodeURIComponent(region)}?reason=${encodeURIComponent(o.reason)}`,
      );
      ctx.print(opts, res, () => describeSoftChange(`removed region ${region} from ${app}`, res));
    });

  program
    .command('override <app> <action> <region>')
    .description(
      `override the app's control state by hand (${CONTROL_OVERRIDE_ACTIONS.join(', ')}); undoable within its window`,
    )
    .requiredOption('--reason <text>', 'why (recorded with the operation)')
    .action(async (app: string, action: string, region: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<SoftDeleteStarted>(
        'POST',
        `/v1/apps/${encodeURIComponent(app)}/overrides`,
        {
          action,
          region,
          reason: o.reason,
        },
      );
      ctx.print(opts, res, () => describeSoftChange(`${action} ${region} of ${app}`, res));
    });
}
