// DomainHandle: what runtime.domain(definition, key) returns. Holds no state of its own:
// send() goes through the runtime, `state` reads the store.
import type { DomainDefinition, PayloadOf, ReplyOf, StateView } from './domain.js'

export interface SendOptions {
  /**
   * Idempotency key: a send repeated with an id already applied is not applied again and
   * resolves (or rejects) as the first did, while the domain remembers that reply.
   */
  id?: string
}

export type HandlersOf<D> = D extends DomainDefinition<any, any, infer H, any> ? H : never
export type StateOf<D> = D extends DomainDefinition<any, infer S, any, any> ? S : never

/** Payload optional when the handler takes none (or accepts undefined). */
export type SendArgs<P> = unknown extends P
  ? [payload?: P, options?: SendOptions]
  : undefined extends P
    ? [payload?: P, options?: SendOptions]
    : [payload: P, options?: SendOptions]

export type Reply<H> = Awaited<ReplyOf<H>>

/**
 * Where the runtime keeps the handle's domain instance between sends, so that a send does not
 * look it up by name (not exported from the package: only the runtime reads or writes it).
 */
export const INSTANCE_SLOT = Symbol('DomainHandle.instance')

/** The runtime side of a handle (implemented by Runtime). */
export interface HandleHost {
  send(handle: DomainHandle, type: string, payload: unknown, options: SendOptions | undefined): Promise<unknown>
  state(definition: DomainDefinition, key: string): Record<string, unknown>
}

export class DomainHandle<D extends DomainDefinition = DomainDefinition> {
  readonly definition: D
  readonly key: string
  readonly #host: HandleHost
  /** The runtime's instance of this domain when last sent to; the runtime checks it is still cached. */
  [INSTANCE_SLOT]: unknown = null

  /** Made by runtime.domain() only. */
  constructor(host: HandleHost, definition: D, key: string) {
    this.#host = host
    this.definition = definition
    this.key = key
  }

  get name(): D['name'] {
    return this.definition.name
  }

  /**
   * Sends intent `type`; resolves with the handler's reply once the slice is durable, rejects
   * with the handler's error (or a VedError for bad input: nothing is enqueued then).
   */
  send<T extends keyof HandlersOf<D> & string>(type: T, ...args: SendArgs<PayloadOf<HandlersOf<D>[T]>>): Promise<Reply<HandlersOf<D>[T]>>
  // Plain parameters behind the typed signature: a rest array per send was garbage per send.
  send(type: string, payload?: unknown, options?: SendOptions): Promise<unknown> {
    return this.#host.send(this as DomainHandle, type, payload, options)
  }

  /** A read-only view of the newest sealed state; map() fields read as get/has/size/keys/values/entries. */
  get state(): StateView<StateOf<D>> {
    return this.#host.state(this.definition, this.key) as StateView<StateOf<D>>
  }
}
