// Where engine modules send their events. A sink stamps each event with its run id, a
// per-run sequence number and the time, so producers only say what happened.
import { engineEvent, type EngineEvent, type EventBody } from '../../protocol/events.js';

export interface EventSink {
  emit(event: EventBody): void;
}

/** Stamps events for one run and hands them to `deliver` (a Redis stream, a test's array…). */
export class RunEvents implements EventSink {
  private seq = 0;

  constructor(
    readonly runId: string,
    private readonly deliver: (event: EngineEvent) => void,
    startSeq = 0,
  ) {
    this.seq = startSeq;
  }

  emit(body: EventBody): void {
    // Validated here so a malformed event fails where it is made, not in a browser.
    const event = engineEvent.parse({ ...body, runId: this.runId, seq: this.seq++, at: new Date().toISOString() });
    this.deliver(event);
  }
}

/** Collects events in memory: for tests and the command line. */
export class CollectedEvents extends RunEvents {
  readonly events: EngineEvent[] = [];

  constructor(runId = 'local', onEvent?: (event: EngineEvent) => void) {
    super(runId, (e) => {
      this.events.push(e);
      onEvent?.(e);
    });
  }

  ofType<T extends EngineEvent['type']>(type: T): Extract<EngineEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<EngineEvent, { type: T }> => e.type === type);
  }
}

export const noEvents: EventSink = { emit() {} };
