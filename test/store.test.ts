// Store API: reads, writes, ranges, encodings, named trees, large values, many keys, reopen,
// use after close for every method, and worker threads that end with a store open.
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { Store, VedError, type RangeEntry, type Transaction, type TransactionTree } from '../lib/index.js'
import { compareKeys, expectVedError, expectVedErrorSync, FIXTURES, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()

function entries<V, K>(iterable: Iterable<RangeEntry<V, K>>): [K, V][] {
  return Array.from(iterable, (entry) => [entry.key, entry.value])
}

describe('put, get, del', () => {
  it('reads back what it wrote and resolves with increasing sequence numbers', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    expect(store.get('missing')).toBeUndefined()
    const seq1 = await store.put('a', { n: 1 })
    const seq2 = await store.put('b', [1, 2, 3])
    expect(seq2).toBeGreaterThan(seq1)
    expect(store.get('a')).toEqual({ n: 1 })
    expect(store.get('b')).toEqual([1, 2, 3])
    const seq3 = await store.del('a')
    expect(seq3).toBeGreaterThan(seq2)
    expect(store.get('a')).toBeUndefined()
    // Deleting an absent key is not an error.
    await store.del('never-there')
    const stats = store.stats()
    expect(stats.durableSeq).toBeGreaterThanOrEqual(seq3)
    expect(stats.seq).toBeGreaterThanOrEqual(seq3)
  })

  it('sees a sealed write at once, before it is durable', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const durable = store.put('k', 'v')
    expect(store.get('k')).toBe('v')
    await durable
  })

  it('treats a string key and its UTF-8 bytes as the same key', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await store.put('héllo', 1)
    expect(store.get(Buffer.from('héllo', 'utf8'))).toBe(1)
    await store.put(new TextEncoder().encode('héllo'), 2)
    expect(store.get('héllo')).toBe(2)
  })

  it('accepts a key of exactly the maximum size', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const key = 'k'.repeat(Store.limits.keySizeBytesMax)
    await store.put(key, 1)
    expect(store.get(key)).toBe(1)
    expect(entries(store.getRange())).toEqual([[key, 1]])
  })

  it('pipelines transactions and settles them all by flushed', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const promises: Promise<number>[] = []
    for (let i = 0; i < 500; i++) promises.push(store.put(`k${i}`, i))
    await store.flushed
    const seqs = await Promise.all(promises)
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!)
    const stats = store.stats()
    expect(stats.durableSeq).toBe(stats.seq)
    expect(stats.pendingCommits).toBe(0)
    // Nothing pending: resolves at once.
    await store.flushed
  })

  it('commits a transaction atomically and returns its sequence number', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await store.put('gone', 1)
    const seq = await store.transaction((txn) => {
      txn.put('x', 1)
      txn.put('y', 2)
      txn.del('gone')
      txn.put('x', 3) // the later op wins
    })
    expect(seq).toBe(store.stats().seq)
    expect(store.get('x')).toBe(3)
    expect(store.get('y')).toBe(2)
    expect(store.get('gone')).toBeUndefined()
  })

  it('commits nothing when the callback throws', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const seqBefore = store.stats().seq
    const failure = new Error('boom')
    await expect(
      store.transaction((txn) => {
        txn.put('x', 1)
        throw failure
      }),
    ).rejects.toBe(failure)
    expect(store.get('x')).toBeUndefined()
    expect(store.stats().seq).toBe(seqBefore)
    // The store goes on working.
    await store.put('x', 2)
    expect(store.get('x')).toBe(2)
  })

  it('leaves out an operation that failed when the callback catches its error', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await store.transaction((txn) => {
      txn.put('before', 1)
      expect(() => txn.put('', 2)).toThrow(VedError)
      expect(() => txn.put('bad', undefined)).toThrow(VedError)
      expect(() => txn.put('k'.repeat(Store.limits.keySizeBytesMax + 1), 3)).toThrow(VedError)
      txn.put('after', 4)
    })
    expect(store.getRange().toArray()).toEqual([
      { key: 'after', value: 4 },
      { key: 'before', value: 1 },
    ])
  })

  it('refuses async callbacks and commits nothing', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await expectVedError(
      store.transaction(async (txn) => {
        txn.put('x', 1)
      }),
      'EINVAL',
    )
    // A plain function returning a promise is refused too.
    await expectVedError(
      store.transaction((txn) => {
        txn.put('y', 1)
        return Promise.resolve() as unknown as void
      }),
      'EINVAL',
    )
    expect(store.get('x')).toBeUndefined()
    expect(store.get('y')).toBeUndefined()
  })

  it('refuses nested transactions and store writes inside a callback', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    let nested: Promise<unknown> | null = null
    let put: Promise<unknown> | null = null
    // Handlers attached at once: the rejections are checked after the outer commit.
    const settle = (promise: Promise<number>): Promise<unknown> => promise.then((seq) => seq, (error: unknown) => error)
    await store.transaction((txn) => {
      txn.put('outer', 1)
      nested = settle(store.transaction((inner) => inner.put('inner', 1)))
      put = settle(store.put('direct', 1))
    })
    expect(await nested).toMatchObject({ code: 'EINVAL' })
    expect(await put).toMatchObject({ code: 'EINVAL' })
    expect(store.get('outer')).toBe(1)
    expect(store.get('inner')).toBeUndefined()
    expect(store.get('direct')).toBeUndefined()
  })

  it('resolves an empty transaction without committing', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await store.put('a', 1)
    const seqBefore = store.stats().seq
    const seq = await store.transaction(() => {})
    expect(seq).toBe(seqBefore)
    expect(store.stats().seq).toBe(seqBefore)
  })

  it('rejects a non-function transaction argument', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await expectVedError(store.transaction(42 as never), 'EINVAL')
  })
})

describe('getRange', () => {
  // Keys chosen so that UTF-8 byte order differs from UTF-16 order.
  const keys = ['a', 'ab', 'b', 'ba', 'c', 'z', 'é', '\u{1F600}', '\uFFFD']
  const sorted = [...keys].sort(compareKeys)

  async function filled(): Promise<Store> {
    const store = await Store.open(tempDir(), SMALL)
    await store.transaction((txn) => {
      for (const key of keys) txn.put(key, key.toUpperCase())
    })
    return store
  }

  it('iterates all pairs in byte order', async () => {
    await using store = await filled()
    expect(entries(store.getRange()).map(([k]) => k)).toEqual(sorted)
    expect(entries(store.getRange({})).map(([, v]) => v)).toEqual(sorted.map((k) => k.toUpperCase()))
    // \uFFFD (EF BF BD) sorts before U+1F600 (F0 9F 98 80) by bytes, after it by UTF-16 units.
    expect(sorted.indexOf('\uFFFD')).toBeLessThan(sorted.indexOf('\u{1F600}'))
  })

  it('takes start inclusive and end exclusive', async () => {
    await using store = await filled()
    expect(entries(store.getRange({ start: 'ab', end: 'c' })).map(([k]) => k)).toEqual(['ab', 'b', 'ba'])
    expect(entries(store.getRange({ start: 'aa' })).map(([k]) => k)).toEqual(sorted.slice(1))
    expect(entries(store.getRange({ end: 'b' })).map(([k]) => k)).toEqual(['a', 'ab'])
    expect(entries(store.getRange({ start: 'c', end: 'c' }))).toEqual([])
    expect(entries(store.getRange({ start: 'z', end: 'a' }))).toEqual([])
    expect(entries(store.getRange({ start: '' })).length).toBe(keys.length)
    expect(entries(store.getRange({ end: '' }))).toEqual([])
  })

  it('iterates backwards from end (exclusive) down to start (inclusive)', async () => {
    await using store = await filled()
    expect(entries(store.getRange({ reverse: true })).map(([k]) => k)).toEqual([...sorted].reverse())
    expect(entries(store.getRange({ start: 'ab', end: 'c', reverse: true })).map(([k]) => k)).toEqual(['ba', 'b', 'ab'])
    expect(entries(store.getRange({ end: 'b', reverse: true, limit: 1 })).map(([k]) => k)).toEqual(['ab'])
  })

  it('getKeys gives the keys getRange gives, for every option, on the store, a tree and snapshots', async () => {
    await using store = await filled()
    // A value far past the inline threshold: getKeys does not read it (its length comes back 0 from native).
    const big = Buffer.alloc(2 * 1024 * 1024, 7)
    await store.put('bb', big)
    await store.tree('t').put('x', big)
    await store.tree('t').put('y', 1)
    const all = [...keys, 'bb'].sort(compareKeys)
    const cases = [undefined, {}, { start: 'ab', end: 'c' }, { reverse: true }, { start: 'ab', end: 'c', reverse: true, limit: 2 }, { limit: 0 }, { end: '' }, { start: 'b', limit: 100 }]
    for (const options of cases) {
      const expected = entries(store.getRange(options)).map(([k]) => k)
      expect([...store.getKeys(options)], JSON.stringify(options)).toEqual(expected)
      expect(store.getKeys(options).toArray()).toEqual(expected)
    }
    expect([...store.getKeys()]).toEqual(all)
    // More keys than one native batch (32 first), and an early break that releases the pin.
    await store.transaction((txn) => {
      for (let i = 0; i < 100; i++) txn.put(`n${String(i).padStart(3, '0')}`, i)
    })
    expect([...store.getKeys({ start: 'n', end: 'o' })]).toEqual(Array.from({ length: 100 }, (_, i) => `n${String(i).padStart(3, '0')}`))
    for (const key of store.getKeys()) if (key === 'b') break
    expect([...store.tree('t').getKeys()]).toEqual(['x', 'y'])
    using snap = store.snapshot()
    await store.del('a')
    expect([...snap.getKeys({ end: 'ab' })]).toEqual(['a'])
    expect([...store.getKeys({ end: 'ab' })]).toEqual([])
    expect([...snap.tree('t').getKeys({ reverse: true })]).toEqual(['y', 'x'])
    expectVedErrorSync(() => store.getKeys({ limit: -1 }), 'EINVAL')
  })

  it('stops at limit', async () => {
    await using store = await filled()
    expect(entries(store.getRange({ limit: 0 }))).toEqual([])
    expect(entries(store.getRange({ limit: 2 })).map(([k]) => k)).toEqual(sorted.slice(0, 2))
    expect(entries(store.getRange({ start: 'b', limit: 100 })).map(([k]) => k)).toEqual(sorted.slice(sorted.indexOf('b')))
  })

  it('takes binary bounds and binary keys, returned as strings by default', async () => {
    await using store = await filled()
    await store.put(Buffer.from([0x62, 0x00]), 'b0') // "b\0"
    expect(entries(store.getRange({ start: Buffer.from('b'), end: Buffer.from([0x62, 0x01]) }))).toEqual([
      ['b', 'B'],
      ['b\0', 'b0'],
    ])
  })

  it('returns Buffer keys with keyEncoding binary and accepts any bytes', async () => {
    await using store = await Store.open<unknown, Buffer>(tempDir(), { ...SMALL, keyEncoding: 'binary' })
    const raw = [Buffer.from([0xff, 0x00]), Buffer.from([0x00]), Buffer.from([0x80, 0x80]), Buffer.from('m')]
    for (const key of raw) await store.put(key, key.toString('hex'))
    const got = entries(store.getRange())
    expect(got.map(([k]) => Buffer.isBuffer(k))).toEqual([true, true, true, true])
    expect(got.map(([k]) => k.toString('hex'))).toEqual(['00', '6d', '8080', 'ff00'])
    expect(got.map(([, v]) => v)).toEqual(['00', '6d', '8080', 'ff00'])
    expect(store.get('m')).toBe('6d')
  })

  it('refuses byte keys that are not UTF-8 when keys come back as strings', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await expectVedError(store.put(Buffer.from([0xff]), 1), 'EENCODE')
    // Reading with such a key is fine: it is simply absent.
    expect(store.get(Buffer.from([0xff]))).toBeUndefined()
  })

  it('continues across batches, forwards and backwards, with keys of every length', async () => {
    await using store = await Store.open<unknown, Buffer>(tempDir(), { ...SMALL, keyEncoding: 'binary' })
    const keySizeBytesMax = Store.limits.keySizeBytesMax
    // Keys that stress the "next key" computation: prefixes, 0x00 and 0xff tails, maximum length.
    const raw: Buffer[] = [
      Buffer.from([0x01]),
      Buffer.from([0x01, 0x00]),
      Buffer.from([0x01, 0x00, 0x00]),
      Buffer.from([0x01, 0xff]),
      Buffer.alloc(keySizeBytesMax, 0x01),
      Buffer.concat([Buffer.alloc(keySizeBytesMax - 1, 0x01), Buffer.from([0xff])]),
      Buffer.alloc(keySizeBytesMax, 0xff),
      Buffer.from([0x02]),
    ]
    for (let i = 0; i < 3000; i++) raw.push(Buffer.from(`n${String(i).padStart(5, '0')}`))
    // Neighbours that differ only by an appended 0x00, so every batch boundary falls between
    // a key and its immediate successor.
    for (let length = 1; length <= 300; length++) raw.push(Buffer.concat([Buffer.from('z'), Buffer.alloc(length)]))
    await store.transaction((txn) => {
      for (const key of raw) txn.put(key, key.length)
    })
    const expected = [...raw].sort(Buffer.compare).map((k) => k.toString('hex'))
    const forward = entries(store.getRange()).map(([k]) => k.toString('hex'))
    expect(forward).toEqual(expected)
    const backward = entries(store.getRange({ reverse: true })).map(([k]) => k.toString('hex'))
    expect(backward).toEqual([...expected].reverse())
    const limited = entries(store.getRange({ start: Buffer.from([0x01, 0x00]), limit: 1500 })).map(([k]) => k.toString('hex'))
    expect(limited).toEqual(expected.slice(1, 1501))
  })

  it('reads one version per iteration even when writes happen between batches', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await store.transaction((txn) => {
      for (let i = 0; i < 2000; i++) txn.put(`k${String(i).padStart(4, '0')}`, i)
    })
    const seen: string[] = []
    let wrote = false
    for (const { key } of store.getRange()) {
      seen.push(key as string)
      if (!wrote) {
        wrote = true
        // Sealed at once; the running iteration must not see it.
        void store.put('k1000x', -1)
        void store.del('k1999')
      }
    }
    expect(seen.length).toBe(2000)
    expect(seen).not.toContain('k1000x')
    expect(store.get('k1000x')).toBe(-1)
    await store.flushed
  })

  it('is iterable more than once and can be abandoned early', async () => {
    await using store = await filled()
    const range = store.getRange({ limit: 3 })
    expect(entries(range)).toEqual(entries(range))
    for (const _entry of store.getRange()) break
    const iterator = store.getRange()[Symbol.iterator]()
    expect(iterator.next().done).toBe(false)
    iterator.return?.()
    expect(iterator.next().done).toBe(true)
    expect(store.getRange().toArray().length).toBe(keys.length)
  })

  it('rejects bad range options', async () => {
    await using store = await filled()
    expectVedErrorSync(() => store.getRange({ limit: -1 }), 'EINVAL')
    expectVedErrorSync(() => store.getRange({ limit: 1.5 }), 'EINVAL')
    expectVedErrorSync(() => store.getRange({ reverse: 'yes' as never }), 'EINVAL')
    expectVedErrorSync(() => store.getRange({ start: 5 as never }), 'EINVAL')
    expectVedErrorSync(() => store.getRange({ revers: true } as never), 'EINVAL')
    expectVedErrorSync(() => store.getRange({ start: 'x'.repeat(Store.limits.keySizeBytesMax + 1) }), 'EKEYSIZE')
  })
})

describe('encodings', () => {
  it('msgpack (default) round-trips structured values', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const value = {
      s: 'text',
      n: 1.5,
      i: -42,
      big: 2n ** 60n,
      b: true,
      nil: null,
      list: [1, 'two', { three: 3 }],
      date: new Date(1700000000000),
      bytes: Buffer.from([1, 2, 3]),
    }
    await store.put('v', value)
    const got = store.get('v') as typeof value
    expect(got).toEqual(value)
    await store.put('null', null)
    expect(store.get('null')).toBeNull()
    await store.put('zero', 0)
    expect(store.get('zero')).toBe(0)
  })

  it('msgpack byte fields are copies, not views into a shared buffer', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    await store.put('a', { bytes: Buffer.from([1, 1, 1]) })
    await store.put('b', { bytes: Buffer.from([2, 2, 2]) })
    const a = store.get('a') as { bytes: Buffer }
    store.get('b')
    expect([...a.bytes]).toEqual([1, 1, 1])
  })

  it('json round-trips JSON values and refuses what JSON cannot hold', async () => {
    await using store = await Store.open(tempDir(), { ...SMALL, encoding: 'json' })
    await store.put('v', { a: [1, 'x', null, true], b: { c: 'd' } })
    expect(store.get('v')).toEqual({ a: [1, 'x', null, true], b: { c: 'd' } })
    await expectVedError(store.put('big', 1n), 'EENCODE')
    const cyclic: Record<string, unknown> = {}
    cyclic['self'] = cyclic
    await expectVedError(store.put('cyclic', cyclic), 'EENCODE')
  })

  it('string stores strings only', async () => {
    await using store = await Store.open(tempDir(), { ...SMALL, encoding: 'string' })
    await store.put('v', 'héllo \u{1F600}')
    await store.put('empty', '')
    expect(store.get('v')).toBe('héllo \u{1F600}')
    expect(store.get('empty')).toBe('')
    await expectVedError(store.put('n', 5 as never), 'EENCODE')
    await expectVedError(store.put('lone', '\uD800'), 'EENCODE')
  })

  it('binary returns copies that never alias each other or the store', async () => {
    await using store = await Store.open(tempDir(), { ...SMALL, encoding: 'binary' })
    await store.put('a', new Uint8Array([1, 2, 3]))
    await store.put('b', Buffer.from([4, 5]))
    await store.put('empty', new Uint8Array(0))
    const a = store.get('a') as Buffer
    const b = store.get('b') as Buffer
    expect([...a]).toEqual([1, 2, 3])
    expect([...b]).toEqual([4, 5])
    expect((store.get('empty') as Buffer).length).toBe(0)
    a.fill(9)
    expect([...(store.get('a') as Buffer)]).toEqual([1, 2, 3])
    const range = store.getRange().toArray()
    const first = range[0]!.value as Buffer
    expect([...first]).toEqual([1, 2, 3])
    store.get('b')
    expect([...first]).toEqual([1, 2, 3])
    await expectVedError(store.put('s', 'text' as never), 'EENCODE')
  })

  it('refuses undefined in every encoding', async () => {
    for (const encoding of ['msgpack', 'json', 'string', 'binary'] as const) {
      await using store = await Store.open(tempDir(), { ...SMALL, encoding })
      await expectVedError(store.put('u', undefined), 'EENCODE')
      await expectVedError(
        store.transaction((txn) => txn.put('u', undefined)),
        'EENCODE',
      )
      expect(store.get('u')).toBeUndefined()
    }
  })
})

describe('named trees', () => {
  it('keeps separate key spaces', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const users = store.tree('users')
    const orders = store.tree('orders')
    expect(store.tree('users')).toBe(users)
    await store.put('k', 'default')
    await users.put('k', 'user')
    await orders.put('k', 'order')
    expect(store.get('k')).toBe('default')
    expect(users.get('k')).toBe('user')
    expect(orders.get('k')).toBe('order')
    await users.del('k')
    expect(users.get('k')).toBeUndefined()
    expect(orders.get('k')).toBe('order')
    expect(entries(orders.getRange())).toEqual([['k', 'order']])
    expect(entries(store.getRange())).toEqual([['k', 'default']])
    expect(store.tree('').get('k')).toBe('default')
  })

  it('commits several trees atomically, or none of them', async () => {
    const dir = tempDir()
    {
      await using store = await Store.open(dir, SMALL)
      await store.transaction((txn) => {
        txn.put('balance', 100)
        txn.tree('audit').put('1', 'opened')
        txn.tree('index').put('acct', 'balance')
      })
      await expect(
        store.transaction((txn) => {
          txn.put('balance', 0)
          txn.tree('audit').put('2', 'emptied')
          throw new Error('abort')
        }),
      ).rejects.toThrow('abort')
      expect(store.get('balance')).toBe(100)
      expect(store.tree('audit').get('2')).toBeUndefined()
    }
    await using reopened = await Store.open(dir, SMALL)
    expect(reopened.get('balance')).toBe(100)
    expect(entries(reopened.tree('audit').getRange())).toEqual([['1', 'opened']])
    expect(reopened.tree('index').get('acct')).toBe('balance')
  })

  it('enforces tree name limits', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    expectVedErrorSync(() => store.tree('t'.repeat(Store.limits.treeNameBytesMax + 1)), 'ETREELIMIT')
    expectVedErrorSync(() => store.tree(7 as never), 'EINVAL')
    store.tree('t'.repeat(Store.limits.treeNameBytesMax))
  })
})

describe('large values', () => {
  it('stores values of 1 MiB, 20 MiB and exactly the maximum', async () => {
    const dir = tempDir()
    const valueSizeBytesMax = Store.limits.valueSizeBytesMax
    expect(valueSizeBytesMax).toBeGreaterThanOrEqual(64 * 1024 * 1024)
    const sizes = [1024 * 1024, 20 * 1024 * 1024, valueSizeBytesMax]
    const pattern = (size: number, seed: number): Buffer => {
      const value = Buffer.alloc(size)
      for (let i = 0; i < size; i += 4096) value[i] = (i / 4096 + seed) & 0xff
      value.fill(seed, 0, 16)
      value[size - 1] = seed
      return value
    }
    {
      await using store = await Store.open(dir, { ...SMALL, encoding: 'binary' })
      for (const [i, size] of sizes.entries()) {
        await store.put(`v${i}`, pattern(size, i + 1))
        const got = store.get(`v${i}`) as Buffer
        expect(got.length).toBe(size)
        expect(got.equals(pattern(size, i + 1))).toBe(true)
      }
      await expectVedError(store.put('over', Buffer.alloc(valueSizeBytesMax + 1)), 'EVALUESIZE')
      expect(store.get('over')).toBeUndefined()
      // Ranges over big values work too.
      expect(store.getRange().toArray().map((e) => (e.value as Buffer).length)).toEqual(sizes)
    }
    await using reopened = await Store.open(dir, { ...SMALL, encoding: 'binary' })
    for (const [i, size] of sizes.entries()) {
      expect((reopened.get(`v${i}`) as Buffer).equals(pattern(size, i + 1))).toBe(true)
    }
  })

  it('stores a 1 MiB msgpack string', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    const text = 'x'.repeat(1024 * 1024)
    await store.put('s', { text })
    expect((store.get('s') as { text: string }).text).toBe(text)
  })
})

describe('many keys', () => {
  it('holds 100k keys written in batches', async () => {
    const dir = tempDir()
    const keyCount = 100_000
    const batchSize = 1000
    const key = (i: number): string => `key:${String(i).padStart(6, '0')}`
    {
      await using store = await Store.open(dir, SMALL)
      const pending: Promise<number>[] = []
      for (let start = 0; start < keyCount; start += batchSize) {
        pending.push(
          store.transaction((txn) => {
            for (let i = start; i < start + batchSize; i++) txn.put(key(i), { i })
          }),
        )
      }
      await Promise.all(pending)
      let count = 0
      let previous = ''
      for (const { key: k, value } of store.getRange()) {
        expect((k as string) > previous).toBe(true)
        previous = k as string
        expect((value as { i: number }).i).toBe(count)
        count++
      }
      expect(count).toBe(keyCount)
    }
    await using reopened = await Store.open(dir, SMALL)
    for (let i = 0; i < keyCount; i += 997) expect(reopened.get(key(i))).toEqual({ i })
    expect(reopened.getRange({ reverse: true, limit: 3 }).toArray().map((e) => e.key)).toEqual([key(99_999), key(99_998), key(99_997)])
    expect(reopened.getRange({ start: key(50_000), end: key(50_100) }).toArray().length).toBe(100)
  })
})

describe('reopen', () => {
  it('keeps everything after a clean close', async () => {
    const dir = tempDir()
    const store = await Store.open(dir, SMALL)
    await store.put('a', 1)
    await store.tree('t').put('b', 2)
    void store.put('c', 3) // not awaited: close still waits for it
    const seq = store.stats().seq
    await store.close()
    await using reopened = await Store.open(dir, SMALL)
    expect(reopened.get('a')).toBe(1)
    expect(reopened.get('c')).toBe(3)
    expect(reopened.tree('t').get('b')).toBe(2)
    const stats = reopened.stats()
    expect(stats.seq).toBe(seq)
    expect(stats.durableSeq).toBe(seq)
    expect(stats.recovery.recoveredSeq).toBe(seq)
    // The lock is released: a new writer can open after close.
    const nextSeq = await reopened.put('d', 4)
    expect(nextSeq).toBeGreaterThan(seq)
  })

  it('opens with the directory as a file: URL', async () => {
    const dir = tempDir()
    await using store = await Store.open(new URL(`file://${dir}`), SMALL)
    expect(store.path).toBe(dir)
  })
})

describe('a worker thread that ends with its store open', () => {
  /** Runs fixtures/worker-exit.mjs; resolves with the seq it last awaited and its exit code. */
  function runWorker(dir: string, end: string): Promise<{ durable: number; code: number }> {
    return new Promise((resolve, reject) => {
      let durable = -1
      const worker = new Worker(join(FIXTURES, 'worker-exit.mjs'), { workerData: { dir, options: SMALL, end } })
      worker.on('message', (seq: number) => (durable = seq))
      worker.once('error', reject)
      worker.once('exit', (code) => resolve({ durable, code }))
    })
  }

  for (const end of ['exit', 'return', 'close-exit']) {
    it(`exits cleanly (${end}) and leaves the store to the next writer with what it awaited`, async () => {
      const dir = tempDir()
      const { durable, code } = await runWorker(dir, end)
      expect(code).toBe(0)
      expect(durable).toBeGreaterThan(0)
      await using store = await Store.open(dir, SMALL)
      expect(store.stats().seq).toBeGreaterThanOrEqual(durable)
      expect(store.get('k19')).toBe(19)
    })
  }
})

describe('use after close', () => {
  it('every store method fails with ECLOSED', async () => {
    const store = await Store.open(tempDir(), SMALL)
    await store.put('k', 1)
    const tree = store.tree('t')
    const range = store.getRange()
    const keys = store.getKeys()
    const closing = store.close()
    expect(store.closed).toBe(true)
    // Closed from the moment close() is called.
    expectVedErrorSync(() => store.get('k'), 'ECLOSED')
    await closing
    expectVedErrorSync(() => store.get('k'), 'ECLOSED')
    expectVedErrorSync(() => store.getRange(), 'ECLOSED')
    expectVedErrorSync(() => store.getKeys(), 'ECLOSED')
    expectVedErrorSync(() => range[Symbol.iterator]().next(), 'ECLOSED')
    expectVedErrorSync(() => keys[Symbol.iterator]().next(), 'ECLOSED')
    await expectVedError(store.transaction(() => {}), 'ECLOSED')
    await expectVedError(store.put('k', 2), 'ECLOSED')
    await expectVedError(store.del('k'), 'ECLOSED')
    expectVedErrorSync(() => store.snapshot(), 'ECLOSED')
    await expectVedError(store.flushed, 'ECLOSED')
    expectVedErrorSync(() => store.stats(), 'ECLOSED')
    expectVedErrorSync(() => store.tree('t'), 'ECLOSED')
    expectVedErrorSync(() => tree.get('k'), 'ECLOSED')
    expectVedErrorSync(() => tree.getRange(), 'ECLOSED')
    expectVedErrorSync(() => tree.getKeys(), 'ECLOSED')
    await expectVedError(tree.put('k', 1), 'ECLOSED')
    await expectVedError(tree.del('k'), 'ECLOSED')
    // close is idempotent.
    await store.close()
    await store[Symbol.asyncDispose]()
  })

  it('an iterator started before close hands out nothing after it', async () => {
    const store = await Store.open(tempDir(), SMALL)
    await store.transaction((txn) => {
      for (let i = 0; i < 100; i++) txn.put(`k${String(i).padStart(3, '0')}`, i)
    })
    const storeIterator = store.getRange()[Symbol.iterator]()
    expect(storeIterator.next().value).toEqual({ key: 'k000', value: 0 })
    const snapshot = store.snapshot()
    const snapshotIterator = snapshot.getKeys()[Symbol.iterator]()
    expect(snapshotIterator.next().value).toBe('k000')
    // Both iterators hold pairs fetched ahead of next(): those must not come out either.
    snapshot.close()
    expectVedErrorSync(() => snapshotIterator.next(), 'ECLOSED')
    expect(storeIterator.next().value).toEqual({ key: 'k001', value: 1 })
    await store.close()
    expectVedErrorSync(() => storeIterator.next(), 'ECLOSED')
  })

  it('every snapshot method fails with ECLOSED after its close or the store close', async () => {
    const store = await Store.open(tempDir(), SMALL)
    await store.put('k', 1)
    const snapshot = store.snapshot()
    const range = snapshot.getRange()
    snapshot.close()
    expect(snapshot.closed).toBe(true)
    expectVedErrorSync(() => snapshot.get('k'), 'ECLOSED')
    expectVedErrorSync(() => snapshot.getRange(), 'ECLOSED')
    expectVedErrorSync(() => snapshot.getKeys(), 'ECLOSED')
    expectVedErrorSync(() => range[Symbol.iterator]().next(), 'ECLOSED')
    expectVedErrorSync(() => snapshot.tree('t'), 'ECLOSED')
    snapshot.close()
    snapshot[Symbol.dispose]()

    const open = store.snapshot()
    const openTree = open.tree('t')
    await store.close()
    expect(open.closed).toBe(true)
    expectVedErrorSync(() => open.get('k'), 'ECLOSED')
    expectVedErrorSync(() => openTree.get('k'), 'ECLOSED')
    expectVedErrorSync(() => openTree.getRange(), 'ECLOSED')
    open.close()
  })

  it('every transaction method fails with ECLOSED once the callback returned', async () => {
    await using store = await Store.open(tempDir(), SMALL)
    let escaped: Transaction | null = null
    let escapedTree: TransactionTree | null = null
    await store.transaction((txn) => {
      escaped = txn
      escapedTree = txn.tree('t')
      txn.put('k', 1)
    })
    const txn = escaped!
    expectVedErrorSync(() => txn.put('k', 2), 'ECLOSED')
    expectVedErrorSync(() => txn.del('k'), 'ECLOSED')
    expectVedErrorSync(() => txn.tree('t'), 'ECLOSED')
    expectVedErrorSync(() => escapedTree!.put('k', 2), 'ECLOSED')
    expectVedErrorSync(() => escapedTree!.del('k'), 'ECLOSED')
    expect(store.get('k')).toBe(1)
  })

  it('a transaction whose callback closes the store commits nothing', async () => {
    const store = await Store.open(tempDir(), SMALL)
    let closing: Promise<void> | null = null
    await expectVedError(
      store.transaction((txn) => {
        txn.put('k', 1)
        closing = store.close()
      }),
      'ECLOSED',
    )
    await closing
  })

  it('VedError is what the store throws', async () => {
    const store = await Store.open(tempDir(), SMALL)
    await store.close()
    try {
      store.get('k')
    } catch (error) {
      expect(error).toBeInstanceOf(VedError)
      expect(error).toBeInstanceOf(Error)
      expect((error as VedError).name).toBe('VedError')
      expect((error as VedError).message).toMatch(/^ECLOSED: /)
    }
  })
})

describe('completionWait: false', () => {
  it('commits, reports durable, and reopens like the default (the JS thread sleeps while a sync runs)', async () => {
    const dir = tempDir()
    {
      await using store = await Store.open(dir, { completionWait: false })
      let previous = 0
      for (let i = 0; i < 50; i++) {
        const seq = await store.put(`k${i}`, i)
        expect(seq).toBeGreaterThan(previous)
        expect(store.stats().durableSeq).toBeGreaterThanOrEqual(seq)
        previous = seq
      }
      expect(store.stats().durableSeq).toBe(store.stats().seq)
    }
    await using again = await Store.open(dir)
    expect(again.get('k49')).toBe(49)
  })
})

describe('commitBytes (the runtime commit path)', () => {
  it('commits encoded puts and deletes of several trees atomically, in order, and refuses what a transaction refuses', async () => {
    const { commitBytes } = await import('../lib/store.js')
    const { limits } = await import('../lib/addon.js')
    await using store = await Store.open<Buffer>(tempDir(), { ...SMALL, encoding: 'binary' })
    await store.transaction((txn) => txn.tree('a').put('gone', Buffer.from('x')))
    const seq = await commitBytes(store, [
      ['a', new Map([['k', Buffer.from('v1')], ['gone', null]])],
      ['b', new Map([['k', Buffer.from('v2')]])],
      ['c', new Map()],
    ])
    expect(seq).toBe(store.stats().seq)
    expect(store.tree('a').get('k')).toEqual(Buffer.from('v1'))
    expect(store.tree('a').get('gone')).toBeUndefined()
    expect(store.tree('b').get('k')).toEqual(Buffer.from('v2'))
    const big = Buffer.alloc(limits.valueSizeBytesMax + 1)
    await expectVedError(commitBytes(store, [['a', new Map([['k', Buffer.from('v3')], ['big', big]])]]), 'EVALUESIZE')
    expect(store.tree('a').get('k')).toEqual(Buffer.from('v1'))
    await using msgpack = await Store.open(tempDir(), SMALL)
    await expect(commitBytes(msgpack as unknown as Store<Buffer>, [['a', new Map([['k', Buffer.from('v')]])]])).rejects.toThrow("encoding 'binary'")
  })
})
