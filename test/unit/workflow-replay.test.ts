import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowSource } from '../../infra/temporal/workflow-bundle';

/*
 * Workflow replay (docs/testing.md#workflow-replay): histories recorded from real operations
 * (test/support/record-workflow-histories.ts) replayed against the current workflow code. A change
 * that would make a running operation fail on its next worker (a soft delete waits in its window
 * for days, the app controller runs for ever) fails here with Temporal's nondeterminism error.
 * No server: the replay worker runs in this process.
 */

const DIR = resolve(__dirname, '../../../test/fixtures/workflow-histories');

interface Recorded {
  workflowType: string;
  workflowId: string;
  events: number;
  /** Temporal's protobuf History, base64 (the event types are listed beside it for people). */
  history: string;
}

describe('workflow replay of recorded histories', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('has recorded histories of the long-lived workflow types', () => {
    const types = files.map((f) => (JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Recorded).workflowType);
    for (const t of ['appControllerWorkflow', 'failoverWorkflow', 'restorePointDeleteWorkflow']) {
      assert.ok(types.includes(t), `a recorded ${t} history (found: ${types.join(', ')})`);
    }
  });

  for (const file of files) {
    it(`replays ${file} without a nondeterminism error`, async () => {
      const recorded = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Recorded;
      const history = temporal.api.history.v1.History.decode(Buffer.from(recorded.history, 'base64'));
      assert.equal(history.events.length, recorded.events, 'the file holds the whole history');
      await Worker.runReplayHistory(
        { ...workflowSource(), replayName: `replay-${file}` },
        history,
        recorded.workflowId,
      );
    });
  }
});
