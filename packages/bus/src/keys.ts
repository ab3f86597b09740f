/**
 * Redis key layout of the bus. Every key starts with a configurable prefix so services,
 * environments and test files can share one Redis. `{...}` parts are Redis Cluster hash
 * tags: a stream and its dead-letter stream (and all keys of one BullMQ queue) live in the
 * same slot, so MULTI over them stays legal on a cluster.
 */
export type Keyspace = {
  readonly prefix: string;
  /** The stream a topic's events travel on. */
  stream(topic: string): string;
  /** Where entries that failed too often or could not be parsed are parked. */
  deadLetters(topic: string): string;
  /** BullMQ `prefix` and queue name for a job queue: keys `${prefix}:jobs:{name}:...`. */
  queue(name: string): { prefix: string; name: string };
};

const SAFE_PART = /^[A-Za-z0-9._-]+$/;

function checkPart(kind: string, value: string): string {
  // Braces or colons inside a part would move the hash tag or collide with other keys.
  if (!SAFE_PART.test(value))
    throw new TypeError(`${kind} "${value}" may only contain letters, digits, '.', '_', '-'`);
  return value;
}

/** Builds the key names of the bus under `prefix` (e.g. "perseus", or a test's private prefix). */
export function createKeyspace(prefix: string): Keyspace {
  if (!prefix || /[{}\s]/.test(prefix)) throw new TypeError(`invalid Redis key prefix "${prefix}"`);
  return {
    prefix,
    stream: (topic) => `${prefix}:events:{${checkPart("topic", topic)}}`,
    deadLetters: (topic) => `${prefix}:events:{${checkPart("topic", topic)}}:dlq`,
    // BullMQ forbids ':' in queue names; the braces make each queue its own cluster slot.
    queue: (name) => ({ prefix: `${prefix}:jobs`, name: `{${checkPart("queue", name)}}` }),
  };
}
