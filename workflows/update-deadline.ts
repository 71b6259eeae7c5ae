import {
  ApplicationFailure,
  defaultPayloadConverter,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';

/**
 * An Update sent by the API carries the time after which it no longer counts (header, epoch ms).
 * The API stops waiting then and answers 503 worker-unavailable; if a worker takes the Update later,
 * this refuses it, so that answer ("not applied") stays true (docs/temporal-security.md).
 * Runs only where the Update has a validator; validators do not run on replay.
 */
export const UPDATE_NOT_AFTER_HEADER = 'switchyard-update-not-after';

/** The `type` of the refusal of an Update that arrived after its deadline. */
export const UPDATE_DEADLINE_PASSED = 'update-deadline-passed';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      validateUpdate(input, next) {
        const header = input.headers[UPDATE_NOT_AFTER_HEADER];
        if (header) {
          const notAfter = defaultPayloadConverter.fromPayload<number>(header);
          // Workflow time: when the workflow task that delivers the Update started, by the server's clock.
          if (Date.now() > notAfter) {
            throw ApplicationFailure.nonRetryable(
              `the update arrived at ${new Date(Date.now()).toISOString()}, after its deadline ${new Date(notAfter).toISOString()}: not applied`,
              UPDATE_DEADLINE_PASSED,
            );
          }
        }
        next(input);
      },
    },
  ],
});
