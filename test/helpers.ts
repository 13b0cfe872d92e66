// Shared test helpers: temporary store directories, error assertions, a CRC32C, byte order,
// a child writer killed with SIGKILL.
import { spawn } from 'node:child_process'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect } from 'vitest'
import { VedError, type Store, type VedErrorCode } from '../lib/index.js'

/** Small segments keep tests fast and make commits cross segment boundaries. */
export const SEGMENT_SIZE_BYTES_TEST = 1024 * 1024
export const SMALL = { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST } as const

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')

/** The fault-injection build of the addon, made by test/global-setup.ts (same path there). */
export const FAULT_ADDON = join(dirname(fileURLToPath(import.meta.url)), '..', 'build-fault', 'Release', 'ved.node')

/** Returns a maker of fresh temporary directories, all removed after the file's tests. */
export function tempDirs(): () => string {
  const made: string[] = []
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'ved-test-'))
    made.push(dir)
    return dir
  }
}

/** Asserts that `fn` throws (or that the promise rejects with) a VedError with `code`. */
export async function expectVedError(action: (() => unknown) | Promise<unknown>, code: VedErrorCode): Promise<VedError> {
  let error: unknown
  try {
    if (typeof action === 'function') {
      const result = action()
      if (result instanceof Promise) await result
    } else {
      await action
    }
  } catch (caught) {
    error = caught
  }
  if (error === undefined) throw new Error(`expected a VedError ${code}, nothing was thrown`)
  if (!(error instanceof VedError)) throw new Error(`expected a VedError ${code}, got ${String(error)}`, { cause: error })
  expect(error.code).toBe(code)
  expect(error.message.length).toBeGreaterThan(0)
  return error
}

/** Synchronous variant for methods that must throw rather than return a rejected promise. */
export function expectVedErrorSync(fn: () => unknown, code: VedErrorCode): VedError {
  try {
    fn()
  } catch (error) {
    if (!(error instanceof VedError)) throw new Error(`expected a VedError ${code}, got ${String(error)}`, { cause: error })
    expect(error.code).toBe(code)
    return error
  }
  throw new Error(`expected a VedError ${code}, nothing was thrown`)
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
    table[i] = crc >>> 0
  }
  return table
})()

/** CRC32C (Castagnoli, reflected, init and final xor 0xffffffff). */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0
  return (crc ^ 0xffffffff) >>> 0
}

/** memcmp order of two keys as the store orders them (strings by their UTF-8 bytes). */
export function compareKeys(a: string | Uint8Array, b: string | Uint8Array): number {
  const left = typeof a === 'string' ? Buffer.from(a, 'utf8') : Buffer.from(a)
  const right = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b)
  return Buffer.compare(left, right)
}

/** What a writer killed by runAndKill reported before it died. */
export interface KilledRun {
  /** Highest n of its "ok <n>" lines: the commits it saw durable (0 when none). */
  acknowledged: number
  /** Whether it printed "ready" (it got as far as opening the store). */
  started: boolean
}

/**
 * Runs `node script ...args` (a writer fixture that prints "ready" once its store is open and
 * "ok <n>" for each durable commit n) and kills it with SIGKILL `delayMs` after "ready", or
 * after the spawn when `fromSpawn` (so the kill may land while it opens, that is recovers, the
 * store). Resolves once its pipes drained, so every line it wrote is counted; rejects when it
 * ended any other way, with its stderr in the error.
 */
export function runAndKill(script: string, args: readonly string[], delayMs: number, options: { fromSpawn?: boolean } = {}): Promise<KilledRun> {
  const fromSpawn = options.fromSpawn ?? false
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timer: NodeJS.Timeout | null = null
    const kill = (): void => {
      child.kill('SIGKILL')
    }
    if (fromSpawn) timer = setTimeout(kill, delayMs)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      // "ready" may arrive split across chunks: look at what came so far with this chunk.
      if (!fromSpawn && timer === null && (stdout + chunk).includes('ready')) timer = setTimeout(kill, delayMs)
      stdout += chunk
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    // 'close' fires after the pipes drained: every line the child wrote has arrived.
    child.once('close', (code, signal) => {
      if (timer !== null) clearTimeout(timer)
      if (signal !== 'SIGKILL') {
        reject(new Error(`${basename(script)} exited with code ${code} signal ${signal} before it was killed: ${stderr}`))
        return
      }
      let acknowledged = 0
      let started = false
      for (const line of stdout.split('\n')) {
        const [word, n] = line.split(' ')
        if (word === 'ready') started = true
        if (word === 'ok') acknowledged = Math.max(acknowledged, Number(n))
      }
      resolve({ acknowledged, started })
    })
  })
}

/** A small deterministic PRNG (mulberry32) for tests that need reproducible randomness. */
export { mulberry32 as prng } from '../lib/random.js'

/** What `ved` printed and how it exited (status null: killed by a signal). */
export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js')

/** Runs the built `ved` command (dist/cli.js) in a child process, with `env` added to this one's. */
export function ved(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') reject(error)
      else resolve({ status: error === null ? 0 : (error.code as number), stdout, stderr })
    })
  })
}

/**
 * Waits until the store's background cleaner has seen the newest durable version and has
 * nothing queued (no pass, relocation or deletion); false if that takes over `timeoutMs`.
 * Fails the test if the cleaner reports an error.
 */
export async function cleanerSettled(store: Store<any, any>, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = store.stats()
    const c = s.cleaner
    expect(c.error).toBe('')
    if (!c.busy && c.walkedSeq === s.durableSeq && c.backlogKeys === 0 && c.segmentsWaiting === 0) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
