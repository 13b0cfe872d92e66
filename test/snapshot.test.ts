// Snapshot isolation: a snapshot keeps reading the version it pinned while writers go on.
import { describe, expect, it } from 'vitest'
import { Store, type Snapshot } from '../lib/index.js'
import { expectVedErrorSync, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()

const key = (i: number): string => `k${String(i).padStart(5, '0')}`

async function filled(count: number): Promise<Store> {
  const store = await Store.open(tempDir(), SMALL)
  await store.transaction((txn) => {
    for (let i = 0; i < count; i++) txn.put(key(i), { i, version: 0 })
  })
  return store
}

describe('snapshot isolation', () => {
  it('keeps reading the pinned version under many later commits', async () => {
    await using store = await filled(3000)
    const snapshot = store.snapshot()
    const seqAtSnapshot = store.stats().seq
    expect(snapshot.seq).toBe(seqAtSnapshot)
    const before = snapshot.getRange().toArray()
    expect(before.length).toBe(3000)

    // Many transactions: updates, deletes, inserts, in the default tree and a named one;
    // some awaited, some left pipelined.
    const pending: Promise<number>[] = []
    const model = new Map(before.map((entry) => [entry.key as string, entry.value as unknown]))
    for (let round = 1; round <= 200; round++) {
      const promise = store.transaction((txn) => {
        for (let j = 0; j < 20; j++) {
          const i = (round * 37 + j * 101) % 3000
          if (j % 5 === 0) {
            txn.del(key(i))
            model.delete(key(i))
          } else {
            txn.put(key(i), { i, version: round })
            model.set(key(i), { i, version: round })
          }
        }
        model.set(key(3000 + round), { i: 3000 + round, version: round })
        txn.put(key(3000 + round), { i: 3000 + round, version: round })
        txn.tree('side').put(key(round), round)
      })
      if (round % 10 === 0) await promise
      else pending.push(promise)
      // The snapshot is unchanged at every step, also while commits are only sealed.
      if (round % 50 === 0) {
        expect(snapshot.get(key((round * 37) % 3000))).toEqual({ i: (round * 37) % 3000, version: 0 })
        expect(snapshot.get(key(3000 + round))).toBeUndefined()
      }
    }
    await Promise.all(pending)

    expect(snapshot.getRange().toArray()).toEqual(before)
    expect(snapshot.getRange({ reverse: true }).toArray()).toEqual([...before].reverse())
    expect(snapshot.getRange({ start: key(100), end: key(110) }).toArray()).toEqual(before.slice(100, 110))
    for (let i = 0; i < 3000; i += 7) expect(snapshot.get(key(i))).toEqual({ i, version: 0 })
    expect(snapshot.get(key(3001))).toBeUndefined()
    expect(snapshot.tree('side').get(key(1))).toBeUndefined()
    expect(snapshot.tree('side').getRange().toArray()).toEqual([])
    expect(snapshot.seq).toBe(seqAtSnapshot)

    // Meanwhile the store reads the newest version.
    expect(store.get(key(3200))).toEqual({ i: 3200, version: 200 })
    expect(store.tree('side').get(key(1))).toBe(1)
    const newest = store.getRange().toArray()
    expect(newest.map((entry) => entry.key)).toEqual([...model.keys()].sort())
    for (const entry of newest) expect(entry.value).toEqual(model.get(entry.key as string))
    snapshot.close()
  })

  it('several snapshots each keep their own version', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const snapshots: Snapshot[] = []
    const tagsAt: string[][] = []
    const tags = new Set<string>()
    for (let version = 0; version < 20; version++) {
      await store.put('counter', version)
      // Each version adds tag<version> and removes the tag of two versions ago.
      tags.delete(`tag${version - 2}`)
      await store.del(`tag${version - 2}`)
      tags.add(`tag${version}`)
      await store.put(`tag${version}`, version)
      snapshots.push(store.snapshot())
      tagsAt.push([...tags].sort())
    }
    for (const [version, snapshot] of snapshots.entries()) {
      expect(snapshot.get('counter')).toBe(version)
      expect(snapshot.getRange({ start: 'tag', end: 'tah' }).toArray().map((entry) => entry.key)).toEqual(tagsAt[version])
    }
    for (let i = 1; i < snapshots.length; i++) expect(snapshots[i]!.seq).toBeGreaterThan(snapshots[i - 1]!.seq)
    // Closing some does not disturb the others.
    for (let i = 0; i < snapshots.length; i += 2) snapshots[i]!.close()
    for (let i = 1; i < snapshots.length; i += 2) expect(snapshots[i]!.get('counter')).toBe(i)
    for (const snapshot of snapshots) snapshot.close()
  })

  it('a range iteration started on a snapshot is not disturbed by commits between batches', async () => {
    await using store = await filled(2000)
    using snapshot = store.snapshot()
    let count = 0
    for (const { key: k, value } of snapshot.getRange()) {
      expect(value).toEqual({ i: count, version: 0 })
      expect(k).toBe(key(count))
      if (count % 100 === 0) void store.put(key(count + 50), 'changed')
      count++
    }
    expect(count).toBe(2000)
    await store.flushed
  })

  it('`using` closes the snapshot at the end of the block', async () => {
    await using store = await filled(10)
    let escaped: Snapshot | null = null
    {
      using snapshot = store.snapshot()
      escaped = snapshot
      await store.put(key(0), 'new')
      expect(snapshot.get(key(0))).toEqual({ i: 0, version: 0 })
      expect(snapshot.closed).toBe(false)
    }
    expect(escaped.closed).toBe(true)
    expectVedErrorSync(() => escaped!.get(key(0)), 'ECLOSED')
    expect(store.get(key(0))).toBe('new')
  })

  it('survives the store going on after many snapshots were dropped without close', async () => {
    await using store = await filled(100)
    for (let i = 0; i < 1000; i++) store.snapshot()
    for (let i = 0; i < 1000; i++) {
      const iterator = store.getRange()[Symbol.iterator]()
      iterator.next()
    }
    await store.put(key(0), 'after')
    expect(store.get(key(0))).toBe('after')
  })
})
