// The runtime at the engine's size limits: a payload, a state value or a whole slice over
// a limit fails alone with a coded error and changes nothing, while other domains' slices
// in the same drain commit; a slice too big to keep twice is journaled without its values.
import { describe, expect, it } from 'vitest'
import { defineDomain, map, Runtime } from '../lib/index.js'
import { limits } from '../lib/addon.js'
import { expectVedError, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const MIB = 1024 * 1024

const Blob = defineDomain({
  name: 'blob',
  version: 1,
  state: { data: null as Buffer | null, n: 0, parts: map<string, Buffer>() },
  on: {
    store(s, p: { bytes: number }) {
      s.data = Buffer.alloc(p.bytes, 7)
      s.n++
      return s.n
    },
    spread(s, p: { parts: number; bytes: number }) {
      for (let i = 0; i < p.parts; i++) s.parts.set(`p${i}`, Buffer.alloc(p.bytes, i))
      s.n++
    },
    bump(s) {
      s.n++
      return s.n
    },
  },
  effects: {},
})

describe('runtime size limits', () => {
  it('refuses a payload over the value limit at send (EVALUESIZE), before it is queued', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Blob], store: SMALL })
    const blob = rt.domain(Blob, 'a')
    await expectVedError(blob.send('bump', Buffer.alloc(limits.valueSizeBytesMax + 1) as never), 'EVALUESIZE')
    expect(await blob.send('bump', undefined)).toBe(1)
  })

  it('fails a slice whose state value is over the limit (EVALUESIZE) alone; the drain commits the others', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Blob], store: SMALL })
    const big = rt.domain(Blob, 'big')
    const other = rt.domain(Blob, 'other')
    await big.send('bump', undefined)
    const [failed, ok] = await Promise.allSettled([big.send('store', { bytes: limits.valueSizeBytesMax + 16 }), other.send('bump', undefined)])
    expect(failed.status).toBe('rejected')
    expect((failed as PromiseRejectedResult).reason).toMatchObject({ code: 'EVALUESIZE' })
    expect(ok).toEqual({ status: 'fulfilled', value: 1 })
    expect(big.state.n).toBe(1)
    expect(big.state.data).toBeNull()
    const entries = rt.journal.slices('blob', 'big').entries
    expect(entries.map((e) => [e.intent.type, e.error?.code ?? null, e.changes.length])).toEqual([
      ['bump', null, 1],
      ['store', 'EVALUESIZE', 0],
    ])
  })

  it('fails a slice that writes more than a slice may (ETXNSIZE) and keeps the state as it was', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Blob], store: { segmentSizeBytes: 64 * MIB } })
    const wide = rt.domain(Blob, 'wide')
    const parts = Math.ceil(limits.txnSizeBytesMax / 4 / MIB) + 1
    await expectVedError(wide.send('spread', { parts, bytes: MIB }), 'ETXNSIZE')
    expect(wide.state.parts.size).toBe(0)
    expect(wide.state.n).toBe(0)
    // 8 MiB commits; its journal entry, over keepBytes (1 MiB by default), keeps no values.
    await wide.send('spread', { parts: 8, bytes: MIB })
    expect(wide.state.parts.size).toBe(8)
    expect(rt.journal.slices('blob', 'wide').entries.map((e) => [e.error?.code ?? null, e.valuesOmitted])).toEqual([
      ['ETXNSIZE', false],
      [null, true],
    ])
    await rt.close()
    await using again = await Runtime.open({ path: rt.store.path, domains: [Blob], store: { segmentSizeBytes: 64 * MIB } })
    expect(again.domain(Blob, 'wide').state.parts.get('p7')!.equals(Buffer.alloc(MIB, 7))).toBe(true)
  })

  it('journals a slice too big to keep twice without its values', async () => {
    await using rt = await Runtime.open({ path: tempDir(), domains: [Blob], store: SMALL })
    const blob = rt.domain(Blob, 'j')
    await blob.send('store', { bytes: 100 })
    await blob.send('store', { bytes: 2 * MIB })
    await blob.send('bump', undefined)
    const [small, large, bump] = rt.journal.slices('blob', 'j').entries
    expect(small!.valuesOmitted).toBe(false)
    expect(small!.changes.find((c) => c.path === 'data')!.after).toEqual(Buffer.alloc(100, 7))
    expect(large!.valuesOmitted).toBe(true)
    expect(large!.reply).toBeUndefined()
    expect(large!.changes.map((c) => [c.path, c.before, c.after])).toEqual([
      ['data', undefined, undefined],
      ['n', undefined, undefined],
    ])
    expect(bump!.valuesOmitted).toBe(false)
    expect(rt.journal.stateAt('blob', 'j', 2).state).toMatchObject({ n: 2 })
    expect(rt.journal.stateAt('blob', 'j', 1)).toEqual({ state: null, reason: 'omitted' })
  })
})
