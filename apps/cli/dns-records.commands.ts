import type { Command } from 'commander';
import type { ApiClient } from './api-client';
import { describeSoftChange, type SoftDeleteStarted } from './soft-delete.commands';

/** What the DNS record commands need from the CLI's entry point (main.ts). */
export interface DnsRecordCommandsContext {
  client(): { api: ApiClient; opts: { json?: boolean } };
  print(opts: { json?: boolean }, data: unknown, render: () => string): void;
}

function path(app: string, name: string): string {
  return `/v1/apps/${encodeURIComponent(app)}/dns-records/${encodeURIComponent(name)}`;
}

/** `dns-records delete` and `dns-records override` (docs/soft-deletes.md, DNS records). */
export function registerDnsRecordCommands(program: Command, ctx: DnsRecordCommandsContext): void {
  const records = program.command('dns-records').description("soft changes of an app's DNS records");

  records
    .command('delete <app> <name>')
    .description(
      'remove a DNS record: hidden and removed from its providers now, final when the undo window ends',
    )
    .requiredOption('--reason <text>', 'why (recorded with the operation)')
    .action(async (app: string, name: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<SoftDeleteStarted>(
        'DELETE',
        `${path(app, name)}?reason=${encodeURIComponent(o.reason)}`,
      );
      ctx.print(opts, res, () => describeSoftChange(`removed DNS record ${name} of ${app}`, res));
    });

  records
    .command('override <app> <name>')
    .description("point a DNS record at a region's address now, undoable until the window ends")
    .requiredOption('--region <region>', 'the region the record should point at')
    .requiredOption('--reason <text>', 'why (recorded with the operation)')
    .action(async (app: string, name: string, o: { region: string; reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<SoftDeleteStarted>('PUT', path(app, name), {
        region: o.region,
        reason: o.reason,
      });
      ctx.print(opts, res, () =>
        describeSoftChange(`DNS record ${name} of ${app} points at ${o.region}`, res),
      );
    });
}
