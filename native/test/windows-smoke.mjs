// The addon through the operating system calls the Windows port changed, on whatever platform
// runs it: native/test/cross-windows.sh runs it under Wine with a Windows node.exe and the
// mingw-built ved.node; on Linux it is a quick check of the script itself. Needs dist/ (tsc).
//
// What it exercises: the writer lock (a second writer gets ELOCKED, in this process and in
// another), segment files created,
// sized and mapped as the log grows, read-only stores following the writer (here and in another
// process), segments deleted
// by compaction while that reader still has them mapped (the case Windows refuses unless every
// opener shares delete), verify, and a reopen that recovers everything.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addonPath } from '../../dist/addon.js'
import { Store } from '../../dist/index.js'

let checks = 0
function check(ok, what) {
  if (!ok) throw new Error(`windows-smoke: ${what}`)
  checks++
}

// Run as a child (`child <dir> <what>`): exits 0 when what it checked held. Exit codes, not
// output: Node under Wine cannot write to a pipe.
if (process.argv[2] === 'child') {
  const [dir, what] = process.argv.slice(3)
  if (what === 'writer') {
    const code = await Store.open(dir).then(
      () => 'opened',
      (error) => error.code,
    )
    process.exit(code === 'ELOCKED' ? 0 : 1)
  }
  const reader = await Store.open(dir, { readOnly: true })
  const ok = reader.get('k7')?.round === Number(what) && reader.get('late') === 1
  await reader.close()
  process.exit(ok ? 0 : 1)
}
function child(dir, what) {
  return spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', dir, what], { stdio: 'ignore' }).status
}

const parent = mkdtempSync(join(tmpdir(), 'ved-windows-smoke-'))
const dir = join(parent, 'store')
const segmentFiles = () => readdirSync(dir).filter((name) => name.endsWith('.seg')).length
const KEYS = 200
const ROUNDS = 4
const filler = 'x'.repeat(3000)

// Small segments, so a few hundred puts span several; no background cleaning, so the
// compaction below decides when segments go.
const writer = await Store.open(dir, { segmentSizeBytes: 256 * 1024, maxSpaceAmplification: 0 })
let locked = null
try {
  await Store.open(dir)
} catch (error) {
  locked = error
}
check(locked?.code === 'ELOCKED', `a second writer got ${locked?.code ?? 'no error'}`)

for (let round = 0; round < ROUNDS; round++) {
  const puts = []
  for (let i = 0; i < KEYS; i++) puts.push(writer.put(`k${i}`, { round, filler }))
  await Promise.all(puts)
}
const segmentsWritten = segmentFiles()
check(segmentsWritten >= 4, `only ${segmentsWritten} segment files after ${KEYS * ROUNDS} puts`)

const reader = await Store.open(dir, { readOnly: true })
check(reader.get('k7')?.round === ROUNDS - 1, 'the reader does not see the last round')
await writer.put('late', 1)
check(reader.get('late') === 1, 'the reader does not follow a new commit')
check(child(dir, 'writer') === 0, 'a writer in another process did not get ELOCKED')
check(child(dir, String(ROUNDS - 1)) === 0, 'a read-only store in another process did not read the last commit')

const compacted = await writer.compact()
check(compacted.segmentsDeleted > 0, `compaction deleted no segment (${JSON.stringify(compacted)})`)
// The cleaner's thread deletes the files after compact resolves.
for (let waited = 0; segmentFiles() >= segmentsWritten && waited < 5000; waited += 50) {
  await new Promise((resolve) => setTimeout(resolve, 50))
}
check(segmentFiles() < segmentsWritten, 'segment files are still there after compaction deleted them')
check(writer.stats().cleaner.error === '', `the cleaner: ${writer.stats().cleaner.error}`)
for (let i = 0; i < KEYS; i++) {
  check(reader.get(`k${i}`)?.round === ROUNDS - 1, `the reader lost k${i} after segments were deleted`)
}
const report = await writer.verify()
check(report.ok, `verify: ${JSON.stringify(report.errors)}`)
// Windows: segments the reader still mapped were renamed, not deleted (io_win32.cc). Once it
// has closed, the writer's next deletes sweep them.
// (A segment deleted now is renamed for a moment too: only those left earlier are counted.)
const renamed = () => readdirSync(dir).filter((name) => name.endsWith('.deleted'))
const leftWhileReading = renamed()
const leftBehind = () => renamed().filter((name) => leftWhileReading.includes(name)).length
await reader.close()
const deletedBefore = writer.stats().cleaner.segmentsDeleted
for (let i = 0; i < KEYS; i++) await writer.put(`k${i}`, { round: ROUNDS - 1, filler })
await writer.compact()
for (let waited = 0; leftBehind() > 0 && waited < 5000; waited += 50) {
  await new Promise((resolve) => setTimeout(resolve, 50))
}
check(writer.stats().cleaner.segmentsDeleted > deletedBefore, 'the second compaction deleted nothing')
check(leftBehind() === 0, `${leftBehind()} renamed segments left after the reader closed and the writer deleted again`)
await writer.close()

const reopened = await Store.open(dir)
for (let i = 0; i < KEYS; i++) check(reopened.get(`k${i}`)?.round === ROUNDS - 1, `k${i} after reopen`)
check(reopened.get('late') === 1, 'late after reopen')
await reopened.close()
rmSync(parent, { recursive: true, force: true })

console.log(
  `windows-smoke ok on ${process.platform}-${process.arch}: ${checks} checks, ${segmentsWritten} segments written, ` +
    `${compacted.segmentsDeleted} deleted under a reader (${leftWhileReading.length} of them left renamed while it mapped them); ` +
    `addon ${addonPath}`,
)
