// Read workloads, ved against lmdb on the same loaded keys.
//
// (a) Random get: each tinybench iteration does GETS_PER_ITERATION `get`s of existing keys
//     in a fixed pseudo-random order (the same order for both stores), decoding each value.
//     Units: gets per second (GETS_PER_ITERATION / mean iteration time). Goal: ved >= lmdb
//     (target 1.5x).
// (c) Full ordered scan: iterate `getRange({})` over every key, reading key and value, and
//     check the count. Units: pairs per second (keyCount / median scan time). Goal: ved >= lmdb.
// Both run ved and lmdb alternately in rounds (ved, lmdb, ved, lmdb, ...), so neither
// always goes first.
// Machine: as printed in the report header (see lib.js machineInfo).
import { assert, fmtOps, fmtRatio, mean, measureInterleaved, met, percentile } from './lib.js'

/** Batches gets so one sample (~100 us or more) sits far above the timer's resolution. */
const GETS_PER_ITERATION = 1000

function randomGetTask(name, get, keys, { order, mask }) {
  let cursor = 0
  return () => {
    for (let j = 0; j < GETS_PER_ITERATION; j++) {
      const key = keys[order[cursor++ & mask]]
      if (get(key) === undefined) throw new Error(`${name}: get(${key}) returned undefined`)
    }
  }
}

export async function benchRandomGet({ ved, lmdb, keys, order, config }) {
  const samples = await measureInterleaved(
    {
      ved: randomGetTask('ved', (k) => ved.get(k), keys, order),
      lmdb: randomGetTask('lmdb', (k) => lmdb.get(k), keys, order),
    },
    { rounds: config.rounds, timeMs: config.throughputTimeMs, warmupTimeMs: 500 },
  )
  const opsPerSecond = {
    ved: (GETS_PER_ITERATION * 1000) / mean(samples.ved),
    lmdb: (GETS_PER_ITERATION * 1000) / mean(samples.lmdb),
  }
  const ratio = opsPerSecond.ved / opsPerSecond.lmdb
  return [
    {
      id: 'a',
      workload: `random get, ${keys.length.toLocaleString('en')} keys`,
      ved: fmtOps(opsPerSecond.ved, 'gets'),
      reference: `lmdb ${fmtOps(opsPerSecond.lmdb, 'gets')}`,
      ratio: `${fmtRatio(ratio)} lmdb throughput`,
      goal: '>= 1x (target 1.5x)',
      met: met(ratio >= 1),
    },
  ]
}

function scanTask(name, getRange, keyCount) {
  return () => {
    let count = 0
    let bytes = 0
    for (const { key, value } of getRange()) {
      count++
      bytes += key.length + value.length
    }
    if (count !== keyCount) throw new Error(`${name}: scan saw ${count} pairs, expected ${keyCount}`)
    return bytes
  }
}

export async function benchScan({ ved, lmdb, keys, config }) {
  const samples = await measureInterleaved(
    {
      ved: scanTask('ved', () => ved.getRange({}), keys.length),
      lmdb: scanTask('lmdb', () => lmdb.getRange({}), keys.length),
    },
    { rounds: config.scanIterations, iterations: config.scanIterations, warmupIterations: 1, warmupTimeMs: 0 },
  )
  const pairsPerSecond = {
    ved: (keys.length * 1000) / percentile(samples.ved, 0.5),
    lmdb: (keys.length * 1000) / percentile(samples.lmdb, 0.5),
  }
  assert(pairsPerSecond.ved > 0, 'scan measured')
  const ratio = pairsPerSecond.ved / pairsPerSecond.lmdb
  return [
    {
      id: 'c',
      workload: `full ordered scan (getRange), ${keys.length.toLocaleString('en')} keys, median of ${config.scanIterations}`,
      ved: fmtOps(pairsPerSecond.ved, 'pairs'),
      reference: `lmdb ${fmtOps(pairsPerSecond.lmdb, 'pairs')}`,
      ratio: `${fmtRatio(ratio)} lmdb throughput`,
      goal: '>= 1x',
      met: met(ratio >= 1),
    },
  ]
}
