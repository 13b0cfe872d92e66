// Open/recovery fuzzing: random mutations of a real store's files (truncation, garbage,
// duplicated and swapped pages, removed and stray segments, and forged records, page headers
// and checkpoint slots with impossible lengths and offsets whose checksums were recomputed).
// Opening must succeed with a consistent store or fail with a VedError: no crash, no hang, no
// unbounded allocation. test/fixtures/fuzz-child.mjs runs the cases in a child process, so a
// crash is a failure naming its case rather than the end of the test runner. `npm run soak`
// runs many more.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FIXTURES, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const CHILD = join(FIXTURES, 'fuzz-child.mjs')
const CASES_PER_CHILD = 150
const CHILD_TIMEOUT_MS = 90_000
/** The child's whole resident set: Node itself is ~60 MB; a length taken at face value would be GiBs. */
const RSS_BYTES_MAX = 512 * 1024 * 1024

export interface FuzzResult {
  seed: number
  cases: number
  outcomes: Record<string, number>
  maxRssBytes: number
}

/** Runs the fuzz child; rejects naming the last case it started when it crashes or hangs. */
export function runFuzz(seed: number, cases: number, base: string, timeoutMs: number): Promise<FuzzResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, String(seed), String(cases), base], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      const lines = stdout.trim().split('\n')
      const last = lines.at(-1) ?? ''
      if (code === 0 && last.startsWith('{')) {
        resolve(JSON.parse(last) as FuzzResult)
        return
      }
      const lastCase = [...lines].reverse().find((line) => line.startsWith('case ')) ?? '(before the first case)'
      reject(new Error(`fuzz child (seed ${seed}) ended with code ${code} signal ${signal} during ${lastCase}:\n${stderr}`))
    })
  })
}

describe('open/recovery fuzzing', () => {
  it(`${2 * CASES_PER_CHILD} mutated stores: a consistent store or a VedError, never a crash, hang or huge allocation`, async () => {
    const seed = Number(process.env['VED_FUZZ_SEED'] ?? Date.now() % 2 ** 31)
    console.log(`fuzz seed ${seed}`)
    const results = await Promise.all([runFuzz(seed, CASES_PER_CHILD, tempDir(), CHILD_TIMEOUT_MS), runFuzz(seed + 1, CASES_PER_CHILD, tempDir(), CHILD_TIMEOUT_MS)])
    for (const result of results) {
      console.log(`fuzz child seed ${result.seed}: ${JSON.stringify(result)}`)
      expect(result.cases).toBe(CASES_PER_CHILD)
      expect(result.maxRssBytes).toBeLessThan(RSS_BYTES_MAX)
      // Both kinds of outcome happen: stores that open, and damage refused at open.
      expect(result.outcomes['open ok'] ?? 0).toBeGreaterThan(0)
      expect(result.outcomes['open ECORRUPT'] ?? 0).toBeGreaterThan(0)
    }
  })
})
