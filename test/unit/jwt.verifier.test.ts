import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import {
  JwtVerifier,
  looksLikeJwt,
  oidcSchema,
  OidcUnavailableError,
  type OidcConfigInput,
} from '../../infra/auth/jwt.verifier';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A real JWKS endpoint on loopback; `keys` can change between requests (rotation). */
class JwksServer {
  keys: JWK[] = [];
  hits = 0;
  status = 200;
  private server: Server | undefined;
  issuer = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      this.hits += 1;
      res.writeHead(this.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: this.keys }));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const AUDIENCE = 'switchyard-api';

/** The principal and its roles; the credential (issuer, subject) is checked on its own. */
function nameAndRoles(v: { principal: string; roles: string[] } | null) {
  return v && { principal: v.principal, roles: v.roles };
}

describe('JwtVerifier against a real JWKS endpoint', () => {
  const idp = new JwksServer();
  let current: SigningKey;
  let other: SigningKey;

  before(async () => {
    await idp.start();
    current = await signingKey('key-1');
    other = await signingKey('key-1'); // same kid, different key: a forger's guess
  });
  after(() => idp.stop());
  beforeEach(() => {
    idp.keys = [current.jwk];
    idp.status = 200;
  });

  function config(overrides: Partial<OidcConfigInput> = {}): OidcConfigInput {
    return {
      issuer: idp.issuer,
      audience: AUDIENCE,
      roleMapping: {
        'dr-operators': ['viewer', 'operator'],
        'dr-approvers': ['approver'],
        admins: ['admin'],
      },
      ...overrides,
    };
  }

  async function token(
    claims: JWTPayload,
    opts: { key?: SigningKey; iss?: string; aud?: string; exp?: number | string; alg?: string } = {},
  ): Promise<string> {
    const key = opts.key ?? current;
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(opts.iss ?? idp.issuer)
      .setAudience(opts.aud ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m');
    return jwt.sign(key.privateKey);
  }

  it('accepts a valid token and maps its roles claim', async () => {
    const v = new JwtVerifier(config());
    const t = await token({ sub: 'alice', roles: ['dr-operators', 'dr-approvers', 'unrelated'] });
    assert.deepEqual(nameAndRoles(await v.verify(t)), {
      principal: 'alice',
      roles: ['viewer', 'operator', 'approver'],
    });
    const verified = (await v.verify(t))!;
    assert.deepEqual([verified.issuer, verified.subject], [idp.issuer, 'alice']);
  });

  it('reads the principal and the roles from the configured (dotted) claims', async () => {
    const v = new JwtVerifier(config({ principalClaim: 'email', rolesClaim: 'realm_access.roles' }));
    const t = await token({ sub: 'f3a1', email: 'bob@example.com', realm_access: { roles: ['admins'] } });
    assert.deepEqual(nameAndRoles(await v.verify(t)), { principal: 'bob@example.com', roles: ['admin'] });
  });

  it("reads a monitor's vantage point from vantageClaim when configured, and only then", async () => {
    const claims = { sub: 'probe-1', roles: ['monitors'], switchyard: { vantage: 'east' } };
    const roleMapping = { monitors: ['monitor' as const] };
    const bound = new JwtVerifier(config({ roleMapping, vantageClaim: 'switchyard.vantage' }));
    assert.equal((await bound.verify(await token(claims)))?.vantage, 'east');
    assert.equal(
      (await bound.verify(await token({ ...claims, switchyard: { vantage: 7 } })))?.vantage,
      undefined,
    );
    const unbound = new JwtVerifier(config({ roleMapping }));
    assert.equal((await unbound.verify(await token(claims)))?.vantage, undefined);
  });

  it('prefers a claim whose name contains dots (namespaced claims) over a path', async () => {
    const v = new JwtVerifier(config({ rolesClaim: 'https://switchyard.example.com/groups' }));
    const t = await token({ sub: 'carol', 'https://switchyard.example.com/groups': ['dr-approvers'] });
    assert.deepEqual(nameAndRoles(await v.verify(t)), { principal: 'carol', roles: ['approver'] });
  });

  it('maps a space-separated string claim such as scope', async () => {
    const v = new JwtVerifier(
      config({ rolesClaim: 'scope', roleMapping: { 'switchyard:read': ['viewer'] } }),
    );
    const t = await token({ sub: 'svc', scope: 'openid switchyard:read' });
    assert.deepEqual(nameAndRoles(await v.verify(t)), { principal: 'svc', roles: ['viewer'] });
  });

  it('gives a valid token without a mapped role no roles (the caller answers 403)', async () => {
    const v = new JwtVerifier(config());
    assert.deepEqual(nameAndRoles(await v.verify(await token({ sub: 'dave', roles: ['marketing'] }))), {
      principal: 'dave',
      roles: [],
    });
    assert.deepEqual(nameAndRoles(await v.verify(await token({ sub: 'erin' }))), {
      principal: 'erin',
      roles: [],
    });
    // Inherited object properties are not claim values that map to anything.
    assert.deepEqual(
      nameAndRoles(await v.verify(await token({ sub: 'frank', roles: ['constructor', '__proto__'] }))),
      {
        principal: 'frank',
        roles: [],
      },
    );
  });

  it('refuses an expired token, but tolerates clock skew within clockToleranceSeconds', async () => {
    const v = new JwtVerifier(config({ clockToleranceSeconds: 30 }));
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await v.verify(await token({ sub: 'alice', roles: ['admins'] }, { exp: now - 120 })), null);
    assert.notEqual(
      await v.verify(await token({ sub: 'alice', roles: ['admins'] }, { exp: now - 10 })),
      null,
    );
  });

  it('refuses a token without exp', async () => {
    const v = new JwtVerifier(config());
    const t = await new SignJWT({ sub: 'alice', roles: ['admins'] })
      .setProtectedHeader({ alg: 'RS256', kid: current.kid })
      .setIssuer(idp.issuer)
      .setAudience(AUDIENCE)
      .sign(current.privateKey);
    assert.equal(await v.verify(t), null);
  });

  it('refuses a token for another audience', async () => {
    const v = new JwtVerifier(config());
    assert.equal(await v.verify(await token({ sub: 'alice', roles: ['admins'] }, { aud: 'grafana' })), null);
  });

  it('refuses a token from another issuer without fetching any key', async () => {
    const v = new JwtVerifier(config());
    const hits = idp.hits;
    const t = await token({ sub: 'alice', roles: ['admins'] }, { iss: 'https://evil.example.com' });
    assert.equal(await v.verify(t), null);
    assert.equal(idp.hits, hits);
  });

  it('refuses a token signed by another key, with a known or an unknown kid', async () => {
    const v = new JwtVerifier(config(), { jwksCooldownMs: 0 });
    assert.equal(await v.verify(await token({ sub: 'mallory', roles: ['admins'] }, { key: other })), null);
    const stranger = await signingKey('key-unknown');
    assert.equal(await v.verify(await token({ sub: 'mallory', roles: ['admins'] }, { key: stranger })), null);
  });

  it('refuses alg none and symmetric algorithms', async () => {
    const v = new JwtVerifier(config());
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const exp = Math.floor(Date.now() / 1000) + 300;
    const claims = b64({ sub: 'mallory', roles: ['admins'], iss: idp.issuer, aud: AUDIENCE, exp });
    assert.equal(await v.verify(`${b64({ alg: 'none' })}.${claims}.`), null);
    assert.equal(await v.verify(`${b64({ alg: 'none', kid: current.kid })}.${claims}.AAAA`), null);

    const hs = await new SignJWT({ sub: 'mallory', roles: ['admins'] })
      .setProtectedHeader({ alg: 'HS256', kid: current.kid })
      .setIssuer(idp.issuer)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a shared secret of at least 32 bytes!!'));
    assert.equal(await v.verify(hs), null);
  });

  it('refuses garbage without throwing', async () => {
    const v = new JwtVerifier(config());
    for (const t of [
      '',
      'x',
      'a.b',
      'a.b.c',
      'not a jwt',
      '..',
      'e30.e30.e30',
      'sy_0123456789abcdef',
      '😀.😀.😀',
    ]) {
      assert.equal(await v.verify(t), null, JSON.stringify(t));
    }
  });

  it('accepts a token signed with a rotated-in key once the JWKS is fetched again', async () => {
    const v = new JwtVerifier(config(), { jwksCooldownMs: 0 });
    assert.notEqual(await v.verify(await token({ sub: 'alice', roles: ['admins'] })), null);
    const hitsBefore = idp.hits;

    const next = await signingKey('key-2', 'ES256');
    idp.keys = [current.jwk, next.jwk];
    const t = await token({ sub: 'alice', roles: ['admins'] }, { key: next, alg: 'ES256' });
    assert.deepEqual(nameAndRoles(await v.verify(t)), { principal: 'alice', roles: ['admin'] });
    assert.equal(idp.hits, hitsBefore + 1, 'the unknown kid made the verifier fetch the keys again');

    // The old key is retired: its tokens stop working once the set without it is fetched.
    idp.keys = [next.jwk];
    await new Promise((r) => setTimeout(r, 5));
    const stranger = await signingKey('key-3');
    await v.verify(await token({ sub: 'x' }, { key: stranger })); // an unknown kid triggers a refetch
    assert.equal(await v.verify(await token({ sub: 'alice', roles: ['admins'] })), null);
  });

  it('throws OidcUnavailableError, without the token, when the keys cannot be fetched', async () => {
    idp.status = 500;
    const v = new JwtVerifier(config());
    const t = await token({ sub: 'alice', roles: ['admins'] });
    const err = await v.verify(t).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OidcUnavailableError);
    assert.ok(!err.message.includes(t));
    assert.match(err.message, /\/\.well-known\/jwks\.json/);
  });

  it('throws OidcUnavailableError when the key server is unreachable', async () => {
    const v = new JwtVerifier(config({ jwksUrl: 'http://127.0.0.1:1/jwks.json' }));
    await assert.rejects(v.verify(await token({ sub: 'alice' })), OidcUnavailableError);
  });

  it('uses the injected fetch', async () => {
    const urls: string[] = [];
    const v = new JwtVerifier(config(), {
      fetch: (input, init) => {
        urls.push(String(input));
        return fetch(input, init);
      },
    });
    assert.notEqual(await v.verify(await token({ sub: 'alice' })), null);
    assert.deepEqual(urls, [`${idp.issuer}/.well-known/jwks.json`]);
  });

  it('never logs the token', async () => {
    const lines: string[] = [];
    const v = new JwtVerifier(config(), {
      logger: { debug: (obj, msg) => lines.push(JSON.stringify({ obj, msg })) },
    });
    const tokens = [
      await token({ sub: 'alice' }, { aud: 'grafana' }),
      await token({ sub: 'alice' }, { key: other }),
      await token({ sub: 'alice' }, { iss: 'https://evil.example.com' }),
    ];
    for (const t of tokens) assert.equal(await v.verify(t), null);
    assert.equal(lines.length, 3);
    for (const t of tokens) for (const line of lines) assert.ok(!line.includes(t.split('.')[2] ?? ''));
  });
});

describe('oidcSchema', () => {
  const base = {
    issuer: 'https://idp.example.com/realms/ops',
    audience: 'switchyard',
    roleMapping: { ops: ['operator'] },
  };

  it('fills the defaults', () => {
    assert.deepEqual(oidcSchema.parse(base), {
      ...base,
      jwksUrl: 'https://idp.example.com/realms/ops/.well-known/jwks.json',
      principalClaim: 'sub',
      rolesClaim: 'roles',
      algorithms: ['RS256', 'ES256'],
      clockToleranceSeconds: 30,
    });
    assert.equal(
      oidcSchema.parse({ ...base, issuer: 'https://tenant.auth0.com/' }).jwksUrl,
      'https://tenant.auth0.com/.well-known/jwks.json',
    );
  });

  it('refuses plain http off loopback, symmetric algorithms, unknown roles and an empty mapping', () => {
    const bad: Record<string, unknown>[] = [
      { ...base, issuer: 'http://idp.example.com' },
      { ...base, jwksUrl: 'http://idp.example.com/keys' },
      { ...base, algorithms: ['HS256'] },
      { ...base, algorithms: [] },
      { ...base, roleMapping: { ops: ['root'] } },
      { ...base, roleMapping: {} },
      { ...base, rolesClaim: 'a..b' },
      { ...base, extra: true },
    ];
    for (const cfg of bad) assert.equal(oidcSchema.safeParse(cfg).success, false, JSON.stringify(cfg));
    assert.equal(oidcSchema.safeParse({ ...base, issuer: 'http://127.0.0.1:8443' }).success, true);
  });

  it('makes the constructor throw on a bad configuration', () => {
    assert.throws(() => new JwtVerifier({ ...base, issuer: 'not a url' } as OidcConfigInput));
  });
});

describe('looksLikeJwt', () => {
  it('is true for three base64url parts only', () => {
    assert.equal(looksLikeJwt('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'), true);
    for (const t of ['abc', 'a.b', 'a.b.', 'a.b.c.d', 'a+b.c.d', 'a b.c.d', 'sy_xYz-09']) {
      assert.equal(looksLikeJwt(t), false, t);
    }
  });
});
