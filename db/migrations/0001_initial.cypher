// 0001: identity constraints and lookup indexes for the atlas.
// Vocabulary (pipeline/ARCHITECTURE.md): `layer` = 0-based block index, `featureIndex` = index within
// its layer, featureId = "{layer}_{featureIndex}". A Feature's `id` must be unique across the whole
// atlas, so it includes its transcoder (the repositories that write features decide the exact form);
// `transcoderId`, `layer` and `featureIndex` are stored as separate INTEGER/STRING properties for lookups.
// Each statement must be idempotent (IF NOT EXISTS): see db/src/migrate.ts.

CREATE CONSTRAINT model_id IF NOT EXISTS FOR (n:Model) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT transcoder_id IF NOT EXISTS FOR (n:Transcoder) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT feature_id IF NOT EXISTS FOR (n:Feature) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT label_id IF NOT EXISTS FOR (n:Label) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT graph_id IF NOT EXISTS FOR (n:Graph) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT graph_node_id IF NOT EXISTS FOR (n:GraphNode) REQUIRE n.id IS UNIQUE;

CREATE INDEX feature_layer IF NOT EXISTS FOR (n:Feature) ON (n.layer);
CREATE INDEX feature_feature_index IF NOT EXISTS FOR (n:Feature) ON (n.featureIndex);
// Exact lookup of one feature of one transcoder: WHERE f.transcoderId = $t AND f.layer = $l AND f.featureIndex = $i.
CREATE INDEX feature_transcoder_layer_index IF NOT EXISTS FOR (n:Feature) ON (n.transcoderId, n.layer, n.featureIndex);

// Full-text search over feature labels: the text of (:Label) nodes and a Feature's own short label.
CREATE FULLTEXT INDEX featureLabels IF NOT EXISTS FOR (n:Label|Feature) ON EACH [n.text, n.label];
