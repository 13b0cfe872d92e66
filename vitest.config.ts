import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes and workers import dist/: compile lib/ once before any test runs.
    globalSetup: ['test/global-setup.ts'],
    // Each file gets its own process: a store's lock and native state never leak between files.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
})
