import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';

const PREFLIGHT = join(resolve(__dirname, '../../..'), 'infra', 'scripts', 'preflight.sh');

/**
 * `switchyard doctor`: the same checks `npm run stack` and `npm test` run before they install or
 * build anything (infra/scripts/preflight.sh), so that there is one list of what a machine needs.
 */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check that this machine can run `npm run stack` / `npm test`; names every problem with the command that fixes it',
    )
    .addOption(new Option('--for <command>', 'what to check for').choices(['stack', 'test']).default('stack'))
    .action((o: { for: 'stack' | 'test' }) => {
      const res = spawnSync('bash', [PREFLIGHT, o.for], { stdio: 'inherit' });
      if (res.error) {
        process.stderr.write(`doctor: could not run bash ${PREFLIGHT}: ${res.error.message}\n`);
      }
      process.exitCode = res.status ?? 1;
    });
}
