// Model-based property test: random sequences of puts, deletes, transactions (some aborted),
// named-tree writes, snapshots, bulk loads and reopens, checked against an in-memory Map.
// fast-check prints the seed and the shrunk sequence of a failure; replay with VED_MODEL_SEED.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Store, type Snapshot } from '../lib/index.js'
import { compareKeys, SMALL, tempDirs } from './helpers.js'

const tempDir = tempDirs()
const TREES = ['', 'a', 'b'] as const
type TreeName = (typeof TREES)[number]
type Model = Map<TreeName, Map<string, unknown>>

type WriteOp =
  | { kind: 'put'; tree: TreeName; key: string; value: unknown }
  | { kind: 'del'; tree: TreeName; key: string }

type Op =
  | { kind: 'write'; op: WriteOp; awaited: boolean }
  | { kind: 'txn'; ops: WriteOp[]; abort: boolean; awaited: boolean }
  | { kind: 'bulk'; prefix: string; count: number }
  | { kind: 'snapshot' }
  | { kind: 'check' }
  | { kind: 'reopen' }

const keyArb = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', '\0', 'é', '\u{1F600}'), minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 5000 }).map((i) => `bulk${String(i).padStart(5, '0')}`) },
  { weight: 1, arbitrary: fc.constantFrom('L'.repeat(Store.limits.keySizeBytesMax), 'L'.repeat(Store.limits.keySizeBytesMax - 1)) },
)

const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer() },
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 'héllo \u{1F600}', 1.5) },
  { weight: 2, arbitrary: fc.array(fc.integer(), { maxLength: 6 }) },
  { weight: 2, arbitrary: fc.record({ a: fc.integer(), b: fc.string({ maxLength: 8 }), c: fc.array(fc.boolean(), { maxLength: 3 }) }) },
  // Large values: overflow pages, occasionally ~100 KB.
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 100_000 }).map((n) => ({ big: 'v'.repeat(n) })) },
)

const treeArb = fc.constantFrom<TreeName>(...TREES)
const writeOpArb: fc.Arbitrary<WriteOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), tree: treeArb, key: keyArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('del' as const), tree: treeArb, key: keyArb }) },
)

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('write' as const), op: writeOpArb, awaited: fc.boolean() }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('txn' as const),
      ops: fc.array(writeOpArb, { minLength: 0, maxLength: 12 }),
      abort: fc.integer({ min: 0, max: 4 }).map((n) => n === 0), // one in five aborts
      awaited: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bulk' as const), prefix: fc.constantFrom('bulk', 'm'), count: fc.integer({ min: 100, max: 5000 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'check' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
)

function emptyModel(): Model {
  return new Map(TREES.map((tree) => [tree, new Map<string, unknown>()]))
}

function copyModel(model: Model): Model {
  return new Map([...model].map(([tree, entries]) => [tree, new Map(entries)]))
}

function applyToModel(model: Model, op: WriteOp): void {
  const entries = model.get(op.tree)!
  if (op.kind === 'put') entries.set(op.key, op.value)
  else entries.delete(op.key)
}

function sortedEntries(entries: Map<string, unknown>): { key: string; value: unknown }[] {
  return [...entries].sort(([a], [b]) => compareKeys(a, b)).map(([key, value]) => ({ key, value }))
}

interface Reader {
  get(key: string): unknown
  getRange(options?: object): Iterable<{ key: unknown; value: unknown }>
}

function treeReader(source: Store | Snapshot, tree: TreeName): Reader {
  return tree === '' ? source : source.tree(tree)
}

function expectMatches(source: Store | Snapshot, model: Model): void {
  for (const tree of TREES) {
    const reader = treeReader(source, tree)
    const expected = sortedEntries(model.get(tree)!)
    expect(Array.from(reader.getRange())).toEqual(expected)
    expect(Array.from(reader.getRange({ reverse: true, limit: 5 }))).toEqual([...expected].reverse().slice(0, 5))
    for (const { key, value } of expected.slice(0, 20)) expect(reader.get(key)).toEqual(value)
  }
}

async function runSequence(ops: Op[]): Promise<void> {
  const dir = tempDir()
  const open = (): Promise<Store> => Store.open(dir, SMALL)
  let store = await open()
  const model = emptyModel()
  let pending: Promise<number>[] = []
  let snapshots: { snapshot: Snapshot; frozen: Model }[] = []
  const settle = async (): Promise<void> => {
    await Promise.all(pending)
    pending = []
  }
  try {
    for (const op of ops) {
      switch (op.kind) {
        case 'write': {
          const reader = op.op.tree === '' ? store : store.tree(op.op.tree)
          const promise = op.op.kind === 'put' ? reader.put(op.op.key, op.op.value) : reader.del(op.op.key)
          applyToModel(model, op.op)
          if (op.awaited) await promise
          else pending.push(promise)
          break
        }
        case 'txn': {
          const abort = new Error('abort')
          const promise = store.transaction((txn) => {
            for (const write of op.ops) {
              const target = write.tree === '' ? txn : txn.tree(write.tree)
              if (write.kind === 'put') target.put(write.key, write.value)
              else target.del(write.key)
            }
            if (op.abort) throw abort
          })
          if (op.abort) {
            await expect(promise).rejects.toBe(abort)
          } else {
            for (const write of op.ops) applyToModel(model, write)
            if (op.awaited) await promise
            else pending.push(promise)
          }
          break
        }
        case 'bulk': {
          const promise = store.transaction((txn) => {
            for (let i = 0; i < op.count; i++) txn.put(`${op.prefix}${String(i).padStart(5, '0')}`, i)
          })
          for (let i = 0; i < op.count; i++) model.get('')!.set(`${op.prefix}${String(i).padStart(5, '0')}`, i)
          pending.push(promise)
          break
        }
        case 'snapshot':
          snapshots.push({ snapshot: store.snapshot(), frozen: copyModel(model) })
          break
        case 'check':
          expectMatches(store, model)
          for (const { snapshot, frozen } of snapshots) expectMatches(snapshot, frozen)
          break
        case 'reopen':
          await settle()
          for (const { snapshot } of snapshots) snapshot.close()
          snapshots = []
          await store.close()
          store = await open()
          expectMatches(store, model)
          break
      }
    }
    await settle()
    expectMatches(store, model)
    for (const { snapshot, frozen } of snapshots) expectMatches(snapshot, frozen)
    // Page by page, the final version is sound: checksums, key order, counts, live bytes.
    const report = await store.verify()
    expect(report.errors).toEqual([])
    expect(report.ok).toBe(true)
  } finally {
    await Promise.allSettled(pending)
    await store.close()
  }
}

describe('model-based', () => {
  it('the store behaves like a Map under random operation sequences', async () => {
    const seed = process.env['VED_MODEL_SEED'] === undefined ? undefined : Number(process.env['VED_MODEL_SEED'])
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        await runSequence(ops)
      }),
      { numRuns: 150, ...(seed === undefined ? {} : { seed }) },
    )
  })
})
