// Times the native commit call (addon.commit: the seal on the JS thread) by wrapping it, for
// benchmarks that take a slice's blocked time apart. Only after start(), so warm-up and setup
// commits stay out (and after stop(), what follows); samples are in milliseconds.
import { addon } from '../dist/addon.js'

export function timeNativeCommits() {
  const samples = []
  let timing = false
  const commit = addon.commit
  addon.commit = (...args) => {
    if (!timing) return commit(...args)
    const started = performance.now()
    const seq = commit(...args)
    samples.push(performance.now() - started)
    return seq
  }
  return {
    samples,
    start() {
      timing = true
    },
    stop() {
      timing = false
    },
  }
}
