// Runs once before the tests:
// - compiles lib/ to dist/: worker threads and child processes (fixtures) import the compiled
//   package, and must not run a stale build;
// - builds the fault-injection addon (build-fault/Release/ved.node, cmake-js with
//   VED_FAULT_INJECTION=ON) when it is missing or older than a native source, for the fault
//   tests' child processes (test/faults.test.ts). Its output is shown only when it fails.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Where the fault-injection build puts its addon; test/helpers.ts names the same file. */
const FAULT_ADDON = join(root, 'build-fault', 'Release', 'ved.node')

export default function setup(): void {
  const require = createRequire(import.meta.url)
  const tsc = require.resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' })
  if (faultAddonIsStale()) buildFaultAddon(require.resolve('cmake-js/bin/cmake-js'))
}

/** Newest modification time (ms) of the files the native build reads. */
function newestNativeSourceMs(): number {
  const native = join(root, 'native')
  const files = readdirSync(native)
    .filter((name) => name.endsWith('.cc') || name.endsWith('.h'))
    .map((name) => join(native, name))
  files.push(join(root, 'CMakeLists.txt'), join(root, 'sources.json'))
  return Math.max(...files.map((path) => statSync(path).mtimeMs))
}

function faultAddonIsStale(): boolean {
  if (!existsSync(FAULT_ADDON)) return true
  return statSync(FAULT_ADDON).mtimeMs < newestNativeSourceMs()
}

function buildFaultAddon(cmakeJs: string): void {
  const args = [cmakeJs, 'compile', '--out', 'build-fault', '--CDVED_FAULT_INJECTION=ON']
  try {
    execFileSync(process.execPath, args, { cwd: root, stdio: 'pipe', maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    const { stdout, stderr, status } = error as { stdout?: Buffer; stderr?: Buffer; status?: number | null }
    process.stderr.write(`${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`)
    // No `cause`: vitest would print the child's output again, as arrays of bytes.
    throw new Error(`building the fault-injection addon failed (exit status ${status ?? 'unknown'}): cmake-js ${args.slice(1).join(' ')}; its output is above`)
  }
  if (!existsSync(FAULT_ADDON)) throw new Error(`cmake-js reported success but ${FAULT_ADDON} is missing`)
}
