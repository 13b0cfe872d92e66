// Deployment orchestrator demo: `npm run demo` (or `node examples/demo.js` after `npm run build`).
//
// A `rollout` domain rolls release v42 out to five hosts, one step per host. Each step is an
// effect (`deploy`) that calls the "fleet" (a file standing in for the outside world, which
// honours idempotency keys the way a real deployment API would). Between steps a durable
// timer waits for health checks; a failed step is retried after a backoff timer.
//
// The parent runs this script as a child process (run 1), and kills it with SIGKILL right
// after the fleet applied the third host's deploy, before the child could record that the
// step finished: no close, no flush, no exit handler. Then it starts the child again
// (run 2) on the same store. Run 2 resumes from the last durable slice: it dispatches the
// interrupted step again under the same id (the fleet recognises the key and does not
// deploy twice), and carries on with the exact next host. The parent then checks the
// fleet's record: every host deployed exactly once, in order, none skipped.
//
// Last, the parent opens the store read-only and draws, from the causal journal, the tree of
// slices the start request caused across both runs.
//
// Exit code: 0 when the rollout finished exactly once per host and the journal holds its
// whole lineage, 1 otherwise.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { defineDomain, Journal, map, Runtime, Store } from '../dist/index.js'

const HOSTS = ['web-1', 'web-2', 'web-3', 'web-4', 'web-5']
const RELEASE = 'v42'
/** The host whose deploy run 1 is killed in the middle of (after the fleet applied it). */
const KILL_HOST = 'web-3'
/** This host's first attempt fails (a transient error), to show a retry. */
const FLAKY_HOST = 'web-4'
const HEALTH_CHECK_MS = 150
const RETRY_BACKOFF_MS = 300
const ATTEMPTS_MAX = 3
const DEPLOY_MS = 120
/** The child stops by itself after this long, should the parent be gone. */
const CHILD_LIFETIME_MS = 30_000

const say = (line) => process.stdout.write(`[run ${process.env.DEMO_RUN} pid ${process.pid}] ${line}\n`)

const Rollout = defineDomain({
  name: 'rollout',
  version: 1,
  state: {
    release: '',
    phase: 'idle',
    order: [],
    step: 0,
    hosts: map(),
  },
  on: {
    start(s, p, ctx) {
      s.release = p.release
      s.phase = 'rolling'
      s.order = p.hosts
      for (const host of p.hosts) s.hosts.set(host, { status: 'pending', attempts: 0 })
      deployStep(s, ctx)
      return `rollout of ${p.release} to ${p.hosts.length} hosts started`
    },
    'deploy.done'(s, { payload, result }, ctx) {
      s.hosts.set(payload.host, { status: 'updated', attempts: s.hosts.get(payload.host).attempts, fleet: result })
      s.step++
      if (s.step < s.order.length) ctx.after(HEALTH_CHECK_MS, 'healthy', { host: payload.host })
      else s.phase = 'done'
    },
    'deploy.failed'(s, failure, ctx) {
      const host = s.hosts.get(failure.payload.host)
      host.attempts = failure.attempt
      if (failure.attempt >= ATTEMPTS_MAX) {
        s.phase = 'failed'
        return
      }
      ctx.after(RETRY_BACKOFF_MS * failure.attempt, 'retry', { id: failure.id, attempt: failure.attempt, payload: failure.payload })
    },
    healthy(s, _p, ctx) {
      deployStep(s, ctx)
    },
    retry(_s, p, ctx) {
      ctx.emit('deploy', p.payload, { retryOf: { id: p.id, attempt: p.attempt } })
    },
  },
  effects: {
    async deploy({ host, release }, { id, attempt, signal }) {
      say(`  effect deploy ${host} (id ${id}, attempt ${attempt}) calls the fleet`)
      await sleep(DEPLOY_MS, undefined, { signal })
      const outcome = fleetDeploy(id, host, release, attempt)
      say(`  fleet: ${outcome.message}`)
      if (outcome.failed) throw new Error(outcome.message)
      if (host === KILL_HOST && process.env.DEMO_RUN === '1') process.stdout.write('KILL-POINT\n')
      await sleep(DEPLOY_MS, undefined, { signal })
      return outcome.deployedBy
    },
  },
})

function deployStep(s, ctx) {
  const host = s.order[s.step]
  s.hosts.get(host).status = 'deploying'
  ctx.emit('deploy', { host, release: s.release })
}

/** The outside world: deploys keyed by idempotency key, one JSON line per deploy it performed. */
function fleetDeploy(key, host, release, attempt) {
  const file = process.env.DEMO_FLEET
  const done = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line)) : []
  const previous = done.find((entry) => entry.key === key)
  if (previous) return { message: `${host}: request ${key} was already deployed (by pid ${previous.pid}); not deploying twice`, deployedBy: previous.pid }
  if (host === FLAKY_HOST && attempt === 1) return { failed: true, message: `${host}: connection reset (transient), nothing deployed` }
  fs.appendFileSync(file, `${JSON.stringify({ key, host, release, pid: process.pid })}\n`)
  return { message: `${host} now runs ${release}`, deployedBy: process.pid }
}

function describeSlice(record) {
  const what = record.error ? `failed: ${record.error.message}` : record.changes.map((c) => c.key.replace('\0', '.')).join(', ') || 'no state change'
  const asks = [
    ...record.effects.map((e) => `effect ${e.effect} (attempt ${e.attempt})`),
    ...record.timers.map((t) => `timer ${t.type} in ${t.due - record.now} ms`),
  ]
  return `slice ${record.slice}: ${record.intent.type} -> ${what}${asks.length ? `; asks for ${asks.join(', ')}` : ''}`
}

async function child(dir) {
  setTimeout(() => process.exit(3), CHILD_LIFETIME_MS).unref()
  const rt = await Runtime.open({ path: dir, domains: [Rollout], onSlice: (record) => say(describeSlice(record)) })
  const rollout = rt.domain(Rollout, 'prod-eu')
  const resumed = rollout.state.phase !== 'idle'
  say(`opened the store: phase ${rollout.state.phase}, ${rollout.state.step} of ${HOSTS.length} hosts done`)
  // The same id in both runs: the second send is recognised and not applied again.
  const reply = await rollout.send('start', { release: RELEASE, hosts: HOSTS }, { id: `start-${RELEASE}` })
  say(`send('start', { id: 'start-${RELEASE}' }) replied "${reply}"${resumed ? ' (the remembered reply: not started again)' : ''}`)
  while (rollout.state.phase === 'rolling') await sleep(20)
  await rt.quiet()
  say(`rollout ${rollout.state.phase}: ${[...rollout.state.hosts.entries()].map(([h, v]) => `${h}=${v.status}`).join(' ')}`)
  await rt.close()
}

function runChild(run, dir, fleet) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DEMO_RUN: String(run), DEMO_FLEET: fleet },
    })
    let killed = false
    let pending = ''
    proc.stdout.setEncoding('utf8')
    proc.stdout.on('data', (chunk) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop()
      for (const line of lines) {
        if (line === 'KILL-POINT') {
          killed = proc.kill('SIGKILL')
          console.log(`\n>>> SIGKILL to run ${run} (pid ${proc.pid}): the fleet just deployed ${KILL_HOST}, the step is not recorded as done\n`)
        } else if (!killed) {
          console.log(line)
        }
      }
    })
    proc.on('error', reject)
    proc.on('close', (code, signal) => resolve({ code, signal, killed }))
  })
}

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ved-demo-'))
  const dir = path.join(root, 'store')
  const fleet = path.join(root, 'fleet.jsonl')
  try {
    console.log(`Rolling ${RELEASE} out to ${HOSTS.join(', ')}; store in ${dir}\n`)
    const first = await runChild(1, dir, fleet)
    if (!first.killed || first.signal !== 'SIGKILL') throw new Error(`run 1 ended before the kill (code ${first.code}, signal ${first.signal})`)
    console.log('>>> starting run 2 on the same store\n')
    const second = await runChild(2, dir, fleet)
    if (second.code !== 0) throw new Error(`run 2 failed (code ${second.code}, signal ${second.signal})`)
    const fleetOk = check(fleet)
    const journalOk = await showLineage(dir)
    process.exitCode = fleetOk && journalOk ? 0 : 1
  } catch (error) {
    console.error(`demo failed: ${error?.stack ?? error}`)
    process.exitCode = 1
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

function check(fleet) {
  const deploys = fs.readFileSync(fleet, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
  console.log('\nWhat the fleet did, in order:')
  for (const d of deploys) console.log(`  ${d.host} -> ${d.release} (key ${d.key}, by pid ${d.pid})`)
  const hosts = deploys.map((d) => d.host)
  const inOrder = hosts.length === HOSTS.length && hosts.every((host, i) => host === HOSTS[i])
  const pids = [...new Set(deploys.map((d) => d.pid))]
  if (!inOrder) {
    console.log(`\nFAILED: expected each of ${HOSTS.join(', ')} exactly once and in order, got ${hosts.join(', ')}`)
    return false
  }
  console.log(
    `\nOK: every host deployed exactly once, in order, across ${pids.length} processes; the killed step was not deployed twice ` +
      'and the rollout went on with the exact next host.',
  )
  return true
}

/**
 * The causal journal, read from the store read-only: the tree of everything the start
 * request caused, across both processes (what `ved lineage <dir> start-v42` draws).
 */
async function showLineage(dir) {
  const store = await Store.open(dir, { readOnly: true, encoding: 'binary' })
  try {
    const tree = new Journal(store).lineage(`start-${RELEASE}`)
    const byId = new Map(tree.nodes.map((node) => [node.intentId, node]))
    console.log(`
The causal journal's lineage of start-${RELEASE} (${tree.nodes.length} slices, both runs):`)
    const draw = (node, depth) => {
      console.log(`  ${'  '.repeat(depth)}${depth === 0 ? '' : '└ '}#${node.slice} ${node.type}`)
      for (const child of node.children) draw(byId.get(child), depth + 1)
    }
    if (tree.nodes.length > 0) draw(tree.nodes[0], 0)
    const settled = tree.nodes.filter((node) => node.type === 'deploy.done').length
    if (tree.truncated || settled !== HOSTS.length) {
      console.log(`
FAILED: the lineage should reach all ${HOSTS.length} deploys (found ${settled}${tree.truncated ? ', truncated' : ''})`)
      return false
    }
    return true
  } finally {
    await store.close()
  }
}

if (process.argv[2] === 'child') await child(process.argv[3])
else await main()
