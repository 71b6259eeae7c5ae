import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

/**
 * Workflows are bundled once at build time (`npm run build`), so a worker starts in well under a
 * second instead of running webpack at every start: restarting a crashed worker must be fast.
 */
export const WORKFLOWS_PATH = path.resolve(__dirname, '../../workflows/index.js');
export const WORKFLOW_BUNDLE_PATH = path.resolve(__dirname, '../../workflow-bundle.js');
/** Failure messages into encoded attributes (encrypted with the payload codec), in the bundle and the worker. */
export const FAILURE_CONVERTER_PATH = path.resolve(__dirname, 'failure-converter.js');
/** Workflow interceptors (the refusal of an Update that arrives after its deadline), in the bundle too. */
export const WORKFLOW_INTERCEPTOR_MODULES = [path.resolve(__dirname, '../../workflows/update-deadline.js')];

export function workflowSource():
  | { workflowBundle: { codePath: string } }
  | { workflowsPath: string; interceptors: { workflowModules: string[] } } {
  return existsSync(WORKFLOW_BUNDLE_PATH)
    ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }
    : { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } };
}

if (require.main === module) {
  void (async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: new DefaultLogger('WARN'),
    });
    writeFileSync(WORKFLOW_BUNDLE_PATH, code);
    console.log(
      `workflow bundle: ${path.relative(process.cwd(), WORKFLOW_BUNDLE_PATH)} (${Math.round(code.length / 1024)} KiB)`,
    );
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
