// Crash safety: a child writes numbered transactions and is killed with SIGKILL at random
// moments. After every kill the store opens, holds every transaction the child reported
// durable, and is exactly a committed prefix: k1..k<last> present, nothing beyond, no torn
// transaction.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Store } from '../lib/index.js'
import { FIXTURES, prng, SEGMENT_SIZE_BYTES_TEST, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const WRITER = join(FIXTURES, 'crash-writer.mjs')
const ROUNDS = 50
const SNAPSHOT_ROUNDS = 25
/** 'snapshot': the writer also walks pinned snapshots while it writes (see crash-writer.mjs). */
type Mode = 'plain' | 'snapshot'
/** Upper bound of the random time the child writes before it is killed. */
const KILL_DELAY_MS_MAX = 150

interface Round {
  /** Highest n the child reported durable. */
  acknowledged: number
  /** Whether the child got as far as opening the store. */
  started: boolean
}

/** Runs the writer, kills it after `delayMs` (counted from "ready", or from spawn when `early`). */
function runAndKill(dir: string, delayMs: number, early: boolean, mode: Mode): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, String(SEGMENT_SIZE_BYTES_TEST), mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timer: NodeJS.Timeout | null = null
    const kill = (): void => {
      child.kill('SIGKILL')
    }
    if (early) timer = setTimeout(kill, delayMs)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      if (!early && timer === null && (stdout + chunk).includes('ready')) timer = setTimeout(kill, delayMs)
      stdout += chunk
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    // 'close' fires after the pipes drained: every line the child wrote has arrived.
    child.once('close', (code, signal) => {
      if (timer !== null) clearTimeout(timer)
      if (signal !== 'SIGKILL') {
        reject(new Error(`writer exited with code ${code} signal ${signal}: ${stderr}`))
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

/** Opens the store and checks it is a committed prefix holding everything acknowledged. */
async function checkPrefix(dir: string, acknowledged: number, previousLast: number): Promise<number> {
  await using store = await Store.open(dir, { segmentSizeBytes: SEGMENT_SIZE_BYTES_TEST })
  const last = (store.get('last') as number | undefined) ?? 0
  expect(last).toBeGreaterThanOrEqual(acknowledged)
  expect(last).toBeGreaterThanOrEqual(previousLast)
  let count = 0
  for (const { key, value } of store.getRange({ start: 'k', end: 'l' })) {
    const n = Number((key as string).slice(1))
    expect(n).toBeGreaterThanOrEqual(1)
    expect(n).toBeLessThanOrEqual(last)
    const expected = n % 16 === 0 ? { i: n, pad: 'x'.repeat(30_000) } : n
    expect(value).toEqual(expected)
    count++
  }
  // Exactly k1..k<last>: none missing, none beyond.
  expect(count).toBe(last)
  expect(store.get(`k${last + 1}`)).toBeUndefined()
  return last
}

describe('crash safety', () => {
  it(`every acknowledged commit survives SIGKILL (${ROUNDS} rounds)`, async () => {
    await killRounds(ROUNDS, 'plain')
  })

  it(`and when the kill lands while the writer reads a snapshot (${SNAPSHOT_ROUNDS} rounds)`, async () => {
    await killRounds(SNAPSHOT_ROUNDS, 'snapshot')
  })
})

async function killRounds(rounds: number, mode: Mode): Promise<void> {
  const seed = Number(process.env['VED_CRASH_SEED'] ?? Date.now() % 2 ** 31)
  // Printed so that a failing round can be replayed with VED_CRASH_SEED.
  console.log(`crash test (${mode}) seed ${seed}`)
  const random = prng(seed)
  const dir = tempDir()
  let last = 0
  let acknowledgedTotal = 0
  for (let round = 0; round < rounds; round++) {
    // One round in ten kills the child early, possibly while it opens (recovers) the store.
    const early = random() < 0.1
    const delayMs = Math.floor(random() * KILL_DELAY_MS_MAX)
    const result = await runAndKill(dir, early ? delayMs + 20 : delayMs, early, mode)
    try {
      last = await checkPrefix(dir, result.acknowledged, last)
    } catch (error) {
      throw new Error(`round ${round} (seed ${seed}, delay ${delayMs} ms, early ${early}, acknowledged ${result.acknowledged}): ${String(error)}`, { cause: error })
    }
    acknowledgedTotal = Math.max(acknowledgedTotal, result.acknowledged)
  }
  console.log(`crash test (${mode}): ${rounds} rounds, store ends at transaction ${last}, highest acknowledged ${acknowledgedTotal}`)
  // The rounds made progress: the child wrote and acknowledged commits.
  expect(acknowledgedTotal).toBeGreaterThan(0)
  expect(last).toBeGreaterThanOrEqual(acknowledgedTotal)
}
