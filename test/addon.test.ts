// Which binary the suite runs against, and what `import 'ved'` does when the binary it names
// does not load. The rest of the loader's contract (a prebuild found with no install script,
// ENOBINARY when none matches) is tested on an installed tarball in test/packaging.test.ts.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { addon, addonPath } from '../lib/addon.js'
import { STATUS_NAMES } from '../lib/errors.js'
import { tempDirs } from './helpers.js'

const DIST_INDEX = join(import.meta.dirname, '..', 'dist', 'index.js')
const tempDir = tempDirs()

describe('the loaded addon', () => {
  it('is the cmake-js build in the "cmake" project, else the prebuild or local build node-gyp-build picks', ({ task }) => {
    // Keyed on the project, not on VED_ADDON_PATH: had the project's env not applied, both
    // projects would run the same build and a check of the variable alone would still pass.
    const project = task.file.projectName
    expect(['gyp', 'cmake']).toContain(project)
    if (project === 'cmake') {
      expect(addonPath).toBe(process.env['VED_ADDON_PATH'])
      expect(addonPath).toMatch(/build-cmake[/\\]Release[/\\]ved\.node$/)
    } else {
      expect(addonPath).toMatch(/(prebuilds[/\\][a-z0-9]+-[a-z0-9]+[/\\]ved[.a-z]*\.node|build[/\\]Release[/\\]ved\.node)$/)
    }
    expect(addon.isFaultBuild()).toBe(false)
    expect(addon.statusNames()).toEqual([...STATUS_NAMES])
  })
})

describe('ENOBINARY', () => {
  /** Imports the compiled package in a child process with `env` added; reports how it went. */
  async function importVed(env: Record<string, string>): Promise<{ ok: boolean; name?: string; code?: string; message?: string }> {
    const script = `import(${JSON.stringify(DIST_INDEX)}).then(
      () => console.log(JSON.stringify({ ok: true })),
      (e) => console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message })))`
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { env: { ...process.env, ...env } })
    return JSON.parse(stdout)
  }

  it('VED_ADDON_PATH naming a missing file: a VedError naming the file, the platform and how to build', async () => {
    const missing = join(tempDir(), 'no-such-addon.node')
    const result = await importVed({ VED_ADDON_PATH: missing })
    expect(result).toMatchObject({ ok: false, name: 'VedError', code: 'ENOBINARY' })
    expect(result.message).toContain(missing)
    expect(result.message).toContain(`${process.platform}-${process.arch}`)
    expect(result.message).toContain(`N-API ${process.versions.napi}`)
    expect(result.message).toContain('npm rebuild ved')
  })

  it('a binary that does not load (not a shared library): ENOBINARY with the loader\'s reason', async () => {
    const garbage = join(tempDir(), 'garbage.node')
    writeFileSync(garbage, Buffer.alloc(4096, 0x5a))
    const result = await importVed({ VED_ADDON_PATH: garbage })
    expect(result).toMatchObject({ ok: false, name: 'VedError', code: 'ENOBINARY' })
    expect(result.message).toContain(`VED_ADDON_PATH=${garbage} does not load`)
    expect(result.message).toMatch(/ELF|header|image|shared object/i)
  })
})
