// The long runs of the fault tests (`npm run soak`): power-loss crash points and fuzzed stores
// far beyond what `npm test` runs, split over two child processes each (two cores), and the
// bit-flip test with many rounds. Prints the seed and the figures (docs/durability.md quotes
// them). Sizes: VED_SOAK_POWER_ROUNDS (default 20000), VED_SOAK_FUZZ_CASES (5000),
// VED_SOAK_BITFLIP_ROUNDS (2000); seed: VED_SOAK_SEED.
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const FAULT_ADDON = join(root, 'build-fault', 'Release', 'ved.node')
const seed = Number(process.env.VED_SOAK_SEED ?? Date.now() % 2 ** 31)
const powerRounds = Number(process.env.VED_SOAK_POWER_ROUNDS ?? 20_000)
const fuzzCases = Number(process.env.VED_SOAK_FUZZ_CASES ?? 5_000)
const bitflipRounds = Number(process.env.VED_SOAK_BITFLIP_ROUNDS ?? 2_000)
console.log(`soak seed ${seed}: ${powerRounds} power-loss rounds, ${fuzzCases} fuzz cases, ${bitflipRounds} bit-flip rounds`)

/** Runs a fixture; resolves with its last stdout line parsed, rejects with its output. */
function run(file, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'test', 'fixtures', file), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    let tail = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => (tail = (tail + chunk).slice(-64 * 1024)))
    child.once('close', (code, signal) => {
      const lines = tail.trim().split('\n')
      if (code === 0) resolve(JSON.parse(lines.at(-1)))
      else reject(new Error(`${file} ${args.join(' ')} ended with code ${code} signal ${signal}; last lines:\n${lines.slice(-3).join('\n')}`))
    })
  })
}

const base = mkdtempSync(join(tmpdir(), 'ved-soak-'))
let failed = false
try {
  const half = (n) => [Math.ceil(n / 2), Math.floor(n / 2)]
  const power = await Promise.all(half(powerRounds).map((rounds, i) => run('power-loss-child.mjs', [String(seed + i), String(rounds), base], { VED_ADDON_PATH: FAULT_ADDON })))
  for (const report of power) {
    console.log(`power-loss: ${JSON.stringify(report.figures)}`)
    if (report.failure !== null) {
      failed = true
      console.log(`power-loss FAILURE (store kept at ${report.dir}): ${JSON.stringify(report.failure)}`)
    }
  }
  const fuzz = await Promise.all(half(fuzzCases).map((cases, i) => run('fuzz-child.mjs', [String(seed + i), String(cases), base], {})))
  for (const result of fuzz) console.log(`fuzz: ${JSON.stringify(result)}`)
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
  const { stdout } = await promisify(execFile)(process.execPath, [vitest, 'run', 'test/bitflip.test.ts'], {
    cwd: root,
    env: { ...process.env, VED_BITFLIP_ROUNDS: String(bitflipRounds), VED_BITFLIP_SEED: String(seed) },
    maxBuffer: 64 * 1024 * 1024,
  })
  // vitest colours its output even into a pipe: the codes go before the lines are matched.
  const lines = stdout.split('\n').map((line) => line.replace(/\x1b\[[0-9;]*m/g, ''))
  console.log(lines.filter((line) => line.startsWith('bitflip')).join('\n'))
} catch (error) {
  failed = true
  console.log(String(error.stack ?? error))
} finally {
  if (!failed) rmSync(base, { recursive: true, force: true })
}
console.log(failed ? 'soak FAILED' : 'soak passed')
process.exitCode = failed ? 1 : 0
