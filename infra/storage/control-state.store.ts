import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AppConfig, SwitchyardConfig } from '../config/config.schema';
import { createS3Client, describeS3Error } from './s3.client';

/**
 * An app's control state: which region is active and the fencing epoch. Every change of active
 * region raises the epoch. The state is mirrored to every region's bucket so that any surviving
 * region can tell where the app runs; readers take the highest epoch they can read.
 */
export interface ControlState {
  app: string;
  activeRegion: string;
  epoch: number;
  updatedAt: string;
  /** The operation that made this change; absent for the initial state taken from configuration. */
  operationId?: string;
}

export interface RegionReadResult {
  region: string;
  ok: boolean;
  epoch?: number;
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

  constructor(private readonly config: SwitchyardConfig) {}

  private app(app: string): AppConfig {
    const a = this.config.apps[app];
    if (!a) throw new Error(`unknown app "${app}"`);
    return a;
  }

  private client(app: string, region: string): S3Client {
    const key = `${app}/${region}`;
    let c = this.clients.get(key);
    if (!c) {
      const r = this.app(app).regions.find((x) => x.name === region);
      if (!r) throw new Error(`unknown region "${region}" of app "${app}"`);
      c = createS3Client(r.bucket, { requestTimeoutMs: 5_000 });
      this.clients.set(key, c);
    }
    return c;
  }

  private key(app: string, region: string): { Bucket: string; Key: string } {
    const r = this.app(app).regions.find((x) => x.name === region)!;
    return { Bucket: r.bucket.name, Key: `${r.bucket.prefix}apps/${app}/control.json` };
  }

  initialState(app: string): ControlState {
    const active = this.app(app).regions.find((r) => r.role === 'active')!;
    return { app, activeRegion: active.name, epoch: 0, updatedAt: new Date(0).toISOString() };
  }

  async readRegion(app: string, region: string): Promise<ControlState | null> {
    try {
      const out = await this.client(app, region).send(new GetObjectCommand(this.key(app, region)));
      const text = await out.Body!.transformToString('utf8');
      return JSON.parse(text) as ControlState;
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  }

  async read(app: string): Promise<ControlStateRead> {
    const regions = this.app(app).regions.map((r) => r.name);
    const results = await Promise.all(
      regions.map(async (region): Promise<[RegionReadResult, ControlState | null]> => {
        try {
          const s = await this.readRegion(app, region);
          return [{ region, ok: true, epoch: s?.epoch }, s];
        } catch (err) {
          return [{ region, ok: false, error: describeS3Error(err) }, null];
        }
      }),
    );
    const states = results.map(([, s]) => s).filter((s): s is ControlState => s !== null);
    if (states.length === 0) {
      if (results.every(([r]) => !r.ok)) {
        throw new Error(
          `no region's bucket could be read for app "${app}": ${results.map(([r]) => `${r.region}: ${r.error}`).join('; ')}`,
        );
      }
      return { state: this.initialState(app), source: 'config', regions: results.map(([r]) => r) };
    }
    const newest = states.reduce((a, b) => (b.epoch > a.epoch ? b : a));
    return { state: newest, source: 'buckets', regions: results.map(([r]) => r) };
  }

  /** Writes the state to every region's bucket; reports per region instead of failing on the first. */
  async write(app: string, state: ControlState): Promise<RegionReadResult[]> {
    const body = JSON.stringify(state, null, 2);
    return Promise.all(
      this.app(app).regions.map(async (r): Promise<RegionReadResult> => {
        try {
          await this.client(app, r.name).send(
            new PutObjectCommand({ ...this.key(app, r.name), Body: body, ContentType: 'application/json' }),
          );
          return { region: r.name, ok: true, epoch: state.epoch };
        } catch (err) {
          return { region: r.name, ok: false, error: describeS3Error(err) };
        }
      }),
    );
  }

  close(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}
