// The loaded native addon, one per JS realm (main thread or worker).
//
// Loading happens once, at module load, so `import 'ved'` either yields a working addon or
// throws a VedError ENOBINARY; no later call can discover that the binary is missing.
// The addon is handed the VedError class so that it throws coded errors directly, and its
// limits are read once because they are compile-time constants of the native build.
//
// Where the binary comes from, first match wins:
//   VED_ADDON_PATH set  -> that file (the test suite loads the fault-injection and cmake-js
//                          builds this way); a file that does not load is ENOBINARY
//   build/Release/      -> a local build (`npm run build`, or the install script's fallback)
//   prebuilds/<platform>-<arch>/ved.napi[.glibc|.musl].node
//                       -> the prebuild shipped in the package (node-gyp-build picks it)
// Install scripts may never have run (pnpm 10, npm 12, --ignore-scripts), so loading must
// not depend on them: the prebuild is found here, at import time.
import { existsSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VedError } from './errors.js'
import { KEY_END_OFFSET, type NativeAddon } from './native.js'

/** The N-API version the addon is compiled against (NAPI_VERSION in binding.gyp and CMakeLists.txt). */
export const NAPI_VERSION_BUILT = 8

/** The package directory: dist/addon.js sits one level below it. */
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

interface NodeGypBuild {
  /** The path of the build or prebuild that matches this process; throws when none does. */
  resolve(dir: string): string
}

function loadAddon(): { addon: NativeAddon; path: string } {
  const override = process.env['VED_ADDON_PATH']
  if (override !== undefined && override !== '') return { addon: requireBinary(override, 'VED_ADDON_PATH='), path: override }
  const nodeGypBuild = require('node-gyp-build') as NodeGypBuild
  let path: string
  try {
    path = nodeGypBuild.resolve(packageRoot)
  } catch (error) {
    throw withCause(new VedError('ENOBINARY', noBinaryMessage()), error)
  }
  return { addon: requireBinary(path, 'the native build '), path }
}

/** `source` leads the message: "VED_ADDON_PATH=" or "the native build ". */
function requireBinary(path: string, source: string): NativeAddon {
  try {
    return require(path) as NativeAddon
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0]
    const message = `${source}${path} does not load on ${target()}: ${reason}. ${HOW_TO_BUILD}`
    throw withCause(new VedError('ENOBINARY', message), error)
  }
}

const HOW_TO_BUILD =
  'To build from source (needs Python 3, make and a C++17 compiler): `npm rebuild ved --foreground-scripts` ' +
  '(where npm asks for approval of install scripts, `npm install-scripts approve ved` first; with pnpm, ' +
  '`pnpm approve-builds` then `pnpm rebuild ved`), or `npx node-gyp rebuild` inside the ved package directory'

function noBinaryMessage(): string {
  const prebuilds = join(packageRoot, 'prebuilds')
  const shipped = existsSync(prebuilds) ? readdirSync(prebuilds).sort().join(', ') : ''
  return (
    `no native build of ved for ${target()}. ` +
    `Prebuilds in ${prebuilds}: ${shipped === '' ? 'none' : shipped}; no local build in ${join(packageRoot, 'build', 'Release')}. ` +
    HOW_TO_BUILD
  )
}

/** "linux-x64 (glibc), Node 20.20.2 (ABI 115, N-API 9; ved needs N-API 8)" */
function target(): string {
  const libc = process.platform === 'linux' ? ` (${linuxLibc()})` : ''
  const versions = process.versions
  return (
    `${process.platform}-${process.arch}${libc}, Node ${versions.node} ` +
    `(ABI ${versions.modules}, N-API ${versions.napi ?? 'none'}; ved needs N-API ${NAPI_VERSION_BUILT})`
  )
}

/** glibc or musl: the libc tag node-gyp-build matches prebuilds with. */
function linuxLibc(): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
  return header?.glibcVersionRuntime === undefined ? 'musl' : `glibc ${header.glibcVersionRuntime}`
}

function withCause(error: VedError, cause: unknown): VedError {
  error.cause = cause
  return error
}

const loaded = loadAddon()

export const addon: NativeAddon = loaded.addon
/** The file the addon was loaded from (for diagnostics and the tests of the build paths). */
export const addonPath: string = loaded.path
addon.init(VedError)

export type Limits = ReturnType<NativeAddon['limits']>

/** The native build's limits; constant for the life of the process. */
export const limits: Readonly<Limits> = Object.freeze({ ...addon.limits() })

// The key buffer holds a start key at 0 and an end key at KEY_END_OFFSET, so a key may not
// be longer than that slot. A native build that allows more would overwrite the end key.
if (!(limits.keySizeBytesMax > 0 && limits.keySizeBytesMax <= KEY_END_OFFSET)) {
  throw new Error(`ved: native keySizeBytesMax ${limits.keySizeBytesMax} does not fit the key buffer slot of ${KEY_END_OFFSET} bytes`)
}
