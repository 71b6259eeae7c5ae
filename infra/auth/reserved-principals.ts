/**
 * Principal names a minted token may not take (docs/security.md#principals). An approval is
 * counted per principal name, so a token under another's name would let one person approve twice
 * (four eyes become two), and a token named like the system would pass for the coordinator itself.
 */

/** Names the coordinator records as actors itself (`system`, `system:automatic`, `monitor:<vantage>`...). */
const RESERVED_EXACT = ['system', 'anonymous'];
const RESERVED_PREFIXES = ['system:', 'monitor:'];

export type PrincipalNameProblem =
  { code: 'reserved-principal'; message: string } | { code: 'principal-from-configuration'; message: string };

/**
 * Why `name` cannot be minted, or null. `configured`: the principals of switchyard.yaml's
 * bootstrap tokens. Compared case-insensitively: `System` would read as `system` in a log.
 */
export function principalNameProblem(
  name: string,
  configured: readonly string[],
): PrincipalNameProblem | null {
  const lower = name.toLowerCase();
  if (RESERVED_EXACT.includes(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p))) {
    return {
      code: 'reserved-principal',
      message: `"${name}" is reserved for the coordinator's own actors (system, system:*, anonymous, monitor:*)`,
    };
  }
  if (configured.some((c) => c.toLowerCase() === lower)) {
    return {
      code: 'principal-from-configuration',
      message: `"${name}" is a principal of switchyard.yaml (auth.tokens): a token under that name would act as them`,
    };
  }
  return null;
}
