// The e2e files share one installed release; the lifecycle file ends by
// uninstalling it, and the NATS rotation file installs its own release after
// that, so those two run last, in that order (the others in jest's order).
import TestSequencer from '@jest/test-sequencer';

// The package is CommonJS: its class is the default export's `default`.
const Sequencer = TestSequencer.default ?? TestSequencer;

const last = ['lifecycle.test.ts', 'natsRotation.test.ts'];

export default class E2eSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    const order = (t) => last.findIndex((name) => t.path.endsWith(name));
    return Array.isArray(sorted) ? [...sorted].sort((a, b) => order(a) - order(b)) : sorted;
  }
}
