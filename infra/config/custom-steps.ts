import { z } from 'zod';
import type { CustomStepPlan } from '../../workflows/custom-steps';
import { automaticPolicySchema, failoverModeSchema } from './failover-mode';
import { FAILOVER_MODES, FAILOVER_PLAN_STEPS, type FailoverMode } from '../../workflows/operation';

/**
 * `apps.<app>.failover.steps` (docs/custom-steps.md): webhooks and checkpoints added to the
 * failover plans before or after built-in steps. Validated at load with errors naming the exact
 * path, e.g. `apps.shop.failover.steps[1].before: unknown built-in step "fense" (...)`.
 */

const BUILTIN_STEPS = [...new Set(FAILOVER_MODES.flatMap((m) => FAILOVER_PLAN_STEPS[m]))];

const WEBHOOK_DEFAULT_TIMEOUT = 30;
const WEBHOOK_MAX_TIMEOUT = 600;
const CHECKPOINT_DEFAULT_TIMEOUT = 3600;
const CHECKPOINT_MAX_TIMEOUT = 7 * 86400;
const DEFAULT_EXPECT_STATUS = [200, 201, 202, 204];

const httpUrl = z
  .string()
  .url('expected a URL')
  .refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL');

const customStepSchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,39}$/,
        'expected a lowercase name: a letter, then letters, digits or dashes (max 40)',
      ),
    type: z.enum(['webhook', 'checkpoint'], { error: 'expected "webhook" or "checkpoint"' }),
    /** Exactly one of before/after: a built-in step of the plan. */
    before: z.string().min(1).optional(),
    after: z.string().min(1).optional(),
    url: httpUrl.optional(),
    compensateUrl: httpUrl.optional(),
    /** HMAC-SHA256 key of the webhook's signature; write it as a ${ENV} reference. */
    secret: z.string().min(16, 'expected at least 16 characters').optional(),
    timeoutSeconds: z.number().int().min(1).max(CHECKPOINT_MAX_TIMEOUT).optional(),
    expectStatus: z
      .array(z.number().int().min(100, 'expected an HTTP status').max(599, 'expected an HTTP status'))
      .min(1, 'list at least one status, or leave expectStatus out for 200/201/202/204')
      .optional(),
    /** The modes whose plans get this step; by default every mode whose plan has its before/after step. */
    appliesTo: z
      .array(z.enum(FAILOVER_MODES, { error: `expected one of ${FAILOVER_MODES.join(', ')}` }))
      .min(1, 'list at least one mode, or leave appliesTo out')
      .optional(),
  })
  .strict();

type RawCustomStep = z.output<typeof customStepSchema>;

function checkStep(s: RawCustomStep, i: number, ctx: z.RefinementCtx): void {
  const at = (...path: (string | number)[]) => ['steps', i, ...path];
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path: at(...path), message });

  if (BUILTIN_STEPS.includes(s.name)) {
    issue(['name'], `"${s.name}" is a built-in step; choose another name`);
  }
  if (s.before !== undefined && s.after !== undefined) {
    issue([], 'set before or after, not both');
  } else if (s.before === undefined && s.after === undefined) {
    issue([], 'set before or after: the built-in step this one runs next to');
  } else {
    const key = s.before !== undefined ? 'before' : 'after';
    const anchor = (s.before ?? s.after)!;
    if (!BUILTIN_STEPS.includes(anchor)) {
      issue([key], `unknown built-in step "${anchor}" (built-in steps: ${BUILTIN_STEPS.join(', ')})`);
    } else {
      s.appliesTo?.forEach((mode, j) => {
        if (!FAILOVER_PLAN_STEPS[mode].includes(anchor)) {
          issue(['appliesTo', j], `${mode} failovers have no step "${anchor}"`);
        }
      });
    }
  }

  const maxTimeout = s.type === 'webhook' ? WEBHOOK_MAX_TIMEOUT : CHECKPOINT_MAX_TIMEOUT;
  if (s.timeoutSeconds !== undefined && s.timeoutSeconds > maxTimeout) {
    issue(['timeoutSeconds'], `at most ${maxTimeout} for a ${s.type} step`);
  }
  if (s.type === 'webhook') {
    if (s.url === undefined) issue(['url'], 'required for a webhook step: where the signed POST goes');
    if (s.secret === undefined) {
      issue(['secret'], 'required for a webhook step: the HMAC-SHA256 key, as a ${ENV} reference');
    }
  } else {
    for (const field of ['url', 'compensateUrl', 'secret', 'expectStatus'] as const) {
      if (s[field] !== undefined) issue([field], `a checkpoint calls nothing: remove ${field}`);
    }
  }
}

/** `apps.<app>.failover`. */
export const failoverSchema = z
  .object({
    /** Custom steps, in the order they run at the same place. */
    steps: z.array(customStepSchema).default([]),
    /** When the active region is down: manual (approval) or automatic (docs/health-monitoring.md). */
    mode: failoverModeSchema,
    automatic: automaticPolicySchema.optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Map<string, number>();
    f.steps.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'name'],
          message: `duplicate step name "${s.name}" (also steps[${first}])`,
        });
      }
      seen.set(s.name, i);
      checkStep(s, i, ctx);
    });
  })
  .transform((f) => ({
    ...f,
    steps: f.steps.map((s) => {
      const anchor = (s.before ?? s.after)!;
      return {
        ...s,
        timeoutSeconds:
          s.timeoutSeconds ?? (s.type === 'webhook' ? WEBHOOK_DEFAULT_TIMEOUT : CHECKPOINT_DEFAULT_TIMEOUT),
        expectStatus: s.expectStatus ?? (s.type === 'webhook' ? DEFAULT_EXPECT_STATUS : []),
        appliesTo: s.appliesTo ?? FAILOVER_MODES.filter((m) => FAILOVER_PLAN_STEPS[m].includes(anchor)),
      };
    }),
  }));

export type FailoverConfig = z.output<typeof failoverSchema>;
export type CustomStepConfig = FailoverConfig['steps'][number];

/** What `apps.<app>.failover` is when the file leaves it out. */
export const DEFAULT_FAILOVER_CONFIG: FailoverConfig = { steps: [], mode: 'manual' };

/**
 * The custom steps of one mode's plan, in configuration order, as the API puts them into the
 * workflow's input: names, places and bounds, never the URLs or the secret (the worker reads
 * those from its own configuration by app and step name).
 */
export function buildCustomSteps(
  app: { failover: Pick<FailoverConfig, 'steps'> },
  mode: FailoverMode,
): CustomStepPlan[] {
  return app.failover.steps
    .filter((s) => s.appliesTo.includes(mode))
    .map((s) => ({
      name: s.name,
      type: s.type,
      ...(s.before !== undefined ? { before: s.before } : { after: s.after }),
      ...(s.type === 'webhook' ? { compensates: s.compensateUrl !== undefined } : {}),
      timeoutSeconds: s.timeoutSeconds,
      expectStatus: s.expectStatus,
    }));
}

/** One custom step of an app as configured (with its secret), for the worker; undefined if none. */
export function customStepConfig(
  config: { apps: Record<string, { failover: Pick<FailoverConfig, 'steps'> }> },
  app: string,
  step: string,
): CustomStepConfig | undefined {
  return config.apps[app]?.failover.steps.find((s) => s.name === step);
}
