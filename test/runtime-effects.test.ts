// Effects behind the output gate, settlements and retries, durable timers, cross-domain
// messages (also to domains not registered yet), migrations, and the determinism check.
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { defineDomain, map, Runtime, Store, type EffectDone, type EffectFailed, type SliceRecord } from '../lib/index.js'
import { expectVedError, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()

/** What the effect implementations saw, per test (reset by each test that reads it). */
let calls: Array<{ id: string; attempt: number; payload: unknown; durable: boolean }> = []
/** A read-only store on the runtime's path: it only ever sees durable commits. */
let durableView: Store<Buffer> | null = null
let running = 0
let runningMax = 0

const Deployer = defineDomain({
  name: 'deployer',
  version: 1,
  state: {
    done: [] as string[],
    failures: 0,
    hosts: map<string, { status: string; effect: string }>(),
  },
  on: {
    deploy(s, p: { host: string; failTimes?: number }, ctx) {
      const id = ctx.emit('push', { host: p.host, failTimes: p.failTimes ?? 0 })
      s.hosts.set(p.host, { status: 'pending', effect: id })
      return id
    },
    'push.done'(s, d: EffectDone<{ host: string }, { host: string }>) {
      s.hosts.set(d.payload.host, { status: 'updated', effect: d.id })
      s.done.push(d.result.host)
    },
    'push.failed'(s, f: EffectFailed<{ host: string; failTimes: number }>, ctx) {
      s.failures++
      if (f.attempt < 5) ctx.emit('push', f.payload, { retryOf: f })
    },
    bogus(_s, _p, ctx) {
      ctx.emit('missing' as 'push', { host: 'x', failTimes: 0 })
    },
  },
  effects: {
    async push(p: { host: string; failTimes: number }, { id, attempt }) {
      const key = `odeployer\0${id.split('/')[1]}\0${id.split('/')[2]}`
      calls.push({ id, attempt, payload: p, durable: durableView?.tree('runtime').get(key) !== undefined })
      running++
      runningMax = Math.max(runningMax, running)
      await sleep(5)
      running--
      if (attempt <= p.failTimes) throw new Error(`push to ${p.host} failed (attempt ${attempt})`)
      return { host: p.host }
    },
  },
})

describe('effects', () => {
  it('dispatches an effect only once its slice is durable, and settles it with <effect>.done', async () => {
    const dir = tempDir()
    calls = []
    await using rt = await Runtime.open({ path: dir, domains: [Deployer], store: SMALL })
    durableView = await Store.open<Buffer>(dir, { readOnly: true, encoding: 'binary' })
    try {
      const d = rt.domain(Deployer, 'prod')
      const id = await d.send('deploy', { host: 'a' })
      await rt.quiet()
      expect(calls).toEqual([{ id, attempt: 1, payload: { host: 'a', failTimes: 0 }, durable: true }])
      expect(d.state.hosts.get('a')).toEqual({ status: 'updated', effect: id })
      expect(d.state.done).toEqual(['a'])
      // Settled: the outbox entry is gone.
      expect([...rt.store.tree('runtime').getRange({ start: 'o', end: 'p' })]).toEqual([])
    } finally {
      await durableView.close()
      durableView = null
    }
  })

  it('re-emits a failed effect under the same id with attempt + 1', async () => {
    calls = []
    await using rt = await Runtime.open({ path: tempDir(), domains: [Deployer], store: SMALL })
    const d = rt.domain(Deployer, 'prod')
    const id = await d.send('deploy', { host: 'b', failTimes: 2 })
    await rt.quiet()
    expect(calls.map((c) => [c.id, c.attempt])).toEqual([
      [id, 1],
      [id, 2],
      [id, 3],
    ])
    expect(d.state.failures).toBe(2)
    expect(d.state.hosts.get('b')?.status).toBe('updated')
  })

  it('bounds the effects running at once by effectConcurrency', async () => {
    running = 0
    runningMax = 0
    await using rt = await Runtime.open({ path: tempDir(), domains: [Deployer], store: SMALL, effectConcurrency: 2 })
    const d = rt.domain(Deployer, 'prod')
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((host) => d.send('deploy', { host })))
    await rt.quiet()
    expect(runningMax).toBe(2)
    expect(d.state.done).toHaveLength(6)
  })

  it('refuses an unknown effect (EEFFECT) and applies nothing', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Deployer], store: SMALL })
    const d = rt.domain(Deployer, 'prod')
    await expectVedError(d.send('bogus'), 'EEFFECT')
    expect([...rt.store.tree('runtime').getRange({ start: 'o', end: 'p' })]).toEqual([])
  })

  it('dispatches unsettled effects again with the same id after a reopen', async () => {
    const dir = tempDir()
    calls = []
    let id: string
    {
      const rt = await Runtime.open({ path: dir, domains: [Deployer], store: SMALL })
      id = await rt.domain(Deployer, 'prod').send('deploy', { host: 'c' })
      // Close before the effect settles: its outcome is dropped, the outbox keeps it.
      await rt.close()
    }
    expect(calls.map((c) => c.id)).toEqual([id])
    await using rt = await Runtime.open({ path: dir, domains: [Deployer], store: SMALL })
    await rt.quiet()
    expect(calls.map((c) => [c.id, c.attempt])).toEqual([
      [id, 1],
      [id, 1],
    ])
    expect(rt.domain(Deployer, 'prod').state.done).toEqual(['c'])
  })
})

describe('a retry that overtakes its own earlier attempt', () => {
  const gates = new Map<number, () => void>()
  const Slow = defineDomain({
    name: 'slow',
    version: 1,
    state: { id: '', results: [] as number[] },
    on: {
      start(s, _p, ctx) {
        s.id = ctx.emit('wait', {})
      },
      again(s, _p, ctx) {
        ctx.emit('wait', {}, { retryOf: { id: s.id, attempt: 1 } })
      },
      'wait.done'(s, d: EffectDone<unknown, number>) {
        s.results.push(d.result)
      },
    },
    effects: {
      wait(_p: unknown, { attempt }) {
        return new Promise<number>((resolve) => gates.set(attempt, () => resolve(attempt)))
      },
    },
  })

  it('ignores the outcome of the superseded attempt and settles the current one', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Slow], store: SMALL })
    const d = rt.domain(Slow, 's')
    await d.send('start')
    await d.send('again')
    await sleep(10)
    expect([...gates.keys()]).toEqual([1, 2])
    // Attempt 1's outcome arrives while attempt 2 runs: stale, so nothing settles.
    gates.get(1)!()
    await sleep(20)
    expect(d.state.results).toEqual([])
    expect(rt.stats().effectsRunning).toBe(1)
    gates.get(2)!()
    await rt.quiet()
    expect(d.state.results).toEqual([2])
    expect([...rt.store.tree('runtime').getRange({ start: 'o', end: 'p' })]).toEqual([])
  })
})

const Alarm = defineDomain({
  name: 'alarm',
  version: 1,
  state: { rang: [] as string[], pending: '' },
  on: {
    set(s, p: { ms: number; label: string }, ctx) {
      s.pending = ctx.after(p.ms, 'ring', { label: p.label })
      return s.pending
    },
    cancel(s, _p, ctx) {
      return ctx.cancel(s.pending)
    },
    ring(s, p: { label: string }, ctx) {
      s.rang.push(`${p.label}:${ctx.intent.causedBy !== null}`)
    },
  },
})

describe('timers', () => {
  it('fires a timer in the same process', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Alarm], store: SMALL })
    const a = rt.domain(Alarm, 'x')
    await a.send('set', { ms: 30, label: 'soon' })
    expect(a.state.rang).toEqual([])
    await sleep(80)
    await rt.quiet()
    expect(a.state.rang).toEqual(['soon:true'])
  })

  it('keeps a timer across a restart and fires it when due', async () => {
    const dir = tempDir()
    {
      await using rt = await Runtime.open({ path: dir, domains: [Alarm], store: SMALL })
      await rt.domain(Alarm, 'x').send('set', { ms: 150, label: 'later' })
    }
    await sleep(200)
    await using rt = await Runtime.open({ path: dir, domains: [Alarm], store: SMALL })
    await sleep(20)
    await rt.quiet()
    expect(rt.domain(Alarm, 'x').state.rang).toEqual(['later:true'])
  })

  it('cancels a timer, also one armed before a restart', async () => {
    const dir = tempDir()
    {
      await using rt = await Runtime.open({ path: dir, domains: [Alarm], store: SMALL })
      await rt.domain(Alarm, 'x').send('set', { ms: 100, label: 'never' })
    }
    await using rt = await Runtime.open({ path: dir, domains: [Alarm], store: SMALL })
    const a = rt.domain(Alarm, 'x')
    expect(await a.send('cancel')).toBe(true)
    expect(await a.send('cancel')).toBe(false)
    await sleep(150)
    await rt.quiet()
    expect(a.state.rang).toEqual([])
  })
})

const Stock = defineDomain({
  name: 'stock',
  version: 1,
  state: { reserved: 0, from: [] as string[] },
  on: {
    reserve(s, p: { n: number }, ctx) {
      s.reserved += p.n
      s.from.push(`${ctx.intent.from?.domain}/${ctx.intent.from?.key}`)
    },
  },
})

const Order = defineDomain({
  name: 'order',
  version: 1,
  state: { placed: 0 },
  on: {
    place(s, p: { sku: string; n: number }, ctx) {
      s.placed += p.n
      return ctx.send('stock', p.sku, 'reserve', { n: p.n })
    },
    placeBad(_s, _p, ctx) {
      ctx.send('stock', 'x', 'explode', {})
    },
  },
})

describe('cross-domain messages', () => {
  it('delivers a message after the sender is durable, with its lineage', async () => {
    const records: SliceRecord[] = []
    await using rt = await Runtime.open({ path: tempDir(), domains: [Order, Stock], store: SMALL, onSlice: (r) => records.push(r) })
    const messageId = await rt.domain(Order, 'o1').send('place', { sku: 'apple', n: 3 }, { id: 'req-9' })
    await rt.quiet()
    expect(rt.domain(Stock, 'apple').state.reserved).toBe(3)
    expect(rt.domain(Stock, 'apple').state.from).toEqual(['order/o1'])
    const received = records.find((r) => r.domain === 'stock')!
    expect(received.intent).toEqual({ id: messageId, type: 'reserve', causedBy: 'req-9', root: 'req-9', from: { domain: 'order', key: 'o1' } })
  })

  it('refuses a message of a type the known target does not handle', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Order, Stock], store: SMALL })
    await expectVedError(rt.domain(Order, 'o1').send('placeBad'), 'EINTENT')
  })

  it('keeps a message to a domain not registered yet in its inbox, across a restart, until it registers', async () => {
    const dir = tempDir()
    {
      await using rt = await Runtime.open({ path: dir, domains: [Order], store: SMALL })
      await rt.domain(Order, 'o1').send('place', { sku: 'pear', n: 2 })
      await rt.quiet()
    }
    await using rt = await Runtime.open({ path: dir, domains: [Order], store: SMALL })
    await rt.quiet()
    expect([...rt.store.tree('runtime').getRange({ start: 'istock\0', end: 'istock\x01' })]).toHaveLength(1)
    const pear = rt.domain(Stock, 'pear')
    await rt.quiet()
    expect(pear.state.reserved).toBe(2)
    expect([...rt.store.tree('runtime').getRange({ start: 'istock\0', end: 'istock\x01' })]).toHaveLength(0)
  })
})

describe('versions and migrations', () => {
  const V1 = defineDomain({
    name: 'profile',
    version: 1,
    state: { name: '', visits: 0 },
    on: {
      visit(s, p: { name: string }) {
        s.name = p.name
        s.visits++
      },
    },
  })
  const V2 = defineDomain({
    name: 'profile',
    version: 2,
    state: { title: '', visits: 0, tags: map<string, boolean>() },
    on: {
      visit(s) {
        s.visits++
        return { title: s.title, visits: s.visits }
      },
    },
    migrate(s, from) {
      expect(from).toBe(1)
      s.title = `Dr. ${s.name}`
      delete s.name
      s.tags.set('migrated', true)
    },
  })

  it('migrates a domain reached only by a message, in the slice that handles it', async () => {
    const dir = tempDir()
    {
      await using rt = await Runtime.open({ path: dir, domains: [V1], store: SMALL })
      await rt.domain(V1, 'm').send('visit', { name: 'Grace' })
    }
    const Caller = defineDomain({
      name: 'caller',
      version: 1,
      state: {},
      on: {
        call(_s, _p, ctx) {
          ctx.send('profile', 'm', 'visit')
        },
      },
    })
    const records: SliceRecord[] = []
    await using rt = await Runtime.open({ path: dir, domains: [V2, Caller], store: SMALL, onSlice: (r) => records.push(r) })
    await rt.domain(Caller, 'c').send('call')
    await rt.quiet()
    expect(records.find((r) => r.domain === 'profile')).toMatchObject({ slice: 2, migrated: [1, 2], intent: { type: 'visit' } })
    expect(rt.store.tree('runtime').get('sprofile\0m\0name')).toBeUndefined()
  })

  it('opens a version-1 store with version 2 through migrate, and refuses version 1 afterwards', async () => {
    const dir = tempDir()
    {
      await using rt = await Runtime.open({ path: dir, domains: [V1], store: SMALL })
      await rt.domain(V1, 'p').send('visit', { name: 'Ada' })
    }
    {
      await using rt = await Runtime.open({ path: dir, domains: [V2], store: SMALL })
      const p = rt.domain(V2, 'p')
      // Handing out the domain queues its migration: the state is current before any intent.
      await rt.quiet()
      expect(p.state.title).toBe('Dr. Ada')
      expect(p.state.visits).toBe(1)
      expect(await p.send('visit')).toEqual({ title: 'Dr. Ada', visits: 2 })
      expect(p.state.tags.get('migrated')).toBe(true)
      expect(rt.store.tree('runtime').get('sprofile\0p\0name')).toBeUndefined()
      // A domain first created by version 2 needs no migration.
      expect(await rt.domain(V2, 'q').send('visit')).toEqual({ title: '', visits: 1 })
    }
    const V3 = defineDomain({ name: 'profile', version: 3, state: { title: '' }, on: {} })
    const noMigrate = await expectVedError(Runtime.open({ path: dir, domains: [V3], store: SMALL }), 'EVERSION')
    expect(noMigrate.message).toContain('needs a migrate function')
    const refused = await expectVedError(Runtime.open({ path: dir, domains: [V1], store: SMALL }), 'EVERSION')
    expect(refused.message).toContain('version 2')
    await using rt = await Runtime.open({ path: dir, store: SMALL })
    expect(() => rt.domain(V1, 'p')).toThrow(/EVERSION/)
  })
})

describe('checkDeterminism', () => {
  const Dice = defineDomain({
    name: 'dice',
    version: 1,
    state: { rolls: [] as number[] },
    on: {
      rollBadly(s) {
        s.rolls.push(Math.floor(Math.random() * 1e9))
      },
      roll(s, _p, ctx) {
        s.rolls.push(Math.floor(ctx.random() * 6) + 1)
      },
    },
  })

  it('fails a slice whose two runs differ (Math.random) and leaves its state untouched', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Dice], store: SMALL, checkDeterminism: true })
    const d = rt.domain(Dice, 'd')
    await d.send('roll')
    const error = await expectVedError(d.send('rollBadly'), 'EDETERMINISM')
    expect(error.message).toContain('dice.rollBadly')
    expect(error.message).toContain('rolls')
    expect(d.state.rolls).toHaveLength(1)
  })

  it('lets the same handler through without the check', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Dice], store: SMALL })
    const d = rt.domain(Dice, 'd')
    await d.send('rollBadly')
    expect(d.state.rolls).toHaveLength(1)
  })
})
