import { ApplicationFailure } from '@temporalio/common';
import { customStepConfig, type FailoverConfig } from '../config/custom-steps';
import { postSignedWebhook, redact, snippet } from '../notify/webhook.notifier';
import { CUSTOM_STEP_ERRORS } from '../../workflows/custom-steps';
import type { FailoverMode } from '../../workflows/operation';

/**
 * The webhook of a custom step (docs/custom-steps.md): one signed JSON POST per attempt, the same
 * signature scheme as notifications (HMAC-SHA256 of `<timestamp>.<body>`, headers
 * `X-Switchyard-Timestamp` and `X-Switchyard-Signature: sha256=<hex>`). The URL and the secret come
 * from this worker's configuration, looked up by app and step name: the input (history) names the
 * step only, so whoever can start a workflow cannot send the worker's signed calls elsewhere.
 * Neither is in a log line or an error; errors name the URL's origin only, results the step.
 */

export type CustomStepAction = 'run' | 'compensate';

export interface CustomStepWebhookCall {
  app: string;
  operationId: string;
  step: string;
  mode: FailoverMode;
  action: CustomStepAction;
  timeoutSeconds: number;
  expectStatus: number[];
  /** The region the operation moves the app to, when it has one. */
  to?: string;
}

/** What the receiver gets as the JSON body. */
export interface CustomStepWebhookBody {
  operationId: string;
  app: string;
  step: string;
  mode: FailoverMode;
  action: CustomStepAction;
  to?: string;
}

export interface CustomStepWebhookResult {
  /** `webhook "<step>"` (no URL: results land in history). */
  target: string;
  status: number;
  durationMs: number;
}

export interface CustomStepActivityDeps {
  /** The worker's configuration (or just each app's `failover`): where the secrets are. */
  config: { apps: Record<string, { failover: Pick<FailoverConfig, 'steps'> }> };
  fetch?: typeof fetch;
  /** Milliseconds since the epoch: the signature's timestamp. */
  now?: () => number;
}

/** `X-Switchyard-Event` of a custom step's call. */
export const customStepEvent = (action: CustomStepAction) => `custom-step.${action}`;

/** `X-Switchyard-Delivery`: the same on every attempt of one call, so a receiver can drop repeats. */
export const customStepDeliveryId = (c: Pick<CustomStepWebhookCall, 'operationId' | 'step' | 'action'>) =>
  `${c.operationId}:${c.step}:${c.action}`;

export function createCustomStepActivities(deps: CustomStepActivityDeps) {
  return {
    /**
     * One attempt. Resolves when the answer's status is one of `expectStatus`. Any other answer is
     * a non-retryable failure (`custom-step-unexpected-status`), except 408, 429 and 5xx, which
     * like timeouts and network errors are retryable (`custom-step-unavailable`).
     */
    async callCustomStepWebhook(call: CustomStepWebhookCall): Promise<CustomStepWebhookResult> {
      const step = customStepConfig(deps.config, call.app, call.step);
      if (!step || step.type !== 'webhook' || !step.secret) {
        throw ApplicationFailure.nonRetryable(
          `app "${call.app}" has no webhook step "${call.step}" in this worker's configuration`,
          CUSTOM_STEP_ERRORS.webhookNotConfigured,
        );
      }
      const secret = step.secret;
      const configured = call.action === 'run' ? step.url : step.compensateUrl;
      if (!configured) {
        throw ApplicationFailure.nonRetryable(
          `custom step "${call.step}" of app "${call.app}" has no ${call.action === 'run' ? 'url' : 'compensateUrl'} in this worker's configuration`,
          CUSTOM_STEP_ERRORS.webhookNotConfigured,
        );
      }
      const url = new URL(configured);
      const target = `webhook "${call.step}"`;
      const hidden = [secret, url.pathname + url.search].filter((s) => s !== '/');
      const what = `custom step "${call.step}" (${call.action}): webhook ${url.origin}`;

      const body = JSON.stringify({
        operationId: call.operationId,
        app: call.app,
        step: call.step,
        mode: call.mode,
        action: call.action,
        ...(call.to ? { to: call.to } : {}),
      } satisfies CustomStepWebhookBody);
      const started = (deps.now ?? Date.now)();
      const timestamp = Math.floor(started / 1000);
      const sent = await postSignedWebhook(deps.fetch ?? fetch, {
        url: configured,
        timeoutSeconds: call.timeoutSeconds,
        secret,
        userAgent: 'switchyard-custom-step',
        event: customStepEvent(call.action),
        deliveryId: customStepDeliveryId(call),
        timestamp,
        body,
      });
      if ('noAnswer' in sent) {
        throw ApplicationFailure.retryable(
          redact(`${what}: ${sent.noAnswer}`, ...hidden),
          CUSTOM_STEP_ERRORS.webhookUnavailable,
        );
      }
      const { res, text } = sent;
      const durationMs = Math.max(0, (deps.now ?? Date.now)() - started);
      if (call.expectStatus.includes(res.status)) return { target, status: res.status, durationMs };

      const answer = redact(
        `${what} answered ${res.status}, expected ${call.expectStatus.join('/')}${snippet(text)}`,
        ...hidden,
      );
      if (res.status === 408 || res.status === 429 || res.status >= 500) {
        throw ApplicationFailure.retryable(answer, CUSTOM_STEP_ERRORS.webhookUnavailable);
      }
      throw ApplicationFailure.nonRetryable(answer, CUSTOM_STEP_ERRORS.webhookUnexpectedStatus);
    },
  };
}

export type CustomStepActivities = ReturnType<typeof createCustomStepActivities>;
