// Value conversion between JavaScript and Neo4j, done in one place.
//
// Neo4j integers are 64-bit; the driver returns them as `Integer` objects. `toPlain` turns every one
// into a JS number and throws if it does not fit exactly. JS numbers sent as parameters arrive in Neo4j
// as FLOATs, so integer-valued properties (layer, featureIndex, counts) must be wrapped with `int()`.
import neo4j, {
  type Integer,
  isDate,
  isDateTime,
  isDuration,
  isLocalDateTime,
  isLocalTime,
  isNode,
  isPath,
  isPoint,
  isRelationship,
  isTime,
} from "neo4j-driver";
import { IntegerOverflowError } from "./errors.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Wraps a JS integer so it is stored as a Neo4j INTEGER (a bare JS number is stored as FLOAT). */
export function int(value: number | bigint): Integer {
  if (typeof value === "bigint") {
    if (value < INT64_MIN || value > INT64_MAX) throw new IntegerOverflowError(`${value} does not fit in 64 bits`);
    return neo4j.int(value.toString());
  }
  if (!Number.isSafeInteger(value)) {
    throw new IntegerOverflowError(`int() needs a safe integer, got ${value}`);
  }
  return neo4j.int(value);
}

/** A Neo4j Integer (or a plain number/bigint) as a JS number; throws IntegerOverflowError outside ±(2^53−1). */
export function toNumber(value: Integer | number | bigint): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new IntegerOverflowError(`${value} is outside the safe integer range`);
    return n;
  }
  if (!value.inSafeRange()) throw new IntegerOverflowError(`${value.toString()} is outside the safe integer range`);
  return value.toNumber();
}

/**
 * Deep-converts a value read from the driver into plain JSON-like data: Integer → number (checked),
 * temporal values and durations → ISO-8601 strings, nodes and relationships → their property maps,
 * paths → { nodes, relationships }, points → { srid, x, y, z? }. Floats, strings, booleans, null,
 * lists and maps keep their shape. Return maps (`n {.*}`) or scalars from Cypher to keep it obvious.
 */
export function toPlain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object") return value;
  if (neo4j.isInt(value)) return toNumber(value as Integer);
  if (Array.isArray(value)) return value.map(toPlain);
  if (isNode(value) || isRelationship(value)) return toPlain(value.properties);
  if (isPath(value)) {
    const nodes = [value.start, ...value.segments.map((s) => s.end)];
    return { nodes: nodes.map(toPlain), relationships: value.segments.map((s) => toPlain(s.relationship)) };
  }
  if (isPoint(value)) {
    const p: Record<string, number> = { srid: toNumber(value.srid), x: value.x, y: value.y };
    if (value.z !== undefined) p.z = value.z;
    return p;
  }
  if (
    isDate(value) ||
    isDateTime(value) ||
    isLocalDateTime(value) ||
    isTime(value) ||
    isLocalTime(value) ||
    isDuration(value)
  ) {
    return value.toString();
  }
  if (value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
  return out;
}
