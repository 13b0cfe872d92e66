// Many domains in one store: 100,000 domains each run slices concurrently on one event
// loop, idle ones leave memory (bounded cache) and load again on demand, and all of them
// are there after a reopen.
import { describe, expect, it } from 'vitest'
import { defineDomain, map, Runtime } from '../lib/index.js'
import { tempDirs } from './helpers.js'

const tempDir = tempDirs()
const DOMAIN_COUNT = 100_000
const CACHE_COUNT = 1000
/** Sends in flight at once: enough to fill commits, few enough to bound the queued promises. */
const WINDOW = 5000

const Sensor = defineDomain({
  name: 'sensor',
  version: 1,
  state: { readings: 0, last: 0, peers: map<string, number>() },
  on: {
    read(s, p: { value: number }) {
      s.readings++
      s.last = p.value
      return s.readings
    },
    ping(s, p: { from: string }, ctx) {
      s.peers.set(p.from, ctx.slice)
    },
    greet(_s, p: { to: string }, ctx) {
      ctx.send('sensor', p.to, 'ping', { from: ctx.key })
    },
  },
})

const keyOf = (i: number): string => `s-${i.toString().padStart(6, '0')}`

describe('100,000 domains in one store', () => {
  it('runs them all, keeps only a bounded cache of idle ones, and finds them all after a reopen', async () => {
    const dir = tempDir()
    {
      await using rt = await Runtime.open({ path: dir, domains: [Sensor], domainCacheCount: CACHE_COUNT })
      for (let start = 0; start < DOMAIN_COUNT; start += WINDOW) {
        const sends: Promise<number>[] = []
        for (let i = start; i < Math.min(start + WINDOW, DOMAIN_COUNT); i++) sends.push(rt.domain(Sensor, keyOf(i)).send('read', { value: i }))
        const replies = await Promise.all(sends)
        expect(replies.every((reply) => reply === 1)).toBe(true)
      }
      await rt.quiet()
      expect(rt.stats().domainsCached).toBeLessThanOrEqual(CACHE_COUNT)
      // A second slice on every 1000th domain loads it again from the store.
      for (let i = 0; i < DOMAIN_COUNT; i += 1000) expect(await rt.domain(Sensor, keyOf(i)).send('read', { value: -i })).toBe(2)
      // Messages between two domains, one of them long evicted.
      await rt.domain(Sensor, keyOf(99_999)).send('greet', { to: keyOf(3) })
      await rt.quiet()
      expect([...rt.domain(Sensor, keyOf(3)).state.peers.keys()]).toEqual([keyOf(99_999)])
    }
    await using rt = await Runtime.open({ path: dir, domains: [Sensor], domainCacheCount: CACHE_COUNT })
    let domains = 0
    for (const _ of rt.store.tree('runtime').getRange({ start: 'msensor\0', end: 'msensor\x01' })) domains++
    expect(domains).toBe(DOMAIN_COUNT)
    expect(rt.domain(Sensor, keyOf(1000)).state).toMatchObject({ readings: 2, last: -1000 })
    expect(rt.domain(Sensor, keyOf(1)).state.last).toBe(1)
    expect(rt.domain(Sensor, keyOf(54_321)).state).toMatchObject({ readings: 1, last: 54_321 })
    expect(rt.domain(Sensor, keyOf(3)).state.peers.size).toBe(1)
  })
})

describe('the cache of idle domains', () => {
  it('keeps a recently used domain, stays bounded, and a handle kept across an eviction still sends to the right state', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Sensor], domainCacheCount: 16 })
    const kept = rt.domain(Sensor, 'kept')
    for (let round = 1; round <= 5; round++) {
      // 40 other domains go through a cache of 16: `kept` is evicted at some point (its handle
      // must then find the domain again), and its state must carry on either way.
      for (let i = 0; i < 40; i++) await rt.domain(Sensor, `other-${i}`).send('read', { value: i })
      expect(await kept.send('read', { value: round })).toBe(round)
      expect(rt.stats().domainsCached).toBeLessThanOrEqual(16)
    }
    expect(kept.state).toMatchObject({ readings: 5, last: 5 })
    expect(rt.domain(Sensor, 'other-39').state.readings).toBe(5)
  })

  it('reloads few domains when a round of domains is a little larger than the cache', async () => {
    // LRU would reload every domain of such a round on every send (docs/design.md, "Bounded memory").
    const { InstanceCache } = await import('../lib/runtime/instance.js')
    const cache = new InstanceCache(1000)
    const seen = new Set<object>()
    let loads = 0
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i <= 1000; i++) {
        const instance = cache.get(Sensor, `d-${i}`)
        if (!seen.has(instance)) {
          seen.add(instance)
          loads++
        }
        cache.evict()
        expect(cache.size).toBeLessThanOrEqual(1000)
      }
    }
    // 1,001 first loads, then a few percent of each later round (LRU: all of it).
    expect(loads).toBeLessThan(1001 + 9 * 1001 * 0.1)
  })
})
