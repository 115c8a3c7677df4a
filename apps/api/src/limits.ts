// Query limits, checked after parsing and validation and before any resolver runs: depth (longest
// chain of nested selections, fragments expanded) and cost (graphql-query-complexity with per-field
// costs multiplied by `first`). Page sizes are checked per argument (`page`).
import type { ApolloServerPlugin } from "@apollo/server";
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  isLeafType,
  isListType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import { type ComplexityEstimator, getComplexity } from "graphql-query-complexity";
import { badInput, tooComplex } from "./errors.ts";

/**
 * Expected sizes of lists without a `first` argument (upper estimates for the atlas's data).
 * Connections' `edges` count 1: their size is the connection's `first`.
 */
const LIST_SIZE: Record<string, number> = {
  "SearchConnection.edges": 1,
  "GraphConnection.edges": 1,
  "Graph.nodes": 500,
  "Graph.edges": 2000,
  "Graph.targetLogits": 10,
  "Circuit.nodes": 1,
  "Circuit.edges": 1,
  "Path.nodes": 6,
  "Path.edges": 5,
  "Feature.labelHistory": 10,
  "Feature.quantileExamples": 10,
  "QuantileGroup.examples": 10,
  "Feature.causalEffects": 20,
  "Query.features": 1,
};
const DEFAULT_LIST_SIZE = 10;

/**
 * Cost of one field: 0 for a scalar, 1 for an object (+ its children), × the list size / `first`.
 * A `first` above `maxPage` is refused here already (BAD_USER_INPUT naming the argument).
 */
export const estimator =
  (maxPage: number): ComplexityEstimator =>
  ({ type, field, args, childComplexity }) => {
    if (typeof args.first === "number" && (args.first > maxPage || args.first < 0)) {
      throw badInput(`\`first\` of ${type.name}.${field.name} is ${args.first}; it must be 0–${maxPage}`, "first", 400);
    }
    const named = getNamedType(field.type);
    const list = isListType(getNullableType(field.type));
    if (isLeafType(named)) return list ? 1 : 0;
    let size: number;
    if (type.name === "Query" && field.name === "circuit") {
      const first = Math.max(0, num(args.first, 10));
      const depth = Math.max(0, num(args.depth, 2));
      size = Math.min(first ** depth, 1000);
    } else if (type.name === "Query" && field.name === "features") {
      size = Array.isArray(args.ids) ? args.ids.length : 1;
    } else if (typeof args.first === "number") size = Math.max(0, args.first);
    else size = list ? (LIST_SIZE[`${type.name}.${field.name}`] ?? DEFAULT_LIST_SIZE) : 1;
    return size * (1 + childComplexity);
  };

const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);

/** Longest chain of nested field selections (introspection subtrees excluded: the schema bounds them). */
export function queryDepth(doc: DocumentNode, op: OperationDefinitionNode): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const visit = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
    if (!set) return 0;
    let best = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        if (s.name.value.startsWith("__")) continue;
        best = Math.max(best, s.selectionSet ? 1 + visit(s.selectionSet, seen) : 1);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        best = Math.max(best, visit(s.selectionSet, seen));
      } else {
        const name = s.name.value;
        const f = fragments.get(name);
        if (!f || seen.has(name)) continue;
        best = Math.max(best, visit(f.selectionSet, new Set([...seen, name])));
      }
    }
    return best;
  };
  return visit(op.selectionSet, new Set());
}

export interface LimitOptions {
  maxDepth: number;
  maxCost: number;
  maxPage: number;
}

export function limitsPlugin(schema: GraphQLSchema, o: LimitOptions): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation }) {
          if (!operation) return;
          const depth = queryDepth(document, operation);
          if (depth > o.maxDepth) {
            throw tooComplex(`the query is ${depth} levels deep; the limit is ${o.maxDepth}`, {
              depth,
              maxDepth: o.maxDepth,
            });
          }
          let cost: number;
          try {
            cost = getComplexity({
              schema,
              query: document,
              operationName: request.operationName ?? undefined,
              variables: request.variables ?? {},
              estimators: [estimator(o.maxPage)],
            });
          } catch (err) {
            // Variables that do not coerce (a string for an Int…) surface here first: the client's error.
            if (err instanceof GraphQLError && !err.extensions?.code) throw badInput(err.message, undefined, 400);
            throw err;
          }
          if (cost > o.maxCost) {
            throw tooComplex(
              `the query's estimated cost is ${cost}; the limit is ${o.maxCost} (ask for fewer items with \`first\`)`,
              { cost, maxCost: o.maxCost },
            );
          }
        },
      };
    },
  };
}

/** A validated page size: `first` (or the default) in 0..max, else BAD_USER_INPUT naming the argument. */
export function page(first: number | null | undefined, dflt: number, max: number, arg = "first"): number {
  const n = first ?? dflt;
  if (!Number.isInteger(n) || n < 0) throw badInput(`\`${arg}\` must be a non-negative integer, got ${n}`, arg);
  if (n > max) throw badInput(`\`${arg}\` is ${n}; at most ${max} per request`, arg);
  return n;
}
