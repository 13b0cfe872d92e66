// The `ved` command line, run as a user runs it: the compiled bin (dist/cli.js) in a child
// process, against stores made here. Checks output, --json, exit statuses and the one-line
// errors for a missing directory, a directory that is not a store, a store another process
// is writing to (read-only commands work alongside it, compact gets ELOCKED), a corrupt
// store (verify names the segment and offset) and a missing native build. The progress bars
// need a terminal: those tests run main() in this process with a stderr that says it is one.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { main } from '../lib/cli/main.js'
import { startProgress } from '../lib/cli/progress.js'
import { Store } from '../lib/index.js'
import { type CliResult, expectVedError, FIXTURES, SEGMENT_SIZE_BYTES_TEST, SMALL, tempDirs, ved } from './helpers.js'

const tempDir = tempDirs()
const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version


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
  get text(): string {
    return this.chunks.join('')
  }
}

/** Runs `ved` in this process with a terminal for stderr, so that progress bars are drawn. */
async function vedOnTerminal(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const stdout = new Sink(false)
  const stderr = new Sink(true)
  const status = await main(args, { stdout, stderr })
  return { status, stdout: stdout.text, stderr: stderr.text }
}

/**
 * Cleaning off: pages stay where they were written, garbage stays until compact, and no
 * background cleaning commit lands after a test's last write (which would move seq past it:
 * it did on a loaded machine).
 */
const CLEANING_OFF = { ...SMALL, maxSpaceAmplification: 0 } as const

/** A closed store with `count` puts, cleaning off; resolves with its directory and last seq. */
async function makeStore(count: number): Promise<{ dir: string; seq: number }> {
  const dir = tempDir()
  const store = await Store.open(dir, CLEANING_OFF)
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

const PAGE = 4096

/**
 * A closed store with one damaged tree page: tree 'cold' gets one leaf in a commit of its own
 * (the record, then the leaf), later commits never rewrite it, and a byte in the middle of
 * that leaf is flipped. Resolves with the leaf's segment and offset.
 */
async function makeCorruptStore(): Promise<{ dir: string; segment: number; offset: number }> {
  const dir = tempDir()
  const store = await Store.open(dir, CLEANING_OFF)
  for (let i = 0; i < 100; i++) await store.put(`k${i}`, { i, pad: 'y'.repeat(500) })
  const before = store.stats().logEndOffset
  await store.tree('cold').put('x', 'small')
  const end = store.stats().logEndOffset
  // Exactly the record and the leaf: the leaf is the commit's last page.
  expect(end - before).toBe(2 * PAGE)
  // Later commits, so that the damaged commit is not the last one (which the open re-reads).
  for (let i = 0; i < 20; i++) await store.put(`k${i}`, { i, again: true })
  await store.close()
  const leaf = end - PAGE
  const segment = Math.floor(leaf / SEGMENT_SIZE_BYTES_TEST)
  const offset = leaf % SEGMENT_SIZE_BYTES_TEST
  const fd = openSync(join(dir, `${segment.toString(16).padStart(16, '0')}.seg`), 'r+')
  try {
    const byte = Buffer.alloc(1)
    expect(readSync(fd, byte, 0, 1, offset + 2000)).toBe(1)
    byte[0] = byte[0]! ^ 0x10
    writeSync(fd, byte, 0, 1, offset + 2000)
  } finally {
    closeSync(fd)
  }
  return { dir, segment, offset }
}

/**
 * A closed store whose files are mostly garbage, cleaning off: 1500 keys written once, then
 * the first half overwritten 10 times. The other half stays live in the oldest segments, so
 * compact has keys to relocate before it can delete them.
 */
async function makeGarbageStore(): Promise<{ dir: string; values: Map<string, unknown> }> {
  const dir = tempDir()
  const store = await Store.open(dir, CLEANING_OFF)
  const values = new Map<string, unknown>()
  for (let round = 0; round <= 10; round++) {
    await store.transaction((txn) => {
      for (let i = 0; i < (round === 0 ? 1500 : 750); i++) {
        const value = { i, round, pad: 'z'.repeat(1000) }
        txn.put(`k${i}`, value)
        values.set(`k${i}`, value)
      }
    })
  }
  await store.close()
  return { dir, values }
}

/** Total bytes of the files in `dir`. */
function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0)
}

/** Runs `fn` while a child process holds the store in `dir` open for writing and commits to it. */
async function withBusyWriter(dir: string, fn: () => Promise<void>): Promise<void> {
  const writer = spawn(process.execPath, [join(FIXTURES, 'busy-writer.mjs'), dir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: writer.stdout })[Symbol.asyncIterator]()
  try {
    await lines.next()
    await fn()
  } finally {
    writer.stdin.end()
  }
  await lines.next()
  const exitCode = await new Promise((resolve) => (writer.exitCode !== null ? resolve(writer.exitCode) : writer.once('exit', resolve)))
  expect(exitCode).toBe(0)
}

describe('ved verify', () => {
  it('a good store: exit 0 and a summary of what was checked', async () => {
    const { dir, seq } = await makeStore(300)
    const result = await ved(['verify', dir])
    expect(result.status).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(new RegExp(`^store +${dir}$`, 'm'))
    expect(result.stdout).toMatch(new RegExp(`^version +seq ${seq}, 1 tree$`, 'm'))
    expect(result.stdout).toMatch(/^checked +\d+ pages, 0 large values, [\d.]+ KiB \(\d+ bytes\)$/m)
    expect(result.stdout).toMatch(/^result +ok: no damage found$/m)
  })

  it('--json prints VerifyReport and the path, equal to what Store.verify() reports', async () => {
    const { dir } = await makeStore(300)
    const result = await ved(['verify', dir, '--json'])
    expect(result.status).toBe(0)
    await using reader = await Store.open(dir, { readOnly: true })
    expect(JSON.parse(result.stdout)).toEqual({ path: dir, ...(await reader.verify()) })
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, errors: [], errorsOmitted: 0 })
  })

  it('a damaged tree page: exit 1; the summary, the stderr line and --json name its segment and offset', async () => {
    const { dir, segment, offset } = await makeCorruptStore()
    const result = await ved(['verify', dir])
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/^result +DAMAGED: \d+ findings$/m)
    expect(result.stdout).toContain(`  segment ${segment} offset ${offset}: checksum: page checksum mismatch\n`)
    expect(result.stderr).toMatch(new RegExp(`^ved verify: ECORRUPT: \\d+ findings in ${dir}; first: checksum at segment ${segment}, offset ${offset}: .*\\n$`))

    const json = await ved(['verify', dir, '--json'])
    expect(json.status).toBe(1)
    const report = JSON.parse(json.stdout) as { path: string; ok: boolean; errors: unknown[] }
    expect(report).toMatchObject({ path: dir, ok: false })
    expect(report.errors[0]).toEqual({ code: 'checksum', segment, offset, message: 'page checksum mismatch' })
    expect(json.stderr).toMatch(/^ved verify: ECORRUPT: .*\n$/)
  })

  it('changes nothing on disk, and works while another process writes to the store', async () => {
    const { dir } = await makeStore(50)
    const before = fingerprint(dir)
    expect((await ved(['verify', dir])).status).toBe(0)
    expect(fingerprint(dir)).toEqual(before)
    const busy = tempDir()
    await withBusyWriter(busy, async () => {
      const result = await ved(['verify', busy, '--json'])
      expect(result.status).toBe(0)
      expect((JSON.parse(result.stdout) as { ok: boolean; seq: number }).seq).toBeGreaterThan(0)
    })
  })

  it('a missing directory or one that is not a store: ENOTSTORE, exit 1; --json adds the error', async () => {
    expectFailure(await ved(['verify', join(tempDir(), 'missing')]), 'verify', 'ENOTSTORE')
    const dir = tempDir()
    writeFileSync(join(dir, 'todo.txt'), 'not a store')
    expectFailure(await ved(['verify', dir]), 'verify', 'ENOTSTORE')
    const json = await ved(['verify', dir, '--json'])
    expect(json.status).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ENOTSTORE', message: expect.stringContaining(dir) } })
  })

  it('on a terminal: a progress bar on stderr, cleared before the summary on stdout', async () => {
    const { dir } = await makeStore(300)
    const result = await vedOnTerminal(['verify', dir])
    expect(result.status).toBe(0)
    const pages = /^checked +(\d+) pages/m.exec(result.stdout)
    expect(pages).not.toBeNull()
    expect(result.stderr).toContain('verify [')
    // The walk counts the commit record too: one page more than the tree pages.
    expect(result.stderr).toContain(`100% | ${Number(pages![1]) + 1}/${Number(pages![1]) + 1} pages`)
    expect(result.stdout).not.toMatch(/\x1b/)
  })
})

describe('ved compact', () => {
  it('a store full of overwritten data: exit 0, smaller files, every value intact and verified', async () => {
    const { dir, values } = await makeGarbageStore()
    const bytesBefore = dirBytes(dir)
    const result = await ved(['compact', dir, '--json'])
    expect(result.status).toBe(0)
    expect(result.stderr).toBe('')
    const report = JSON.parse(result.stdout) as Record<string, number | string>
    expect(Object.keys(report).sort()).toEqual(
      ['path', 'reclaimedBytes', 'segmentsDeleted', 'relocatedKeys', 'fileBytesBefore', 'fileBytesAfter', 'liveBytes', 'segmentsWaiting'].sort(),
    )
    expect(report['path']).toBe(dir)
    expect(report['fileBytesBefore']).toBeGreaterThanOrEqual(4 * SEGMENT_SIZE_BYTES_TEST)
    expect(report['fileBytesAfter'] as number).toBeLessThan(report['fileBytesBefore'] as number)
    expect(report['reclaimedBytes'] as number).toBeGreaterThan(0)
    expect(report['segmentsDeleted'] as number).toBeGreaterThan(0)
    expect(report['relocatedKeys'] as number).toBeGreaterThan(0)
    expect(report['segmentsWaiting']).toBe(0)
    expect(dirBytes(dir)).toBeLessThan(bytesBefore)

    await using store = await Store.open(dir, CLEANING_OFF)
    // Not equal to fileBytesAfter: the log zero-fills ahead of its end in the background
    // (docs/design.md), which may have added the next segment after compact() returned.
    expect(store.stats().fileBytes).toBeLessThanOrEqual((report['fileBytesAfter'] as number) + SEGMENT_SIZE_BYTES_TEST)
    for (const [key, value] of values) expect(store.get(key), key).toEqual(value)
    expect((await store.verify()).errors).toEqual([])
  })

  it('the plain summary: file bytes before and after, reclaimed, segments deleted, keys relocated, waiting', async () => {
    const { dir } = await makeGarbageStore()
    const result = await ved(['compact', dir])
    expect(result.status).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(new RegExp(`^store +${dir}$`, 'm'))
    expect(result.stdout).toMatch(/^file before +[\d.]+ MiB \(\d+ bytes\)$/m)
    expect(result.stdout).toMatch(/^file after +[\d.]+ (KiB|MiB) \(\d+ bytes\)$/m)
    expect(result.stdout).toMatch(/^reclaimed +[\d.]+ MiB \(\d+ bytes\) in [1-9]\d* segments? deleted$/m)
    expect(result.stdout).toMatch(/^relocated +[1-9]\d* keys? rewritten out of emptied segments$/m)
    expect(result.stdout).toMatch(/^waiting +0 segments$/m)
    // A second run has little left to do (it may repack the last, partly filled segments)
    // and leaves the store no larger than the first left it, give or take that one segment.
    // Counted in whole segments: the first run's last segment may not be zero-filled to its
    // end yet when it closes (the flusher fills ahead after a batch), the second run's may.
    const again = await ved(['compact', dir, '--json'])
    expect(again.status).toBe(0)
    const first = Number(/^file after +.*\((\d+) bytes\)$/m.exec(result.stdout)![1])
    const firstSegments = Math.ceil(first / SEGMENT_SIZE_BYTES_TEST)
    const againSegments = Math.ceil((JSON.parse(again.stdout) as { fileBytesAfter: number }).fileBytesAfter / SEGMENT_SIZE_BYTES_TEST)
    expect(againSegments).toBeLessThanOrEqual(firstSegments + 1)
  })

  it('a store another process is writing to: ELOCKED, exit 1, and the writer carries on', async () => {
    const dir = tempDir()
    await withBusyWriter(dir, async () => {
      expectFailure(await ved(['compact', dir]), 'compact', 'ELOCKED')
      const json = await ved(['compact', dir, '--json'])
      expect(json.status).toBe(1)
      expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ELOCKED', message: expect.any(String) } })
    })
    // withBusyWriter checked that the writer closed cleanly; the store is whole.
    expect((await ved(['verify', dir])).status).toBe(0)
  })

  it('a missing directory or one that is not a store: ENOTSTORE, exit 1, and no store is created', async () => {
    const missing = join(tempDir(), 'missing')
    expectFailure(await ved(['compact', missing]), 'compact', 'ENOTSTORE')
    expect(existsSync(missing)).toBe(false)
    const empty = tempDir()
    expectFailure(await ved(['compact', empty]), 'compact', 'ENOTSTORE')
    expect(readdirSync(empty)).toEqual([])
    const notes = tempDir()
    writeFileSync(join(notes, 'todo.txt'), 'not a store')
    const json = await ved(['compact', notes, '--json'])
    expect(json.status).toBe(1)
    expect(json.stderr).toMatch(/^ved compact: ENOTSTORE: .*\n$/)
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ENOTSTORE', message: expect.stringContaining(notes) } })
    expect(readdirSync(notes)).toEqual(['todo.txt'])
  })

  it('on a terminal: a progress bar of KiB reclaimed on stderr, cleared before the summary', async () => {
    const { dir } = await makeGarbageStore()
    const result = await vedOnTerminal(['compact', dir])
    expect(result.status).toBe(0)
    expect(result.stderr).toContain('compact [')
    const reclaimed = /^reclaimed +[\d.]+ MiB \((\d+) bytes\)/m.exec(result.stdout)
    const before = /^file before +[\d.]+ MiB \((\d+) bytes\)/m.exec(result.stdout)
    expect(reclaimed).not.toBeNull()
    expect(before).not.toBeNull()
    // The last drawing shows everything reclaimed against the file bytes before.
    expect(result.stderr).toContain(`${Math.floor(Number(reclaimed![1]) / 1024)}/${Math.ceil(Number(before![1]) / 1024)} KiB reclaimed`)
    expect(result.stdout).not.toMatch(/\x1b/)
  })
})

describe('the ved program', () => {
  it('--help lists the commands and the exit statuses', async () => {
    const result = await ved(['--help'])
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/^Usage: ved /)
    for (const command of ['stats', 'verify', 'compact']) expect(result.stdout).toMatch(new RegExp(`^ {2}${command} \\[options\\] <dir> `, 'm'))
    expect(result.stdout).toContain('Exit status:')
  })

  it('--version prints the package version', async () => {
    expect(await ved(['--version'])).toEqual({ status: 0, stdout: `${VERSION}\n`, stderr: '' })
  })

  it('usage errors exit 2: no command, an unknown command or option, a missing argument', async () => {
    for (const args of [[], ['bogus'], ['stats'], ['stats', '/tmp', '--bogus'], ['verify'], ['compact'], ['compact', '/tmp', '--bogus']]) {
      const result = await ved(args)
      expect(result.status, args.join(' ')).toBe(2)
      expect(result.stderr.length).toBeGreaterThan(0)
    }
    expect((await ved(['bogus'])).stderr).toContain("unknown command 'bogus'")
    expect((await ved(['stats'])).stderr).toContain("missing required argument 'dir'")
  })
})

describe('progress (for verify and compact)', () => {
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
