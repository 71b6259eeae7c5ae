import type Table from 'cli-table3';
import type { Command } from 'commander';
import type { ApiClient } from './api-client';

/** What the soft-delete commands need from the CLI's entry point (main.ts). */
export interface SoftDeleteCommandsContext {
  client(): { api: ApiClient; opts: { json?: boolean } };
  table(head: string[]): Table.Table;
  print(opts: { json?: boolean }, data: unknown, render: () => string): void;
}

interface PendingDelete {
  operationId: string;
  app: string;
  phase: string;
  requestedBy?: string;
  kind: string;
  spec?: {
    restorePointId?: string;
    scheduleName?: string;
    region?: string;
    action?: string;
    recordName?: string;
    reason?: string;
    trigger?: string;
  };
  undoableUntil?: string;
}

/** What the API answers a soft delete with. */
export interface SoftDeleteStarted {
  operationId: string;
  undoableUntil: string;
  awaitingApproval?: boolean;
}

/** One line for a soft delete just asked for, and how to take it back. */
export function describeStarted(what: string, res: SoftDeleteStarted): string {
  return res.awaitingApproval
    ? `delete of ${what} (${res.operationId}) waits for approval: nothing is hidden until then\n` +
        `see it: switchyard approvals; the undo window starts once approved`
    : `deleted ${what} (${res.operationId}); undoable until ${res.undoableUntil}\n` +
        `undo it: switchyard undo ${res.operationId} --reason "..."`;
}

/**
 * The same for a soft change named by the caller ("removal of region west", "override of www"):
 * what was started, and how to take it back.
 */
export function describeSoftChange(what: string, res: SoftDeleteStarted): string {
  return res.awaitingApproval
    ? `${what} (${res.operationId}) waits for approval: nothing changes until then\n` +
        `see it: switchyard approvals; the undo window starts once approved`
    : `${what} (${res.operationId}); undoable until ${res.undoableUntil}\n` +
        `undo it: switchyard undo ${res.operationId} --reason "..."`;
}

function until(iso?: string): string {
  if (!iso) return '';
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const left =
    s <= 0
      ? 'now'
      : s < 90
        ? `in ${s}s`
        : s < 5400
          ? `in ${Math.round(s / 60)}m`
          : `in ${Math.round(s / 3600)}h`;
  return `${iso} (${left})`;
}

/** What a pending soft delete is about, in words. */
function pendingWhat(d: PendingDelete): string {
  const s = d.spec ?? {};
  if (d.kind === 'dns-record-delete') return `DNS record ${s.recordName ?? '?'} (removed)`;
  if (d.kind === 'dns-override') return `DNS record ${s.recordName ?? '?'} (pointed at ${s.region ?? '?'})`;
  if (d.kind === 'region-remove') return `region ${s.region ?? '?'}`;
  if (d.kind === 'control-override') return `override: ${s.action ?? '?'} ${s.region ?? '?'}`;
  if (s.scheduleName !== undefined) return `schedule ${s.scheduleName}`;
  return `restore point ${s.restorePointId ?? '?'}`;
}

/** `restore-points delete`, `undo` and `pending-deletes` (docs/soft-deletes.md). */
export function registerSoftDeleteCommands(program: Command, ctx: SoftDeleteCommandsContext): void {
  const restorePoints = program.commands.find((c) => c.name() === 'restore-points');
  restorePoints
    ?.command('delete <restorePointId>')
    .description('soft-delete a restore point: hidden now, purged when the undo window ends')
    .requiredOption('--reason <text>', 'why (recorded with the operation)')
    .action(async (id: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<SoftDeleteStarted>(
        'DELETE',
        `/v1/restore-points/${encodeURIComponent(id)}?reason=${encodeURIComponent(o.reason)}`,
      );
      ctx.print(opts, res, () => describeStarted(id, res));
    });

  program
    .command('undo <operationId>')
    .description('undo a soft delete before its window ends')
    .requiredOption('--reason <text>', 'why (recorded with the operation)')
    .action(async (id: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<{ target: string; undoneAt: string }>(
        'POST',
        `/v1/operations/${encodeURIComponent(id)}/undo`,
        { reason: o.reason },
      );
      ctx.print(opts, res, () => `undone ${id}: ${res.target} is back (${res.undoneAt})`);
    });

  program
    .command('pending-deletes [app]')
    .description('soft deletes that can still be undone, with the time each is purged')
    .action(async (app?: string) => {
      const { api, opts } = ctx.client();
      // Only soft deletes are ever Undoable: every kind of them.
      const q = new URLSearchParams({ phase: 'Undoable' });
      if (app) q.set('app', app);
      const res = await api.request<{ items: PendingDelete[] }>('GET', `/v1/operations?${q}`);
      ctx.print(opts, res, () => {
        if (res.items.length === 0) return 'no pending deletes';
        const t = ctx.table(['OPERATION', 'APP', 'WHAT', 'UNDOABLE UNTIL', 'BY', 'REASON']);
        for (const d of res.items) {
          t.push([
            d.operationId,
            d.app,
            pendingWhat(d),
            until(d.undoableUntil),
            d.requestedBy ?? '',
            d.spec?.reason ?? '',
          ]);
        }
        return t.toString();
      });
    });
}
