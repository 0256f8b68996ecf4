import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    // One DynamoDB Local for the whole run (each test file uses its own table prefix).
    globalSetup: ['test/global-setup.ts'],
    // The SDK's Node 20 notice is known: production runs Node 24 (Lambda, image); tests run on Node 20.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // Integration and e2e tests start real servers on loopback; give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    coverage: {
      provider: 'v8',
      include: ['core/**/*.ts'],
      reporter: ['text-summary'],
    },
    projects: [
      {
        extends: true,
        test: { name: 'unit+integration', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] },
      },
      {
        // The end-to-end suite runs whole local stacks (DynamoDB Local, pocketsphinx, the gateway, Chromium):
        // after everything else, one file at a time, so real-time recognition is not starved of CPU.
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
