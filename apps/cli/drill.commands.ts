import type Table from 'cli-table3';
import type { Command } from 'commander';
import type { DrillReport } from '../../workflows/drill.workflow';
import type { OperationStatus } from '../../workflows/operation';
import type { ApiClient } from './api-client';

/** What the drill command needs from the CLI's entry point (main.ts). */
export interface DrillCommandsContext {
  client(): { api: ApiClient; opts: { json?: boolean } };
  table(head: string[]): Table.Table;
  /** Follows an operation, printing each step as it changes, until it ends. */
  watch(api: ApiClient, opts: { json?: boolean }, id: string): Promise<OperationStatus>;
}

/** The drill report of a finished drill: measurements, checks, cleanup. */
export function drillReportText(op: OperationStatus, table: (head: string[]) => Table.Table): string {
  const r = op.facts.report as DrillReport | undefined;
  if (!r) return 'no drill report';
  const lines = [
    `${(op.facts.summary as string | undefined) ?? op.phase}`,
    `restore point ${r.restorePoint?.id ?? '?'} (cut ${r.restorePoint?.cutAt ?? '?'}) into the scratch places of ${r.region || '?'}`,
  ];
  const t = table(['MEASURE', 'ACHIEVED', 'TARGET', 'MET']);
  t.push([
    'RTO (start to healthy)',
    r.rtoSeconds === null ? 'not reached' : `${r.rtoSeconds}s`,
    r.rtoTargetSeconds !== undefined ? `${r.rtoTargetSeconds}s` : '',
    r.rtoMet === undefined ? '' : r.rtoMet ? 'yes' : 'NO',
  ]);
  t.push([
    'RPO (age of the data)',
    r.rpoSeconds === null ? 'unknown' : `${r.rpoSeconds}s`,
    r.rpoTargetSeconds !== undefined ? `${r.rpoTargetSeconds}s` : '',
    r.rpoMet === undefined ? '' : r.rpoMet ? 'yes' : 'NO',
  ]);
  lines.push(t.toString());
  if (r.checks.length) {
    const c = table(['CHECK', 'TYPE', 'RESULT', 'DETAIL']);
    for (const x of r.checks) c.push([x.name, x.type, x.ok ? 'ok' : 'FAILED', x.detail]);
    lines.push(c.toString());
  }
  if (r.cleanup.length) {
    const c = table(['CLEANUP', 'RESULT', 'DETAIL']);
    for (const x of r.cleanup) c.push([x.what, x.ok ? 'ok' : 'LEFT BEHIND', x.detail]);
    lines.push(c.toString());
  }
  return lines.join('\n');
}

/**
 * `switchyard drill APP [--reason]`: rehearse a failover in the scratch places of a standby region,
 * following the steps live, then the drill report; non-zero exit unless the drill passed.
 */
export function registerDrillCommands(program: Command, ctx: DrillCommandsContext): void {
  program
    .command('drill <app>')
    .description(
      "rehearse a failover in a standby region's scratch places (never live DNS or the active region)",
    )
    .option('--reason <text>', 'why (recorded with the operation)', 'drill requested from the CLI')
    .action(async (app: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const started = await api.request<{ operationId: string }>(
        'POST',
        `/v1/apps/${encodeURIComponent(app)}/drills`,
        { reason: o.reason },
      );
      if (!opts.json) console.log(`started ${started.operationId}`);
      const op = await ctx.watch(api, opts, started.operationId);
      if (!opts.json) console.log(drillReportText(op, ctx.table));
      if (op.phase !== 'Completed') process.exitCode = 1;
    });
}
