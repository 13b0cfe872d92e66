// The two errors that need a fault: a failed fdatasync (EIO) and no space left (ENOSPC).
//
// - EIO and ENOSPC through the fault-injection build (build-fault/, made by global-setup):
//   its fault plan is process-wide and lib loads the addon at import time, so each scenario
//   runs in a child process started with VED_ADDON_PATH (fixtures/faults-child.mjs) that
//   reports what every call did; the assertions are here.
// - A real ENOSPC: a child under `unshare -rm` mounts a 6 MiB tmpfs and fills it
//   (fixtures/tmpfs-enospc-child.mjs), with the addon this process uses.
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { Store } from '../lib/index.js'
// A JS fixture module (no type declarations): the digests must match the children's exactly.
import { contents } from './fixtures/faults-common.mjs'
import { FAULT_ADDON, FIXTURES, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const FAULTS_CHILD = join(FIXTURES, 'faults-child.mjs')
const TMPFS_CHILD = join(FIXTURES, 'tmpfs-enospc-child.mjs')
const CHILD_TIMEOUT_MS = 60_000

/** [key, digest of value] pairs in key order, as the fixtures report store contents. */
type Contents = [string, string][]

interface Outcome {
  threw: boolean
  isPromise?: boolean
  ok: boolean
  value?: unknown
  error?: { name: string | null; code: string | null; message: string }
}

interface Reads {
  mismatches: unknown[]
  contents: Contents
  side: Contents
}

interface Stats {
  seq: number
  durableSeq: number
  poisoned: boolean
}

const contentsOf = contents as (range: Iterable<{ key: string; value: unknown }>) => Contents

/** What a write call does when it fails: it returns a promise that rejects with a VedError. */
function rejectedWith(code: string): Outcome {
  return {
    threw: false,
    isPromise: true,
    ok: false,
    error: { name: 'VedError', code, message: expect.stringMatching(new RegExp(`^${code}: .+`)) as unknown as string },
  }
}

const resolved: Partial<Outcome> = { threw: false, isPromise: true, ok: true }

/** Runs a fixture and returns the JSON object it printed last; a failing child fails the test with its stderr. */
async function runChild(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<any> {
  try {
    const { stdout } = await promisify(execFile)(file, args, { env, timeout: CHILD_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 })
    const lines = stdout.trim().split('\n')
    return JSON.parse(lines[lines.length - 1]!)
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`fixture failed: ${file} ${args.join(' ')}\nstdout: ${stdout ?? ''}\nstderr: ${stderr ?? ''}`, { cause: error })
  }
}

function runFaultChild(scenario: 'eio' | 'eio-new-segment' | 'enospc' | 'snapshot-rollback', dir: string): Promise<any> {
  if (!existsSync(FAULT_ADDON)) throw new Error(`${FAULT_ADDON} is missing: test/global-setup.ts builds it`)
  return runChild(process.execPath, [FAULTS_CHILD, scenario, dir], { ...process.env, VED_ADDON_PATH: FAULT_ADDON })
}

/** Keys the failed commits of the EIO scenario wrote, grouped by commit (each all or nothing). */
const EIO_FAILED_GROUPS = [
  { tree: 'default', entries: [['f:a1', '"a1"'], ['f:a2', '"a2"']] },
  { tree: 'default', entries: [['f:b', '"b"']] },
  { tree: 'side', entries: [['f:c', '"c"']] },
] as const

const withoutFailed = (pairs: Contents): Contents => pairs.filter(([key]) => !key.startsWith('f:'))

/** Each failed commit is either wholly visible, with its values, or not at all. */
function expectFailedCommitsAtomic(reads: { contents: Contents; side: Contents }): void {
  for (const group of EIO_FAILED_GROUPS) {
    const pairs = group.tree === 'side' ? reads.side : reads.contents
    const present = group.entries.map(([key]) => pairs.find(([k]) => k === key) ?? null)
    if (present.every((pair) => pair === null)) continue
    expect(present).toEqual(group.entries.map(([key, digest]) => [key, digest]))
  }
}

describe('EIO: a failed fdatasync poisons the store', () => {
  it('rejects the commit and every later write, keeps reads, closes, and a normal reopen recovers', async () => {
    const dir = tempDir()
    const report = await runFaultChild('eio', dir)
    expect(report.faultBuild).toBe(true)
    const expected = report.expectedAtFault as { contents: Contents; side: Contents }
    expect(expected.contents.length).toBeGreaterThan(20)

    // The failing commit, and the two sealed in the same tick behind it.
    expect(report.failing).toEqual([rejectedWith('EIO'), rejectedWith('EIO'), rejectedWith('EIO')])
    expect(report.failing[0].error.message).toContain('fdatasync')
    expect(report.flushed).toEqual(rejectedWith('EIO'))
    expect(report.statsAfterFault).toMatchObject({ poisoned: true, durableSeq: report.acknowledgedSeq })

    // Later writes fail although fdatasync works again: no silent retry. None throws synchronously.
    expect(report.writesAfterFault).toEqual({
      transaction: rejectedWith('EIO'),
      put: rejectedWith('EIO'),
      del: rejectedWith('EIO'),
      treePut: rejectedWith('EIO'),
      treeDel: rejectedWith('EIO'),
    })

    // Reads go on, and show exactly what was acknowledged: the rejected commits are rolled
    // back out of the in-memory view, never served as if they had been committed.
    const reads = report.readsAfterFault as Reads
    expect(reads.mismatches).toEqual([])
    expect({ contents: reads.contents, side: reads.side }).toEqual(expected)
    expect(report.snapshotBeforeFault).toEqual(expected)
    expect(report.snapshotAfterFault).toEqual(expected)
    expect((report.statsAtEnd as Stats).poisoned).toBe(true)

    expect(report.close).toMatchObject(resolved)

    // A normal open recovers: everything acknowledged, each failed commit whole or absent.
    const reopened = report.reopened as Reads & { stats: Stats }
    expect(reopened.stats.poisoned).toBe(false)
    expect(reopened.stats.durableSeq).toBeGreaterThanOrEqual(report.acknowledgedSeq)
    expect(reopened.mismatches).toEqual([])
    expect(withoutFailed(reopened.contents)).toEqual(expected.contents)
    expect(withoutFailed(reopened.side)).toEqual(expected.side)
    expectFailedCommitsAtomic(reopened)
    expect(report.reopenedPut).toMatchObject(resolved)
    expect(report.reopenedGet).toBe('yes')

    // And with the production addon, in this process: what the child left, nothing more or less.
    await using store = await Store.open(dir, SMALL)
    expect(store.stats().poisoned).toBe(false)
    expect(contentsOf(store.getRange())).toEqual(report.finalContents)
    expect(withoutFailed(contentsOf(store.getRange().toArray().filter(({ key }) => key !== 'after-reopen')))).toEqual(expected.contents)
    expect(store.get('after-reopen')).toBe('yes')
  })

  it('also when the failed fdatasync is the one of a new segment the commit needs', async () => {
    const dir = tempDir()
    const report = await runFaultChild('eio-new-segment', dir)
    expect(report.faultBuild).toBe(true)
    const expected = report.expectedAtFault as { contents: Contents; side: Contents }
    expect(report.failing).toEqual(rejectedWith('EIO'))
    expect(report.failing.error.message).toContain('fdatasync')
    expect(report.statsAfterFault).toMatchObject({ poisoned: true, durableSeq: report.acknowledgedSeq })
    expect(report.writesAfterFault).toEqual({ put: rejectedWith('EIO'), transaction: rejectedWith('EIO') })
    expect(report.readsAfterFault.mismatches).toEqual([])
    expect({ contents: report.readsAfterFault.contents, side: report.readsAfterFault.side }).toEqual(expected)
    expect(report.close).toMatchObject(resolved)
    expect(report.reopened.stats.poisoned).toBe(false)
    expect(report.reopened.mismatches).toEqual([])
    expect(withoutFailed(report.reopened.contents)).toEqual(expected.contents)
  })
})

describe('ENOSPC (fault injection): the commit is rejected, the store stays readable, writes resume', () => {
  it('rejects the commit and those sealed behind it, rolls back, then works once space is back', async () => {
    const dir = tempDir()
    const report = await runFaultChild('enospc', dir)
    expect(report.faultBuild).toBe(true)
    const whileFull = report.expectedWhileFull as { contents: Contents; side: Contents }
    const expected = report.expected as { contents: Contents; side: Contents }

    // The failing commit and the two sealed behind it (which build on it) are all rejected.
    expect(report.failing).toEqual([rejectedWith('ENOSPC'), rejectedWith('ENOSPC'), rejectedWith('ENOSPC')])
    expect(report.flushed).toEqual(rejectedWith('ENOSPC'))

    // Still out of space: reads show exactly what was acknowledged (the failed overwrite of k0,
    // delete of k1, put of k2 and the new keys are gone); the store is not poisoned.
    for (const reads of [report.readsWhileFull, report.readsAfterRetry] as Reads[]) {
      expect(reads.mismatches).toEqual([])
      expect({ contents: reads.contents, side: reads.side }).toEqual(whileFull)
    }
    expect(report.snapshotBeforeFault).toEqual(whileFull)
    expect(report.snapshotWhileFull).toEqual(whileFull)
    expect(report.statsWhileFull).toMatchObject({ poisoned: false, durableSeq: report.acknowledgedSeq })
    expect(report.retryWhileFull).toEqual(rejectedWith('ENOSPC'))

    // Space is back: the next transaction and the puts after it work; nothing acknowledged is lost.
    expect(report.afterSpace).toMatchObject(resolved)
    expect(report.morePuts).toHaveLength(10)
    for (const outcome of report.morePuts) expect(outcome).toMatchObject(resolved)
    expect(report.readsAfterSpace.mismatches).toEqual([])
    expect({ contents: report.readsAfterSpace.contents, side: report.readsAfterSpace.side }).toEqual(expected)
    expect(report.statsAfterSpace).toMatchObject({ poisoned: false })
    expect(report.statsAfterSpace.durableSeq).toBe(report.statsAfterSpace.seq)
    expect(report.close).toMatchObject(resolved)

    // After close and reopen (in the child, then here with the production addon).
    expect(report.reopened.mismatches).toEqual([])
    expect({ contents: report.reopened.contents, side: report.reopened.side }).toEqual(expected)
    expect(report.finalContents).toEqual(expected.contents)
    await using store = await Store.open(dir, SMALL)
    expect(contentsOf(store.getRange())).toEqual(expected.contents)
    expect(contentsOf(store.tree('side').getRange())).toEqual(expected.side)
  })
})

describe('snapshots across an ENOSPC rollback', () => {
  it('a snapshot of a rejected commit keeps reading its version after the log space is reused', async () => {
    const report = await runFaultChild('snapshot-rollback', tempDir())
    expect(report.faultBuild).toBe(true)
    const pinned = { k0: '41', big: 100000, keys: ['big', 'k0', 'k1', 'k2', 'k3', 'k4'] }
    expect(report.snapshotBefore).toEqual(pinned)
    expect(report.failing).toEqual(rejectedWith('ENOSPC'))
    expect(report.storeAfterRollback).toEqual({ k0: '00', big: null })
    expect(report.snapshotAfterRollback).toEqual(pinned)
    expect(report.snapshotAfterNewCommits).toEqual(pinned)
  })
})

describe('ENOSPC (a real full tmpfs, no fault injection)', () => {
  it('fills a 6 MiB tmpfs: the commit is rejected, reads work, and after freeing space writes and reopen work', async () => {
    // Needs a user and mount namespace: fail loudly (never skip) when the machine has none.
    try {
      execFileSync('unshare', ['-rm', 'true'], { stdio: 'pipe' })
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error)
      throw new Error(`this test needs \`unshare -rm\` (user + mount namespaces) to mount a tmpfs: ${stderr}`, { cause: error })
    }
    const mountPoint = join(tempDir(), 'mnt')
    mkdirSync(mountPoint)
    const report = await runChild('unshare', ['-rm', process.execPath, TMPFS_CHILD, mountPoint], process.env)

    expect(report.filesystem).toEqual({ tmpfs: true, totalBytes: 6 * 1024 * 1024, freeBytes: 6 * 1024 * 1024 })
    // Several rounds of large values were acknowledged before the disk filled up.
    expect(report.rounds).toBeGreaterThan(3)
    expect(report.filesystemWhenFull.freeBytes).toBeLessThan(256 * 1024)

    // The last round: a large commit and two small ones sealed right behind it. The first
    // failure is ENOSPC. Each later one either was sealed on top of it (rejected, ENOSPC) or
    // after the rollback (then it succeeded and its value must read back, checked below).
    const lastRound = report.lastRound as Outcome[]
    const firstFailure = lastRound.findIndex((outcome) => !outcome.ok)
    expect(firstFailure).toBeGreaterThanOrEqual(0)
    expect(lastRound[firstFailure]).toEqual(rejectedWith('ENOSPC'))
    for (const outcome of lastRound) {
      if (outcome.ok) expect(outcome).toMatchObject(resolved)
      else expect(outcome).toEqual(rejectedWith('ENOSPC'))
    }

    // While full: reads return every acknowledged value, and nothing else.
    expect(report.statsWhileFull.poisoned).toBe(false)
    expect(report.statsWhileFull.durableSeq).toBe(report.statsWhileFull.seq)
    expect(report.readsWhileFull.mismatches).toEqual([])
    expect(report.readsWhileFull.contents).toEqual(report.expectedWhileFull)
    expect(report.snapshotWhileFull).toEqual(report.expectedWhileFull)
    expect(report.retryWhileFull).toEqual(rejectedWith('ENOSPC'))
    expect(report.readsAfterRetry.mismatches).toEqual([])
    expect(report.readsAfterRetry.contents).toEqual(report.expectedWhileFull)

    // Space back (the filler is deleted): the next transaction and later puts work.
    expect(report.filesystemAfterUnlink.freeBytes).toBeGreaterThanOrEqual(2 * 1024 * 1024)
    expect(report.afterSpace).toMatchObject(resolved)
    for (const outcome of report.morePuts) expect(outcome).toMatchObject(resolved)
    expect(report.readsAfterSpace.mismatches).toEqual([])
    expect(report.readsAfterSpace.contents).toEqual(report.expected)
    expect(report.close).toMatchObject(resolved)

    // After close and reopen: everything acknowledged, nothing else.
    expect(report.reopenedStats.poisoned).toBe(false)
    expect(report.reopened.mismatches).toEqual([])
    expect(report.reopened.contents).toEqual(report.expected)
  })
})
