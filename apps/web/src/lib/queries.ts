// Every GraphQL operation the site sends. graphql-codegen reads these documents and types them
// against the SDL in graph-schema/ (src/gql/); server pages and client components share them.
import { graphql } from "../gql/index.ts";

export const HomeDoc = graphql(`
  query Home {
    atlas {
      models { id name nLayers dModel vocabSize }
      transcoders { id kind nLayers nFeatures featureCount fvuMean l0Total deadFraction top1Agreement }
      featureCount
      labeledFeatureCount
      labelCoverage
      labelSources { source count }
      graphCount
      featuredGraphs(first: 6) { id prompt nodeCount edgeCount replacementScore completenessScore }
      studies { name transcoderId verdict }
    }
  }
`);

export const SearchDoc = graphql(`
  query Search(
    $query: String!
    $layer: Int
    $transcoder: ID
    $labelSource: String
    $first: Int
    $after: String
  ) {
    searchFeatures(
      query: $query
      layer: $layer
      transcoder: $transcoder
      labelSource: $labelSource
      first: $first
      after: $after
    ) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor
        score
        feature {
          id
          featureId
          layer
          density
          maxActivation
          label { text source score }
        }
      }
    }
  }
`);

export const SearchFiltersDoc = graphql(`
  query SearchFilters {
    atlas {
      transcoders { id nLayers }
      labelSources { source count }
    }
  }
`);

export const FeatureDoc = graphql(`
  query FeaturePage($id: ID!, $graphId: ID) {
    feature(id: $id) {
      id
      featureId
      transcoderId
      layer
      index
      label { ...LabelFields }
      labelHistory { ...LabelFields }
      density
      maxActivation
      meanActivation
      histogram { binEdges counts }
      topExamples(first: 15) { ...ExampleFields }
      quantileExamples { lower upper examples { ...ExampleFields } }
      topLogits(first: 12) { token value }
      bottomLogits(first: 12) { token value }
      heatmap { rows columns values }
      greaterThan { rank types influence graphsActive }
      upstream(first: 12, graphId: $graphId) { ...NeighborFields }
      downstream(first: 12, graphId: $graphId) { ...NeighborFields }
      virtualNeighbors(first: 12) { weight direction feature { id featureId label { text } } }
      graphCount
      graphs(first: 20) { id prompt }
      causalSummary { count predictedMean measuredLiveMean measuredFrozenMean }
      causalEffects { graphId nodeId position predicted measuredLive measuredFrozen target }
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
    scores { name value n lower upper }
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
    feature { id featureId layer label { text } }
  }
`);

export const GraphsDoc = graphql(`
  query Graphs($first: Int, $after: String) {
    graphs(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id prompt nodeCount edgeCount replacementScore completenessScore createdAt } }
    }
  }
`);

export const GraphDoc = graphql(`
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
      targetLogits { token probability }
      nodes {
        id
        kind
        layer
        position
        activation
        influence
        token
        probability
        feature { id featureId label { text } }
      }
      edges { source target weight }
    }
  }
`);

export const GraphJsonDoc = graphql(`
  query GraphJson($id: ID!, $nodeThreshold: Float, $edgeThreshold: Float) {
    graph(id: $id, nodeThreshold: $nodeThreshold, edgeThreshold: $edgeThreshold) { json }
  }
`);

export const CircuitDoc = graphql(`
  query Circuit($featureId: ID!, $direction: Direction, $depth: Int, $minWeight: Float, $graphId: ID, $first: Int) {
    circuit(
      featureId: $featureId
      direction: $direction
      depth: $depth
      minWeight: $minWeight
      graphId: $graphId
      first: $first
    ) {
      nodes { id depth feature { id featureId layer label { text } } }
      edges { source target weight count }
    }
  }
`);

export const PathsDoc = graphql(`
  query Paths($from: ID!, $to: ID!, $maxHops: Int, $graphId: ID, $first: Int) {
    paths(from: $from, to: $to, maxHops: $maxHops, graphId: $graphId, first: $first) {
      score
      sign
      hops
      nodes { id featureId layer label { text } }
      edges { source target weight count }
    }
  }
`);

export const FeatureSummaryDoc = graphql(`
  query FeatureSummary($id: ID!) {
    feature(id: $id) { id featureId layer label { text } }
  }
`);

export const StudyDoc = graphql(`
  query Study($name: String!, $transcoder: ID) {
    study(name: $name, transcoder: $transcoder) {
      name
      transcoderId
      graphs
      meanReplacementScore
      meanCompletenessScore
      verdict
      original { ...StudyMetricsFields }
      replacement { ...StudyMetricsFields }
      features(first: 40) {
        rank
        influence
        graphsActive
        types
        feature { id featureId layer label { text source } }
        heatmap { rows columns values }
      }
    }
  }

  fragment StudyMetricsFields on StudyMetrics {
    n
    probabilityDifference
    cutoffSharpness
    yearMass
    heatmap { rows columns values }
  }
`);
