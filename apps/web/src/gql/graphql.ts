/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type Direction =
  | 'BOTH'
  | 'DOWNSTREAM'
  | 'UPSTREAM';

export type NodeKind =
  | 'EMBEDDING'
  | 'ERROR'
  | 'FEATURE'
  | 'LOGIT';

export type HomeQueryVariables = Exact<{ [key: string]: never; }>;


export type HomeQuery = { atlas: { featureCount: number, labeledFeatureCount: number, labelCoverage: number, graphCount: number, models: Array<{ id: string, name: string, nLayers: number, dModel: number, vocabSize: number | null }>, transcoders: Array<{ id: string, kind: string, nLayers: number, nFeatures: number, featureCount: number, fvuMean: number | null, l0Total: number | null, deadFraction: number | null, top1Agreement: number | null }>, labelSources: Array<{ source: string, count: number }>, featuredGraphs: Array<{ id: string, prompt: string, nodeCount: number, edgeCount: number, replacementScore: number | null, completenessScore: number | null }>, studies: Array<{ name: string, transcoderId: string, verdict: string | null }> } };

export type SearchQueryVariables = Exact<{
  query: string;
  layer?: number | null | undefined;
  transcoder?: string | number | null | undefined;
  labelSource?: string | null | undefined;
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type SearchQuery = { searchFeatures: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ cursor: string, score: number, feature: { id: string, featureId: string, layer: number, density: number | null, maxActivation: number | null, label: { text: string, source: string, score: number | null } | null } }> } };

export type SearchFiltersQueryVariables = Exact<{ [key: string]: never; }>;


export type SearchFiltersQuery = { atlas: { transcoders: Array<{ id: string, nLayers: number }>, labelSources: Array<{ source: string, count: number }> } };

export type FeaturePageQueryVariables = Exact<{
  id: string | number;
  graphId?: string | number | null | undefined;
}>;


export type FeaturePageQuery = { feature: { id: string, featureId: string, transcoderId: string, layer: number, index: number, density: number | null, maxActivation: number | null, meanActivation: number | null, graphCount: number, label: { id: string, text: string, description: string | null, source: string, explainer: string | null, method: string | null, score: number | null, provenance: unknown, createdAt: string, current: boolean, scores: Array<{ name: string, value: number, n: number | null, lower: number | null, upper: number | null }> } | null, labelHistory: Array<{ id: string, text: string, description: string | null, source: string, explainer: string | null, method: string | null, score: number | null, provenance: unknown, createdAt: string, current: boolean, scores: Array<{ name: string, value: number, n: number | null, lower: number | null, upper: number | null }> }>, histogram: { binEdges: Array<number>, counts: Array<number> } | null, topExamples: Array<{ tokens: Array<string>, activations: Array<number>, maxActivation: number, maxPosition: number }>, quantileExamples: Array<{ lower: number, upper: number, examples: Array<{ tokens: Array<string>, activations: Array<number>, maxActivation: number, maxPosition: number }> }>, topLogits: Array<{ token: string, value: number }>, bottomLogits: Array<{ token: string, value: number }>, heatmap: { rows: Array<number>, columns: Array<number>, values: Array<Array<number>> } | null, greaterThan: { rank: number, types: Array<string>, influence: number, graphsActive: number } | null, upstream: Array<{ weight: number, count: number, graphs: number, feature: { id: string, featureId: string, layer: number, label: { text: string } | null } }>, downstream: Array<{ weight: number, count: number, graphs: number, feature: { id: string, featureId: string, layer: number, label: { text: string } | null } }>, virtualNeighbors: Array<{ weight: number, direction: Direction, feature: { id: string, featureId: string, label: { text: string } | null } }>, graphs: Array<{ id: string, prompt: string }>, causalSummary: { count: number, predictedMean: number | null, measuredLiveMean: number | null, measuredFrozenMean: number | null } | null, causalEffects: Array<{ graphId: string, nodeId: string, position: number, predicted: number, measuredLive: number | null, measuredFrozen: number | null, target: string | null }> } | null };

export type LabelFieldsFragment = { id: string, text: string, description: string | null, source: string, explainer: string | null, method: string | null, score: number | null, provenance: unknown, createdAt: string, current: boolean, scores: Array<{ name: string, value: number, n: number | null, lower: number | null, upper: number | null }> };

export type ExampleFieldsFragment = { tokens: Array<string>, activations: Array<number>, maxActivation: number, maxPosition: number };

export type NeighborFieldsFragment = { weight: number, count: number, graphs: number, feature: { id: string, featureId: string, layer: number, label: { text: string } | null } };

export type GraphsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type GraphsQuery = { graphs: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { id: string, prompt: string, nodeCount: number, edgeCount: number, replacementScore: number | null, completenessScore: number | null, createdAt: string | null } }> } };

export type GraphViewQueryVariables = Exact<{
  id: string | number;
  nodeThreshold?: number | null | undefined;
  edgeThreshold?: number | null | undefined;
}>;


export type GraphViewQuery = { graph: { id: string, transcoderId: string, prompt: string, tokens: Array<string>, nodeThreshold: number | null, edgeThreshold: number | null, replacementScore: number | null, completenessScore: number | null, validationSpearmanLive: number | null, validationSpearmanFrozen: number | null, targetLogits: Array<{ token: string, probability: number }>, nodes: Array<{ id: string, kind: NodeKind, layer: number, position: number, activation: number | null, influence: number | null, token: string | null, probability: number | null, feature: { id: string, featureId: string, label: { text: string } | null } | null }>, edges: Array<{ source: string, target: string, weight: number }> } | null };

export type GraphJsonQueryVariables = Exact<{
  id: string | number;
  nodeThreshold?: number | null | undefined;
  edgeThreshold?: number | null | undefined;
}>;


export type GraphJsonQuery = { graph: { json: unknown } | null };

export type CircuitQueryVariables = Exact<{
  featureId: string | number;
  direction?: Direction | null | undefined;
  depth?: number | null | undefined;
  minWeight?: number | null | undefined;
  graphId?: string | number | null | undefined;
  first?: number | null | undefined;
}>;


export type CircuitQuery = { circuit: { nodes: Array<{ id: string, depth: number, feature: { id: string, featureId: string, layer: number, label: { text: string } | null } }>, edges: Array<{ source: string, target: string, weight: number, count: number }> } };

export type PathsQueryVariables = Exact<{
  from: string | number;
  to: string | number;
  maxHops?: number | null | undefined;
  graphId?: string | number | null | undefined;
  first?: number | null | undefined;
}>;


export type PathsQuery = { paths: Array<{ score: number, sign: number, hops: number, nodes: Array<{ id: string, featureId: string, layer: number, label: { text: string } | null }>, edges: Array<{ source: string, target: string, weight: number, count: number }> }> };

export type FeatureSummaryQueryVariables = Exact<{
  id: string | number;
}>;


export type FeatureSummaryQuery = { feature: { id: string, featureId: string, layer: number, label: { text: string } | null } | null };

export type StudyQueryVariables = Exact<{
  name: string;
  transcoder?: string | number | null | undefined;
}>;


export type StudyQuery = { study: { name: string, transcoderId: string, graphs: number, meanReplacementScore: number | null, meanCompletenessScore: number | null, verdict: string | null, original: { n: number | null, probabilityDifference: number | null, cutoffSharpness: number | null, yearMass: number | null, heatmap: { rows: Array<number>, columns: Array<number>, values: Array<Array<number>> } | null } | null, replacement: { n: number | null, probabilityDifference: number | null, cutoffSharpness: number | null, yearMass: number | null, heatmap: { rows: Array<number>, columns: Array<number>, values: Array<Array<number>> } | null } | null, features: Array<{ rank: number, influence: number, graphsActive: number, types: Array<string>, feature: { id: string, featureId: string, layer: number, label: { text: string, source: string } | null }, heatmap: { rows: Array<number>, columns: Array<number>, values: Array<Array<number>> } }> } | null };

export type StudyMetricsFieldsFragment = { n: number | null, probabilityDifference: number | null, cutoffSharpness: number | null, yearMass: number | null, heatmap: { rows: Array<number>, columns: Array<number>, values: Array<Array<number>> } | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const LabelFieldsFragmentDoc = new TypedDocumentString(`
    fragment LabelFields on Label {
  id
  text
  description
  source
  explainer
  method
  score
  scores {
    name
    value
    n
    lower
    upper
  }
  provenance
  createdAt
  current
}
    `, {"fragmentName":"LabelFields"}) as unknown as TypedDocumentString<LabelFieldsFragment, unknown>;
export const ExampleFieldsFragmentDoc = new TypedDocumentString(`
    fragment ExampleFields on Example {
  tokens
  activations
  maxActivation
  maxPosition
}
    `, {"fragmentName":"ExampleFields"}) as unknown as TypedDocumentString<ExampleFieldsFragment, unknown>;
export const NeighborFieldsFragmentDoc = new TypedDocumentString(`
    fragment NeighborFields on Neighbor {
  weight
  count
  graphs
  feature {
    id
    featureId
    layer
    label {
      text
    }
  }
}
    `, {"fragmentName":"NeighborFields"}) as unknown as TypedDocumentString<NeighborFieldsFragment, unknown>;
export const StudyMetricsFieldsFragmentDoc = new TypedDocumentString(`
    fragment StudyMetricsFields on StudyMetrics {
  n
  probabilityDifference
  cutoffSharpness
  yearMass
  heatmap {
    rows
    columns
    values
  }
}
    `, {"fragmentName":"StudyMetricsFields"}) as unknown as TypedDocumentString<StudyMetricsFieldsFragment, unknown>;
export const HomeDocument = new TypedDocumentString(`
    query Home {
  atlas {
    models {
      id
      name
      nLayers
      dModel
      vocabSize
    }
    transcoders {
      id
      kind
      nLayers
      nFeatures
      featureCount
      fvuMean
      l0Total
      deadFraction
      top1Agreement
    }
    featureCount
    labeledFeatureCount
    labelCoverage
    labelSources {
      source
      count
    }
    graphCount
    featuredGraphs(first: 6) {
      id
      prompt
      nodeCount
      edgeCount
      replacementScore
      completenessScore
    }
    studies {
      name
      transcoderId
      verdict
    }
  }
}
    `) as unknown as TypedDocumentString<HomeQuery, HomeQueryVariables>;
export const SearchDocument = new TypedDocumentString(`
    query Search($query: String!, $layer: Int, $transcoder: ID, $labelSource: String, $first: Int, $after: String) {
  searchFeatures(
    query: $query
    layer: $layer
    transcoder: $transcoder
    labelSource: $labelSource
    first: $first
    after: $after
  ) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      cursor
      score
      feature {
        id
        featureId
        layer
        density
        maxActivation
        label {
          text
          source
          score
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<SearchQuery, SearchQueryVariables>;
export const SearchFiltersDocument = new TypedDocumentString(`
    query SearchFilters {
  atlas {
    transcoders {
      id
      nLayers
    }
    labelSources {
      source
      count
    }
  }
}
    `) as unknown as TypedDocumentString<SearchFiltersQuery, SearchFiltersQueryVariables>;
export const FeaturePageDocument = new TypedDocumentString(`
    query FeaturePage($id: ID!, $graphId: ID) {
  feature(id: $id) {
    id
    featureId
    transcoderId
    layer
    index
    label {
      ...LabelFields
    }
    labelHistory {
      ...LabelFields
    }
    density
    maxActivation
    meanActivation
    histogram {
      binEdges
      counts
    }
    topExamples(first: 15) {
      ...ExampleFields
    }
    quantileExamples {
      lower
      upper
      examples {
        ...ExampleFields
      }
    }
    topLogits(first: 12) {
      token
      value
    }
    bottomLogits(first: 12) {
      token
      value
    }
    heatmap {
      rows
      columns
      values
    }
    greaterThan {
      rank
      types
      influence
      graphsActive
    }
    upstream(first: 12, graphId: $graphId) {
      ...NeighborFields
    }
    downstream(first: 12, graphId: $graphId) {
      ...NeighborFields
    }
    virtualNeighbors(first: 12) {
      weight
      direction
      feature {
        id
        featureId
        label {
          text
        }
      }
    }
    graphCount
    graphs(first: 20) {
      id
      prompt
    }
    causalSummary {
      count
      predictedMean
      measuredLiveMean
      measuredFrozenMean
    }
    causalEffects {
      graphId
      nodeId
      position
      predicted
      measuredLive
      measuredFrozen
      target
    }
  }
}
    fragment LabelFields on Label {
  id
  text
  description
  source
  explainer
  method
  score
  scores {
    name
    value
    n
    lower
    upper
  }
  provenance
  createdAt
  current
}
fragment ExampleFields on Example {
  tokens
  activations
  maxActivation
  maxPosition
}
fragment NeighborFields on Neighbor {
  weight
  count
  graphs
  feature {
    id
    featureId
    layer
    label {
      text
    }
  }
}`) as unknown as TypedDocumentString<FeaturePageQuery, FeaturePageQueryVariables>;
export const GraphsDocument = new TypedDocumentString(`
    query Graphs($first: Int, $after: String) {
  graphs(first: $first, after: $after) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        id
        prompt
        nodeCount
        edgeCount
        replacementScore
        completenessScore
        createdAt
      }
    }
  }
}
    `) as unknown as TypedDocumentString<GraphsQuery, GraphsQueryVariables>;
export const GraphViewDocument = new TypedDocumentString(`
    query GraphView($id: ID!, $nodeThreshold: Float, $edgeThreshold: Float) {
  graph(id: $id, nodeThreshold: $nodeThreshold, edgeThreshold: $edgeThreshold) {
    id
    transcoderId
    prompt
    tokens
    nodeThreshold
    edgeThreshold
    replacementScore
    completenessScore
    validationSpearmanLive
    validationSpearmanFrozen
    targetLogits {
      token
      probability
    }
    nodes {
      id
      kind
      layer
      position
      activation
      influence
      token
      probability
      feature {
        id
        featureId
        label {
          text
        }
      }
    }
    edges {
      source
      target
      weight
    }
  }
}
    `) as unknown as TypedDocumentString<GraphViewQuery, GraphViewQueryVariables>;
export const GraphJsonDocument = new TypedDocumentString(`
    query GraphJson($id: ID!, $nodeThreshold: Float, $edgeThreshold: Float) {
  graph(id: $id, nodeThreshold: $nodeThreshold, edgeThreshold: $edgeThreshold) {
    json
  }
}
    `) as unknown as TypedDocumentString<GraphJsonQuery, GraphJsonQueryVariables>;
export const CircuitDocument = new TypedDocumentString(`
    query Circuit($featureId: ID!, $direction: Direction, $depth: Int, $minWeight: Float, $graphId: ID, $first: Int) {
  circuit(
    featureId: $featureId
    direction: $direction
    depth: $depth
    minWeight: $minWeight
    graphId: $graphId
    first: $first
  ) {
    nodes {
      id
      depth
      feature {
        id
        featureId
        layer
        label {
          text
        }
      }
    }
    edges {
      source
      target
      weight
      count
    }
  }
}
    `) as unknown as TypedDocumentString<CircuitQuery, CircuitQueryVariables>;
export const PathsDocument = new TypedDocumentString(`
    query Paths($from: ID!, $to: ID!, $maxHops: Int, $graphId: ID, $first: Int) {
  paths(from: $from, to: $to, maxHops: $maxHops, graphId: $graphId, first: $first) {
    score
    sign
    hops
    nodes {
      id
      featureId
      layer
      label {
        text
      }
    }
    edges {
      source
      target
      weight
      count
    }
  }
}
    `) as unknown as TypedDocumentString<PathsQuery, PathsQueryVariables>;
export const FeatureSummaryDocument = new TypedDocumentString(`
    query FeatureSummary($id: ID!) {
  feature(id: $id) {
    id
    featureId
    layer
    label {
      text
    }
  }
}
    `) as unknown as TypedDocumentString<FeatureSummaryQuery, FeatureSummaryQueryVariables>;
export const StudyDocument = new TypedDocumentString(`
    query Study($name: String!, $transcoder: ID) {
  study(name: $name, transcoder: $transcoder) {
    name
    transcoderId
    graphs
    meanReplacementScore
    meanCompletenessScore
    verdict
    original {
      ...StudyMetricsFields
    }
    replacement {
      ...StudyMetricsFields
    }
    features(first: 40) {
      rank
      influence
      graphsActive
      types
      feature {
        id
        featureId
        layer
        label {
          text
          source
        }
      }
      heatmap {
        rows
        columns
        values
      }
    }
  }
}
    fragment StudyMetricsFields on StudyMetrics {
  n
  probabilityDifference
  cutoffSharpness
  yearMass
  heatmap {
    rows
    columns
    values
  }
}`) as unknown as TypedDocumentString<StudyQuery, StudyQueryVariables>;