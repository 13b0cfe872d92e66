// Which draft to give handlers: ved's own (lib/runtime/draft.ts) against mutative and
// immer, each producing what the runtime needs from a slice: the encoded bytes of every
// changed field or map entry (the values the commit writes).
//
// Workloads (one handler each, state as below):
//   field     s.count++ on a state of four fields (a number, a string, a 10-item array, an object)
//   nested    s.config.retries++ (a field holding an object, mutated in place)
//   map 1K    one entry of a 1,000-entry collection: s.hosts.get('h500').status = ...
//   map 100K  the same in a 100,000-entry collection
// ved reads from an in-memory Map of encoded bytes standing in for the store (its real read
// path is a store get, measured in bench/runtime.js); mutative and immer draft a decoded
// state held in memory, and their patches name the fields/entries to encode.
// Units: microseconds per slice (mean) and slices per second. Machine: printed by run.js.
import { Packr } from 'msgpackr'
import { create } from 'mutative'
import { enableMapSet, enablePatches, produceWithPatches } from 'immer'
import { defineDomain, map } from '../dist/index.js'
import { StateDraft } from '../dist/runtime/draft.js'
import { fmtOps, fmtRatio, fmtUs, measure, met } from './lib.js'

enableMapSet()
enablePatches()
const packr = new Packr({ useRecords: false })
const pack = (value) => Buffer.from(packr.pack(value))

function makeState(entryCount) {
  const hosts = new Map()
  for (let i = 0; i < entryCount; i++) hosts.set(`h${i}`, { status: 'pending', attempts: 0 })
  return { count: 0, label: 'release-v42-rollout', history: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], config: { retries: 3, region: 'eu', hosts: ['a', 'b', 'c'] }, hosts }
}

/** ved: the state as the store holds it, one key per field and per map entry. */
function vedSetup(entryCount) {
  const definition = defineDomain({
    name: 'bench',
    version: 1,
    state: { count: 0, label: '', history: [], config: {}, hosts: map() },
    on: {},
  })
  const state = makeState(entryCount)
  const id = 'bench\0k'
  const stored = new Map()
  for (const field of ['count', 'label', 'history', 'config']) stored.set(`s${id}\0${field}`, pack(state[field]))
  for (const [key, value] of state.hosts) stored.set(`s${id}\0hosts\0${key}`, pack(value))
  const reads = { get: (key) => stored.get(key), prefixEntries: () => [] }
  return { definition, id, reads, stored, sizes: { hosts: entryCount } }
}

const HANDLERS = {
  field: (s) => {
    s.count++
  },
  nested: (s) => {
    s.config.retries++
  },
  entry: (s) => {
    const host = s.hosts.get('h500')
    host.status = host.status === 'updated' ? 'pending' : 'updated'
    host.attempts++
  },
}

function vedTask(setup, handler) {
  return () => {
    const draft = new StateDraft(setup.definition, setup.id, setup.reads, setup.sizes, false)
    handler(draft.proxy)
    // The delta goes back into the stand-in store, as a commit would leave it.
    for (const [key, bytes] of draft.collect().writes) setup.stored.set(key, bytes)
  }
}

/** mutative/immer: run, then encode what the patches say changed (field, or map entry). */
function encodeChanged(next, patches) {
  const out = []
  for (const patch of patches) {
    const [field, entry] = patch.path
    out.push(field === 'hosts' ? pack(next.hosts.get(entry)) : pack(next[field]))
  }
  return out
}

function mutativeTask(entryCount, handler) {
  let state = makeState(entryCount)
  return () => {
    const [next, patches] = create(state, handler, { enablePatches: true })
    encodeChanged(next, patches)
    state = next
  }
}

function immerTask(entryCount, handler) {
  let state = makeState(entryCount)
  return () => {
    const [next, patches] = produceWithPatches(state, handler)
    encodeChanged(next, patches)
    state = next
  }
}

const CASES = [
  ['field', 0, HANDLERS.field],
  ['nested', 0, HANDLERS.nested],
  ['map 1K', 1_000, HANDLERS.entry],
  ['map 100K', 100_000, HANDLERS.entry],
]

export async function benchDrafts({ config }) {
  const rows = []
  const options = { timeMs: config.quick ? 200 : 600, warmupIterations: 200 }
  for (const [name, entryCount, handler] of CASES) {
    const vedSetupForCase = vedSetup(Math.max(entryCount, 1000))
    const ved = await measure(`ved ${name}`, vedTask(vedSetupForCase, handler), options)
    const mutative = await measure(`mutative ${name}`, mutativeTask(Math.max(entryCount, 1000), handler), options)
    // immer copies a drafted Map whole on write: O(N) per slice, so its big case runs fewer times.
    const immer = await measure(`immer ${name}`, immerTask(Math.max(entryCount, 1000), handler), entryCount > 1000 ? { iterations: 20, warmupIterations: 2 } : options)
    rows.push({
      id: 'r0',
      workload: `draft + delta to encoded bytes, ${name}: ved draft / mutative / immer, mean`,
      ved: `${fmtUs(ved.mean)} (${fmtOps(1000 / ved.mean, 'slices')})`,
      reference: `mutative ${fmtUs(mutative.mean)}, immer ${fmtUs(immer.mean)}`,
      ratio: `${fmtRatio(mutative.mean / ved.mean)} / ${fmtRatio(immer.mean / ved.mean)} faster`,
      goal: 'fits p99 < 50 us',
      met: met(ved.mean < 0.05),
    })
  }
  return rows
}
