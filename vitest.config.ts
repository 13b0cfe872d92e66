import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** The cmake-js build of the addon, made by test/global-setup.ts (same path there). */
const CMAKE_ADDON = fileURLToPath(new URL('./build-cmake/Release/ved.node', import.meta.url))

/**
 * Files the "cmake" project does not run again: they test no addon build (durable: the JS
 * queue; native: the native unit tests), load their own build (faults), test the package
 * and the CLI rather than the engine (packaging, cli, cli-runtime, cli-journal), compare the two builds'
 * settings (build), or test the journal's queries and compaction, which are TypeScript over
 * the runtime (journal, journal-scale).
 */
const NOT_ENGINE = [
  'test/native.test.ts',
  'test/faults.test.ts',
  'test/durable.test.ts',
  'test/packaging.test.ts',
  'test/cli.test.ts',
  'test/cli-runtime.test.ts',
  'test/cli-journal.test.ts',
  'test/journal.test.ts',
  'test/journal-scale.test.ts',
  'test/build.test.ts',
]

/** Settings of both projects. Projects do not extend the root config: they would each run its globalSetup again. */
const common = {
  // Each file gets its own process: a store's lock and native state never leak between files.
  pool: 'forks',
  testTimeout: 120_000,
  hookTimeout: 120_000,
} as const

export default defineConfig({
  test: {
    // Child processes and workers import dist/, and some tests load other builds of the addon:
    // compile lib/ and build every binary once, before any test of either project runs.
    globalSetup: ['test/global-setup.ts'],
    projects: [
      // Everything, against the addon node-gyp-build loads (the prebuild, or a local build).
      { test: { ...common, name: 'gyp', include: ['test/**/*.test.ts'] } },
      // The engine suite again, against the addon built through CMakeLists.txt by cmake-js: the
      // second build path must produce an addon that passes the same tests. Child processes and
      // workers inherit VED_ADDON_PATH, so they load this build too.
      {
        test: {
          ...common,
          name: 'cmake',
          include: ['test/**/*.test.ts'],
          exclude: NOT_ENGINE,
          env: { VED_ADDON_PATH: CMAKE_ADDON },
        },
      },
    ],
  },
})
