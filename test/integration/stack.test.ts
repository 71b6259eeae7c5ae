import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { GetHostedZoneCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { createMotoZoneWithA, motoRoute53Client } from '../../infra/stack/moto.component';
import { createPowerDnsZoneWithA } from '../../infra/stack/powerdns.component';
import { ReadinessError, Supervisor } from '../../infra/stack/supervisor';
import { localS3Client } from '../../infra/stack/versitygw.component';
import { stack, uniqueName, waitFor } from '../support/stack';

describe('local stack servers', () => {
  it('has both regions with their bucket, versioning Enabled', async () => {
    const { s3 } = stack();
    assert.deepEqual(
      s3.map((r) => [r.region, r.bucket]),
      [
        ['east', 'switchyard-east'],
        ['west', 'switchyard-west'],
      ],
    );
    for (const region of s3) {
      const client = localS3Client(region);
      try {
        await client.send(new HeadBucketCommand({ Bucket: region.bucket }));
        const { Status } = await client.send(new GetBucketVersioningCommand({ Bucket: region.bucket }));
        assert.equal(Status, 'Enabled', `versioning of ${region.bucket}`);
      } finally {
        client.destroy();
      }
    }
  });

  it('round-trips a streamed multi-MiB upload byte for byte', async () => {
    const region = stack().s3[1];
    assert.ok(region);
    const size = 5 * 1024 * 1024 + 12345;
    const data = randomBytes(size);
    const sha = createHash('sha256').update(data).digest('hex');
    const key = `${uniqueName('roundtrip')}.bin`;
    // A stream in 64 KiB chunks: the SDK must send it as is, without aws-chunked encoding.
    const chunks = Array.from({ length: Math.ceil(size / 65536) }, (_, i) =>
      data.subarray(i * 65536, (i + 1) * 65536),
    );
    const client = localS3Client(region);
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: region.bucket,
          Key: key,
          Body: Readable.from(chunks),
          ContentLength: size,
        }),
      );
      const got = await client.send(new GetObjectCommand({ Bucket: region.bucket, Key: key }));
      assert.equal(got.ContentLength, size);
      const hash = createHash('sha256');
      for await (const chunk of got.Body as Readable) hash.update(chunk as Buffer);
      assert.equal(hash.digest('hex'), sha);
      assert.ok(got.VersionId, 'a versioned bucket returns a version id');
    } finally {
      client.destroy();
    }
  });

  it('PowerDNS answers a real DNS query for a record created through its API', async () => {
    const { powerdns } = stack();
    const zone = `${uniqueName('zone')}.switchyard.test`;
    const name = `www.${zone}`;
    await createPowerDnsZoneWithA(powerdns, zone, { name, ip: '127.0.1.7', ttl: 5 });
    const resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`${powerdns.dnsHost}:${powerdns.dnsPort}`]);
    assert.deepEqual(await resolver.resolve4(name), ['127.0.1.7']);

    await createPowerDnsZoneWithA(powerdns, zone, { name, ip: '127.0.1.8', ttl: 5 });
    await waitFor(async () => (await resolver.resolve4(name))[0] === '127.0.1.8', {
      what: `${name} to resolve to 127.0.1.8`,
      timeoutMs: 5000,
    });
  });

  it('moto holds a hosted zone created through the Route 53 API', async () => {
    const { moto } = stack();
    const zone = `${uniqueName('zone')}.switchyard.test`;
    const id = await createMotoZoneWithA(moto, zone, { name: `www.${zone}`, ip: '127.0.1.1', ttl: 5 });
    const r53 = motoRoute53Client(moto);
    try {
      const { HostedZone } = await r53.send(new GetHostedZoneCommand({ Id: id }));
      assert.equal(HostedZone?.Name, `${zone}.`);
      const { ResourceRecordSets = [] } = await r53.send(
        new ListResourceRecordSetsCommand({ HostedZoneId: id }),
      );
      const a = ResourceRecordSets.find((r) => r.Type === 'A' && r.Name === `www.${zone}.`);
      assert.deepEqual(
        a?.ResourceRecords?.map((r) => r.Value),
        ['127.0.1.1'],
      );
      assert.equal(a?.TTL, 5);
    } finally {
      r53.destroy();
    }
  });
});

describe('supervisor', () => {
  it('names the component and its log file when a process exits before it is ready', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'switchyard-sup-'));
    const sup = new Supervisor(runDir, { handleSignals: false });
    try {
      const started = Date.now();
      await assert.rejects(
        sup.start({
          name: 'broken-thing',
          command: process.execPath,
          args: ['-e', 'console.error("boom: config is wrong"); process.exit(3)'],
          readiness: { kind: 'tcp', host: '127.0.0.1', port: 1 },
          timeoutMs: 20_000,
        }),
        (err: unknown) => {
          assert.ok(err instanceof ReadinessError);
          assert.match(err.message, /broken-thing did not become ready: process exited .*code 3/);
          assert.ok(err.message.includes(join(runDir, 'logs', 'broken-thing.log')), err.message);
          assert.match(err.message, /boom: config is wrong/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 10_000, 'an early exit is reported without waiting for the deadline');
      assert.deepEqual(sup.running(), []);
    } finally {
      await sup.stopAll();
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  it('stops every child it started when the parent gets SIGTERM', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'switchyard-sup-'));
    // A parent that starts one long-running child through the supervisor and prints its pid.
    const script = [
      `const { Supervisor } = require(${JSON.stringify(require.resolve('../../infra/stack/supervisor'))});`,
      `const sup = new Supervisor(${JSON.stringify(runDir)});`,
      'sup.start({ name: "sleeper", command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"],',
      '  readiness: { kind: "fn", what: "started", check: async () => true } })',
      '  .then((p) => console.log(`child ${p.pid}`));',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const childPid = Number(
        await waitFor(() => /child (\d+)/.exec(out)?.[1], { what: 'the supervised child to be ready' }),
      );
      assert.doesNotThrow(() => process.kill(childPid, 0), 'child runs');
      const exited = new Promise((resolve) => parent.once('exit', (code) => resolve(code)));
      parent.kill('SIGTERM');
      assert.equal(await exited, 143);
      assert.throws(() => process.kill(childPid, 0), /ESRCH/, 'the child was stopped with its parent');
    } finally {
      parent.kill('SIGKILL');
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  it('reports a readiness timeout and stops the process', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'switchyard-sup-'));
    const sup = new Supervisor(runDir, { handleSignals: false });
    try {
      await assert.rejects(
        sup.start({
          name: 'never-ready',
          command: process.execPath,
          args: ['-e', 'console.log("waiting forever"); setInterval(() => {}, 1000)'],
          readiness: { kind: 'fn', what: 'a condition that never holds', check: async () => false },
          timeoutMs: 500,
        }),
        /never-ready did not become ready: timed out after 0.5s waiting for a condition that never holds[\s\S]*never-ready\.log[\s\S]*waiting forever/,
      );
      assert.deepEqual(sup.running(), []);
    } finally {
      await sup.stopAll();
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
