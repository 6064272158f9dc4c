// Jest runs the TypeScript sources as native ES modules (Node's
// --experimental-vm-modules, set by the npm scripts): @kubernetes/client-node
// 2.x is ESM-only. ts-jest only transpiles (isolatedModules); `make lint`
// type-checks the whole tree with tsc.
const tsJest = [
  'ts-jest',
  {
    useESM: true,
    tsconfig: {
      isolatedModules: true,
      rewriteRelativeImportExtensions: false,
      allowImportingTsExtensions: true,
      noEmit: false,
    },
  },
];

const common = {
  // .tools/ holds the bed's binaries and podman's image store (which carries package.json files).
  modulePathIgnorePatterns: ['<rootDir>/.tools/'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
};

export default {
  // Integration tests wait on real servers; unit tests finish far below this.
  testTimeout: 120_000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/bed/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/bed/jest-global-teardown.ts',
    },
    // The real-node tier (make e2e, after make image): run one project at a
    // time, in band — each starts its own cluster on the one bridge (ferry0).
    {
      // The image as built (test/image/): the compiled entrypoints under podman.
      ...common,
      displayName: 'image',
      testMatch: ['<rootDir>/test/image/**/*.test.ts'],
    },
    {
      // The cluster tier (test/cluster/): each file starts the parts it needs itself.
      ...common,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
    },
    {
      // Ferry installed by its chart on the real node (test/e2e/).
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/e2e/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/e2e/jest-global-teardown.ts',
    },
  ],
  // Jest's order, but the e2e file that uninstalls the release last.
  testSequencer: '<rootDir>/test/e2e/sequencer.js',
};
