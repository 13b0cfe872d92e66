// Crash-safety demo: `npm run demo` (or `node examples/demo.js` after `npm run build`).
//
// The parent starts this same script again as a child process. The child opens a store and
// writes numbered transactions; each one puts `txn:<n>` and sets `last` to n, and the child
// prints `ack <n>` only once that transaction's promise has resolved, which in ved means
// the commit is durable on disk. About one second in, the parent kills the child with
// SIGKILL: no close, no flush, no exit handler runs. Then the parent reopens the store and
// checks that every acknowledged transaction is there and that the store holds a clean
// prefix of the transactions (no gap, nothing half-applied). A killed process leaves the
// OS page cache intact, so this shows process-crash safety; surviving power loss is what
// the fdatasync behind each acknowledgement is for, and a demo cannot pull the plug.
//
// Exit code: 0 when every acknowledged transaction survived, 1 otherwise.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { Store } from '../dist/index.js'

const KILL_AFTER_MS = 1000
/** Transactions the child keeps in flight, like a server with concurrent requests; ved
 *  makes a batch of them durable with one fdatasync. Each is still acknowledged alone. */
const IN_FLIGHT_MAX = 8
/** The child stops by itself after this long, should the parent be gone. */
const CHILD_LIFETIME_MS = 30_000

const txnKey = (n) => `txn:${String(n).padStart(8, '0')}`

async function child(dir) {
  const store = await Store.open(dir)
  process.stdout.write('ready\n')
  const inFlight = []
  const deadline = Date.now() + CHILD_LIFETIME_MS
  for (let n = 1; Date.now() < deadline; n++) {
    const durable = store.transaction((txn) => {
      txn.put(txnKey(n), { n, writtenAt: new Date().toISOString() })
      txn.put('last', n)
    })
    // Writes to a pipe are synchronous on Linux: once this line is out, the parent has it.
    inFlight.push(durable.then(() => process.stdout.write(`ack ${n}\n`)))
    // Commits resolve in order, so waiting for the oldest keeps the window bounded.
    if (inFlight.length === IN_FLIGHT_MAX) await inFlight.shift()
  }
  await Promise.all(inFlight)
  await store.close()
}

/** Runs the writer, kills it mid-write, and returns the highest acknowledged number. */
function runAndKillWriter(dir) {
  return new Promise((resolve, reject) => {
    const writer = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    console.log(`writer (pid ${writer.pid}) is committing numbered transactions to ${dir}`)
    let lastAck = 0
    let pending = ''
    let killed = false
    writer.stdout.setEncoding('utf8')
    writer.stdout.on('data', (chunk) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() // a line cut by the kill has no newline: not an acknowledgement
      for (const line of lines) {
        if (line === 'ready') {
          setTimeout(() => {
            killed = writer.kill('SIGKILL')
          }, KILL_AFTER_MS)
          continue
        }
        const n = Number(line.slice('ack '.length))
        if (n !== lastAck + 1) reject(new Error(`acknowledgements out of order: ${n} after ${lastAck}`))
        lastAck = n
      }
    })
    writer.on('error', reject)
    // 'close' comes after the pipe is drained, so every ack the writer got out is counted.
    writer.on('close', (code, signal) => {
      if (!killed || signal !== 'SIGKILL') {
        reject(new Error(`the writer ended before the kill (exit code ${code}, signal ${signal})`))
        return
      }
      resolve(lastAck)
    })
  })
}

function describeRange(numbers) {
  if (numbers.length === 0) return 'none'
  if (numbers.length === 1) return `#${numbers[0]}`
  return `#${numbers[0]}-#${numbers[numbers.length - 1]}`
}

/** Reopens the store after the crash and prints what survived. Returns true when nothing acknowledged is lost. */
async function verify(dir, lastAck) {
  const started = performance.now()
  const store = await Store.open(dir)
  const openMs = performance.now() - started
  try {
    console.log(`\nreopened the store in ${openMs.toFixed(1)} ms`)
    const found = []
    for (const { key, value } of store.getRange({ start: 'txn:', end: 'txn;' })) {
      if (key !== txnKey(value.n)) throw new Error(`key ${key} holds transaction ${value.n}`)
      found.push(value.n)
    }
    const present = new Set(found)
    const missing = []
    for (let n = 1; n <= lastAck; n++) if (!present.has(n)) missing.push(n)
    const extra = found.filter((n) => n > lastAck)
    const newest = found.length === 0 ? 0 : found[found.length - 1]
    const last = store.get('last') ?? 0
    const isPrefix = found.length === newest && last === newest

    console.log(`  acknowledged transactions present:         ${lastAck - missing.length} of ${lastAck}`)
    console.log(`  unacknowledged transactions present anyway: ${extra.length} (${describeRange(extra)})`)
    if (extra.length > 0) console.log('    (durable, but the writer was killed before it could print the ack)')
    console.log(
      isPrefix
        ? `  the store holds exactly #1-#${newest} and last = ${last}: a clean prefix, nothing torn`
        : `  NOT a clean prefix: ${found.length} transactions, newest #${newest}, last = ${last}`,
    )
    console.log(`\nstore.stats():\n${inspect(store.stats(), { depth: 4, colors: false, breakLength: 100 })}`)

    if (missing.length > 0) {
      console.log(`\nFAILED: ${missing.length} acknowledged transactions are missing: ${missing.slice(0, 10).join(', ')}`)
      return false
    }
    if (!isPrefix) {
      console.log('\nFAILED: the recovered store is not a prefix of the committed transactions')
      return false
    }
    console.log('\nOK: every acknowledged transaction survived SIGKILL.')
    return true
  } finally {
    await store.close()
  }
}

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-demo-'))
  const dir = path.join(root, 'store')
  try {
    const lastAck = await runAndKillWriter(dir)
    console.log(`SIGKILL after ${KILL_AFTER_MS} ms: ${lastAck} transactions were acknowledged (#1-#${lastAck})`)
    process.exitCode = (await verify(dir, lastAck)) ? 0 : 1
  } catch (error) {
    console.error(`demo failed: ${error?.stack ?? error}`)
    process.exitCode = 1
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'child') await child(process.argv[3])
else await main()
