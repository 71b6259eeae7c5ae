import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client, Connection, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  PAYLOAD_KEY_ENV,
  REFUSED_ENCODING,
} from '../../infra/temporal/payload-codec';
import { UPDATE_DEADLINE_PASSED } from '../../workflows/update-deadline';
import {
  appSlotWorkflowId,
  coordinatorTaskQueue,
  decideApprovalUpdate,
  parseOperationId,
} from '../../workflows/definitions';
import type { ApprovalDecision } from '../../workflows/approval';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture, startWorker } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Temporal under hostile conditions (issue 14, docs/temporal-security.md): with the payload codec
 * on, history holds no readable plan, facts or identities and an Update or a start without the key
 * is refused; every Update the API sends has a deadline and a truthful 503 when no worker takes it.
 */
const UPDATE_TIMEOUT_SECONDS = 3;
const KEY = randomBytes(32);
const REASON = `reason-marker-${randomUUID()}`;
const COMMENT = `comment-marker-${randomUUID()}`;

describe('Temporal: the payload codec and update deadlines', () => {
  let h: ApiHarness;
  let raw: Client;
  const previousKey = process.env[PAYLOAD_KEY_ENV];

  before(async () => {
    // The API in this process and the worker processes read the key from the environment only.
    process.env[PAYLOAD_KEY_ENV] = KEY.toString('base64');
    const fx = await startAppFixture({
      payloadCodec: 'aes-256-gcm',
      updateTimeoutSeconds: UPDATE_TIMEOUT_SECONDS,
      failoverApproval: {
        required: 1,
        roles: ['approver'],
        excludeRequester: true,
        expiresAfterSeconds: 600,
      },
      softDelete: { windowSeconds: 600 },
    });
    h = new ApiHarness(fx);
    await h.start();
    // Someone with access to the namespace but without the key.
    raw = new Client({
      connection: await Connection.connect({ address: fx.config.temporal.address }),
      namespace: fx.config.temporal.namespace,
    });
  });
  after(async () => {
    await raw?.connection.close();
    await h?.stop();
    if (previousKey === undefined) delete process.env[PAYLOAD_KEY_ENV];
    else process.env[PAYLOAD_KEY_ENV] = previousKey;
  });

  const operator = () => h.as(h.fx.tokens.operator);
  const softDeletes = new Set<string>();
  /** The workflow execution behind an operation: a failover in the app's slot, a soft delete under its own id. */
  const execution = (op: string) => {
    const id = parseOperationId(op)!;
    return softDeletes.has(op)
      ? { workflowId: id.ownWorkflowId, runId: undefined }
      : { workflowId: appSlotWorkflowId(id.app, 'operation'), runId: id.runId };
  };

  /** A schedule created and soft-deleted: an operation waiting in its undo window. */
  async function softDeletedSchedule(name: string): Promise<string> {
    const base = `/v1/apps/${h.fx.app}/schedules`;
    const created = await h
      .http()
      .post(base)
      .set(operator())
      .send({ kind: 'restore-point', name, cron: '0 3 * * *', reason: REASON });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const del = await h.http().delete(`${base}/${name}?reason=${REASON}`).set(operator());
    assert.equal(del.status, 202, JSON.stringify(del.body));
    const id = (del.body as { operationId: string }).operationId;
    softDeletes.add(id);
    await h.phase(id, (p) => p === 'Undoable', 'undoable');
    return id;
  }

  let decided = '';

  it(
    'an update or a start without the key is refused; with the key it counts',
    { timeout: 120_000 },
    async () => {
      const op = await h.requestFailover('west', REASON);
      await h.awaitingRound(op, 1);
      const { workflowId, runId } = execution(op);
      const request = {
        principal: { name: 'bob', roles: ['approver' as const] },
        decision: 'approve' as const,
        comment: COMMENT,
      };
      // Senders without the key (their payloads in clear, or sealed with another key) that can still
      // read the workflow's answer, sealed with the real key; and one that cannot read it either.
      const key = new AesGcmPayloadCodec(KEY);
      const sender = (encode: (p: Payload[]) => Promise<Payload[]>) =>
        new Client({
          connection: raw.connection,
          namespace: h.fx.config.temporal.namespace,
          dataConverter: { payloadCodecs: [{ encode, decode: (p) => key.decode(p) }] },
        });
      const anotherKey = new AesGcmPayloadCodec(randomBytes(32));
      for (const [who, client, encoding] of [
        ['no key', sender((p) => Promise.resolve(p)), REFUSED_ENCODING.plaintext],
        ['another key', sender((p) => anotherKey.encode(p)), REFUSED_ENCODING.unknownKey],
      ] as const) {
        const refused = await client.workflow
          .getHandle(workflowId, runId)
          .executeUpdate(decideApprovalUpdate, { args: [request] })
          .then(
            () => 'accepted',
            (err: unknown) => err,
          );
        assert.ok(refused instanceof WorkflowUpdateFailedError, `${who}: ${String(refused)}`);
        assert.match(String(refused.cause?.message), new RegExp(encoding), who);
      }
      // A client with no codec at all cannot even read the answer (encrypted, like everything).
      const blind = await raw.workflow
        .getHandle(workflowId, runId)
        .executeUpdate(decideApprovalUpdate, { args: [request] })
        .then(
          () => 'accepted',
          (err: unknown) => err,
        );
      assert.match(String(blind), new RegExp(`Unknown encoding: ${ENCRYPTED_ENCODING}`));
      assert.deepEqual(
        (await h.operation(op)).approval!.decisions,
        [],
        'the refused updates left no decision',
      );

      // A workflow started without the key never runs: its first workflow task fails.
      const stray = await raw.workflow.start('appControllerWorkflow', {
        taskQueue: coordinatorTaskQueue(h.fx.config.temporal.taskQueuePrefix),
        workflowId: `switchyard.test.${randomUUID()}`,
        args: [{ app: h.fx.app }],
      });
      try {
        const failed = await waitFor(
          async () => {
            const history = await raw.workflow.getHandle(stray.workflowId).fetchHistory();
            return history.events?.find(
              (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            );
          },
          { what: 'the keyless start to fail its workflow task', timeoutMs: 30_000, intervalMs: 200 },
        );
        // The failure's message is encrypted too (infra/temporal/failure-converter.ts): open it with the key.
        const failure = failed.workflowTaskFailedEventAttributes!.failure!;
        const [attributes] = await key.decode([failure.encodedAttributes!]);
        assert.match(
          String((defaultPayloadConverter.fromPayload(attributes!) as { message: string }).message),
          new RegExp(REFUSED_ENCODING.plaintext),
        );
      } finally {
        await stray.terminate('test cleanup');
      }

      // The API's own client has the key: bob's decision counts (a rejection, so the app stays put).
      const rejected = await h.decide(op, h.fx.tokens.approver, 'reject', COMMENT);
      assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
      const decisions = (rejected.body as { approval: { decisions: ApprovalDecision[] } }).approval.decisions;
      assert.deepEqual(
        decisions.map((d) => [d.principal, d.decision, d.comment]),
        [['bob', 'reject', COMMENT]],
      );
      await h.phase(op, (p) => p === 'Rejected', 'rejected');
      decided = op;
    },
  );

  it(
    'history holds no readable plan, facts or identities: every payload is encrypted',
    { timeout: 120_000 },
    async () => {
      const ops = [await softDeletedSchedule('nightly'), ...(decided ? [decided] : [])];
      const codec = new AesGcmPayloadCodec(KEY);
      for (const op of ops) {
        const { workflowId, runId } = execution(op);
        const history = await raw.workflow.getHandle(workflowId, runId).fetchHistory();
        const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
        for (const secret of [REASON, COMMENT, '"alice"', '"bob"']) {
          const where = (history.events ?? [])
            .filter((e) =>
              Buffer.from(temporal.api.history.v1.HistoryEvent.encode(e).finish()).includes(secret),
            )
            .map((e) => temporal.api.enums.v1.EventType[e.eventType!]);
          assert.equal(
            bytes.includes(secret),
            false,
            `${op}: "${secret}" readable in history (${where.join(', ')})`,
          );
        }
        const payloads = payloadsOf(history);
        assert.ok(payloads.length >= 3, `${op}: ${payloads.length} payloads`);
        for (const p of payloads) {
          assert.equal(
            Buffer.from(p.metadata!.encoding!).toString(),
            ENCRYPTED_ENCODING,
            `${op}: a payload in clear`,
          );
        }
        // The same payloads, opened with the key, hold what the raw view must not show.
        const opened = Buffer.concat(
          (await codec.decode(payloads)).map((p) =>
            Buffer.from(temporal.api.common.v1.Payload.encode(p).finish()),
          ),
        );
        assert.ok(opened.includes(REASON), `${op}: the reason is in the decrypted payloads`);
        assert.ok(opened.includes('"alice"'), `${op}: the requester is in the decrypted payloads`);
      }
      assert.ok(decided, 'the failover of the first test is checked too');
    },
  );

  /**
   * Sends a request with no worker up: 503 within the bound, naming the reason. "not applied" as a
   * rule; "unknown" when Temporal handed the update's workflow task to a poll the stopped worker
   * left behind (the task shows as started before the deadline): the API cannot tell a dead worker
   * from a slow one, and says so.
   */
  const outcomes: string[] = [];
  async function refusedWithoutWorker(what: string, send: () => Promise<{ status: number; body: unknown }>) {
    const started = Date.now();
    const res = await send();
    const took = Date.now() - started;
    const body = res.body as {
      error: string;
      message: string;
      details: { outcome: string; updateId: string };
    };
    const said = `${what}: ${JSON.stringify(body)}`;
    assert.equal(res.status, 503, said);
    if (body.error === 'worker-unavailable') {
      assert.match(
        body.message,
        new RegExp(`no worker took the update within ${UPDATE_TIMEOUT_SECONDS} s`),
        said,
      );
      assert.equal(body.details.outcome, 'not-applied', said);
    } else {
      assert.equal(body.error, 'update-outcome-unknown', said);
      assert.match(body.message, /a worker took a workflow task at .*before the deadline/, said);
      assert.equal(body.details.outcome, 'unknown', said);
    }
    outcomes.push(`${what}: ${body.details.outcome} after ${took} ms`);
    // The deadline, plus at most the short check (3 s) of where the update stands.
    assert.ok(
      took >= UPDATE_TIMEOUT_SECONDS * 1000 - 100 && took < UPDATE_TIMEOUT_SECONDS * 1000 + 7_000,
      `${what} took ${took} ms`,
    );
    return body.details.updateId;
  }

  it(
    'with no worker, approve, cancel and undo answer 503 worker-unavailable within the deadline; a worker that comes back refuses them; then the same requests work',
    { timeout: 180_000 },
    async (t) => {
      const softDelete = await softDeletedSchedule('hourly');
      const failover = await h.requestFailover('west', REASON);
      await h.awaitingRound(failover, 1);

      // Stopped cleanly: a SIGKILLed worker's polls linger in Temporal, which may hand the update's
      // workflow task to the dead worker; the API then (truthfully) says update-outcome-unknown.
      await h.worker.kill('SIGTERM');
      const late = [
        {
          op: failover,
          updateId: await refusedWithoutWorker('approve', () =>
            h.decide(failover, h.fx.tokens.approver, 'approve', COMMENT),
          ),
        },
        {
          op: failover,
          updateId: await refusedWithoutWorker('cancel', () =>
            h.http().post(`/v1/operations/${failover}/cancel`).set(operator()).send({ reason: REASON }),
          ),
        },
        {
          op: softDelete,
          updateId: await refusedWithoutWorker('undo', () =>
            h.http().post(`/v1/operations/${softDelete}/undo`).set(operator()).send({ reason: REASON }),
          ),
        },
      ];

      // Back: Temporal delivers the waiting updates, and the workflows refuse every one of them.
      h.worker = await startWorker(h.fx);
      const client = await h.fx.temporal();
      // Temporal may have dropped them instead (never accepted, nothing left to deliver): not applied either way.
      for (const { op, updateId } of late) {
        const { workflowId, runId } = execution(op);
        const outcome = await client.workflow
          .getHandle(workflowId, runId)
          .getUpdateHandle(updateId)
          .result()
          .then(
            () => 'applied',
            (err: unknown) => err,
          );
        const refusedLate =
          outcome instanceof WorkflowUpdateFailedError &&
          (outcome.cause as { type?: string }).type === UPDATE_DEADLINE_PASSED;
        const dropped =
          outcome instanceof WorkflowNotFoundError && /update .* not found/.test(outcome.message);
        assert.ok(refusedLate || dropped, `update ${updateId}: ${String(outcome)}`);
        outcomes.push(`${updateId}: ${refusedLate ? 'refused late by the workflow' : 'dropped by Temporal'}`);
      }
      t.diagnostic(outcomes.join('; '));
      const waiting = await h.operation(failover);
      assert.equal(waiting.phase, 'AwaitingApproval');
      assert.deepEqual(waiting.approval!.decisions, [], 'the approval that got a 503 did not count');
      assert.equal((await h.operation(softDelete)).phase, 'Undoable', 'the undo that got a 503 did not undo');

      // The same requests with a worker up.
      const undone = await h
        .http()
        .post(`/v1/operations/${softDelete}/undo`)
        .set(operator())
        .send({ reason: REASON });
      assert.equal(undone.status, 200, JSON.stringify(undone.body));
      const approved = await h.decide(failover, h.fx.tokens.approver, 'approve', COMMENT);
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      const cancelled = await h
        .http()
        .post(`/v1/operations/${failover}/cancel`)
        .set(operator())
        .send({ reason: REASON });
      // Cancelled, or too late because the approved failover already committed: an answer either way.
      assert.ok(
        cancelled.status === 202 ||
          (cancelled.status === 409 && cancelled.body.error === 'already-committed'),
        JSON.stringify(cancelled.body),
      );
    },
  );
});

/**
 * Every payload of a history except search attributes (Temporal must read them: in clear by design)
 * and Update headers (no codec sees them; the API puts only the Update's deadline there).
 */
function payloadsOf(history: temporal.api.history.v1.IHistory): Payload[] {
  const out: Payload[] = [];
  const walk = (node: unknown, key: string) => {
    if (!node || typeof node !== 'object' || key === 'searchAttributes' || key === 'header') return;
    if (node instanceof Uint8Array) return;
    const o = node as Record<string, unknown>;
    const metadata = o.metadata as Record<string, Uint8Array> | undefined;
    if (metadata && typeof metadata === 'object' && metadata.encoding instanceof Uint8Array) {
      out.push(o as Payload);
      return;
    }
    for (const [k, v] of Object.entries(o)) walk(v, k);
  };
  walk(history, '');
  return out;
}
