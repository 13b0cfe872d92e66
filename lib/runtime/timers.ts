// TimerSet: the in-memory alarms of durable timers. The timer itself is a stored key; an
// alarm only says when to look at it. An alarm is armed after the slice that set the timer
// is durable (or by the resume scan), and a fired timer whose key is gone (cancelled) is
// ignored by the slice that would have run it.
//
// Invariants:
// - One alarm per timer key; arming it again replaces the old one.
// - Delays beyond setTimeout's limit (~24.8 days) re-arm in steps instead of overflowing
//   (an overflowing delay fires at once).
const DELAY_MS_MAX = 2 ** 31 - 1

export class TimerSet {
  readonly #alarms = new Map<string, NodeJS.Timeout>()
  readonly #fire: (key: string) => void

  constructor(fire: (key: string) => void) {
    this.#fire = fire
  }

  get size(): number {
    return this.#alarms.size
  }

  arm(key: string, due: number): void {
    this.disarm(key)
    const delay = Math.max(0, due - Date.now())
    const alarm = setTimeout(() => {
      this.#alarms.delete(key)
      if (delay > DELAY_MS_MAX) this.arm(key, due)
      else this.#fire(key)
    }, Math.min(delay, DELAY_MS_MAX))
    this.#alarms.set(key, alarm)
  }

  disarm(key: string): void {
    const alarm = this.#alarms.get(key)
    if (alarm === undefined) return
    clearTimeout(alarm)
    this.#alarms.delete(key)
  }

  clear(): void {
    for (const alarm of this.#alarms.values()) clearTimeout(alarm)
    this.#alarms.clear()
  }
}
