// Opt-in measurement of the time the execution thread spends on persistence, for
// bench/runtime.js: per slice, from the handler's return to the end of the slice's writes
// into PendingWrites; per commit, the commit call (encode ops + native seal: commitBytes).
// Off by default: then no clock is read and nothing is recorded.
export interface SliceTiming {
  enabled: boolean
  /** ms per slice: handler returned -> delta encoded and written to PendingWrites. */
  readonly sliceMs: number[]
  /** ms per commit: the commit call of one drain (PendingWrites.commit). */
  readonly commitMs: number[]
  /** Slices in each commit (same index as commitMs). */
  readonly commitSlices: number[]
}

export const sliceTiming: SliceTiming = { enabled: false, sliceMs: [], commitMs: [], commitSlices: [] }

export function resetSliceTiming(enabled: boolean): void {
  sliceTiming.enabled = enabled
  sliceTiming.sliceMs.length = 0
  sliceTiming.commitMs.length = 0
  sliceTiming.commitSlices.length = 0
}
