import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { ArtifactMismatchError, type ArtifactStore } from './artifact.store';
import { type ArtifactRef, layout, type ObjectSetEntry } from './manifest';
import type { ArtifactSink, ArtifactSource } from './service-adapter.port';

/**
 * The ArtifactSink a snapshot writes into (the source region's backup bucket) and the
 * ArtifactSource a restore reads from (the target region's copy), over one ArtifactStore.
 */

export function artifactSink(
  store: ArtifactStore,
  at: { app: string; region: string; restorePointId: string; service: string },
  signal?: AbortSignal,
): ArtifactSink {
  const place = store.place(at.app, at.region);
  const objectsPrefix = layout.objectsFolder(at.restorePointId, at.service);
  return {
    async put(body, opts) {
      const key = layout.artifact(at.restorePointId, at.service, opts.extension);
      const stored = await store.upload(at.app, at.region, key, body, {
        contentType: opts.contentType,
        size: opts.size,
        onProgress: opts.onProgress,
        signal,
      });
      return { key, size: stored.size, sha256: stored.sha256, contentType: opts.contentType };
    },
    objectSet() {
      return { bucket: place.bucket, prefix: place.folder + objectsPrefix, io: store.io };
    },
    async putListing(entries: ObjectSetEntry[]) {
      const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const key = layout.artifact(at.restorePointId, at.service, 'objects.jsonl');
      const lines = sorted.map((e) => `${JSON.stringify(e)}\n`);
      const stored = await store.upload(at.app, at.region, key, Readable.from(lines), {
        contentType: 'application/x-ndjson',
        signal,
      });
      return {
        key,
        size: stored.size,
        sha256: stored.sha256,
        contentType: 'application/x-ndjson',
        objects: {
          prefix: objectsPrefix,
          count: sorted.length,
          bytes: sorted.reduce((n, e) => n + e.size, 0),
        },
      };
    },
  };
}

/**
 * Passes bytes through and fails the stream at its end when they do not hash to `expect`, so a
 * consumer (pg_restore, an HTTP hook) sees an error instead of a clean end of corrupt input.
 */
export function verifyingStream(what: string, expect: { size: number; sha256: string }): Transform {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      const actual = { size: bytes, sha256: hash.digest('hex') };
      if (actual.size !== expect.size || actual.sha256 !== expect.sha256) {
        done(new ArtifactMismatchError(what, expect, actual));
      } else done();
    },
  });
}

/** `body.pipe(check)`, with the source's errors passed on (pipe alone drops them). */
function checked(body: Readable, check: Transform): Readable {
  body.once('error', (err) => check.destroy(err));
  return body.pipe(check);
}

export function parseListing(text: string): ObjectSetEntry[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ObjectSetEntry);
}

export function artifactSource(
  store: ArtifactStore,
  at: { app: string; region: string },
  artifact: ArtifactRef,
  versionId?: string,
): ArtifactSource {
  const place = store.place(at.app, at.region);
  return {
    artifact,
    async open() {
      const { body } = await store.open(at.app, at.region, artifact.key, versionId);
      return checked(body, verifyingStream(artifact.key, artifact));
    },
    async listing() {
      const { body } = await store.open(at.app, at.region, artifact.key, versionId);
      const chunks: Buffer[] = [];
      for await (const c of checked(body, verifyingStream(artifact.key, artifact))) chunks.push(c as Buffer);
      return parseListing(Buffer.concat(chunks).toString('utf8'));
    },
    async openObject(entry: ObjectSetEntry) {
      const key = place.folder + (artifact.objects?.prefix ?? '') + entry.key;
      const { body } = await store.io.open(place.bucket, key);
      return checked(body, verifyingStream(`${artifact.objects?.prefix ?? ''}${entry.key}`, entry));
    },
  };
}
