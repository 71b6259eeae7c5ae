import { z } from 'zod';

/**
 * Free text from a request (a reason, a comment, a name that has no pattern of its own) is safe
 * text: it is shown to people, hashed into the audit chain and stored in SQL, so it may not hold
 * what renders deceptively or what a store cannot keep. Pure (no I/O): apps/ and infra/ import it.
 */

/** The longest reason or comment, in UTF-16 code units (what `.length` counts). */
export const FREE_TEXT_MAX = 2000;
/** The longest name taken from a request (an app, a region, a record, an id). */
export const NAME_TEXT_MAX = 200;

export interface UnsafeCharacter {
  /** Position in code points from 0 (what a person counts as characters). */
  position: number;
  /** `U+XXXX`. */
  codePoint: string;
  what: string;
}

const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why one code point is refused, or undefined when it is allowed. */
function refusal(cp: number): string | undefined {
  if (cp === 0) return 'a NUL character';
  if (cp === 0x09 || cp === 0x0a) return undefined;
  if (cp < 0x20 || cp === 0x7f) return 'a control character';
  if (cp >= 0x80 && cp <= 0x9f) return 'a control character';
  if (cp >= 0xd800 && cp <= 0xdfff) return 'an unpaired surrogate';
  if (cp >= 0x202a && cp <= 0x202e) return 'a bidirectional override';
  if (cp >= 0x2066 && cp <= 0x2069) return 'a bidirectional isolate';
  return undefined;
}

/** The first character that free text may not hold, or undefined when the text is safe. */
export function firstUnsafeCharacter(text: string): UnsafeCharacter | undefined {
  let position = 0;
  // for..of walks code points: a paired surrogate arrives whole, an unpaired one alone.
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const what = refusal(cp);
    if (what) return { position, codePoint: hex(cp), what };
    position++;
  }
  return undefined;
}

export function unsafeCharacterMessage(u: UnsafeCharacter): string {
  return `${u.what} (${u.codePoint}) at position ${u.position}; free text may hold no control characters but newline and tab, no unpaired surrogates and no bidirectional overrides`;
}

export interface SafeTextOptions {
  /** Longest accepted text after normalisation (default FREE_TEXT_MAX). */
  max?: number;
  /** Shortest accepted text after trimming (default 0). */
  min?: number;
  /** The sentence for a too-short text. */
  minMessage?: string;
  /** The sentence for a missing or non-string value. */
  required?: string;
}

/**
 * A zod string that refuses unsafe characters (naming the position in the issue's `params`),
 * then normalises to NFC, trims and bounds the length. Checks run in that order, so the length
 * counted is the length stored.
 */
export function safeText(options: SafeTextOptions = {}) {
  const max = options.max ?? FREE_TEXT_MAX;
  const min = options.min ?? 0;
  const base = options.required ? z.string({ error: options.required }) : z.string();
  let schema = base
    .check((ctx) => {
      const bad = firstUnsafeCharacter(ctx.value);
      if (bad) {
        ctx.issues.push({
          code: 'custom',
          input: ctx.value,
          message: unsafeCharacterMessage(bad),
          params: { position: bad.position, codePoint: bad.codePoint },
          continue: false,
        });
      }
    })
    .overwrite((s) => s.normalize('NFC'))
    .trim();
  if (min > 0) schema = schema.min(min, options.minMessage ?? `at least ${min} characters`);
  return schema.max(max, `at most ${max} characters`);
}

/** A name taken from a request where no stricter pattern applies: safe text, 1 to NAME_TEXT_MAX. */
export function safeName(required?: string) {
  return safeText({ min: 1, max: NAME_TEXT_MAX, minMessage: required ?? 'must not be empty', required });
}

/**
 * Text for a record that must keep what it was given (the audit log of a refused request):
 * every character free text may not hold is written as `\u{XXXX}`, the rest normalised to NFC,
 * cut at `max`. The result is always safe text, so storing and hashing it cannot diverge.
 */
export function escapeUnsafe(text: string, max = FREE_TEXT_MAX): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out += refusal(cp) ? `\\u{${cp.toString(16).toUpperCase()}}` : ch;
  }
  out = out.normalize('NFC');
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}
