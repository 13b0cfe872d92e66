// The published package, as a user gets it: `npm pack`, then install the tarball with
// `--ignore-scripts` (what pnpm 10 and npm 12 do by default) into a fresh project on a PATH
// that holds only node and npm: no cc, c++, g++, make, python or node-gyp, so nothing can be
// compiled. Dependencies come from the registry through the npm cache (--prefer-offline).
//
// Then, in that project: import 'ved', open a store, write, reopen, read; and with the
// prebuild removed from the installed package, `import 'ved'` must fail with ENOBINARY rather
// than load something else or crash. Last, with a compiler on PATH, `npm rebuild ved` must
// build the addon from the sources the tarball ships. test/global-setup.ts makes the
// prebuild packed here.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { tempDirs } from './helpers.js'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
const tempDir = tempDirs()
const TARGET = `${process.platform}-${process.arch}`

interface PackedFile {
  path: string
  size: number
}
interface PackResult {
  filename: string
  size: number
  unpackedSize: number
  files: PackedFile[]
}

/** The file `name` on the PATH of this process, symlinks resolved. */
function findOnPath(name: string): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, name)
    if (dir !== '' && existsSync(candidate)) return realpathSync(candidate)
  }
  throw new Error(`${name} is not on PATH`)
}

/** glibc or musl, as this process runs (the report has a glibc version only under glibc). */
function runtimeLibc(): string {
  const header = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header
  return header.glibcVersionRuntime === undefined ? 'musl' : 'glibc'
}

/** A directory holding only `node` and `npm`: the whole PATH of the user's project. */
function makeBareBin(dir: string): string {
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, 'node'))
  symlinkSync(findOnPath('npm'), join(bin, 'npm'))
  return bin
}

/** The environment of the user's project: a bare PATH, and none of this npm run's npm_* variables. */
function bareEnv(bin: string, npmCache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: bin, npm_config_cache: npmCache, npm_config_update_notifier: 'false' }
  for (const name of ['HOME', 'TMPDIR', 'LANG']) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return env
}

/** Run in the user's project: opens a store, writes, closes, reopens read-only, reads. */
const ROUND_TRIP = `
const report = (result) => console.log(JSON.stringify(result))
try {
  const { Store } = await import('ved')
  const dir = process.argv[2]
  const writer = await Store.open(dir)
  const seq = await writer.transaction((txn) => {
    txn.put('release', { version: 'v42', hosts: ['a', 'b'] })
    txn.put('count', 7)
  })
  await writer.close()
  const reader = await Store.open(dir, { readOnly: true })
  report({ ok: true, seq, release: reader.get('release'), count: reader.get('count'), stats: reader.stats() })
  await reader.close()
} catch (error) {
  report({ ok: false, name: error.name, code: error.code, message: error.message })
}
`

interface RoundTrip {
  ok: boolean
  seq?: number
  release?: unknown
  count?: unknown
  stats?: { seq: number }
  name?: string
  code?: string
  message?: string
}

describe('the npm package', () => {
  let packed: PackResult
  let tarball: string
  let project: string
  let env: NodeJS.ProcessEnv
  let installed: string

  beforeAll(async () => {
    const work = tempDir()
    // --ignore-scripts: the global setup compiled dist/ already, and `prepare` rewriting it
    // now would race the other test files that import it.
    const npmCli = findOnPath('npm')
    const { stdout } = await run(process.execPath, [npmCli, 'pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root })
    packed = (JSON.parse(stdout) as PackResult[])[0]!
    tarball = join(work, packed.filename)
    const { stdout: cache } = await run(process.execPath, [npmCli, 'config', 'get', 'cache'], { cwd: root })
    project = join(work, 'project')
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'ved-user', private: true, type: 'module' }))
    writeFileSync(join(project, 'round-trip.mjs'), ROUND_TRIP)
    env = bareEnv(makeBareBin(work), cache.trim())
    const install = ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error']
    await run('npm', install, { cwd: project, env })
    installed = join(project, 'node_modules', 'ved')
  })

  async function roundTrip(dir: string): Promise<RoundTrip> {
    const { stdout } = await run('node', ['round-trip.mjs', dir], { cwd: project, env })
    return JSON.parse(stdout) as RoundTrip
  }

  it('holds what users need and nothing else', () => {
    const paths = packed.files.map((file) => file.path)
    const sources = (JSON.parse(readFileSync(join(root, 'sources.json'), 'utf8')) as { sources: string[] }).sources
    // A source build needs every native source, the headers, binding.gyp and sources.json.
    for (const path of [...sources, 'native/format.h', 'binding.gyp', 'sources.json', 'package.json', 'README.md', 'LICENSE']) {
      expect(paths).toContain(path)
    }
    for (const path of ['dist/index.js', 'dist/index.d.ts', 'dist/addon.js', 'dist/store.d.ts', 'dist/cli.js', 'dist/cli/stats.js']) {
      expect(paths).toContain(path)
    }
    // One N-API binary for this target, tagged with its libc on Linux as node-gyp-build matches it.
    const prebuilds = paths.filter((path) => path.startsWith(`prebuilds/${TARGET}/`) && path.endsWith('.node'))
    expect(prebuilds).toEqual([`prebuilds/${TARGET}/ved${process.platform === 'linux' ? `.${runtimeLibc()}` : ''}.node`])
    const unwanted = /^(test|bench|examples|lib|build|build-fault|build-cmake|node_modules|\.ci|\.github|native\/test)\//
    expect(paths.filter((path) => unwanted.test(path))).toEqual([])
    expect(paths.filter((path) => path.endsWith('.map') || path.endsWith('.test.ts'))).toEqual([])
    console.log(`tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${paths.length} files`)
  })

  it('installs without install scripts or a compiler, and a store round-trips through the prebuild', async () => {
    expect(readdirSync(env['PATH']!).sort()).toEqual(['node', 'npm'])
    // No install script ran, so there is no local build: the prebuild is all there is to load.
    expect(existsSync(join(installed, 'build'))).toBe(false)
    expect(readdirSync(join(installed, 'prebuilds'))).toEqual([TARGET])
    const dir = join(project, 'store')
    const result = await roundTrip(dir)
    expect(result).toMatchObject({ ok: true, release: { version: 'v42', hosts: ['a', 'b'] }, count: 7 })
    expect(result.stats?.seq).toBe(result.seq)
    // The bin npm linked runs on the same bare PATH.
    const { stdout } = await run(join(project, 'node_modules', '.bin', 'ved'), ['stats', dir, '--json'], { cwd: project, env })
    expect(JSON.parse(stdout)).toMatchObject({ path: dir, seq: result.seq })
  })

  it('without a matching prebuild, import fails with ENOBINARY naming the platform, ABI and how to build', async () => {
    rmSync(join(installed, 'prebuilds'), { recursive: true })
    const result = await roundTrip(join(project, 'store-without-binary'))
    expect(result).toMatchObject({ ok: false, name: 'VedError', code: 'ENOBINARY' })
    expect(result.message).toContain(`no native build of ved for ${TARGET}`)
    expect(result.message).toContain(`ABI ${process.versions.modules}`)
    expect(result.message).toContain(`N-API ${process.versions.napi}`)
    expect(result.message).toContain('Prebuilds in')
    expect(result.message).toContain('npm rebuild ved')
  })

  it('with a compiler, the install script builds from the shipped sources where no prebuild matches', async () => {
    rmSync(join(installed, 'prebuilds'), { recursive: true, force: true })
    // The user's own PATH this time (compiler, make, python); npm's bundled node-gyp builds.
    await run('npm', ['rebuild', 'ved', '--loglevel=error'], { cwd: project, env: { ...env, PATH: process.env['PATH'] } })
    expect(existsSync(join(installed, 'build', 'Release', 'ved.node'))).toBe(true)
    // Loading needs no compiler: back to the bare PATH.
    const result = await roundTrip(join(project, 'store-source-build'))
    expect(result).toMatchObject({ ok: true, release: { version: 'v42', hosts: ['a', 'b'] }, count: 7 })
  })
})
