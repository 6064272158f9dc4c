// The pod runner as a program, for development against a bed (make bed):
//   node test/podrunner/main.ts --kubeconfig PATH [--namespace NS] [--selector LABELS]
//                               [--node NAME] [--dir DIR]
// Runs until SIGTERM or SIGINT, then kills every pod process it started.
import { parseArgs } from 'node:util';
import { PodRunner } from './podRunner.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    selector: { type: 'string' },
    node: { type: 'string' },
    dir: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const usage =
  'usage: node test/podrunner/main.ts --kubeconfig PATH [--namespace NS] [--selector LABELS] [--node NAME] [--dir DIR]';
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
if (!kubeconfig) {
  console.error(usage);
  process.exit(2);
}

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const runner = await PodRunner.start({
  kubeconfig,
  namespace: values.namespace,
  labelSelector: values.selector,
  nodeName: values.node,
  dir: values.dir,
  log,
});
log(`pod runner: running (pid ${process.pid}); pod logs in ${runner.logDir}`);

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log(`pod runner: ${signal}; stopping`);
  runner.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
