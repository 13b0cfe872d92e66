// Opening and filling the two stores every comparison runs against: ved (../dist) and lmdb.
//
// Workload: the initial load, ascending keys `key-000000000`.. in transactions of 1000 puts,
// each awaited until durable, the two stores taking turns batch by batch; timed and
// reported as the "load" row.
// Units: keys per second.
// Machine: as printed in the report header (see lib.js machineInfo).
//
// Settings, chosen so both sides promise the same thing:
// - ved: `sync: true` (the default), msgpack values; a transaction's promise resolves once
//   its commit is fdatasync'ed.
// - lmdb: `open({ path, encoding: 'msgpack', noSync: false })`, everything else default
//   (overlappingSync is on by default on Linux). lmdb-js resolves a write promise at commit;
//   with overlappingSync the flush may come after, so every timed lmdb write also awaits
//   `db.flushed`. Measured: on a sequential awaited put `db.flushed` has already resolved,
//   so this adds no latency, it only makes the promise unambiguous.
import { open as openLmdb } from 'lmdb'
import { Store } from '../dist/index.js'
import { assert, valueOf } from './lib.js'

export const BATCH_SIZE = 1000

export async function openVedStore(dir, options = {}) {
  return Store.open(dir, { encoding: 'msgpack', sync: true, ...options })
}

export function openLmdbStore(dir) {
  return openLmdb({ path: dir, encoding: 'msgpack', noSync: false })
}

/** Loads keys[0..count) in ascending order, BATCH_SIZE per awaited transaction. Returns ms. */
export async function fillVed(store, keys, values, count) {
  const started = performance.now()
  for (let base = 0; base < count; base += BATCH_SIZE) {
    const end = Math.min(base + BATCH_SIZE, count)
    await store.transaction((txn) => {
      for (let i = base; i < end; i++) txn.put(keys[i], valueOf(values, i))
    })
  }
  return performance.now() - started
}

/**
 * Loads both stores batch by batch, alternating (ved batch, lmdb batch, ...), so neither
 * gets the cold start or a slow phase of the disk alone. Returns each store's total ms.
 */
export async function fillBoth(ved, lmdb, keys, values) {
  let vedMs = 0
  let lmdbMs = 0
  for (let base = 0; base < keys.length; base += BATCH_SIZE) {
    const end = Math.min(base + BATCH_SIZE, keys.length)
    const vedStarted = performance.now()
    await ved.transaction((txn) => {
      for (let i = base; i < end; i++) txn.put(keys[i], valueOf(values, i))
    })
    const lmdbStarted = performance.now()
    vedMs += lmdbStarted - vedStarted
    await lmdb.transaction(() => {
      for (let i = base; i < end; i++) lmdb.put(keys[i], valueOf(values, i))
    })
    await lmdb.flushed
    lmdbMs += performance.now() - lmdbStarted
  }
  return { vedMs, lmdbMs }
}

/** Spot checks that a store holds what was loaded, so a broken store cannot post a figure. */
export function checkLoaded(name, get, keys, values, count) {
  for (const i of [0, 1, count >> 1, count - 1]) {
    const value = get(keys[i])
    assert(value === valueOf(values, i), `${name}: get(${keys[i]}) returned ${String(value).slice(0, 40)}`)
  }
  assert(get('key-none') === undefined, `${name}: get of an absent key is not undefined`)
}
