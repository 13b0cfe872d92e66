// The `ved` command line, run as a user runs it: the compiled bin (dist/cli.js) in a child
// process, against stores made here. Checks output, --json, exit statuses and the one-line
// errors for a missing directory, a directory that is not a store, a store another process
// is writing to (read-only commands work alongside it), and a missing native build.
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startProgress } from '../lib/cli/progress.js'
import { Store } from '../lib/index.js'
import { expectVedError, FIXTURES, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js')
const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version

interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

function ved(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') reject(error)
      else resolve({ status: error === null ? 0 : (error.code as number), stdout, stderr })
    })
  })
}

/** A closed store with `count` puts; resolves with its directory and last seq. */
async function makeStore(count: number): Promise<{ dir: string; seq: number }> {
  const dir = tempDir()
  const store = await Store.open(dir, SMALL)
  let seq = 0
  for (let i = 0; i < count; i++) seq = await store.put(`k${i}`, { i, pad: 'y'.repeat(1000) })
  await store.close()
  return { dir, seq }
}

/** Every file of `dir` (one level: a store has no subdirectories) with its SHA-256. */
function fingerprint(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  for (const name of readdirSync(dir).sort()) files[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex')
  return files
}

/** Asserts the failure report: exit 1, one stderr line "ved <command>: CODE: ...", no stdout. */
function expectFailure(result: CliResult, command: string, code: string): void {
  expect(result.status).toBe(1)
  expect(result.stdout).toBe('')
  expect(result.stderr).toMatch(new RegExp(`^ved ${command}: ${code}: \\S.*\\n$`))
}

describe('ved stats', () => {
  it('prints the figures of a store', async () => {
    const { dir, seq } = await makeStore(300)
    const result = await ved(['stats', dir])
    expect(result.status).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(new RegExp(`^store +${dir}$`, 'm'))
    expect(result.stdout).toMatch(new RegExp(`^seq +${seq} \\(durable ${seq}\\)$`, 'm'))
    expect(result.stdout).toMatch(/^file +[\d.]+ MiB \(\d+ bytes\) in \d+ segments? of 1\.0 MiB$/m)
    expect(result.stdout).toMatch(/^live +[\d.]+ (KiB|MiB) \(\d+ bytes, [\d.]+% of the file\)$/m)
    expect(result.stdout).toMatch(/^open +\d+ commits? scanned .* the log ended cleanly$/m)
  })

  it('--json prints StoreStats and the path, equal to what Store.stats() reports', async () => {
    const { dir, seq } = await makeStore(300)
    const result = await ved(['stats', dir, '--json'])
    expect(result.status).toBe(0)
    const report = JSON.parse(result.stdout) as Record<string, unknown>
    await using reader = await Store.open(dir, { readOnly: true })
    const { recovery: _cli, ...figures } = report
    const { recovery: _here, ...expected } = reader.stats()
    expect(figures).toEqual({ path: dir, ...expected })
    expect(report['seq']).toBe(seq)
    expect(report['liveBytes'] as number).toBeLessThanOrEqual(report['fileBytes'] as number)
    expect(report['recovery']).toMatchObject({ recoveredSeq: seq, droppedBytes: 0, tailReason: '' })
  })

  it('changes nothing on disk: same files, same bytes', async () => {
    const { dir } = await makeStore(50)
    const before = fingerprint(dir)
    expect((await ved(['stats', dir])).status).toBe(0)
    expect((await ved(['stats', dir, '--json'])).status).toBe(0)
    expect(fingerprint(dir)).toEqual(before)
  })

  it('works on a store another process holds and writes to, and leaves it to that writer', async () => {
    const dir = tempDir()
    const writer = spawn(process.execPath, [join(FIXTURES, 'busy-writer.mjs'), dir], { stdio: ['pipe', 'pipe', 'inherit'] })
    const lines = createInterface({ input: writer.stdout })[Symbol.asyncIterator]()
    try {
      const { seq: writtenSeq } = JSON.parse((await lines.next()).value as string) as { seq: number }
      // The store is locked: this process cannot open it for writing.
      await expectVedError(Store.open(dir, SMALL), 'ELOCKED')
      const first = await ved(['stats', dir, '--json'])
      expect(first.status).toBe(0)
      const firstSeq = (JSON.parse(first.stdout) as { seq: number }).seq
      expect(firstSeq).toBeGreaterThanOrEqual(writtenSeq)
      const second = await ved(['stats', dir, '--json'])
      expect((JSON.parse(second.stdout) as { seq: number }).seq).toBeGreaterThan(firstSeq)
    } finally {
      writer.stdin.end()
    }
    // The writer was not disturbed: it kept committing and closed cleanly.
    const { closedSeq } = JSON.parse((await lines.next()).value as string) as { closedSeq: number }
    const exitCode = await new Promise((resolve) => (writer.exitCode !== null ? resolve(writer.exitCode) : writer.once('exit', resolve)))
    expect(exitCode).toBe(0)
    const after = await ved(['stats', dir, '--json'])
    expect((JSON.parse(after.stdout) as { seq: number }).seq).toBe(closedSeq)
  })

  it('a missing directory: ENOTSTORE, exit 1', async () => {
    const result = await ved(['stats', join(tempDir(), 'missing')])
    expectFailure(result, 'stats', 'ENOTSTORE')
  })

  it('a directory that is not a store: ENOTSTORE, exit 1; --json adds the error to stdout', async () => {
    const dir = join(tempDir(), 'notes')
    mkdirSync(dir)
    writeFileSync(join(dir, 'todo.txt'), 'not a store')
    expectFailure(await ved(['stats', dir]), 'stats', 'ENOTSTORE')
    const json = await ved(['stats', dir, '--json'])
    expect(json.status).toBe(1)
    expect(json.stderr).toMatch(/^ved stats: ENOTSTORE: .*\n$/)
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ENOTSTORE', message: expect.stringContaining(dir) } })
  })

  it('a garbled HEADER: ENOTSTORE, exit 1, and the directory is left as it was', async () => {
    const dir = tempDir()
    const header = Buffer.from('this is not a ved store header, just some text. '.repeat(2))
    writeFileSync(join(dir, 'HEADER'), header)
    expectFailure(await ved(['stats', dir]), 'stats', 'ENOTSTORE')
    expect(readFileSync(join(dir, 'HEADER'))).toEqual(header)
  })

  it('a store with no valid commit: ECORRUPT, exit 1; --json names segment and offset', async () => {
    const dir = tempDir()
    const store = await Store.open(dir, SMALL)
    await store.close()
    // Damage the first commit record (segment 0, page 0): nothing valid to fall back to.
    const segment = join(dir, `${'0'.repeat(16)}.seg`)
    const bytes = readFileSync(segment)
    for (let i = 100; i < 116; i++) bytes[i] = bytes[i]! ^ 0x5a
    writeFileSync(segment, bytes)
    expectFailure(await ved(['stats', dir]), 'stats', 'ECORRUPT')
    const json = await ved(['stats', dir, '--json'])
    expect(json.status).toBe(1)
    const { error } = JSON.parse(json.stdout) as { error: { code: string; segment: number; offset: number } }
    expect(error).toMatchObject({ code: 'ECORRUPT', segment: 0 })
    expect(typeof error.offset).toBe('number')
  })

  it('no loadable native build: ENOBINARY, exit 1; help still works', async () => {
    const { dir } = await makeStore(1)
    const env = { VED_ADDON_PATH: join(tempDir(), 'missing.node') }
    expectFailure(await ved(['stats', dir], env), 'stats', 'ENOBINARY')
    const help = await ved(['--help'], env)
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('stats')
  })
})

describe('the ved program', () => {
  it('--help lists the commands and the exit statuses', async () => {
    const result = await ved(['--help'])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/^Usage: ved /)
    expect(result.stdout).toMatch(/^ {2}stats \[options\] <dir> /m)
    expect(result.stdout).toContain('Exit status:')
  })

  it('--version prints the package version', async () => {
    expect(await ved(['--version'])).toEqual({ status: 0, stdout: `${VERSION}\n`, stderr: '' })
  })

  it('usage errors exit 2: no command, an unknown command or option, a missing argument', async () => {
    for (const args of [[], ['bogus'], ['stats'], ['stats', '/tmp', '--bogus']]) {
      const result = await ved(args)
      expect(result.status, args.join(' ')).toBe(2)
      expect(result.stderr.length).toBeGreaterThan(0)
    }
    expect((await ved(['bogus'])).stderr).toContain("unknown command 'bogus'")
    expect((await ved(['stats'])).stderr).toContain("missing required argument 'dir'")
  })
})

describe('progress (for verify and compact)', () => {
  /** A stream that keeps what is written; a terminal when `isTTY`. */
  class Sink extends Writable {
    readonly chunks: string[] = []
    readonly isTTY: boolean
    readonly columns = 100
    constructor(isTTY: boolean) {
      super()
      this.isTTY = isTTY
    }
    override _write(chunk: Buffer, _encoding: string, done: () => void): void {
      this.chunks.push(chunk.toString())
      done()
    }
  }

  it('draws a bar on a terminal, never past 100% when the total was underestimated, and clears it when stopped', () => {
    const stderr = new Sink(true)
    const progress = startProgress({ stdout: new Sink(false), stderr }, 'verify', 'pages')
    progress.update(250, 1000)
    progress.stop()
    const drawn = stderr.chunks.join('')
    expect(drawn).toContain('verify [')
    expect(drawn).toContain('25% | 250/1000 pages')
    const again = new Sink(true)
    const over = startProgress({ stdout: new Sink(false), stderr: again }, 'compact', 'bytes')
    over.update(120, 100)
    over.stop()
    expect(again.chunks.join('')).toContain('100% | 120/120 bytes')
    // Stopped is stopped: later calls draw nothing.
    const written = again.chunks.length
    over.update(130, 200)
    over.stop()
    expect(again.chunks.length).toBe(written)
  })

  it('draws nothing when stderr is not a terminal', () => {
    const stderr = new Sink(false)
    const progress = startProgress({ stdout: new Sink(false), stderr }, 'verify', 'pages')
    progress.update(10, 100)
    progress.stop()
    expect(stderr.chunks).toEqual([])
  })
})
