// 0002: the atlas graph model (db/README.md "Graph model"; row types in db/src/atlas/model.ts).
// Qualified feature id: "{transcoderId}/{layer}_{featureIndex}" (transcoder ids never contain "/").
// GraphNode id: "{graphId}/{node_id}" with circuit-tracer's node_id. Study id: "{transcoderId}/{kind}".

CREATE CONSTRAINT study_id IF NOT EXISTS FOR (n:Study) REQUIRE n.id IS UNIQUE;

// Deleting / replacing one graph finds its nodes without walking from the Graph node.
CREATE INDEX graph_node_graph IF NOT EXISTS FOR (n:GraphNode) ON (n.graphId);
CREATE INDEX graph_transcoder IF NOT EXISTS FOR (n:Graph) ON (n.transcoderId);
CREATE INDEX transcoder_model IF NOT EXISTS FOR (n:Transcoder) ON (n.modelId);
CREATE INDEX label_feature IF NOT EXISTS FOR (n:Label) ON (n.featureId);
CREATE INDEX feature_density IF NOT EXISTS FOR (n:Feature) ON (n.density);
// Global "strongest cross-prompt circuits" reads order by the aggregated absolute weight.
CREATE INDEX influences_abs IF NOT EXISTS FOR ()-[r:INFLUENCES]-() ON (r.weightAbsSum);

// Full-text search over a feature's current label and description (denormalized on the Feature).
// Analyzer `standard-folding`: lower-case + ASCII folding, no stemming and no stop-word removal, so
// index terms are the words as written and Lucene fuzzy terms (`adition~`, `year~1`) match typos of them;
// a stemming analyzer ("english") would store stems that a misspelled query term is compared against.
// It replaces 0001's `featureLabels` (which indexed Label text and Feature.label with the default analyzer).
DROP INDEX featureLabels IF EXISTS;
CREATE FULLTEXT INDEX featureSearch IF NOT EXISTS FOR (n:Feature) ON EACH [n.label, n.description] OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-folding'}};
// Label history (every label of every feature, current or not): same analyzer.
CREATE FULLTEXT INDEX labelSearch IF NOT EXISTS FOR (n:Label) ON EACH [n.text, n.description] OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-folding'}};
