// The two build paths compile the same code the same way: what node-gyp (binding.gyp, which
// prebuildify runs) and cmake-js (CMakeLists.txt) pass the compiler, compared setting by
// setting with sources.json, where both read them. The node-gyp side is configured here, in
// a directory of its own, from the binding.gyp and sources.json of this checkout; the cmake-js
// side is the compile_commands.json of the build test/global-setup.ts made.
import { execFile } from 'node:child_process'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { tempDirs } from './helpers.js'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
const tempDir = tempDirs()

interface Settings {
  sources: string[]
  defines: string[]
  cflags: string[]
  macosDeploymentTarget: string
}

const settings = JSON.parse(readFileSync(join(root, 'sources.json'), 'utf8')) as Settings

/** What a compile command means for the settings compared: later flags win, as in the compiler. */
interface Effective {
  optimization: string | undefined
  standard: string | undefined
  visibility: string | undefined
  defines: Set<string>
  warnings: Set<string>
}

function effective(flags: string[]): Effective {
  const last = (prefix: string): string | undefined => flags.filter((flag) => flag.startsWith(prefix)).at(-1)
  return {
    optimization: last('-O'),
    standard: last('-std='),
    visibility: last('-fvisibility='),
    defines: new Set(flags.filter((flag) => flag.startsWith('-D')).map((flag) => flag.slice(2))),
    warnings: new Set(flags.filter((flag) => flag.startsWith('-W'))),
  }
}

/** The Release flags of the ved target in a node-gyp Makefile: defines, then C and C++ flags. */
function gypFlags(targetMk: string): string[] {
  const variable = (name: string): string[] => {
    const match = new RegExp(`^${name} := \\\\\\n((?:\\t.*\\n)*)`, 'm').exec(targetMk)
    if (match === null) throw new Error(`${name} not found in ved.target.mk`)
    return match[1]!
      .split('\n')
      .map((line) => line.trim().replace(/\s*\\$/, '').replace(/^'(.*)'$/, '$1'))
      .filter((flag) => flag !== '')
  }
  return [...variable('DEFS_Release'), ...variable('CFLAGS_Release'), ...variable('CFLAGS_CC_Release')]
}

/** node-gyp configure of this checkout's binding.gyp and sources.json, in a directory of its own. */
async function configureGyp(): Promise<string> {
  const dir = tempDir()
  copyFileSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'))
  copyFileSync(join(root, 'sources.json'), join(dir, 'sources.json'))
  // binding.gyp asks node for node-addon-api's include directory: resolve it from this checkout.
  const env = { ...process.env, NODE_PATH: join(root, 'node_modules') }
  await run(process.execPath, [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'configure'], { cwd: dir, env })
  return readFileSync(join(dir, 'build', 'ved.target.mk'), 'utf8')
}

/** The flags cmake-js compiled `source` with (build-cmake, made by the global setup). */
function cmakeFlags(source: string): string[] {
  const commands = JSON.parse(readFileSync(join(root, 'build-cmake', 'compile_commands.json'), 'utf8')) as Array<{ file: string; command: string }>
  const entry = commands.find((command) => command.file.endsWith(source))
  if (entry === undefined) throw new Error(`${source} is not in build-cmake/compile_commands.json`)
  return entry.command.split(/\s+/)
}

describe('node-gyp and cmake-js builds', () => {
  it('compile every source of sources.json with its defines, optimization level, C++ standard and warnings', async () => {
    const gyp = effective(gypFlags(await configureGyp()))
    const cmakeCommands = JSON.parse(readFileSync(join(root, 'build-cmake', 'compile_commands.json'), 'utf8')) as Array<{ file: string }>
    // One list of sources: cmake-js compiled exactly those (and nothing of the native tests).
    expect(cmakeCommands.map((command) => command.file.slice(root.length + 1)).filter((file) => file.startsWith('native/')).sort()).toEqual([...settings.sources].sort())
    for (const source of settings.sources) {
      const cmake = effective(cmakeFlags(source))
      for (const build of [gyp, cmake]) {
        expect(build.optimization, source).toBe(settings.cflags.find((flag) => flag.startsWith('-O')))
        expect(build.standard, source).toBe('-std=c++17')
        expect(build.visibility, source).toBe('-fvisibility=hidden')
        for (const define of settings.defines) expect(build.defines, `${source}: ${define}`).toContain(define)
        // CMake's Release would add NDEBUG; node-gyp does not, and the two must not differ.
        expect(build.defines, source).not.toContain('NDEBUG')
      }
      expect(cmake.warnings, source).toEqual(gyp.warnings)
      expect(gyp.warnings).toEqual(new Set(settings.cflags.filter((flag) => flag.startsWith('-W'))))
    }
  })
})
