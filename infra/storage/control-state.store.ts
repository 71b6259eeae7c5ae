import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WITNESS, type AppConfig, type BucketConfig, type SwitchyardConfig } from '../config/config.schema';
import { isControlTombstone } from '../../workflows/control';
import { createS3Client, describeS3Error } from './s3.client';

/**
 * An app's control state (docs/fencing.md): which region serves the app, the fencing epoch, the one
 * region whose instances may accept writes and the fenced (halted) regions. The app's controller
 * workflow owns it and mirrors every change to every region's bucket, so that any surviving region
 * can tell where the app runs and the app's instances can fence themselves; readers take the newest
 * copy they can read (highest epoch, then highest revision).
 */
export interface ControlState {
  app: string;
  /** The region that serves the app (DNS points at it once committed). */
  activeRegion: string;
  /** Fencing epoch: raised by every fence and every compensation of a fence. */
  epoch: number;
  /** The one region whose instances may accept writes; null while fenced or in transition. */
  writer: string | null;
  /** Fenced regions: never made primary again except through a failback. */
  halted: string[];
  /** The operation that made this change; absent for the initial state taken from configuration. */
  operationId?: string;
  updatedAt: string;
  /**
   * Counts the controller's changes (0 for a state it never changed). Orders two copies with the
   * same epoch, e.g. before and after a promote. Absent in objects written before the controller.
   */
  revision?: number;
  /** The operation holding the app's controller (claim/release); null or absent when none. */
  currentOperation?: string | null;
  /**
   * What a soft delete has removed from the app (docs/soft-deletes.md): a DNS record or a region,
   * hidden and never used while tombstoned, for good once purged. Absent in objects written before
   * soft removal; always present (maybe empty) once read through normalizeControlState.
   */
  tombstones?: ControlTombstone[];
}

/** The kinds of soft delete that tombstone something in the control state. */
export type ControlTombstoneKind = 'dns-record-delete' | 'region-remove';

/**
 * One removal in the control state. `target` names what is removed: `dns-record:<record name>` or
 * `region:<region>` (workflows/control.ts builds them).
 */
export interface ControlTombstone {
  target: string;
  kind: ControlTombstoneKind;
  /** The soft-delete operation that removed it (and the only one that may undo or purge it). */
  operationId: string;
  deletedAt: string;
  undoableUntil: string;
  by: string;
  reason: string;
  /** Set by the purge: the removal is final (it stays until switchyard.yaml no longer names the target). */
  purgedAt?: string;
}

/** A control state as older versions wrote it (no writer, no halted). */
export type StoredControlState = Omit<ControlState, 'writer' | 'halted'> &
  Partial<Pick<ControlState, 'writer' | 'halted'>>;

/**
 * Reads any stored control state: objects written before fencing have no `writer`/`halted` and
 * read as `writer = activeRegion, halted = []`. Throws on what is not a control state at all.
 */
export function normalizeControlState(raw: unknown, app: string): ControlState {
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof o.activeRegion !== 'string' || typeof o.epoch !== 'number' || !Number.isInteger(o.epoch)) {
    throw new Error(`the control state of app "${app}" is malformed (needs activeRegion and a whole epoch)`);
  }
  const halted = Array.isArray(o.halted) ? o.halted.filter((h): h is string => typeof h === 'string') : [];
  const writer = o.writer === null ? null : typeof o.writer === 'string' ? o.writer : o.activeRegion;
  return {
    app: typeof o.app === 'string' ? o.app : app,
    activeRegion: o.activeRegion,
    epoch: o.epoch,
    writer,
    halted,
    ...(typeof o.operationId === 'string' ? { operationId: o.operationId } : {}),
    updatedAt: typeof o.updatedAt === 'string' ? o.updatedAt : new Date(0).toISOString(),
    revision: typeof o.revision === 'number' ? o.revision : 0,
    currentOperation: typeof o.currentOperation === 'string' ? o.currentOperation : null,
    tombstones: Array.isArray(o.tombstones) ? o.tombstones.filter(isControlTombstone) : [],
  };
}

/** Whether `a` is newer than `b`: higher epoch, then higher revision. */
export function isNewerControlState(a: ControlState, b: ControlState): boolean {
  return a.epoch !== b.epoch ? a.epoch > b.epoch : (a.revision ?? 0) > (b.revision ?? 0);
}

export interface RegionReadResult {
  region: string;
  ok: boolean;
  epoch?: number;
  revision?: number;
  error?: string;
}

export interface ControlStateRead {
  state: ControlState;
  /** Where the state came from: `buckets`, or `config` when no bucket holds one yet. */
  source: 'buckets' | 'config';
  regions: RegionReadResult[];
}

export class ControlStateStore {
  private readonly clients = new Map<string, S3Client>();

  /**
   * `requestTimeoutMs`/`maxAttempts` bound one region's read or write (a stopped S3 server must not
   * hold a lease refresh or a mirror for long).
   */
  constructor(
    private readonly config: SwitchyardConfig,
    private readonly options: { requestTimeoutMs?: number; maxAttempts?: number } = {},
  ) {}

  private app(app: string): AppConfig {
    const a = this.config.apps[app];
    if (!a) throw new Error(`unknown app "${app}"`);
    return a;
  }

  /**
   * Where the control state lives: every region's bucket and, when configured, the fencing witness
   * (named `witness`). Every quorum counts all of them (docs/fencing.md).
   */
  places(app: string): { region: string; bucket: BucketConfig }[] {
    const a = this.app(app);
    const regions = a.regions.map((r) => ({ region: r.name, bucket: r.bucket }));
    return a.fencing.witness ? [...regions, { region: WITNESS, bucket: a.fencing.witness.bucket }] : regions;
  }

  private place(app: string, region: string): BucketConfig {
    const p = this.places(app).find((x) => x.region === region);
    if (!p) throw new Error(`unknown region "${region}" of app "${app}"`);
    return p.bucket;
  }

  private client(app: string, region: string): S3Client {
    const key = `${app}/${region}`;
    let c = this.clients.get(key);
    if (!c) {
      c = createS3Client(this.place(app, region), {
        requestTimeoutMs: this.options.requestTimeoutMs ?? 5_000,
        maxAttempts: this.options.maxAttempts,
      });
      this.clients.set(key, c);
    }
    return c;
  }

  private key(app: string, region: string): { Bucket: string; Key: string } {
    const b = this.place(app, region);
    return { Bucket: b.name, Key: `${b.prefix}apps/${app}/control.json` };
  }

  initialState(app: string): ControlState {
    const active = this.app(app).regions.find((r) => r.role === 'active')!;
    return {
      app,
      activeRegion: active.name,
      epoch: 0,
      writer: active.name,
      halted: [],
      updatedAt: new Date(0).toISOString(),
      revision: 0,
      currentOperation: null,
      tombstones: [],
    };
  }

  async readRegion(app: string, region: string): Promise<ControlState | null> {
    try {
      const out = await this.client(app, region).send(new GetObjectCommand(this.key(app, region)));
      const text = await out.Body!.transformToString('utf8');
      return normalizeControlState(JSON.parse(text), app);
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  }

  async read(app: string): Promise<ControlStateRead> {
    const regions = this.places(app).map((p) => p.region);
    const results = await Promise.all(
      regions.map(async (region): Promise<[RegionReadResult, ControlState | null]> => {
        try {
          const s = await this.readRegion(app, region);
          return [{ region, ok: true, epoch: s?.epoch, revision: s?.revision }, s];
        } catch (err) {
          return [{ region, ok: false, error: describeS3Error(err) }, null];
        }
      }),
    );
    const states = results.map(([, s]) => s).filter((s): s is ControlState => s !== null);
    if (states.length === 0) {
      if (results.every(([r]) => !r.ok)) {
        throw new Error(
          `no bucket of app "${app}" could be read: ${results.map(([r]) => `${r.region}: ${r.error}`).join('; ')}`,
        );
      }
      return { state: this.initialState(app), source: 'config', regions: results.map(([r]) => r) };
    }
    const newest = states.reduce((a, b) => (isNewerControlState(b, a) ? b : a));
    return { state: newest, source: 'buckets', regions: results.map(([r]) => r) };
  }

  /**
   * Writes the state to every region's bucket and the witness; reports per bucket instead of
   * failing on the first.
   *
   * With `quorum`, it answers as soon as that many buckets hold the state and the others have had
   * `graceMs` more to answer: a stopped bucket then costs the grace, not its request timeouts. The
   * buckets still writing are reported `ok: false` ("no answer yet") and their writes go on in the
   * background; the controller mirrors again at the next change or retry, and readers take the
   * newest copy of a read quorum, which always includes one of the `quorum` buckets written.
   */
  async write(
    app: string,
    state: StoredControlState,
    options: { quorum?: number; graceMs?: number } = {},
  ): Promise<RegionReadResult[]> {
    const body = JSON.stringify(state, null, 2);
    const places = this.places(app);
    const results: (RegionReadResult | undefined)[] = places.map(() => undefined);
    const writes = places.map(async ({ region }, i): Promise<void> => {
      try {
        await this.client(app, region).send(
          new PutObjectCommand({ ...this.key(app, region), Body: body, ContentType: 'application/json' }),
        );
        results[i] = { region, ok: true, epoch: state.epoch, revision: state.revision };
      } catch (err) {
        results[i] = { region, ok: false, error: describeS3Error(err) };
      }
    });
    const all = Promise.all(writes);
    const quorum = options.quorum;
    if (quorum !== undefined && quorum < places.length) {
      const started = Date.now();
      let reached: Promise<void> | undefined;
      await new Promise<void>((resolve) => {
        void all.then(() => resolve());
        for (const w of writes) {
          void w.then(() => {
            if (reached || results.filter((r) => r?.ok).length < quorum) return;
            reached = new Promise<void>((r) => setTimeout(r, options.graceMs ?? 250)).then(resolve);
          });
        }
      });
      const waited = Date.now() - started;
      return places.map(
        ({ region }, i) =>
          results[i] ?? {
            region,
            ok: false,
            error: `no answer yet after ${waited} ms (the state is held by a quorum of ${quorum} without it; the write goes on)`,
          },
      );
    }
    await all;
    return results as RegionReadResult[];
  }

  close(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}
