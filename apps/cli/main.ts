import Table from 'cli-table3';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfigFile } from '../../infra/config/config.loader';
import {
  describeOperation,
  isTerminal,
  type OperationStatus,
  type OperationStep,
  targetRegionOf,
} from '../../workflows/operation';
import { ApiClient, ApiRequestError } from './api-client';
import { registerCheckpointCommands } from './checkpoints.commands';
import { registerDnsRecordCommands } from './dns-records.commands';
import { registerScheduleCommands } from './schedules.commands';
import { registerSoftDeleteCommands } from './soft-delete.commands';
import { registerControlCommands } from './control.commands';
import { registerVerifyCommands } from './verify.commands';
import { registerDrillCommands } from './drill.commands';
import { registerDoctorCommand } from './doctor.commands';

/**
 * `switchyard`: the CLI mirrors the HTTP API. Tables by default, JSON with --json, live progress
 * with --watch, and a non-zero exit when the thing asked for did not happen.
 */

interface GlobalOptions {
  api: string;
  token?: string;
  json?: boolean;
}

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const program = new Command()
  .name('switchyard')
  .description('Multi-region active/passive disaster-recovery coordinator')
  .addOption(
    new Option('--api <url>', 'API base URL').env('SWITCHYARD_API_URL').default('http://127.0.0.1:8080'),
  )
  .addOption(new Option('--token <token>', 'bearer token').env('SWITCHYARD_TOKEN'))
  .option('--json', 'print JSON instead of tables')
  .showHelpAfterError();

function client(): { api: ApiClient; opts: GlobalOptions } {
  const opts = program.opts<GlobalOptions>();
  return { api: new ApiClient(opts.api, opts.token), opts };
}

/** Tables without colour codes when the output is not a terminal (pipes, files, CI logs). */
function table(head: string[]): Table.Table {
  return new Table({ head, ...(process.stdout.isTTY ? {} : { style: { head: [], border: [] } }) });
}

function print(opts: GlobalOptions, data: unknown, render: () => string): void {
  console.log(opts.json ? JSON.stringify(data, null, 2) : render());
}

function ago(iso?: string): string {
  if (!iso) return '';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s < 90 ? `${s}s ago` : s < 5400 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function duration(step: Pick<OperationStep, 'startedAt' | 'endedAt'>): string {
  if (!step.startedAt) return '';
  const end = step.endedAt ? Date.parse(step.endedAt) : Date.now();
  return `${((end - Date.parse(step.startedAt)) / 1000).toFixed(1)}s`;
}

const MARK: Record<string, string> = {
  Pending: '·',
  Running: '▶',
  Completed: '✓',
  Failed: '✗',
  Skipped: '-',
  Compensating: '↺',
  Compensated: '↺',
  CompensationFailed: '‼',
};

function stepLine(s: OperationStep): string {
  const err = s.error ? `  error: ${s.error.message}` : '';
  const comp = s.compensationError ? `  compensation error: ${s.compensationError.message}` : '';
  return `  ${MARK[s.status] ?? '?'} ${s.name.padEnd(16)} ${s.status.padEnd(18)} ${duration(s).padStart(7)}  ${s.detail ?? ''}${err}${comp}`;
}

function operationText(op: OperationStatus): string {
  const lines = [
    `${op.operationId}`,
    `  ${describeOperation(op)}, requested by ${op.requestedBy}: ${op.spec.reason}`,
    `  phase ${op.phase}, started ${ago(op.startedAt)}${op.endedAt ? `, ended ${ago(op.endedAt)}` : ''}`,
    ...op.steps.map(stepLine),
  ];
  if (op.error) lines.push(`  error (${op.error.code}): ${op.error.message}`);
  return lines.join('\n');
}

async function watch(api: ApiClient, opts: GlobalOptions, id: string): Promise<OperationStatus> {
  const seen = new Map<string, string>();
  for (;;) {
    const op = await api.request<OperationStatus>('GET', `/v1/operations/${encodeURIComponent(id)}`);
    if (!opts.json) {
      for (const s of op.steps) {
        const key = `${s.status}|${s.detail ?? ''}`;
        if (s.status !== 'Pending' && seen.get(s.name) !== key) {
          seen.set(s.name, key);
          console.log(stepLine(s));
        }
      }
    }
    if (isTerminal(op.phase)) {
      if (opts.json) console.log(JSON.stringify(op, null, 2));
      else console.log(`${op.operationId}: ${op.phase}${op.error ? ` — ${op.error.message}` : ''}`);
      return op;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const apps = program.command('apps').description('protected apps');
apps
  .command('ls', { isDefault: true })
  .description('list apps')
  .action(async () => {
    const { api, opts } = client();
    const res = await api.request<{ items: { name: string; regions: string[]; description?: string }[] }>(
      'GET',
      '/v1/apps',
    );
    print(opts, res, () => {
      const t = table(['APP', 'REGIONS', 'DESCRIPTION']);
      for (const a of res.items) t.push([a.name, a.regions.join(', '), a.description ?? '']);
      return t.toString();
    });
  });
apps
  .command('show <app>')
  .description('topology, active region, epoch and region health')
  .action(async (app: string) => {
    const { api, opts } = client();
    const res = await api.request<{
      name: string;
      activeRegion: string;
      epoch: number;
      currentOperationId: string | null;
      control: {
        source: string;
        fallbackReason?: string;
        state: { writer: string | null; halted: string[] };
      };
      regions: {
        name: string;
        role: string;
        state: string;
        dnsTarget: string;
        health: { healthy: boolean; reason: string; latencyMs: number };
      }[];
    }>('GET', `/v1/apps/${encodeURIComponent(app)}`);
    print(opts, res, () => {
      const t = table(['REGION', 'ROLE', 'STATE', 'DNS TARGET', 'HEALTH', 'LATENCY']);
      for (const r of res.regions) {
        t.push([
          r.name,
          r.role,
          r.state,
          r.dnsTarget,
          r.health.healthy ? 'healthy' : `unhealthy: ${r.health.reason}`,
          `${r.health.latencyMs} ms`,
        ]);
      }
      const op = res.currentOperationId ? `\noperation running: ${res.currentOperationId}` : '';
      const c = res.control;
      const control =
        `\nwriter ${c.state.writer ?? 'none'}, halted ${c.state.halted.join(', ') || 'none'} ` +
        `(from the ${c.source}${c.fallbackReason ? `: ${c.fallbackReason}` : ''})`;
      return `${res.name}: active region ${res.activeRegion}, fencing epoch ${res.epoch}${control}${op}\n${t.toString()}`;
    });
  });

/** Starts an operation; with --watch follows it and exits non-zero unless it completes. */
async function startAndMaybeWatch(
  path: string,
  body: Record<string, unknown>,
  watchIt: boolean | undefined,
  describe: (res: { operationId: string } & Record<string, unknown>) => string = (r) =>
    `started ${r.operationId}`,
): Promise<void> {
  const { api, opts } = client();
  const res = await api.request<{ operationId: string } & Record<string, unknown>>('POST', path, body);
  if (!watchIt) {
    print(opts, res, () => `${describe(res)}\nfollow it: switchyard ops show ${res.operationId} --watch`);
    return;
  }
  if (!opts.json) console.log(describe(res));
  const op = await watch(api, opts, res.operationId);
  if (op.phase !== 'Completed') process.exitCode = EXIT_FAILED;
}

program
  .command('failover <app>')
  .description('move an app to another region (planned switchover or unplanned failover)')
  .requiredOption('--to <region>', 'the region to move to')
  .addOption(
    new Option('--mode <mode>', 'planned or unplanned').choices(['planned', 'unplanned']).default('planned'),
  )
  .requiredOption('--reason <text>', 'why (recorded with the operation)')
  .option('--watch', 'follow the operation until it ends; exit non-zero unless it completes')
  .action(async (app: string, o: { to: string; mode: string; reason: string; watch?: boolean }) => {
    await startAndMaybeWatch(
      `/v1/apps/${encodeURIComponent(app)}/failovers`,
      { to: o.to, mode: o.mode, reason: o.reason },
      o.watch,
    );
  });

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

interface RestorePointItem {
  id: string;
  cutAt: string;
  ageSeconds: number;
  sourceRegion: string;
  totalBytes: number;
  complete: boolean;
  copies: { region: string; present?: boolean; objectLock?: string; lockedUntil?: string }[];
  services: { name: string; type: string; size: number; sha256: string; objects?: number; marker: unknown }[];
}

/** A copy's Object Lock, as `show` has it (docs/soft-deletes.md#object-lock). */
const lockText = (x: RestorePointItem['copies'][number]) =>
  x.objectLock === 'locked' && x.lockedUntil
    ? ` (locked until ${x.lockedUntil})`
    : x.objectLock === 'unsupported'
      ? ' (no object lock)'
      : '';

const copiesText = (c: RestorePointItem['copies']) =>
  c
    .map(
      (x) =>
        `${x.region}${x.present === true ? '' : x.present === false ? ' (missing)' : ' (unreadable)'}${lockText(x)}`,
    )
    .join(', ');

program
  .command('failback <app>')
  .description(
    'bring an app back to the region it was failed over from (reprotect, readiness, approval, switchover)',
  )
  .option('--to <region>', 'the halted region to go back to (default: the only one)')
  .requiredOption('--reason <text>', 'why (recorded with the operation)')
  .option('--watch', 'follow the operation until it ends; exit non-zero unless it completes')
  .action(async (app: string, o: { to?: string; reason: string; watch?: boolean }) => {
    await startAndMaybeWatch(
      `/v1/apps/${encodeURIComponent(app)}/failbacks`,
      { ...(o.to ? { to: o.to } : {}), reason: o.reason },
      o.watch,
      (r) => `started ${r.operationId} (failback to ${String(r.to)})`,
    );
  });

program
  .command('cancel <operationId>')
  .description(
    'cancel a failover or failback before its commit: the running step stops, the done ones are undone',
  )
  .requiredOption('--reason <text>', 'why (recorded with the operation)')
  .option(
    '--watch',
    'follow the compensation until the operation ends; exit non-zero unless it ends Cancelled',
  )
  .action(async (id: string, o: { reason: string; watch?: boolean }) => {
    const { api, opts } = client();
    const res = await api.request<{ operationId: string; cancelledAt: string; step?: string }>(
      'POST',
      `/v1/operations/${encodeURIComponent(id)}/cancel`,
      { reason: o.reason },
    );
    if (!o.watch) {
      print(
        opts,
        res,
        () => `cancelling ${id}${res.step ? ` (interrupting ${res.step})` : ''}; compensation runs`,
      );
      return;
    }
    if (!opts.json) console.log(`cancelling ${id}${res.step ? ` (interrupting ${res.step})` : ''}`);
    const op = await watch(api, opts, id);
    if (op.phase !== 'Cancelled') process.exitCode = EXIT_FAILED;
  });

const restorePoints = program.command('restore-points').description('consistent restore points of an app');
restorePoints
  .command('ls <app>', { isDefault: true })
  .description("list an app's restore points, newest first (read from every region's bucket)")
  .action(async (app: string) => {
    const { api, opts } = client();
    const res = await api.request<{
      items: RestorePointItem[];
      regions: { region: string; ok: boolean; error?: string }[];
    }>('GET', `/v1/apps/${encodeURIComponent(app)}/restore-points`);
    print(opts, res, () => {
      const t = table(['RESTORE POINT', 'CUT', 'FROM', 'SIZE', 'SERVICES', 'COPIES']);
      for (const r of res.items) {
        t.push([
          r.id,
          ago(r.cutAt),
          r.sourceRegion,
          bytes(r.totalBytes),
          r.services.map((s) => s.name).join(', '),
          copiesText(r.copies),
        ]);
      }
      const unreadable = res.regions
        .filter((r) => !r.ok)
        .map((r) => `\nregion ${r.region} unreadable: ${r.error ?? ''}`);
      return t.toString() + unreadable.join('');
    });
  });
restorePoints
  .command('show <restorePointId>')
  .description('one restore point: services, sizes, checksums, markers, copies')
  .action(async (id: string) => {
    const { api, opts } = client();
    const r = await api.request<RestorePointItem>('GET', `/v1/restore-points/${encodeURIComponent(id)}`);
    print(opts, r, () => {
      const t = table(['SERVICE', 'TYPE', 'SIZE', 'SHA-256', 'MARKER']);
      for (const s of r.services) {
        t.push([
          s.name,
          s.type,
          bytes(s.size) + (s.objects !== undefined ? ` (${s.objects} objects)` : ''),
          s.sha256.slice(0, 16),
          JSON.stringify(s.marker),
        ]);
      }
      return `${r.id}: cut ${r.cutAt} (${ago(r.cutAt)}) in ${r.sourceRegion}; copies ${copiesText(r.copies)}\n${t.toString()}`;
    });
  });
restorePoints
  .command('take <app>')
  .description('take a consistent restore point of every service now')
  .requiredOption('--reason <text>', 'why (recorded with the operation)')
  .option('--watch', 'follow the operation until it ends; exit non-zero unless it completes')
  .action(async (app: string, o: { reason: string; watch?: boolean }) => {
    await startAndMaybeWatch(
      `/v1/apps/${encodeURIComponent(app)}/restore-points`,
      { reason: o.reason },
      o.watch,
      (r) => `started ${r.operationId} (restore point ${String(r.restorePointId)})`,
    );
  });

program
  .command('restore <app>')
  .description('restore every service of an app from a restore point into a region')
  .requiredOption('--from <restorePointId>', 'the restore point')
  .requiredOption('--into <region>', 'the region to restore into')
  .requiredOption('--reason <text>', 'why (recorded with the operation)')
  .option('--watch', 'follow the operation until it ends; exit non-zero unless it completes')
  .action(async (app: string, o: { from: string; into: string; reason: string; watch?: boolean }) => {
    await startAndMaybeWatch(
      `/v1/apps/${encodeURIComponent(app)}/restores`,
      { restorePointId: o.from, region: o.into, reason: o.reason },
      o.watch,
    );
  });

const ops = program
  .command('ops')
  .description('operations (failovers and everything else that runs as a workflow)');
ops
  .command('ls', { isDefault: true })
  .description('list operations, newest first')
  .option('--app <app>')
  .option('--kind <kind>')
  .option('--phase <phase>')
  .option('--limit <n>', 'at most this many', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
    return n;
  })
  .action(async (o: { app?: string; kind?: string; phase?: string; limit?: number }) => {
    const { api, opts } = client();
    const q = new URLSearchParams(
      Object.entries(o)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]): [string, string] => [k, String(v)]),
    );
    const res = await api.request<{ items: OperationStatus[] }>('GET', `/v1/operations?${q}`);
    print(opts, res, () => {
      const t = table(['OPERATION', 'KIND', 'APP', 'TO', 'PHASE', 'STARTED', 'BY']);
      for (const op of res.items)
        t.push([
          op.operationId,
          op.kind,
          op.app,
          targetRegionOf(op) ?? '',
          op.phase,
          ago(op.startedAt),
          op.requestedBy ?? '',
        ]);
      return t.toString();
    });
  });
ops
  .command('show <operationId>')
  .description('one operation with its steps')
  .option('--watch', 'follow it until it ends; exit non-zero unless it completes')
  .action(async (id: string, o: { watch?: boolean }) => {
    const { api, opts } = client();
    if (o.watch) {
      const op = await watch(api, opts, id);
      if (op.phase !== 'Completed') process.exitCode = EXIT_FAILED;
      return;
    }
    const op = await api.request<OperationStatus>('GET', `/v1/operations/${encodeURIComponent(id)}`);
    print(opts, op, () => operationText(op));
  });

interface ApprovalView {
  status: string;
  round: number;
  expiresAt?: string;
  approvedBy: string[];
  stillNeeded: number;
  policy: { required: number; roles: string[] };
  decisions: { principal: string; decision: string; comment: string; at: string }[];
}

function approvalText(operationId: string, a: ApprovalView): string {
  const lines = [
    `${operationId}: approval ${a.status} (round ${a.round})`,
    `  approved by: ${a.approvedBy.join(', ') || 'nobody yet'}; still needed: ${a.stillNeeded} from ${a.policy.roles.join('/')}`,
  ];
  if (a.expiresAt) lines.push(`  expires at ${a.expiresAt}`);
  for (const d of a.decisions)
    lines.push(`  ${d.decision} by ${d.principal} at ${d.at}${d.comment ? `: ${d.comment}` : ''}`);
  return lines.join('\n');
}

const approvals = program.command('approvals').description('operations waiting for approval');
approvals
  .command('ls', { isDefault: true })
  .description('list operations awaiting approval, with who approved and who is still needed')
  .option('--app <app>')
  .action(async (o: { app?: string }) => {
    const { api, opts } = client();
    const q = o.app ? `?app=${encodeURIComponent(o.app)}` : '';
    const res = await api.request<{ items: (OperationStatus & { approval?: ApprovalView })[] }>(
      'GET',
      `/v1/approvals${q}`,
    );
    print(opts, res, () => {
      const t = table(['OPERATION', 'APP', 'TO', 'BY', 'APPROVED BY', 'STILL NEEDED', 'EXPIRES']);
      for (const op of res.items) {
        const a = op.approval;
        t.push([
          op.operationId,
          op.app,
          op.spec ? (targetRegionOf({ kind: op.kind, spec: op.spec }) ?? '') : '',
          op.requestedBy ?? '',
          a?.approvedBy.join(', ') ?? '',
          String(a?.stillNeeded ?? ''),
          a?.expiresAt ?? '',
        ]);
      }
      return t.toString();
    });
  });

for (const decision of ['approve', 'reject'] as const) {
  program
    .command(`${decision} <operationId>`)
    .description(`${decision} an operation awaiting approval (as the token's principal)`)
    .option('--comment <text>', 'why', '')
    .action(async (id: string, o: { comment: string }) => {
      const { api, opts } = client();
      const res = await api.request<{ operationId: string; approval: ApprovalView }>(
        'POST',
        `/v1/operations/${encodeURIComponent(id)}/approvals`,
        { decision, comment: o.comment },
      );
      print(opts, res, () => approvalText(res.operationId, res.approval));
    });
}

interface AuditEventView {
  sequence: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  reason: string | null;
}

const audit = program.command('audit').description('the tamper-evident audit log');
audit
  .command('ls', { isDefault: true })
  .description('audit events, oldest first')
  .option('--actor <name>')
  .option('--action <action>')
  .option('--target <target>')
  .option('--since <iso-time>')
  .option('--until <iso-time>')
  .option('--cursor <cursor>')
  .option('--limit <n>', 'at most this many', '100')
  .action(async (o: Record<string, string | undefined>) => {
    const { api, opts } = client();
    const q = new URLSearchParams(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined));
    const res = await api.request<{ items: AuditEventView[]; nextCursor: string | null }>(
      'GET',
      `/v1/audit?${q}`,
    );
    print(opts, res, () => {
      const t = table(['SEQ', 'TIME', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME', 'REASON']);
      for (const e of res.items)
        t.push([String(e.sequence), e.time, e.actor, e.action, e.target, e.outcome, e.reason ?? '']);
      return t.toString() + (res.nextCursor ? `\nmore: switchyard audit ls --cursor ${res.nextCursor}` : '');
    });
  });
audit
  .command('verify')
  .description('recompute the hash chain and check it against the sealed segments; exit 1 if broken')
  .action(async () => {
    const { api, opts } = client();
    const res = await api.request<{
      ok: boolean;
      checked: number;
      lastSequence: number;
      sealedThrough: number;
      firstBreak: { sequence: number; reason: string; message: string } | null;
      unreadableRegions: string[];
      regionMismatches: { region: string; segment: string; sequence: number; message: string }[];
    }>('GET', '/v1/audit/verify');
    print(opts, res, () => {
      const b = res.firstBreak;
      const head = res.ok
        ? `audit log intact: ${res.checked} event(s) through #${res.lastSequence}, sealed through #${res.sealedThrough}`
        : b
          ? `audit log BROKEN at #${b.sequence} (${b.reason}): ${b.message}`
          : `audit log NOT VERIFIED: ${res.checked} event(s) through #${res.lastSequence} checked`;
      const regions = (res.regionMismatches ?? []).map(
        (m) => `\nregion ${m.region} disagrees in ${m.segment} at #${m.sequence}: ${m.message}`,
      );
      const unreadable = res.unreadableRegions.length
        ? `\nsealed segments unreadable in: ${res.unreadableRegions.join(', ')}`
        : '';
      return head + regions.join('') + unreadable;
    });
    if (!res.ok) process.exitCode = EXIT_FAILED;
  });

const tokens = program.command('tokens').description('API tokens (admin)');
tokens
  .command('create')
  .description('create a token; it is printed once and never stored')
  .requiredOption('--principal <name>', 'who the token stands for')
  .requiredOption(
    '--roles <roles>',
    'comma list of viewer, operator, approver, admin, monitor (reports region health only)',
  )
  .option(
    '--vantage <name>',
    'with role monitor (required then): the vantage point it reports for, and the only one',
  )
  .requiredOption('--reason <text>', 'why (audited)')
  .action(async (o: { principal: string; roles: string; vantage?: string; reason: string }) => {
    const { api, opts } = client();
    const res = await api.request<{ id: string; principal: string; roles: string[]; token: string }>(
      'POST',
      '/v1/tokens',
      {
        principal: o.principal,
        roles: o.roles
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
        ...(o.vantage ? { vantage: o.vantage } : {}),
        reason: o.reason,
      },
    );
    print(
      opts,
      res,
      () =>
        `token ${res.id} for ${res.principal} (${res.roles.join(', ')}):\n${res.token}\nstore it now: it is not shown again`,
    );
  });
tokens
  .command('list')
  .description('list tokens (not the tokens themselves)')
  .option('--all', 'include revoked tokens')
  .action(async (o: { all?: boolean }) => {
    const { api, opts } = client();
    const res = await api.request<{
      items: {
        id: string;
        principal: string;
        roles: string[];
        createdAt: string;
        createdBy: string;
        revokedAt: string | null;
      }[];
    }>('GET', `/v1/tokens${o.all ? '?includeRevoked=true' : ''}`);
    print(opts, res, () => {
      const t = table(['ID', 'PRINCIPAL', 'ROLES', 'CREATED', 'BY', 'REVOKED']);
      for (const k of res.items)
        t.push([k.id, k.principal, k.roles.join(', '), k.createdAt, k.createdBy, k.revokedAt ?? '']);
      return t.toString();
    });
  });
tokens
  .command('revoke <id>')
  .description('revoke a token at once')
  .requiredOption('--reason <text>', 'why (audited)')
  .action(async (id: string, o: { reason: string }) => {
    const { api, opts } = client();
    const res = await api.request<{ id: string; principal: string; revokedAt: string }>(
      'DELETE',
      `/v1/tokens/${encodeURIComponent(id)}?reason=${encodeURIComponent(o.reason)}`,
    );
    print(opts, res, () => `token ${res.id} of ${res.principal} revoked at ${res.revokedAt}`);
  });

program
  .command('config')
  .description('configuration file tools')
  .command('validate [file]')
  .description('validate switchyard.yaml (or $SWITCHYARD_CONFIG) and report every problem with its path')
  .action((file?: string) => {
    const path = file ?? process.env.SWITCHYARD_CONFIG ?? 'switchyard.yaml';
    const cfg = loadConfigFile(path);
    console.log(
      `${path}: valid (${Object.keys(cfg.apps).length} app(s): ${Object.keys(cfg.apps).join(', ')})`,
    );
  });

registerScheduleCommands(program, { client, table, print });
registerVerifyCommands(program, { client, table, print, watch });
registerDrillCommands(program, { client, table, watch });
registerSoftDeleteCommands(program, { client, table, print });
registerControlCommands(program, { client, print });
registerDnsRecordCommands(program, { client, print });
registerCheckpointCommands(program, { client, print });
registerDoctorCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ApiRequestError) {
    console.error(`error: ${err.message}${err.code && err.status ? ` (${err.status} ${err.code})` : ''}`);
    if (err.details !== undefined && program.opts<GlobalOptions>().json)
      console.error(JSON.stringify(err.details, null, 2));
    process.exitCode = err.status === 0 ? EXIT_FAILED : err.status < 500 ? EXIT_USAGE : EXIT_FAILED;
  } else if (err instanceof ConfigError) {
    console.error(err.message);
    process.exitCode = EXIT_USAGE;
  } else {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = EXIT_FAILED;
  }
});
