import type Table from 'cli-table3';
import type { Command } from 'commander';
import type { RestorePointView } from '../../infra/backup/catalog';
import type { OperationStatus } from '../../workflows/operation';
import type { VerificationFinding, VerificationStatus } from '../../workflows/verification';
import type { ApiClient } from './api-client';

/** What the verify command needs from the CLI's entry point (main.ts). */
export interface VerifyCommandsContext {
  client(): { api: ApiClient; opts: { json?: boolean } };
  table(head: string[]): Table.Table;
  print(opts: { json?: boolean }, data: unknown, render: () => string): void;
  /** Follows an operation, printing each step as it changes, until it ends. */
  watch(api: ApiClient, opts: { json?: boolean }, id: string): Promise<OperationStatus>;
}

interface VerificationResult {
  restorePointId: string;
  status: VerificationStatus;
  findings: VerificationFinding[];
}

/** The findings of a finished verification, one row each, and a line per restore point. */
export function summaryText(op: OperationStatus, table: (head: string[]) => Table.Table): string {
  const results = (op.facts.results as VerificationResult[] | undefined) ?? [];
  const lines = results.map(
    (r) =>
      `${r.restorePointId}: ${r.status}` +
      (r.findings.length
        ? ` (${r.findings.length} finding(s), ${r.findings.filter((f) => f.repaired).length} repaired)`
        : ''),
  );
  const findings = results.flatMap((r) => r.findings.map((f) => ({ id: r.restorePointId, ...f })));
  if (findings.length === 0) return [...lines, 'no findings'].join('\n');
  const t = table(['RESTORE POINT', 'REGION', 'FINDING', 'OBJECT', 'REPAIR']);
  for (const f of findings) {
    t.push([
      f.id,
      f.region,
      f.type,
      f.key ?? '',
      f.repaired
        ? `repaired from ${f.repairedFrom ?? '?'}`
        : f.type === 'unreachable-region'
          ? ''
          : 'NOT repaired',
    ]);
  }
  return [...lines, t.toString()].join('\n');
}

/**
 * `switchyard verify APP --now [--reason]`: verify (and repair) the app's newest restore points
 * now, following the steps live, then a summary of findings and repairs; non-zero exit unless the
 * verification completed with nothing unrecoverable. Without --now: the latest results from the
 * catalog.
 */
export function registerVerifyCommands(program: Command, ctx: VerifyCommandsContext): void {
  program
    .command('verify <app>')
    .description("verify every region's copy of the app's newest restore points (and repair them)")
    .option('--now', 'start a verification now and follow it; without it, show the latest results')
    .option('--reason <text>', 'why (recorded with the operation)', 'verification requested from the CLI')
    .option('--test-restore', 'end with a test restore into the scratch places (docs/drills.md)')
    .option('--depth <n>', 'how many restore points, newest first (default: the configured depth)', (v) =>
      Number.parseInt(v, 10),
    )
    .action(
      async (app: string, o: { now?: boolean; reason: string; depth?: number; testRestore?: boolean }) => {
        const { api, opts } = ctx.client();
        const enc = encodeURIComponent(app);
        if (!o.now) {
          const res = await api.request<{ items: RestorePointView[] }>(
            'GET',
            `/v1/apps/${enc}/restore-points`,
          );
          ctx.print(
            opts,
            res.items.map((i) => ({ id: i.id, cutAt: i.cutAt, verification: i.verification ?? null })),
            () => {
              const t = ctx.table([
                'RESTORE POINT',
                'CUT AT',
                'VERIFICATION',
                'VERIFIED AT',
                'FINDINGS',
                'REPAIRED',
              ]);
              for (const i of res.items) {
                const v = i.verification;
                t.push([
                  i.id,
                  i.cutAt,
                  v?.status ?? 'never verified',
                  v?.verifiedAt ?? '',
                  v?.findings ?? '',
                  v?.repaired ?? '',
                ]);
              }
              return t.toString();
            },
          );
          return;
        }
        const started = await api.request<{ operationId: string }>('POST', `/v1/apps/${enc}/verifications`, {
          reason: o.reason,
          ...(o.depth ? { depth: o.depth } : {}),
          ...(o.testRestore ? { testRestore: true } : {}),
        });
        if (!opts.json) console.log(`started ${started.operationId}`);
        const op = await ctx.watch(api, opts, started.operationId);
        if (!opts.json) console.log(summaryText(op, ctx.table));
        const results = (op.facts.results as VerificationResult[] | undefined) ?? [];
        if (op.phase !== 'Completed' || results.some((r) => r.status === 'unrecoverable'))
          process.exitCode = 1;
      },
    );
}
