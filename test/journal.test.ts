// The causal journal: entries per slice with changes, effects and outcomes; lineage across
// domains, effects and timers; why() and stateAt(); retention and background compaction
// (with lineages of unsettled effects kept); empty answers with reasons.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineDomain, map, Runtime, type DomainDefinition } from '../lib/index.js'
import { decodeEntry, DrainBatch, encodeEntry, encodeTimeBatch, splitBatch, timeSegmentOf, timeSegments } from '../lib/journal/entry.js'
import { accountedKeyLength, JOURNAL_TREE, TIME_RANGE } from '../lib/journal/keys.js'
import { setStepTimeMs } from '../lib/journal/writer.js'
import { decode, encode } from '../lib/runtime/codec.js'
import { domainId, metaKey, RUNTIME_TREE } from '../lib/runtime/keys.js'
import { expectVedError, expectVedErrorSync, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()

/** Effects of the Deploy domain wait on these when the test holds them. */
const held = new Map<string, () => void>()
let failFirstPush = false

const Audit = defineDomain({
  name: 'audit',
  version: 1,
  state: { lines: [] as string[] },
  on: {
    log(s, p: { line: string }) {
      s.lines.push(p.line)
      return s.lines.length
    },
  },
  effects: {},
})

const Deploy = defineDomain({
  name: 'deploy',
  version: 1,
  state: { phase: 'idle', hosts: map<string, { status: string; tries: number }>() },
  on: {
    start(s, p: { hosts: string[] }, ctx) {
      s.phase = 'rolling'
      for (const host of p.hosts) s.hosts.set(host, { status: 'pending', tries: 0 })
      ctx.send('audit', 'main', 'log', { line: `start ${p.hosts.join(',')}` })
      ctx.emit('push', { host: p.hosts[0] })
      return p.hosts.length
    },
    'push.done'(s, p: { payload: { host: string } }, ctx) {
      const host = s.hosts.get(p.payload.host)!
      host.status = 'done'
      host.tries++
      const next = [...s.hosts.entries()].find(([, h]) => h.status === 'pending')
      if (next === undefined) {
        s.phase = 'done'
        ctx.send('audit', 'main', 'log', { line: 'done' })
      } else {
        ctx.after(1, 'next', { host: next[0] })
      }
    },
    'push.failed'(s, p: { id: string; payload: { host: string }; attempt: number }, ctx) {
      s.hosts.get(p.payload.host)!.tries++
      ctx.emit('push', p.payload, { retryOf: { id: p.id, attempt: p.attempt } })
    },
    next(_s, p: { host: string }, ctx) {
      ctx.emit('push', { host: p.host })
    },
    hold(s, p: { tag: string }, ctx) {
      s.phase = `holding ${p.tag}`
      ctx.emit('wait', { tag: p.tag })
    },
    bump(s) {
      s.phase = s.phase === 'a' ? 'b' : 'a'
    },
  },
  effects: {
    async push(p: { host: string }, { attempt }) {
      if (failFirstPush && attempt === 1) throw new Error(`push ${p.host} failed`)
      return `pushed ${p.host}`
    },
    wait(p: { tag: string }) {
      return new Promise<string>((resolve) => held.set(p.tag, () => resolve(p.tag)))
    },
  },
})

const Counter = defineDomain({
  name: 'counter',
  version: 1,
  state: { count: 0, tags: map<string, number>(), notes: { last: '' } },
  on: {
    add(s, p: { n: number; tag?: string; note?: string }) {
      s.count += p.n
      if (p.tag !== undefined) s.tags.set(p.tag, (s.tags.get(p.tag) ?? 0) + p.n)
      if (p.note !== undefined) s.notes.last = p.note
      if (p.n === 13) s.tags.delete('a')
      return s.count
    },
    fail(s) {
      s.count = -1
      throw new Error('no')
    },
  },
  effects: {},
})

function open(path: string, extra: Partial<Parameters<typeof Runtime.open>[0]> = {}): Promise<Runtime> {
  return Runtime.open({ path, domains: [Deploy, Audit, Counter] as DomainDefinition[], store: SMALL, ...extra })
}

/** The state of a Counter as stateAt gives it: map() fields as objects. */
function counterState(rt: Runtime, key: string): Record<string, unknown> {
  const state = rt.domain(Counter, key).state
  return { count: state.count, tags: Object.fromEntries(state.tags.entries()), notes: { ...state.notes } }
}

/**
 * Compaction as the clock cuts it, and cut short at every check: each step then does one unit
 * of work and chains the next, which a quiet machine rarely does within 20 us.
 */
const STEP_CUTS = [
  { label: '', stepTimeMs: undefined },
  { label: ', every step cut short after one unit of work', stepTimeMs: 0 },
]

/** Sets the compaction steps' wall time for the tests of the enclosing describe. */
function useStepTime(stepTimeMs: number | undefined): void {
  if (stepTimeMs === undefined) return
  let before = 0
  beforeAll(() => {
    before = setStepTimeMs(stepTimeMs)
  })
  afterAll(() => {
    setStepTimeMs(before)
  })
}

/** Waits until the runtime is quiet and the journal's backlog is compacted. */
async function settled(rt: Runtime): Promise<void> {
  await rt.quiet()
  await compacted(rt)
}

/** Waits until nothing runs or waits except effects, and the journal's backlog is compacted. */
async function compacted(rt: Runtime): Promise<void> {
  for (;;) {
    const stats = rt.stats()
    if ((stats.journal?.backlogDomains ?? 0) === 0 && stats.commitsHeld === 0 && stats.timersArmed === 0 && stats.domainsReady === 0) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The slices whose entries are stored for a domain, read from the journal tree's keys and batches. */
/** The slices whose entries are stored, oldest first: the domain's own region, then its batches in the time region. */
function journalEntries(rt: Runtime, domain: string, key: string): number[] {
  const slices: number[] = []
  const tree = rt.store.tree(JOURNAL_TREE)
  for (const { key: stored, value } of tree.getRange({ start: `e${domain}\0${key}\0`, end: `e${domain}\0${key}\x01` })) {
    const first = Number.parseInt((stored as string).slice(-12), 16)
    splitBatch(value).forEach((_, i) => slices.push(first + i))
  }
  for (const { value } of tree.getRange(TIME_RANGE)) {
    for (const segment of timeSegments(value)) {
      if (segment.id === `${domain}\0${key}`) segment.entries.forEach((_, i) => slices.push(segment.first + i))
    }
  }
  return slices
}

describe('journal entries', () => {
  it('records each slice with its intent, changes, effects and their outcome, reply and error', async () => {
    await using rt = await open(tempDir())
    const deploy = rt.domain(Deploy, 'web')
    expect(await deploy.send('start', { hosts: ['a', 'b'] }, { id: 'req-1' })).toBe(2)
    await settled(rt)
    expect(deploy.state.phase).toBe('done')
    const { entries, reason } = rt.journal.slices('deploy', 'web')
    expect(reason).toBeUndefined()
    expect(entries.map((e) => [e.slice, e.intent.type])).toEqual([
      [1, 'start'],
      [2, 'push.done'],
      [3, 'next'],
      [4, 'push.done'],
    ])
    const [start, firstDone] = entries
    expect(start!.intent).toMatchObject({ id: 'req-1', causedBy: null, root: 'req-1', from: null, payload: { hosts: ['a', 'b'] } })
    expect(start!.reply).toBe(2)
    expect(start!.error).toBeNull()
    expect(start!.changes).toEqual([
      { path: 'phase', before: 'idle', after: 'rolling' },
      { path: 'hosts.a', before: undefined, after: { status: 'pending', tries: 0 } },
      { path: 'hosts.b', before: undefined, after: { status: 'pending', tries: 0 } },
    ])
    expect(start!.messages).toEqual([{ id: expect.stringMatching(/^deploy\/web\//), domain: 'audit', key: 'main', type: 'log' }])
    expect(start!.effects).toHaveLength(1)
    expect(start!.effects[0]).toMatchObject({ name: 'push', payload: { host: 'a' }, attempt: 1, outcome: { status: 'done', attempt: 1, slice: 2, result: 'pushed a' } })
    expect(firstDone!.intent.causedBy).toBe(start!.effects[0]!.id)
    expect(firstDone!.intent.root).toBe('req-1')
    expect(entries[2]!.intent.causedBy).toBe(firstDone!.intent.id)
    expect(firstDone!.timers).toHaveLength(1)

    const failed = rt.domain(Counter, 'c')
    await failed.send('add', { n: 1 })
    await expect(failed.send('fail', undefined)).rejects.toThrow('no')
    const counter = rt.journal.slices('counter', 'c').entries
    expect(counter[1]).toMatchObject({ slice: 2, changes: [], error: { name: 'Error', message: 'no' } })
    expect(rt.journal.slices('counter', 'c', { from: 2, to: 2 }).entries.map((e) => e.slice)).toEqual([2])
    expect(rt.journal.slices('counter', 'c', { limit: 1 }).entries.map((e) => e.slice)).toEqual([1])
  })

  it('records a failed attempt, the retry and its settlement', async () => {
    failFirstPush = true
    try {
      await using rt = await open(tempDir())
      await rt.domain(Deploy, 'retry').send('start', { hosts: ['x'] })
      await settled(rt)
      const types = rt.journal.slices('deploy', 'retry').entries.map((e) => e.intent.type)
      expect(types).toEqual(['start', 'push.failed', 'push.done'])
      const [start, failedEntry] = rt.journal.slices('deploy', 'retry').entries
      // The effect's index follows its newest attempt: the retry re-emitted the same id.
      expect(failedEntry!.effects[0]).toMatchObject({ id: start!.effects[0]!.id, attempt: 2, outcome: { status: 'done', attempt: 2, result: 'pushed x' } })
      expect(start!.effects[0]!.outcome).toEqual({ status: 'unknown' })
      // Each settlement hangs under the slice that emitted its attempt.
      const tree = rt.journal.lineage(start!.intent.id)
      const byType = new Map(tree.nodes.map((n) => [n.type, n]))
      expect(tree.nodes.map((n) => n.type).sort()).toEqual(['log', 'log', 'push.done', 'push.failed', 'start'])
      expect(byType.get('start')!.children).toContain(byType.get('push.failed')!.intentId)
      expect(byType.get('start')!.children).not.toContain(byType.get('push.done')!.intentId)
      expect(byType.get('push.failed')!.children).toEqual([byType.get('push.done')!.intentId])
    } finally {
      failFirstPush = false
    }
  })
})

describe('lineage', () => {
  it('gives the causal tree across domains, effects and timers, in order', async () => {
    await using rt = await open(tempDir())
    await rt.domain(Deploy, 'web').send('start', { hosts: ['a', 'b'] }, { id: 'req-9' })
    await settled(rt)
    const tree = rt.journal.lineage('req-9')
    expect(tree.reason).toBeUndefined()
    expect(tree.root).toBe('req-9')
    expect(tree.truncated).toBe(false)
    const byId = new Map(tree.nodes.map((node) => [node.intentId, node]))
    expect(tree.nodes[0]!).toMatchObject({ intentId: 'req-9', domain: 'deploy', key: 'web', slice: 1, type: 'start', causedBy: null })
    // Every deploy slice and both audit lines belong to the tree.
    expect(tree.nodes.map((n) => `${n.domain}:${n.type}`).sort()).toEqual(['audit:log', 'audit:log', 'deploy:next', 'deploy:push.done', 'deploy:push.done', 'deploy:start'])
    // Parents come before children, and each child is listed by its parent.
    const index = new Map(tree.nodes.map((node, i) => [node.intentId, i]))
    for (const node of tree.nodes) for (const child of node.children) expect(index.get(child)!).toBeGreaterThan(index.get(node.intentId)!)
    expect(tree.nodes.reduce((sum, node) => sum + node.children.length, 0)).toBe(tree.nodes.length - 1)

    // From a leaf: its ancestors up to the root, and nothing beside the path.
    const leaf = tree.nodes.find((n) => n.domain === 'audit' && n.slice === 2)!
    const up = rt.journal.lineage(leaf.intentId)
    expect(up.root).toBe('req-9')
    expect(up.nodes[0]!.intentId).toBe('req-9')
    expect(up.nodes.at(-1)!.intentId).toBe(leaf.intentId)
    for (let i = 1; i < up.nodes.length; i++) expect(up.nodes[i - 1]!.children).toEqual([up.nodes[i]!.intentId])
    expect(byId.get(leaf.intentId)!.children).toEqual([])
  })

  it('answers unknown and expired ids with a reason, not an error', async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 3 } })
    expect(rt.journal.lineage('nope')).toEqual({ root: null, nodes: [], truncated: false, reason: 'unknown' })
    expect(rt.journal.slices('counter', 'nobody')).toEqual({ entries: [], reason: 'unknown' })
    expect(rt.journal.why('counter', 'nobody', 'count')).toEqual({ writes: [], reason: 'unknown' })
    expect(rt.journal.stateAt('counter', 'nobody', 1)).toEqual({ state: null, reason: 'unknown' })
    const counter = rt.domain(Counter, 'k')
    for (let i = 1; i <= 10; i++) await counter.send('add', { n: i }, { id: `add-${i}` })
    await settled(rt)
    expect(journalEntries(rt, 'counter', 'k')).toEqual([8, 9, 10])
    expect(rt.journal.slices('counter', 'k', { to: 5 })).toEqual({ entries: [], reason: 'expired' })
    expect(rt.journal.stateAt('counter', 'k', 2)).toEqual({ state: null, reason: 'expired' })
    expect(rt.journal.stateAt('counter', 'k', 11)).toEqual({ state: null, reason: 'unknown' })
    expect(rt.journal.why('counter', 'k', 'count').writes.map((w) => w.slice)).toEqual([10, 9, 8])
    expect(rt.journal.why('counter', 'k', 'notes.last')).toEqual({ writes: [], reason: 'expired' })
    expect(rt.journal.why('counter', 'k', 'nosuchfield')).toEqual({ writes: [], reason: 'unknown' })
    // An external id that expired is indistinguishable from one never seen.
    expect(rt.journal.lineage('add-1').reason).toBe('unknown')
    expect(rt.journal.lineage('add-9').nodes.map((n) => n.slice)).toEqual([9])
    // A runtime-made id names its domain and slice: expired when that slice is gone.
    expect(rt.journal.lineage('counter/k/000000000002.0').reason).toBe('expired')
    // ... and unknown when that slice was never run (the domain has 10).
    expect(rt.journal.lineage('counter/k/00000000000b.0').reason).toBe('unknown')
    expect(rt.journal.lineage('counter/k/00000000000b.0#1').reason).toBe('unknown')
    expectVedErrorSync(() => rt.journal.why('counter', 'k', ''), 'EINVAL')
    expectVedErrorSync(() => rt.journal.stateAt('counter', 'k', 1.5), 'EINVAL')
    expectVedErrorSync(() => rt.journal.slices('counter', 'k', { limit: 0 }), 'EINVAL')
    expectVedErrorSync(() => rt.journal.lineage(42 as never), 'EINVAL')
  })

  it('says disabled when the journal is off, and records nothing', async () => {
    await using rt = await open(tempDir(), { journal: false })
    await rt.domain(Counter, 'off').send('add', { n: 1 })
    expect(rt.stats().journal).toBeNull()
    expect(rt.journal.slices('counter', 'off')).toEqual({ entries: [], reason: 'disabled' })
    expect([...rt.store.tree(JOURNAL_TREE).getRange()]).toEqual([])
  })
})

describe('why and stateAt', () => {
  it('why lists the writes of a path newest first, with the intent and the values at that path', async () => {
    await using rt = await open(tempDir())
    const deploy = rt.domain(Deploy, 'w')
    await deploy.send('start', { hosts: ['a'] }, { id: 'w-1' })
    await settled(rt)
    const status = rt.journal.why('deploy', 'w', 'hosts.a.status')
    expect(status.writes.map((w) => [w.slice, w.before, w.after, w.path])).toEqual([
      [2, 'pending', 'done', 'hosts.a'],
      [1, undefined, 'pending', 'hosts.a'],
    ])
    expect(status.writes[1]!.intent.id).toBe('w-1')
    expect(rt.journal.why('deploy', 'w', ['phase']).writes.map((w) => w.after)).toEqual(['done', 'rolling'])
    expect(rt.journal.why('deploy', 'w', 'hosts').writes.map((w) => w.slice)).toEqual([2, 1])
  })

  it('stateAt gives the state each slice in the window produced', async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 40 } })
    const counter = rt.domain(Counter, 's')
    const states = new Map<number, Record<string, unknown>>()
    let slice = 0
    for (let i = 1; i <= 60; i++) {
      const tag = ['a', 'b', 'c'][i % 3]!
      if (i % 7 === 0) await expect(counter.send('fail', undefined)).rejects.toThrow()
      else await counter.send('add', { n: i % 17, tag, note: i % 5 === 0 ? `n${i}` : undefined })
      states.set(++slice, counterState(rt, 's'))
    }
    await settled(rt)
    const kept = journalEntries(rt, 'counter', 's')
    expect(kept).toHaveLength(40)
    for (const [at, state] of states) {
      const answer = rt.journal.stateAt('counter', 's', at)
      // The slice just before the window is still reachable: undoing the window gives it.
      if (at < kept[0]! - 1) expect(answer.reason).toBe('expired')
      else expect(answer).toEqual({ state })
    }
  })
})

describe.each(STEP_CUTS)('retention and compaction$label', ({ stepTimeMs }) => {
  useStepTime(stepTimeMs)

  it('lets an idle runtime rest once the only entry left is kept for an unsettled effect', async () => {
    // A step that finds nothing to drop must not keep the domain (and a 5 ms timer) going: the
    // sweep re-enqueues it (kept > 0), and it once stayed in the backlog with a step every 5 ms.
    const Hold = defineDomain({
      name: 'hold',
      version: 1,
      state: { n: 0 },
      on: { hold: (s, _p, ctx) => void (s.n++, ctx.emit('wait', {})) },
      effects: { wait: () => new Promise<never>(() => {}) },
    })
    await using rt = await Runtime.open({ path: tempDir(), domains: [Hold] as DomainDefinition[], store: SMALL, journal: { keepMs: 200 } })
    await rt.domain(Hold, 'h').send('hold', {})
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const before = rt.stats().journal!
    expect(before.entriesKept).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const after = rt.stats().journal!
    // Sweeps run every keepMs (200 ms): a handful of steps a second, not one every 5 ms (~200).
    expect(after.steps - before.steps).toBeLessThan(40)
  })

  it('drops whole time batches of a busy domain at once, with the same counts as entry by entry', async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 25 } })
    // 256 sends in flight: each drain records many slices of one domain into one time batch, so
    // compaction finds whole batches to drop (plain entries, nothing unsettled). The second
    // domain's sends carry ids (an index key each): its batches go entry by entry.
    const sends: Promise<unknown>[] = []
    for (let i = 0; i < 600; i++) {
      sends.push(rt.domain(Counter, 'busy').send('add', { n: 1 }))
      if (i % 4 === 0) sends.push(rt.domain(Counter, 'ids').send('add', { n: 1 }, { id: `s${i}` }))
      if (sends.length >= 256) await Promise.all(sends.splice(0))
    }
    await Promise.all(sends)
    await settled(rt)
    expect(journalEntries(rt, 'counter', 'busy')).toEqual(Array.from({ length: 25 }, (_, i) => 576 + i))
    expect(journalEntries(rt, 'counter', 'ids')).toEqual(Array.from({ length: 25 }, (_, i) => 126 + i))
    expect(rt.stats().journal!.entriesDeleted).toBe(575 + 125)
    // The meta's window (first, count, bytes) is exactly what is stored: an entry without index
    // keys counts its key, its bytes and 4.
    const id = domainId('counter', 'busy')
    const j = (decode(rt.store.tree(RUNTIME_TREE).get(metaKey(id)) as Buffer) as { j: number[] }).j
    let bytes = 0
    for (const { value } of rt.store.tree(JOURNAL_TREE).getRange(TIME_RANGE)) {
      for (const segment of timeSegments(value)) {
        if (segment.id !== id) continue
        segment.entries.forEach((entry, i) => {
          if (segment.first + i >= j[0]!) bytes += accountedKeyLength(id) + entry.length + 4
        })
      }
    }
    expect(j.slice(0, 3)).toEqual([576, 25, bytes])
  })

  it('keeps each domain within keepSlices and keepBytes, with counts that match the entries', async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 25, keepBytes: 64 * 1024 } })
    const sends: Promise<unknown>[] = []
    // Every third send carries its own id: those get an index key (l), the rest do not.
    for (let round = 0; round < 100; round++) {
      for (let d = 0; d < 8; d++) sends.push(rt.domain(Counter, `d${d}`).send('add', { n: 1, tag: `t${round % 4}` }, round % 3 === 0 ? { id: `r${round}-d${d}` } : undefined))
    }
    await Promise.all(sends)
    await settled(rt)
    for (let d = 0; d < 8; d++) {
      const entries = journalEntries(rt, 'counter', `d${d}`)
      expect(entries).toEqual(Array.from({ length: 25 }, (_, i) => 76 + i))
    }
    const stats = rt.stats().journal!
    expect(stats.entriesWritten).toBe(800)
    expect(stats.entriesDeleted).toBe(600)
    // The steps that deleted them were timed: each took some time, and none more than all of them.
    expect(stats.steps).toBeGreaterThan(0)
    expect(stats.stepMsMax).toBeGreaterThan(0)
    expect(stats.stepMsTotal).toBeGreaterThanOrEqual(stats.stepMsMax)
    expect(stats.stepMsP50).toBeGreaterThan(0)
    expect(stats.stepMsP99).toBeGreaterThanOrEqual(stats.stepMsP50)
    expect(stats.stepMsP99).toBeLessThanOrEqual(stats.stepMsMax)
    // The index keys of dropped intents went with them: rounds 75..99 kept, 75, 78, ... 99 carried ids.
    const locators = [...rt.store.tree(JOURNAL_TREE).getRange({ start: 'l', end: 'm' })].map(({ key }) => (key as string).split('\0')[0])
    expect(locators.sort()).toEqual(Array.from({ length: 8 }, (_, d) => [75, 78, 81, 84, 87, 90, 93, 96, 99].map((round) => `lr${round}-d${d}`)).flat().sort())
    expect(rt.journal.lineage('r99-d3').nodes.map((n) => [n.domain, n.key, n.slice])).toEqual([['counter', 'd3', 100]])
    expect(rt.journal.lineage('r3-d3').reason).toBe('unknown')

    // keepBytes alone: big notes make each entry ~2 KiB.
    await using small = await open(tempDir(), { journal: { keepBytes: 16 * 1024 } })
    const big = small.domain(Counter, 'big')
    for (let i = 0; i < 30; i++) await big.send('add', { n: 1, note: 'x'.repeat(1000 + i) })
    await settled(small)
    const left = journalEntries(small, 'counter', 'big')
    expect(left.length).toBeGreaterThan(2)
    expect(left.length).toBeLessThan(12)
    expect(left.at(-1)).toBe(30)
  })

  it('keeps the lineage of an unsettled effect past the window, and drops it once settled', async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 5 } })
    const deploy = rt.domain(Deploy, 'h')
    await deploy.send('hold', { tag: 'slow' }, { id: 'slow-req' })
    for (let i = 0; i < 20; i++) await deploy.send('bump', undefined)
    await compacted(rt)
    expect(journalEntries(rt, 'deploy', 'h')).toEqual([1, 17, 18, 19, 20, 21])
    expect(rt.journal.lineage('slow-req').nodes.map((n) => n.type)).toEqual(['hold'])
    expect(rt.journal.slices('deploy', 'h', { to: 1 }).entries[0]!.effects[0]!.outcome).toEqual({ status: 'pending', attempt: 1 })
    expect(rt.stats().journal!.entriesKept).toBe(1)
    held.get('slow')!()
    await settled(rt)
    // The settlement slice (22) pushed 17 out; slice 1 went once its effect settled.
    expect(journalEntries(rt, 'deploy', 'h')).toEqual([18, 19, 20, 21, 22])
  })

  it('drops entries older than keepMs even in a domain that no longer runs', async () => {
    // Long enough that five durable sends finish inside it on a busy 2-core machine (at 50 ms
    // a fresh-clone run saw the first two expire before the count), short enough to wait out.
    await using rt = await open(tempDir(), { journal: { keepMs: 1000 } })
    const counter = rt.domain(Counter, 'aging')
    for (let i = 0; i < 5; i++) await counter.send('add', { n: 1 })
    expect(journalEntries(rt, 'counter', 'aging')).toHaveLength(5)
    const deadline = Date.now() + 10_000
    while (journalEntries(rt, 'counter', 'aging').length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(journalEntries(rt, 'counter', 'aging')).toEqual([])
    expect(rt.journal.slices('counter', 'aging').reason).toBe('expired')
  })

  it('refuses bad retention options and send ids the journal cannot index', async () => {
    await expectVedError(open(tempDir(), { journal: { keepSlices: 0 } }), 'EINVAL')
    await expectVedError(open(tempDir(), { journal: { keep: 1 } as never }), 'EINVAL')
    await using rt = await open(tempDir())
    await expectVedError(rt.domain(Counter, 'id').send('add', { n: 1 }, { id: 'x'.repeat(300) }), 'EKEYSIZE')
  })
})

/** The domain-region keys (`e<name>\0<key>\0<slice>`) of one domain. */
function regionKeys(rt: Runtime, domain: string, key: string): string[] {
  return [...rt.store.tree(JOURNAL_TREE).getRange({ start: `e${domain}\0${key}\0`, end: `e${domain}\0${key}\x01` })].map(({ key: stored }) => stored as string)
}

/** The time region's segments, oldest first: [seq of their batch, domain id, first slice, entries]. */
function timeBatches(rt: Runtime): Array<[number, string, number, number]> {
  return [...rt.store.tree(JOURNAL_TREE).getRange(TIME_RANGE)].flatMap(({ key, value }) =>
    timeSegments(value).map((segment): [number, string, number, number] => [Number.parseInt((key as string).slice(2), 16), segment.id, segment.first, segment.entries.length]),
  )
}

describe.each(STEP_CUTS)('the time region$label', ({ stepTimeMs }) => {
  useStepTime(stepTimeMs)

  it("puts one drain's entries of many domains in one key, each domain's reached through its chain, across a reopen", async () => {
    const dir = tempDir()
    {
      await using rt = await open(dir)
      const counters = Array.from({ length: 40 }, (_, i) => rt.domain(Counter, `c${i}`))
      // Sent together, the 40 slices run in one drain: one batch of 40 segments, the next drain's with the next seq.
      await Promise.all(counters.map((counter) => counter.send('add', { n: 1 })))
      await Promise.all(counters.map((counter) => counter.send('add', { n: 2 })))
      const batches = timeBatches(rt)
      expect(batches).toHaveLength(80)
      expect(batches.map(([seq]) => seq)).toEqual(batches.map((_, i) => batches[0]![0] + (i < 40 ? 0 : 1)))
      expect(new Set(batches.slice(0, 40).map(([, id]) => id)).size).toBe(40)
      expect(regionKeys(rt, 'counter', 'c7')).toEqual([])
      expect(rt.journal.slices('counter', 'c7').entries.map((e) => [e.slice, e.changes[0]!.after])).toEqual([
        [1, 1],
        [2, 3],
      ])
    }
    await using rt = await open(dir)
    const before = timeBatches(rt)
    await rt.domain(Counter, 'c7').send('add', { n: 3 })
    const after = timeBatches(rt)
    // The sequence goes on from the newest stored batch, and the new batch follows the old chain.
    expect(after.at(-1)![0]).toBe(before.at(-1)![0] + 1)
    expect(rt.journal.slices('counter', 'c7').entries.map((e) => e.slice)).toEqual([1, 2, 3])
    expect(rt.journal.stateAt('counter', 'c7', 1).state).toMatchObject({ count: 1 })
    expect(rt.journal.why('counter', 'c7', 'count').writes.map((w) => [w.slice, w.after])).toEqual([
      [3, 6],
      [2, 3],
      [1, 1],
    ])
  })

  it("compacts a busy domain whose oldest entries lie behind other domains' entries, without moving theirs", async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 5 } })
    const busy = rt.domain(Counter, 'busy')
    for (let i = 0; i < 3; i++) await busy.send('add', { n: 1 })
    const idle = Array.from({ length: 20 }, (_, i) => rt.domain(Counter, `idle${i}`))
    for (const counter of idle) await counter.send('add', { n: 1 })
    for (let i = 0; i < 3; i++) await busy.send('add', { n: 1 })
    // The idle domains' entries lie between busy's first three and its newer ones.
    for (let i = 0; i < 20; i++) await busy.send('add', { n: 1 })
    await settled(rt)
    expect(journalEntries(rt, 'counter', 'busy')).toEqual([22, 23, 24, 25, 26])
    for (const i of [0, 19]) expect(journalEntries(rt, 'counter', `idle${i}`)).toEqual([1])
    expect(rt.stats().journal!.entriesMoved).toBe(0)
    expect(regionKeys(rt, 'counter', 'busy')).toEqual([])
    for (let slice = 22; slice <= 26; slice++) expect(rt.journal.stateAt('counter', 'busy', slice).state).toMatchObject({ count: slice })
    expect(rt.journal.stateAt('counter', 'busy', 21).state).toMatchObject({ count: 21 })
    expect(rt.journal.stateAt('counter', 'busy', 20).reason).toBe('expired')
    expect(rt.journal.slices('counter', 'busy').entries.map((e) => e.slice)).toEqual([22, 23, 24, 25, 26])
  })

  it("answers with the window only while a burst's batch still holds entries a step expired, and stores the window once the domain rests", async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 5 } })
    const burst = rt.domain(Counter, 'burst')
    // One drain, one batch of 20 entries; compaction expires 15 of them without writing the batch again at once.
    await Promise.all(Array.from({ length: 20 }, () => burst.send('add', { n: 1 })))
    while (rt.stats().journal!.entriesDeleted < 15) await new Promise((resolve) => setTimeout(resolve, 1))
    expect(rt.journal.slices('counter', 'burst').entries.map((e) => e.slice)).toEqual([16, 17, 18, 19, 20])
    expect(rt.journal.why('counter', 'burst', 'count').writes.map((w) => w.slice)).toEqual([20, 19, 18, 17, 16])
    expect(rt.journal.stateAt('counter', 'burst', 14).reason).toBe('expired')
    expect(rt.journal.stateAt('counter', 'burst', 15).state).toMatchObject({ count: 15 })
    await settled(rt)
    expect(journalEntries(rt, 'counter', 'burst')).toEqual([16, 17, 18, 19, 20])
    expect(timeBatches(rt).map(([, , first, count]) => [first, count])).toEqual([[16, 5]])
  })

  it('moves an idle domain\'s entry out of the way rather than read the chains of many waiting domains', async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 2 } })
    await rt.domain(Counter, 'idle').send('add', { n: 1 })
    const counters = Array.from({ length: 20 }, (_, i) => rt.domain(Counter, `w${i}`))
    // Third round: 20 domains go over their bound in one drain, none with a chain in memory.
    for (let round = 0; round < 3; round++) await Promise.all(counters.map((counter) => counter.send('add', { n: 1 })))
    await settled(rt)
    expect(rt.stats().journal!.entriesMoved).toBe(1)
    expect(regionKeys(rt, 'counter', 'idle')).toHaveLength(1)
    for (const i of [0, 19]) expect(journalEntries(rt, 'counter', `w${i}`)).toEqual([2, 3])
    expect(rt.journal.slices('counter', 'idle').entries.map((e) => e.slice)).toEqual([1])
  })

  it('moves live entries out of the way when many domains wait, and queries find them in their domain region', async () => {
    await using rt = await open(tempDir(), { journal: { keepSlices: 2 } })
    const idle = rt.domain(Counter, 'idle')
    await idle.send('add', { n: 7 })
    const counters = Array.from({ length: 100 }, (_, i) => rt.domain(Counter, `c${i}`))
    for (let round = 0; round < 4; round++) await Promise.all(counters.map((counter) => counter.send('add', { n: 1 })))
    await settled(rt)
    for (const i of [0, 50, 99]) expect(journalEntries(rt, 'counter', `c${i}`)).toEqual([3, 4])
    // The idle domain's entry was the oldest in the time region: the cursor moved it.
    expect(rt.stats().journal!.entriesMoved).toBeGreaterThan(0)
    expect(regionKeys(rt, 'counter', 'idle')).toHaveLength(1)
    expect(timeBatches(rt).some(([, id]) => id === 'counter\0idle')).toBe(false)
    // Its next entries go to the time region, and queries read both regions in order.
    await idle.send('add', { n: 1 })
    expect(journalEntries(rt, 'counter', 'idle')).toEqual([1, 2])
    expect(rt.journal.slices('counter', 'idle').entries.map((e) => e.slice)).toEqual([1, 2])
    expect(rt.journal.slices('counter', 'idle', { from: 2 }).entries.map((e) => e.slice)).toEqual([2])
    expect(rt.journal.stateAt('counter', 'idle', 1).state).toMatchObject({ count: 7 })
    expect(rt.journal.why('counter', 'idle', 'count').writes.map((w) => w.slice)).toEqual([2, 1])
    // And compaction takes the domain region first once it is over its bound.
    await idle.send('add', { n: 1 })
    await settled(rt)
    expect(journalEntries(rt, 'counter', 'idle')).toEqual([2, 3])
    expect(regionKeys(rt, 'counter', 'idle')).toEqual([])
  })
})

describe('the entry layout', () => {
  it('round-trips lengths and counts of every size as varints, and still reads format 1 entries', () => {
    const long = 'é'.repeat(70) + 'x'.repeat(20_000)
    const payload = Buffer.alloc(300, 7)
    const bytes = encodeEntry({
      at: 1234.5,
      i: 'counter/k/~a:1',
      y: 'add',
      p: payload,
      c: null,
      r: 'root',
      from: { domain: 'd', key: '' },
      ch: [
        ['count', null, Buffer.from([1])],
        [long, Buffer.alloc(0), null],
      ],
      fx: [{ id: 'fx/1', effect: 'push', payload: null, attempt: 200 }],
      ms: [{ id: 'm', domain: 'audit', key: 'main', type: 'log' }],
      tm: [{ id: 't', type: 'tick', due: 99 }],
      cx: Array.from({ length: 130 }, (_, i) => `c${i}`),
      rp: null,
      er: { name: 'Error', message: 'no' },
      mg: [1, 70_000],
      o: false,
      l: true,
    })
    expect(bytes[0]).toBe(2)
    const entry = decodeEntry(bytes)
    expect(entry).toMatchObject({ at: 1234.5, i: 'counter/k/~a:1', y: 'add', c: null, r: 'root', f: ['d', ''], rp: null, er: { name: 'Error', message: 'no' }, mg: [1, 70_000], o: false })
    expect(Buffer.from(entry.p!)).toEqual(payload)
    expect(entry.ch.map(([path, before, after]) => [path, before === null ? null : Buffer.from(before), after === null ? null : Buffer.from(after)])).toEqual([
      ['count', null, Buffer.from([1])],
      [long, Buffer.alloc(0), null],
    ])
    expect(entry.fx.map(([id, name, , attempt]) => [id, name, attempt])).toEqual([['fx/1', 'push', 200]])
    expect(entry.cx).toHaveLength(130)
    // Format 1: u32 lengths, 0xffffffff for null (an external send: root = intent).
    const u32 = (n: number): Buffer => Buffer.from(new Uint32Array([n]).buffer)
    const str = (text: string): Buffer => Buffer.concat([u32(text.length), Buffer.from(text)])
    const at = Buffer.alloc(8)
    at.writeDoubleLE(42)
    const none = u32(0xffffffff)
    const old = Buffer.concat([Buffer.from([1, 4]), at, str('id-1'), none, u32(0), str('add'), none, Buffer.from([0]), u32(1), str('count'), none, str('x'), u32(0), u32(0), u32(0), none, none, Buffer.from([0])])
    expect(decodeEntry(old)).toMatchObject({ at: 42, i: 'id-1', r: 'id-1', y: 'add', c: null, p: null, ch: [['count', null, Buffer.from('x')]], rp: null, er: null, mg: null })
  })
})

describe('the time batch layout', () => {
  const text = fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }))
  const bytes = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 80 }).map((array) => Buffer.from(array)))
  /** Entries of every field kind, with strings on both sides of the short-string and ASCII paths. */
  const entryInput = fc.record({
    at: fc.double({ noNaN: true }),
    i: text,
    y: text,
    p: bytes,
    c: fc.oneof(fc.constant(null), text),
    r: text,
    from: fc.oneof(fc.constant(null), fc.record({ domain: text, key: text })),
    ch: fc.array(fc.tuple(text, bytes, bytes), { maxLength: 4 }),
    fx: fc.array(fc.record({ id: text, effect: text, payload: bytes, attempt: fc.integer({ min: 1, max: 1000 }) }), { maxLength: 3 }),
    ms: fc.array(fc.record({ id: text, domain: text, key: text, type: text }), { maxLength: 3 }),
    tm: fc.array(fc.record({ id: text, type: text, due: fc.double({ noNaN: true }) }), { maxLength: 3 }),
    cx: fc.array(text, { maxLength: 3 }),
    rp: bytes,
    er: fc.constant(null),
    mg: fc.oneof(fc.constant(null), fc.tuple(fc.nat(), fc.nat())),
    o: fc.boolean(),
    l: fc.boolean(),
  })

  it('round-trips any entry, written alone or into a drain batch, and groups a drain by domain in the order domains came', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 4 }), entryInput), { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: -1, max: 2 ** 40 }), { minLength: 5, maxLength: 5 }), (appends, prevs) => {
        const drain = new DrainBatch()
        const segments = new Map<number, number>()
        const expected = new Map<number, Buffer[]>()
        for (const [domain, input] of appends) {
          let segment = segments.get(domain)
          if (segment === undefined) {
            segment = drain.open(`d\0${domain}é`, 1000 * domain, prevs[domain]!)
            segments.set(domain, segment)
            expected.set(domain, [])
          }
          drain.append(segment, input)
          const alone = encodeEntry(input)
          expected.get(domain)!.push(alone)
          const decoded = decodeEntry(alone)
          expect([decoded.at, decoded.i, decoded.y, decoded.c, decoded.r, decoded.f, decoded.cx, decoded.mg, decoded.o]).toEqual([
            input.at, input.i, input.y, input.c, input.r, input.from === null ? null : [input.from.domain, input.from.key], input.cx, input.mg, input.o,
          ])
          expect(decoded.ch.map(([path, before, after]) => [path, nullable(before), nullable(after)])).toEqual(input.ch.map(([path, before, after]) => [path, input.o ? null : before, input.o ? null : after]))
          expect(decoded.ms).toEqual(input.ms.map((m) => [m.id, m.domain, m.key, m.type]))
          expect(decoded.tm).toEqual(input.tm.map((t) => [t.id, t.type, t.due]))
        }
        const batch = drain.encode()
        expect(batch[0]).toBe(3)
        const read = timeSegments(batch)
        expect(read.map((segment) => [segment.id, segment.first, segment.prev])).toEqual([...segments.keys()].map((domain) => [`d\0${domain}é`, 1000 * domain, prevs[domain]]))
        for (const segment of read) {
          const domain = [...segments.keys()].find((candidate) => `d\0${candidate}é` === segment.id)!
          expect(segment.entries.map((entry) => Buffer.from(entry))).toEqual(expected.get(domain))
          expect(timeSegmentOf(batch, segment.id)!.entries.map((entry) => Buffer.from(entry))).toEqual(expected.get(domain))
        }
        expect(timeSegmentOf(batch, 'd\0none')).toBeNull()
        // Compaction writes a batch again from its segments: the same bytes.
        expect(encodeTimeBatch(read)).toEqual(batch)
        drain.reset()
        expect(drain.segments).toBe(0)
      }),
      { numRuns: 200 },
    )
  })

  it('reads a format 2 time batch as one segment, and refuses unknown formats and a time batch in the domain region', () => {
    const entry = encodeEntry({ at: 1, i: 'i', y: 'add', p: null, c: null, r: 'i', from: null, ch: [], fx: [], ms: [], tm: [], cx: [], rp: null, er: null, mg: null, o: false, l: false })
    // u8 2 | v id length | id | v first | v prev + 1 | v n | n x [v length, entry]
    const old = Buffer.concat([Buffer.from([2, 3]), Buffer.from('a\0b'), Buffer.from([7, 0, 2, entry.length]), entry, Buffer.from([entry.length]), entry])
    const [segment, ...rest] = timeSegments(old)
    expect(rest).toEqual([])
    expect([segment!.id, segment!.first, segment!.prev, segment!.entries.length]).toEqual(['a\0b', 7, -1, 2])
    expect(timeSegmentOf(old, 'a\0b')!.entries.map((bytes) => Buffer.from(bytes))).toEqual([entry, entry])
    expectVedErrorSync(() => timeSegments(Buffer.from([9, 0])), 'EFORMAT')
    expectVedErrorSync(() => timeSegments(Buffer.from([1, 0, 0, 0, 0])), 'ECORRUPT')
    expectVedErrorSync(() => splitBatch(old), 'ECORRUPT')
  })

  it('refuses an entry whose stored error does not decode with ECORRUPT, like any other damaged part', () => {
    const entry = encodeEntry({ at: 1, i: 'i', y: 'add', p: null, c: null, r: 'i', from: null, ch: [], fx: [], ms: [], tm: [], cx: [], rp: null, er: { name: 'Error', message: 'boom' }, mg: null, o: false, l: false })
    expect(decodeEntry(entry).er).toEqual({ name: 'Error', message: 'boom' })
    // The error's msgpack, as the runtime's codec writes it, lies whole inside the entry:
    // start it with 0xc1, the one byte msgpack never uses.
    const at = entry.indexOf(encode({ name: 'Error', message: 'boom' }, 'an error'))
    expect(at).toBeGreaterThan(0)
    const damaged = Buffer.from(entry)
    damaged[at] = 0xc1
    expectVedErrorSync(() => decodeEntry(damaged), 'ECORRUPT')
  })

  it('starts another batch when a drain passes 1 MiB of entries, each domain chained across them', async () => {
    const Blob = defineDomain({
      name: 'blob',
      version: 1,
      state: { data: '' },
      on: {
        put(s, p: { data: string }) {
          s.data = p.data
        },
      },
    })
    await using rt = await open(tempDir(), { domains: [Counter, Blob] as DomainDefinition[], journal: { keepSlices: 100, keepBytes: 64 * 1024 * 1024 } })
    const blob = rt.domain(Blob, 'b')
    const small = rt.domain(Counter, 'small')
    // One drain: 24 slices of about 100 KiB each, and a small domain's slices in between.
    await Promise.all(Array.from({ length: 24 }, (_, i) => [blob.send('put', { data: 'x'.repeat(100_000 + i) }), small.send('add', { n: 1 })]).flat())
    const batches = timeBatches(rt)
    const seqs = new Set(batches.map(([seq]) => seq))
    expect(seqs.size).toBeGreaterThan(1)
    for (const [seq] of batches) expect(seq).toBeLessThan(Math.min(...seqs) + seqs.size)
    expect(rt.journal.slices('blob', 'b').entries.map((e) => [e.slice, (e.intent.payload as { data: string }).data.length])).toEqual(Array.from({ length: 24 }, (_, i) => [i + 1, 100_000 + i]))
    expect(rt.journal.slices('counter', 'small').entries.map((e) => e.slice)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
    expect(rt.journal.stateAt('counter', 'small', 3).state).toMatchObject({ count: 3 })
  })
})

function nullable(bytes: Uint8Array | null): Buffer | null {
  return bytes === null ? null : Buffer.from(bytes)
}
