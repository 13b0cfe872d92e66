// Runs once before the tests:
// - compiles lib/ to dist/: worker threads and child processes (fixtures, the CLI) import
//   the compiled package, and must not run a stale build;
// - builds each native binary the tests load when it is missing or older than a native source.
//   Each build's output is shown only when it fails.
//
//   binary                                   made by                         loaded by
//   prebuilds/<platform>-<arch>/ved*.node    prebuildify (npm run prebuild)  every test (node-gyp-build), and the
//                                                                            packed tarball (test/packaging.test.ts)
//   build-fault/Release/ved.node             cmake-js, VED_FAULT_INJECTION   fault tests' children (test/faults.test.ts)
//   build-cmake/Release/ved.node             cmake-js (npm run build:cmake)  the "cmake" project (vitest.config.ts)
//
// prebuildify builds in build/ and moves the binary into prebuilds/, so after it runs the
// prebuild is what node-gyp-build loads (a later `npm run build` puts a local build first).
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Where the fault-injection build puts its addon; test/helpers.ts names the same file. */
const FAULT_ADDON = join(root, 'build-fault', 'Release', 'ved.node')
/** The cmake-js build of the production addon; vitest.config.ts names the same file. */
const CMAKE_ADDON = join(root, 'build-cmake', 'Release', 'ved.node')
/** prebuildify's output directory for this machine. */
const PREBUILD_DIR = join(root, 'prebuilds', `${process.platform}-${process.arch}`)

export default function setup(): void {
  const require = createRequire(import.meta.url)
  const tsc = require.resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' })
  const newestSourceMs = newestNativeSourceMs()
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js')
  if (isStale(prebuildFile(), newestSourceMs)) {
    build('the prebuild', [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc'])
    if (prebuildFile() === null) throw new Error(`prebuildify reported success but ${PREBUILD_DIR} holds no .node file`)
  }
  if (isStale(FAULT_ADDON, newestSourceMs)) {
    build('the fault-injection addon', [cmakeJs, 'compile', '--out', 'build-fault', '--CDVED_FAULT_INJECTION=ON'])
    if (!existsSync(FAULT_ADDON)) throw new Error(`cmake-js reported success but ${FAULT_ADDON} is missing`)
  }
  if (isStale(CMAKE_ADDON, newestSourceMs)) {
    build('the cmake-js addon', [cmakeJs, 'compile', '--out', 'build-cmake'])
    if (!existsSync(CMAKE_ADDON)) throw new Error(`cmake-js reported success but ${CMAKE_ADDON} is missing`)
  }
}

/** The prebuild for this machine, or null when there is none. */
function prebuildFile(): string | null {
  if (!existsSync(PREBUILD_DIR)) return null
  const name = readdirSync(PREBUILD_DIR).find((file) => file.endsWith('.node'))
  return name === undefined ? null : join(PREBUILD_DIR, name)
}

/** Newest modification time (ms) of the files the native builds read. */
function newestNativeSourceMs(): number {
  const native = join(root, 'native')
  const files = readdirSync(native)
    .filter((name) => name.endsWith('.cc') || name.endsWith('.h'))
    .map((name) => join(native, name))
  files.push(join(root, 'CMakeLists.txt'), join(root, 'binding.gyp'), join(root, 'sources.json'))
  return Math.max(...files.map((path) => statSync(path).mtimeMs))
}

function isStale(binary: string | null, newestSourceMs: number): boolean {
  if (binary === null || !existsSync(binary)) return true
  return statSync(binary).mtimeMs < newestSourceMs
}

/** Runs `node args...` in the package root; shows the output only when it fails. */
function build(what: string, args: string[]): void {
  try {
    execFileSync(process.execPath, args, { cwd: root, stdio: 'pipe', maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    const { stdout, stderr, status } = error as { stdout?: Buffer; stderr?: Buffer; status?: number | null }
    process.stderr.write(`${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`)
    // No `cause`: vitest would print the child's output again, as arrays of bytes.
    throw new Error(`building ${what} failed (exit status ${status ?? 'unknown'}): node ${args.join(' ')}; its output is above`)
  }
}
