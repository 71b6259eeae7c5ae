import type Table from 'cli-table3';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ScheduleView } from '../../infra/temporal/schedules.repository';
import type { ApiClient } from './api-client';
import { describeStarted, type SoftDeleteStarted } from './soft-delete.commands';

/** What the schedule commands need from the CLI's entry point (main.ts). */
export interface ScheduleCommandsContext {
  /** The API client and the global options, read when a command runs. */
  client(): { api: ApiClient; opts: { json?: boolean } };
  table(head: string[]): Table.Table;
  print(opts: { json?: boolean }, data: unknown, render: () => string): void;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90s`, `15m`, `1h`, `1d`, `1h30m` → seconds; anything else is refused with what is expected. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (!/^(\d+[smhd])+$/.test(t)) {
    throw new InvalidArgumentError(`expected a duration such as 90s, 15m, 1h or 1h30m (got "${text}")`);
  }
  let seconds = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)([smhd])/g)) seconds += Number(n) * UNITS[unit!]!;
  if (seconds === 0) throw new InvalidArgumentError('expected a duration longer than zero');
  return seconds;
}

/** Seconds as the largest units that divide them: 5400 → 1h30m. */
export function formatDuration(seconds: number): string {
  let rest = seconds;
  let out = '';
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out || '0s';
}

function timing(s: ScheduleView): string {
  return s.everySeconds !== undefined ? `every ${formatDuration(s.everySeconds)}` : `cron ${s.cron ?? '?'}`;
}

function lastResult(s: ScheduleView): string {
  const r = s.lastResult;
  if (!r) return '';
  if (r.skipped) return `skipped: ${r.reason ?? ''}`;
  if (!r.operationId) return `run ${r.runStatus}`;
  return `${r.operationId} ${r.phase ?? ''}${r.error ? ` (${r.error.message})` : ''}`;
}

function scheduleText(s: ScheduleView): string {
  return [
    `${s.name} (${s.kind}) of ${s.app}: ${timing(s)}, ${s.paused ? 'PAUSED' : 'active'}`,
    `  note: ${s.note}`,
    `  next run: ${s.nextRunAt ?? '-'}`,
    `  last run: ${s.lastRunAt ?? '-'}${s.lastResult ? `  result: ${lastResult(s)}` : ''}`,
    `  runs taken ${s.runs.taken}, skipped (overlap) ${s.runs.skippedOverlap}, missed (catch-up window ${formatDuration(s.catchupWindowSeconds)}) ${s.runs.missedCatchupWindow}`,
    `  created ${s.createdAt}${s.createdBy ? ` by ${s.createdBy}` : ''}; schedule id ${s.scheduleId}`,
  ].join('\n');
}

const path = (app: string, name?: string, action?: string) =>
  `/v1/apps/${encodeURIComponent(app)}/schedules` +
  (name ? `/${encodeURIComponent(name)}` : '') +
  (action ? `/${action}` : '');

/** Adds `switchyard schedules ...`: the CLI side of /v1/apps/{app}/schedules. */
export function registerScheduleCommands(program: Command, ctx: ScheduleCommandsContext): void {
  const schedules = program
    .command('schedules')
    .description('schedules that take restore points, verify them or run drills of an app');

  schedules
    .command('ls <app>', { isDefault: true })
    .description("list an app's schedules with their next run and last result")
    .action(async (app: string) => {
      const { api, opts } = ctx.client();
      const res = await api.request<{ items: ScheduleView[] }>('GET', path(app));
      ctx.print(opts, res, () => {
        const t = ctx.table([
          'NAME',
          'KIND',
          'TIMING',
          'STATE',
          'NEXT RUN',
          'LAST RUN',
          'LAST RESULT',
          'NOTE',
        ]);
        for (const s of res.items) {
          t.push([
            s.name,
            s.kind,
            timing(s),
            s.paused ? 'paused' : 'active',
            s.nextRunAt ?? '',
            s.lastRunAt ?? '',
            lastResult(s),
            s.note,
          ]);
        }
        return t.toString();
      });
    });

  schedules
    .command('show <app> <name>')
    .description('one schedule')
    .action(async (app: string, name: string) => {
      const { api, opts } = ctx.client();
      const s = await api.request<ScheduleView>('GET', path(app, name));
      ctx.print(opts, s, () => scheduleText(s));
    });

  schedules
    .command('create <app>')
    .description('create a schedule (default timing: restorePoints.schedule.everySeconds or half the RPO)')
    // Kinds are checked by the API.
    .requiredOption('--kind <kind>', 'what it runs: restore-point, verification or drill')
    .option('--name <name>', 'its name within the app (default: the kind)')
    .addOption(new Option('--every <duration>', 'interval, e.g. 15m, 1h, 1h30m').argParser(parseDuration))
    .addOption(
      new Option('--cron <expression>', 'cron expression (UTC unless prefixed TZ=...)').conflicts('every'),
    )
    .option('--paused', 'create it paused')
    .requiredOption('--reason <text>', 'why (the schedule keeps it as its note; audited)')
    .action(
      async (
        app: string,
        o: { kind: string; name?: string; every?: number; cron?: string; paused?: boolean; reason: string },
      ) => {
        const { api, opts } = ctx.client();
        const s = await api.request<ScheduleView>('POST', path(app), {
          kind: o.kind,
          ...(o.name ? { name: o.name } : {}),
          ...(o.every !== undefined ? { everySeconds: o.every } : {}),
          ...(o.cron ? { cron: o.cron } : {}),
          paused: o.paused ?? false,
          reason: o.reason,
        });
        ctx.print(opts, s, () => `created\n${scheduleText(s)}`);
      },
    );

  schedules
    .command('update <app> <name>')
    .description("change a schedule's timing")
    .addOption(new Option('--every <duration>', 'interval, e.g. 15m, 1h, 1h30m').argParser(parseDuration))
    .addOption(new Option('--cron <expression>', 'cron expression').conflicts('every'))
    .requiredOption('--reason <text>', 'why (audited)')
    .action(
      async (
        app: string,
        name: string,
        o: { every?: number; cron?: string; reason: string },
        cmd: Command,
      ) => {
        if (o.every === undefined && !o.cron) {
          cmd.error('error: give --every or --cron: the new timing', { exitCode: 2 });
        }
        const { api, opts } = ctx.client();
        const s = await api.request<ScheduleView>('PATCH', path(app, name), {
          ...(o.every !== undefined ? { everySeconds: o.every } : { cron: o.cron }),
          reason: o.reason,
        });
        ctx.print(opts, s, () => `updated\n${scheduleText(s)}`);
      },
    );

  for (const action of ['pause', 'unpause'] as const) {
    schedules
      .command(`${action} <app> <name>`)
      .description(`${action} a schedule; the reason becomes its note`)
      .requiredOption('--reason <text>', 'why (audited)')
      .action(async (app: string, name: string, o: { reason: string }) => {
        const { api, opts } = ctx.client();
        const s = await api.request<ScheduleView>('POST', path(app, name, action), { reason: o.reason });
        ctx.print(opts, s, () => `${action}d\n${scheduleText(s)}`);
      });
  }

  schedules
    .command('trigger <app> <name>')
    .description('run a schedule now (also when paused)')
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (app: string, name: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<{ app: string; name: string; triggeredAt: string }>(
        'POST',
        path(app, name, 'trigger'),
        { reason: o.reason },
      );
      ctx.print(
        opts,
        res,
        () =>
          `triggered ${res.name} of ${res.app} at ${res.triggeredAt}\nfollow it: switchyard schedules show ${res.app} ${res.name}`,
      );
    });

  schedules
    .command('backfill <app> <name>')
    .description('take now the runs the schedule would have taken between --from and --to')
    .requiredOption('--from <iso-time>', 'start, e.g. 2026-11-22T00:00:00Z')
    .requiredOption('--to <iso-time>', 'end (not in the future)')
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (app: string, name: string, o: { from: string; to: string; reason: string }) => {
      const { api, opts } = ctx.client();
      const s = await api.request<ScheduleView>('POST', path(app, name, 'backfill'), {
        from: o.from,
        to: o.to,
        reason: o.reason,
      });
      ctx.print(opts, s, () => `backfill of ${o.from} .. ${o.to} requested\n${scheduleText(s)}`);
    });

  schedules
    .command('delete <app> <name>')
    .description('soft-delete a schedule: paused and hidden now, deleted when the undo window ends')
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (app: string, name: string, o: { reason: string }) => {
      const { api, opts } = ctx.client();
      const res = await api.request<SoftDeleteStarted>(
        'DELETE',
        `${path(app, name)}?reason=${encodeURIComponent(o.reason)}`,
      );
      ctx.print(opts, res, () => describeStarted(`schedule ${name} of ${app}`, res));
    });
}
