// Ved against lmdb, in one process, on the same keys and values; `npm run bench`.
//
// Workloads (each module's header says exactly what it times):
//   (a) random get                       reads.js   gets/s, ratio to lmdb
//   (b) batched puts, 1000 per txn       writes.js  puts/s, ratio to lmdb (+ the load itself)
//   (c) full ordered scan                reads.js   pairs/s, ratio to lmdb
//   (d) durable single-put txn latency   writes.js  us p50/p99, ratio to lmdb and raw fdatasync
//   (e) one-key commit cost by size      writes.js  us p50, ratio largest/smallest store
//   (f) open time, 100K-commit log       open.js    ms p50
//   (g) overwrites with cleaning on/off  cleaning.js puts/s, p99 us, disk bytes vs lmdb
//   (r0) handler drafts: ved / mutative / immer      runtime-draft.js  us per slice
//   (r1-r4) domain runtime: slices/s, blocked time, map snapshot cost, recovery  runtime.js
// `--runtime-only` runs the runtime rows only (lmdb opened empty, no 1M-key load).
// `--only d,r2` runs the workloads that produce the named rows (a b c d e f g r0 r1 r2 r3 r4;
// r1 and r2 come from one workload), plus the load when a row needs the loaded stores (a-e).
// To compare two builds of the addon on rows d and r2 under the same load, use
// bench/compare-builds.js (both in one process, taking turns).
// Row b taken apart (seal, page faults, CPU per thread, for perf): bench/batched-cpu.js; the
// per-page checksum cost: bench/crc.cc (build command in its header). Row d's disk: what
// fdatasync costs by write size, bench/sync-size.c. Row r2's sequential commit taken apart
// (log bytes and native seal per slice after r1's domains): bench/sequential-commit.js.
// Journal compaction steps and their parts, 20,000 domains over a small window by default:
// bench/journal-steps.js. One leaf search with and without a prefetch: bench/page-search.cc.
// Data: BENCH_KEYS keys (default 1,000,000; `--quick`: 100,000 and fewer iterations),
// `key-000000123` strings, 100-byte msgpack values. Stores live in a temp directory under
// os.tmpdir() (or BENCH_DIR), removed at the end.
// Units: stated in every cell. Ratios are ved/lmdb: above 1 is better for throughput,
// below 1 is better for latency.
// Machine: printed at the top of the report and of bench/results.md; the reference runs
// were on 2 cores with a virtual disk. A full run takes a few minutes and well under 8 GiB.
//
// Output: a markdown table on stdout and in bench/results.md. Exit code 1 when a workload
// failed (its row says why); a missed goal is reported, not an error.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  fmtOps,
  fsTypeOf,
  gc,
  log,
  machineInfo,
  makeKeys,
  makeOrder,
  makeTempDir,
  makeValues,
  markdownTable,
  readConfig,
} from './lib.js'
import { checkLoaded, fillBoth, openLmdbStore, openVedStore } from './stores.js'
import { benchRandomGet, benchScan } from './reads.js'
import { benchBatchedPuts, benchCommitCost, benchDurableLatency } from './writes.js'
import { benchOpen } from './open.js'
import { benchCleaning } from './cleaning.js'
import { benchDrafts } from './runtime-draft.js'
import { RUNTIME_WORKLOADS } from './runtime.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const RESULTS_FILE = path.join(here, 'results.md')

async function load(context) {
  const { ved, lmdb, keys, values } = context
  const { vedMs, lmdbMs } = await fillBoth(ved, lmdb, keys, values)
  checkLoaded('ved', (k) => ved.get(k), keys, values, keys.length)
  checkLoaded('lmdb', (k) => lmdb.get(k), keys, values, keys.length)
  const vedRate = (keys.length * 1000) / vedMs
  const lmdbRate = (keys.length * 1000) / lmdbMs
  return [
    {
      id: 'b',
      workload: `load: ${keys.length.toLocaleString('en')} ascending keys, 1000 per durable transaction`,
      ved: fmtOps(vedRate, 'puts'),
      reference: `lmdb ${fmtOps(lmdbRate, 'puts')}`,
      ratio: `${(vedRate / lmdbRate).toFixed(2)}x lmdb throughput`,
      goal: '-',
      met: '-',
    },
  ]
}

/** [title, run, the row ids it reports]; the load reports 'b' but is selected by what needs it. */
const WORKLOADS = [
  ['load (b)', load, ['a', 'b', 'c', 'd', 'e']],
  ['random get (a)', benchRandomGet, ['a']],
  ['full scan (c)', benchScan, ['c']],
  ['batched puts (b)', benchBatchedPuts, ['b']],
  ['durable single-put latency (d)', benchDurableLatency, ['d']],
  ['commit cost by store size (e)', benchCommitCost, ['e']],
  ['open time (f)', benchOpen, ['f']],
  ['space reclamation (g)', benchCleaning, ['g']],
  ['runtime: handler drafts (r0)', benchDrafts, ['r0']],
  ...RUNTIME_WORKLOADS,
]
const RUNTIME_IDS = ['r0', 'r1', 'r2', 'r3', 'r4']

/** The row ids to run, from `--runtime-only` or `--only a,b`; null runs everything. */
function selectedIds(argv) {
  if (argv.includes('--runtime-only')) return new Set(RUNTIME_IDS)
  const at = argv.findIndex((arg) => arg === '--only' || arg.startsWith('--only='))
  if (at < 0) return null
  const list = argv[at].startsWith('--only=') ? argv[at].slice('--only='.length) : argv[at + 1]
  const known = new Set(WORKLOADS.flatMap(([, , ids]) => ids))
  const ids = (list ?? '').split(',').filter((id) => id !== '')
  const unknown = ids.filter((id) => !known.has(id))
  if (ids.length === 0 || unknown.length > 0) {
    throw new RangeError(`--only takes row ids separated by commas (${[...known].join(' ')}), got ${list}`)
  }
  return new Set(ids)
}

function failureRow(title, error) {
  const message = String(error?.stack ?? error).split('\n').slice(0, 2).join(' ')
  return { id: '!', workload: title, ved: `failed: ${message}`, reference: '-', ratio: '-', goal: '-', met: '-' }
}

function report(config, rows, totalMs) {
  const header = ['', 'workload', 'ved', 'reference (same run)', 'ratio', 'goal', 'met']
  const table = markdownTable(
    header,
    rows.map((r) => [r.id, r.workload, r.ved, r.reference, r.ratio, r.goal, r.met]),
  )
  return [
    `# ved benchmark results`,
    ``,
    `- command: \`node bench/run.js${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${config.keyCount.toLocaleString('en')} keys, ` +
      `100-byte msgpack values, seed ${config.seed}, ${new Date().toISOString()}, took ${(totalMs / 1000).toFixed(0)} s`,
    `- machine: ${machineInfo(config.tmpRoot)}`,
    `- ved: \`sync: true\`; lmdb ${lmdbVersion()}: \`open({ encoding: 'msgpack', noSync: false })\`, other options default; ` +
      `every timed write is awaited until durable (lmdb: the write's promise, then \`db.flushed\`)`,
    `- ratios are ved/lmdb (or ved/raw): above 1 is better for throughput, below 1 is better for latency`,
    ``,
    table,
    ``,
  ].join('\n')
}

function lmdbVersion() {
  try {
    const manifest = path.join(here, '..', 'node_modules', 'lmdb', 'package.json')
    return JSON.parse(fs.readFileSync(manifest, 'utf8')).version
  } catch {
    return '(version unknown)'
  }
}

async function main() {
  const config = readConfig()
  const only = selectedIds(process.argv.slice(2))
  const started = performance.now()
  if (fsTypeOf(config.tmpRoot) === 'tmpfs') {
    log(`warning: ${config.tmpRoot} is tmpfs; fdatasync costs nothing there, set BENCH_DIR to a disk`)
  }
  log(`ved bench: ${config.keyCount} keys${config.quick ? ' (quick)' : ''}; ${machineInfo(config.tmpRoot)}`)
  const dir = makeTempDir(config.tmpRoot)
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true })
  process.once('SIGINT', () => {
    removeDir()
    process.exit(130)
  })
  const rows = []
  let failed = false
  let ved = null
  let lmdb = null
  try {
    const keys = makeKeys(config.keyCount)
    const values = makeValues()
    const order = makeOrder(config.keyCount, config.seed)
    ved = await openVedStore(path.join(dir, 'ved'))
    lmdb = openLmdbStore(path.join(dir, 'lmdb'))
    const context = { ved, lmdb, keys, values, order, config, dir }
    for (const [title, run, ids] of WORKLOADS) {
      if (only !== null && !ids.some((id) => only.has(id))) continue
      log(`${title}...`)
      const workloadStarted = performance.now()
      try {
        const workloadRows = await run(context)
        for (const row of workloadRows) log(`  ${row.ved} | ${row.reference} | ${row.ratio}`)
        rows.push(...workloadRows)
      } catch (error) {
        failed = true
        log(`  FAILED: ${error?.stack ?? error}`)
        rows.push(failureRow(title, error))
      }
      log(`  (${((performance.now() - workloadStarted) / 1000).toFixed(1)} s)`)
      gc()
    }
    log(`ved stats at the end: ${JSON.stringify(ved.stats())}`)
  } finally {
    await ved?.close().catch((error) => log(`ved close failed: ${error}`))
    await lmdb?.close()
    removeDir()
  }
  const markdown = report(config, rows, performance.now() - started)
  fs.writeFileSync(RESULTS_FILE, markdown)
  log('')
  log(markdown)
  log(`written to ${path.relative(process.cwd(), RESULTS_FILE)}`)
  if (failed) process.exitCode = 1
}

await main()
