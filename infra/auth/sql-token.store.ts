import { randomInt } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Database } from '../database/database';
import type { ApiTokensTable } from '../database/schema';
import type { Role, TokenRecord, TokenStore } from './token.port';

const ROLES: readonly Role[] = ['viewer', 'operator', 'approver', 'admin', 'monitor'];
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A token request the store refuses: the caller's mistake (HTTP 400/409), never the store's. */
export class TokenInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenInputError';
  }
}

/** API tokens in the same database as the audit log; only their SHA-256 is stored. */
export class SqlTokenStore implements TokenStore {
  constructor(
    private readonly database: Database,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async create(input: {
    principal: string;
    roles: Role[];
    sha256: string;
    createdBy: string;
    vantage?: string;
  }): Promise<TokenRecord> {
    if (!input.principal) throw new TokenInputError('principal must not be empty');
    if (!input.createdBy) throw new TokenInputError('createdBy must not be empty');
    if (input.roles.length === 0 || !input.roles.every((r) => ROLES.includes(r))) {
      throw new TokenInputError(`roles: expected one or more of ${ROLES.join(', ')}`);
    }
    if (!/^[0-9a-f]{64}$/.test(input.sha256)) {
      throw new TokenInputError('sha256: expected the SHA-256 of the token, 64 lowercase hex characters');
    }
    if ((input.vantage !== undefined) !== input.roles.includes('monitor')) {
      throw new TokenInputError(
        'vantage: a monitor token names its vantage point, and only a monitor token does',
      );
    }
    const row = {
      id: newTokenId(),
      principal: input.principal,
      roles: JSON.stringify([...new Set(input.roles)]),
      sha256: input.sha256,
      created_at: this.clock().toISOString(),
      created_by: input.createdBy,
      revoked_at: null,
      revoked_by: null,
      vantage: input.vantage ?? null,
    };
    try {
      await this.database.db.insertInto('api_tokens').values(row).execute();
    } catch (err) {
      const clash = await this.database.db
        .selectFrom('api_tokens')
        .select('id')
        .where('sha256', '=', input.sha256)
        .executeTakeFirst();
      if (clash) throw new TokenInputError(`a token with this digest already exists (${clash.id})`);
      throw err;
    }
    return toRecord(row);
  }

  async findActiveBySha256(sha256: string): Promise<TokenRecord | null> {
    const row = await this.database.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('sha256', '=', sha256)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<TokenRecord[]> {
    let q = this.database.db.selectFrom('api_tokens').selectAll();
    if (!options.includeRevoked) q = q.where('revoked_at', 'is', null);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  async revoke(id: string, revokedBy: string): Promise<TokenRecord | null> {
    await this.database.db
      .updateTable('api_tokens')
      .set({ revoked_at: this.clock().toISOString(), revoked_by: revokedBy })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
    const row = await this.database.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }
}

/** 12 characters of lowercase base32: 60 random bits, short enough to type in a CLI. */
export function newTokenId(): string {
  let id = '';
  for (let i = 0; i < 12; i++) id += BASE32[randomInt(32)];
  return id;
}

function toRecord(row: Selectable<ApiTokensTable>): TokenRecord {
  return {
    id: row.id,
    principal: row.principal,
    roles: JSON.parse(row.roles) as Role[],
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
    vantage: row.vantage,
  };
}
