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

/** The parts of a journal compaction step, in the order it runs them (JournalWriter#stepWork). */
export const STEP_PHASES = ['backlog', 'cursor', 'waiting', 'lingering', 'flush'] as const
export type StepPhase = (typeof STEP_PHASES)[number]

/**
 * Opt-in measurement of each compaction step's parts, for bench/journal-steps.js: ms per step
 * and part (one sample per step in each array). Off by default: then no clock is read.
 */
export interface StepTiming {
  enabled: boolean
  readonly phaseMs: Record<StepPhase, number[]>
}

export const stepTiming: StepTiming = { enabled: false, phaseMs: { backlog: [], cursor: [], waiting: [], lingering: [], flush: [] } }

export function resetStepTiming(enabled: boolean): void {
  stepTiming.enabled = enabled
  for (const phase of STEP_PHASES) stepTiming.phaseMs[phase].length = 0
}

/** Records the time since `sinceMs` for `phase`; returns now, the next part's start. */
export function markStepPhase(phase: StepPhase, sinceMs: number): number {
  const nowMs = performance.now()
  stepTiming.phaseMs[phase].push(nowMs - sinceMs)
  return nowMs
}
