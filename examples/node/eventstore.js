// A client of pgeventstore's SQL API for Node.js, on the `pg` driver.
//
// Every call is one SQL statement on an eventstore.* function: the database checks every
// rule, so this module only passes arguments, turns rows into objects and turns the
// store's SQLSTATEs into errors a caller can branch on. Nothing here re-checks what the
// SQL enforces.

/** Base of every error the store reports; `sqlstate` is the database's code. */
export class EventStoreError extends Error {
  constructor(message, { sqlstate, detail = null, hint = null, cause = undefined }) {
    super(message, { cause });
    this.name = this.constructor.name;
    this.sqlstate = sqlstate;
    this.detail = detail;
    this.hint = hint;
  }
}

/** ES400: an argument is malformed or out of range; nothing was written. */
export class InvalidArgument extends EventStoreError {}

/** ES404: what the call names does not exist (e.g. a cursor that names no event). */
export class NotFound extends EventStoreError {}

/**
 * ES409: the stream is not at the expected version. `actualVersion` is where it is now
 * (-1: no events), or null when the append ran in a REPEATABLE READ or SERIALIZABLE
 * transaction whose snapshot cannot see the newer version: retry in a new transaction.
 */
export class WrongExpectedVersion extends EventStoreError {
  constructor(message, options) {
    super(message, options);
    // The DETAIL of ES409 is a JSON object, the part of the error meant for programs.
    const detail = JSON.parse(options.detail);
    this.streamId = detail.stream_id;
    this.expectedVersion = detail.expected_version;
    this.actualVersion = detail.actual_version;
  }
}

/** ES412: an event id is already stored for another event. */
export class DuplicateEventId extends EventStoreError {
  constructor(message, options) {
    super(message, options);
    const detail = JSON.parse(options.detail);
    this.eventId = detail.event_id;
    this.streamId = detail.stream_id;
  }
}

/**
 * ES419: the log no longer has, at the cursor's log number, the event the cursor was taken
 * at (a failover that lost commits, a restore of an older backup): continuing would skip
 * or repeat events. Rebuild what was built from the log, from an earlier point.
 */
export class LogDiverged extends EventStoreError {
  constructor(message, options) {
    super(message, options);
    const detail = JSON.parse(options.detail);
    this.logNumber = detail.log_number;
    this.expectedEventId = detail.expected_event_id;
    this.actualEventId = detail.actual_event_id;
  }
}

/** ES423: stored events are immutable. */
export class EventsImmutable extends EventStoreError {}

const ERRORS = {
  ES400: InvalidArgument,
  ES404: NotFound,
  ES409: WrongExpectedVersion,
  ES412: DuplicateEventId,
  ES419: LogDiverged,
  ES423: EventsImmutable,
};

/** The store's error for a `pg` error, or the error itself when it is not the store's. */
export function translate(error) {
  const Kind = ERRORS[error?.code];
  if (!Kind) return error;
  return new Kind(error.message, { sqlstate: error.code, detail: error.detail, hint: error.hint, cause: error });
}

async function query(client, text, values) {
  try {
    return await client.query(text, values);
  } catch (error) {
    throw translate(error);
  }
}

// bigint arrives as text from `pg`; versions and log numbers stay far below 2^53.
function toNumber(text) {
  if (text === null || text === undefined) return null;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${text}`);
  return value;
}

function recordedEvent(row) {
  return {
    streamId: row.stream_id,
    version: toNumber(row.version),
    eventId: row.event_id,
    type: row.event_type,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
  };
}

function logEvent(row) {
  return { logNumber: toNumber(row.log_number), ...recordedEvent(row) };
}

/** Expected versions with a meaning of their own (a number n >= 0 means "exactly n"). */
export const ANY = null;
export const NO_STREAM = -1;
export const STREAM_EXISTS = -2;

/**
 * Append `events` ([{type, data, metadata?, id?}]) to `streamId`, all or nothing, if the
 * stream is at `expectedVersion`. Returns the stream's new version.
 */
export async function appendToStream(client, streamId, expectedVersion, events) {
  const result = await query(client, "select * from eventstore.append_to_stream($1, $2, $3::jsonb)", [
    streamId,
    expectedVersion,
    JSON.stringify(events),
  ]);
  return toNumber(result.rows[0].stream_version);
}

/** Up to `maxCount` events of `streamId` from `fromVersion` on, in version order. */
export async function readStream(client, streamId, { fromVersion = 0, maxCount = 1000 } = {}) {
  const result = await query(
    client,
    "select * from eventstore.read_stream(stream_id => $1, from_version => $2, max_count => $3)",
    [streamId, fromVersion, maxCount],
  );
  return result.rows.map(recordedEvent);
}

/** The cursor before the first event of the global log. */
export const START = Object.freeze({ after: 0, afterEventId: null });

/**
 * Up to `maxCount` events of the global log after `cursor`, in log order. A cursor is the
 * log number of the last event the caller was given and that event's id: the store then
 * refuses with LogDiverged (ES419) a cursor whose number no longer names that event.
 */
export async function readAll(client, cursor = START, { maxCount = 1000 } = {}) {
  const result = await query(
    client,
    "select * from eventstore.read_all(after => $1, max_count => $2, after_event_id => $3)",
    [cursor.after, maxCount, cursor.afterEventId],
  );
  return result.rows.map(logEvent);
}

/**
 * Read the global log from `cursor` until caught up (an empty page), giving each event to
 * `handle` in log order. Returns the cursor to continue from later: keep it where
 * `handle` keeps its results (or in eventstore.save_checkpoint) to resume there.
 */
export async function follow(client, { cursor = START, pageSize = 1000, handle }) {
  let position = cursor;
  for (;;) {
    const page = await readAll(client, position, { maxCount: pageSize });
    if (page.length === 0) return position;
    for (const event of page) {
      await handle(event);
      position = { after: event.logNumber, afterEventId: event.eventId };
    }
  }
}
