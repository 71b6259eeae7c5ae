import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ZodPipe } from '../../apps/api/common/zod.pipe';
import { ApiError } from '../../apps/api/common/api-error';
import {
  escapeUnsafe,
  FREE_TEXT_MAX,
  firstUnsafeCharacter,
  safeName,
  safeText,
} from '../../workflows/safe-text';

const reason = safeText({ min: 3 });

describe('safe text', () => {
  const hostile: [string, string, number, string][] = [
    ['NUL', 'ab\u0000cd', 2, 'U+0000'],
    ['C0 control (bell)', 'abc\u0007', 3, 'U+0007'],
    ['escape (terminal sequences)', '\u001b[31mred', 0, 'U+001B'],
    ['DEL', 'a\u007fbc', 1, 'U+007F'],
    ['C1 control', 'ab\u0085c', 2, 'U+0085'],
    ['lone high surrogate', 'ab\ud800c', 2, 'U+D800'],
    ['lone low surrogate at the end', 'abc\udc00', 3, 'U+DC00'],
    ['right-to-left override', 'pay \u202Egnp.exe', 4, 'U+202E'],
    ['left-to-right embedding', '\u202Aabc', 0, 'U+202A'],
    ['first strong isolate', 'abc\u2068d', 3, 'U+2068'],
    ['pop directional isolate', 'abc\u2069', 3, 'U+2069'],
    // Positions count code points: the emoji before is one character, not two UTF-16 units.
    ['control after an astral character', '\u{1F600}\u0001xyz', 1, 'U+0001'],
  ];
  for (const [what, text, position, codePoint] of hostile) {
    it(`refuses ${what}, naming the position`, () => {
      const r = reason.safeParse(text);
      assert.equal(r.success, false);
      const issue = r.error!.issues[0]!;
      assert.equal(r.error!.issues.length, 1, 'one issue: the character, not also the length');
      assert.deepEqual((issue as { params?: unknown }).params, { position, codePoint });
      assert.match(
        issue.message,
        new RegExp(`\\(${codePoint.replace('+', '\\+')}\\) at position ${position}`),
      );
    });
  }

  it('keeps newline, tab, paired surrogates and ordinary Unicode', () => {
    const text = 'line one\n\tline two: na\u00efve \u{1F600} \u05E9\u05DC\u05D5\u05DD';
    assert.equal(reason.parse(text), text);
    assert.equal(firstUnsafeCharacter(text), undefined);
  });

  it('normalises to NFC before it bounds the length', () => {
    const decomposed = 'cafe\u0301 closed';
    assert.equal(reason.parse(decomposed), 'caf\u00e9 closed');
    // 2000 "é" decomposed are 4000 UTF-16 units but 2000 once composed: accepted.
    assert.equal(safeText().parse('e\u0301'.repeat(FREE_TEXT_MAX)).length, FREE_TEXT_MAX);
  });

  it('trims, and bounds the length at both ends', () => {
    assert.equal(reason.parse('  why  '), 'why');
    assert.equal(reason.safeParse('  a  ').success, false);
    assert.equal(reason.safeParse('x'.repeat(FREE_TEXT_MAX + 1)).error?.issues[0]?.code, 'too_big');
    assert.equal(safeName().safeParse('x'.repeat(201)).success, false);
    assert.equal(safeName().safeParse('').success, false);
  });

  it('refuses what is not a string', () => {
    for (const v of [3, null, ['a b c'], { a: 1 }]) assert.equal(reason.safeParse(v).success, false);
  });

  it('escapes what it refuses, so the escaped text is always accepted', () => {
    const escaped = escapeUnsafe('a\u0000b\ud800c\u202Ed\u0007e\u0301');
    assert.equal(escaped, 'a\\u{0}b\\u{D800}c\\u{202E}d\\u{7}\u00e9');
    assert.equal(firstUnsafeCharacter(escaped), undefined);
    assert.equal(escapeUnsafe('y'.repeat(5000)).length, FREE_TEXT_MAX);
  });

  it('answers 400 validation-failed naming the field and the position (ZodPipe)', () => {
    const pipe = new ZodPipe(z.object({ reason }).strict(), 'query');
    assert.throws(
      () => pipe.transform({ reason: 'ok\u0000' }),
      (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.getStatus(), 400);
        const body = err.getResponse() as { error: string; message: string; details: { issues: unknown[] } };
        assert.equal(body.error, 'validation-failed');
        assert.match(body.message, /^query\.reason: a NUL character \(U\+0000\) at position 2/);
        assert.deepEqual(body.details.issues, [
          {
            path: 'query.reason',
            message: body.message.slice('query.reason: '.length),
            position: 2,
            codePoint: 'U+0000',
          },
        ]);
        return true;
      },
    );
  });
});
