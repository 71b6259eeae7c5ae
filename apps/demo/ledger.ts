import {
  appendFileSync,
  createReadStream,
  createWriteStream,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';

/**
 * Service B of the demo ("ledger"): the numbers service A handed over, in arrival order, in the
 * JSON-lines file `<stateDir>/ledger.jsonl` (`{"n":12,"at":"<when B stored it>"}` per line). The
 * file is append-only, so its first `size` bytes never change until a restore replaces it whole:
 * a snapshot streams exactly those bytes, and a restore writes the artifact's bytes unchanged.
 */
export interface LedgerMarker {
  /** The highest number held; 0 when the ledger is empty. */
  lastNumber: number;
  count: number;
}

export class BadArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadArtifactError';
  }
}

export class Ledger {
  private numbers: number[] = [];
  private seen = new Set<number>();
  private size = 0;
  private last = 0;

  constructor(private readonly file: string) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const parser = new LineParser();
    parser.feed(Buffer.from(text));
    parser.end();
    this.adopt(parser, Buffer.byteLength(text));
  }

  append(ns: number[]): void {
    if (ns.length === 0) return;
    const at = new Date().toISOString();
    const text = ns.map((n) => `${JSON.stringify({ n, at })}\n`).join('');
    appendFileSync(this.file, text);
    for (const n of ns) {
      this.numbers.push(n);
      this.seen.add(n);
      if (n > this.last) this.last = n;
    }
    this.size += Buffer.byteLength(text);
  }

  /** Every number held, ascending. */
  list(): number[] {
    return [...this.numbers].sort((a, b) => a - b);
  }

  marker(): LedgerMarker {
    return { lastNumber: this.last, count: this.numbers.length };
  }

  /** The ledger's bytes as of now; later appends are not part of the stream. */
  snapshot(): { body: Readable; size: number; marker: LedgerMarker } {
    const size = this.size;
    const body = size === 0 ? Readable.from([]) : createReadStream(this.file, { start: 0, end: size - 1 });
    return { body, size, marker: this.marker() };
  }

  /**
   * Replaces the ledger with the artifact's bytes, unchanged. Every line is checked on the way
   * (a JSON object with a positive integer `n`, no number twice, the last line complete); nothing
   * changes unless the whole artifact arrived and passed.
   */
  async restore(body: Readable): Promise<LedgerMarker & { bytes: number }> {
    const tmp = `${this.file}.restore-${process.pid}-${Date.now()}`;
    const parser = new LineParser();
    let bytes = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        try {
          parser.feed(chunk);
          bytes += chunk.length;
          done(null, chunk);
        } catch (err) {
          done(err as Error);
        }
      },
      flush(done) {
        try {
          parser.end();
          done();
        } catch (err) {
          done(err as Error);
        }
      },
    });
    try {
      await pipeline(body, check, createWriteStream(tmp));
      renameSync(tmp, this.file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    this.adopt(parser, bytes);
    return { ...this.marker(), bytes };
  }

  /** Reads the file back and compares it with what the ledger holds in memory. */
  check(): { ok: boolean; detail: string } {
    const parser = new LineParser();
    try {
      const text = readFileSync(this.file);
      parser.feed(text);
      parser.end();
      if (text.length !== this.size) {
        return { ok: false, detail: `ledger file holds ${text.length} bytes, expected ${this.size}` };
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && this.size === 0) {
        return { ok: true, detail: 'ledger is empty' };
      }
      return { ok: false, detail: `ledger file unreadable: ${(err as Error).message}` };
    }
    if (parser.numbers.length !== this.numbers.length) {
      return {
        ok: false,
        detail: `ledger file holds ${parser.numbers.length} numbers, memory ${this.numbers.length}`,
      };
    }
    return { ok: true, detail: `ledger holds ${this.numbers.length} numbers, last ${this.last}` };
  }

  /** True when `n` is held (for the cross-check with service A). */
  has(n: number): boolean {
    return this.seen.has(n);
  }

  private adopt(parser: LineParser, size: number): void {
    this.numbers = parser.numbers;
    this.seen = parser.seen;
    this.last = parser.numbers.reduce((a, b) => (b > a ? b : a), 0);
    this.size = size;
  }
}

/** Parses ledger lines as they arrive in chunks; throws BadArtifactError naming the line. */
class LineParser {
  readonly numbers: number[] = [];
  readonly seen = new Set<number>();
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private line = 0;

  feed(chunk: Buffer): void {
    const text = this.rest + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) this.parse(l);
  }

  end(): void {
    this.rest += this.decoder.end();
    if (this.rest !== '') {
      throw new BadArtifactError(`line ${this.line + 1}: the last line is incomplete (no newline)`);
    }
  }

  private parse(text: string): void {
    this.line++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new BadArtifactError(`line ${this.line}: not JSON`);
    }
    const n = (value as { n?: unknown } | null)?.n;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw new BadArtifactError(`line ${this.line}: expected {"n": <positive integer>}`);
    }
    if (this.seen.has(n)) throw new BadArtifactError(`line ${this.line}: number ${n} appears twice`);
    this.seen.add(n);
    this.numbers.push(n);
  }
}
