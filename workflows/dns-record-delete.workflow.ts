import { ApplicationFailure } from '@temporalio/workflow';
import { dnsRecordTarget, tombstoneOf } from './control';
import {
  absentSnapshots,
  describeSnapshots,
  DNS_RECORD_SOFT_REFUSALS,
  type DnsRecordSnapshot,
  type DnsRecordDeleteInput,
  normalizeRecordName,
} from './dns-record-soft';
import { controlChange, dnsRecords, readControl, whileClaimed } from './dns-record-steps';
import type { OperationStatus } from './operation';
import { runSoftDelete, softDeleteStatus } from './soft-delete-flow';

/**
 * Removes one of an app's DNS records (docs/soft-deletes.md, Removing a DNS record), along
 * runSoftDelete's steps: preflight keeps the record's exact record sets on every provider
 * (facts.records); the tombstone hides it in the control state (failovers skip it from then on)
 * and removes its sets from the providers; undo writes them back exactly — or, when a failover
 * moved the app meanwhile, as that failover would have written them — where the record is still
 * absent as Switchyard left it; the purge makes the removal final (purgedAt on the tombstone).
 */
export async function dnsRecordDeleteWorkflow(input: DnsRecordDeleteInput): Promise<OperationStatus> {
  const { app, spec, operationId } = input;
  const recordName = normalizeRecordName(spec.recordName);
  const target = dnsRecordTarget(recordName);
  const start = { ...input, kind: 'dns-record-delete' as const };
  const status = softDeleteStatus(start, { recordName });
  let saved: DnsRecordSnapshot[] = [];
  let undoAttempt = 0;

  return runSoftDelete(start, status, {
    noun: 'dns-record',
    what: `DNS record ${recordName}`,
    names: { recordName },
    deleting: [`DNS record ${recordName}`],
    undoRefusals: [DNS_RECORD_SOFT_REFUSALS.changed, DNS_RECORD_SOFT_REFUSALS.operationInProgress],

    async preflight(step) {
      const state = await readControl(app);
      const existing = tombstoneOf(state, target);
      if (existing && existing.operationId !== operationId) {
        throw ApplicationFailure.create({
          type: DNS_RECORD_SOFT_REFUSALS.alreadyDeleted,
          nonRetryable: true,
          message: `DNS record ${recordName} of app "${app}" is already removed (operation ${existing.operationId}); undo that operation to bring it back`,
          details: [{ operationId: existing.operationId }],
        });
      }
      saved = await dnsRecords.readDnsRecord({ app, name: recordName });
      status.facts.records = saved;
      status.facts.activeRegion = state.activeRegion;
      step.detail = `${recordName} holds ${describeSnapshots(saved)} (active region ${state.activeRegion}); kept to be written back by an undo`;
    },

    async tombstone(step, undoableUntil) {
      await whileClaimed(app, operationId, 'tombstone', async () => {
        await controlChange(app, operationId, 'tombstone', {
          type: 'tombstone',
          operationId,
          tombstone: {
            target,
            kind: 'dns-record-delete',
            operationId,
            deletedAt: new Date().toISOString(),
            undoableUntil,
            by: input.requestedBy,
            reason: spec.reason,
          },
        });
        try {
          await dnsRecords.writeDnsRecord({
            app,
            name: recordName,
            from: saved,
            to: absentSnapshots(saved),
            since: 'read at preflight',
          });
        } catch (err) {
          // Not removed from every provider: put back what was removed, and do not hide it.
          await dnsRecords
            .writeDnsRecord({ app, name: recordName, from: absentSnapshots(saved), to: saved, since: 'left' })
            .catch((e: unknown) => (status.facts.tombstoneRollbackError = String(e)));
          await controlChange(
            app,
            operationId,
            'tombstone:undo',
            { type: 'untombstone', target, operationId },
            { surely: true },
          );
          throw err;
        }
      });
      step.detail = `${recordName} tombstoned and removed from ${saved.map((s) => s.provider).join(', ')}: failovers skip it`;
      return { providers: saved.map((s) => s.provider) };
    },

    async undo(step) {
      const key = `undo${++undoAttempt}`;
      await whileClaimed(app, operationId, key, async () => {
        const state = await readControl(app);
        const leftIn = status.facts.activeRegion as string;
        let to = saved;
        if (state.activeRegion !== leftIn) {
          // The saved sets point at the region the app left: write what a failover would have.
          to = await dnsRecords.dnsRecordAsFailoverWrites({
            app,
            name: recordName,
            from: leftIn,
            to: state.activeRegion,
          });
          status.facts.undoWrote = {
            activeRegion: state.activeRegion,
            records: to,
            note: `the app moved from ${leftIn} to ${state.activeRegion} during the window: the record is written as a failover to ${state.activeRegion} writes it, not as it was saved`,
          };
        }
        await dnsRecords.writeDnsRecord({
          app,
          name: recordName,
          from: absentSnapshots(saved),
          to,
          since: 'left',
        });
        await controlChange(app, operationId, `${key}:untombstone`, {
          type: 'untombstone',
          target,
          operationId,
        });
        step.detail =
          `${recordName} is back: ${describeSnapshots(to)}` +
          (to === saved ? ' (as it was)' : ` (as a failover to ${state.activeRegion} writes it)`);
      });
    },

    async purge(step) {
      await controlChange(
        app,
        operationId,
        'purge',
        { type: 'purge-tombstone', target, operationId },
        { surely: true },
      );
      step.detail = `the removal of ${recordName} is final: drop it from apps.${app}.dns.records in switchyard.yaml`;
      return { final: true };
    },
  });
}
