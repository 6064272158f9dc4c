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
  ],
};
