import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces travel in the failure's encoded attributes (a payload), so the
 * payload codec encrypts them too: a rejection names its approver and comment, a failed step its
 * hosts. Without the codec they stay readable there. Loaded by path, in the workflow bundle and in
 * the worker's main thread (activities); clients read such failures whatever their converter.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
