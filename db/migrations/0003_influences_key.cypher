// 0003: INFLUENCES gets a unique key "{source feature id}>{target feature id}" (a relationship
// uniqueness constraint, so an index seek). Graph writes update existing aggregates through it and
// create the missing ones plainly, instead of a MERGE whose expand-into grows with feature degree; the
// constraint also keeps two concurrent writers from creating the same pair twice.
MATCH (a:Feature)-[r:INFLUENCES]->(b:Feature) WHERE r.key IS NULL CALL { WITH a, r, b SET r.key = a.id + '>' + b.id } IN TRANSACTIONS OF 10000 ROWS;
CREATE CONSTRAINT influences_key IF NOT EXISTS FOR ()-[r:INFLUENCES]-() REQUIRE r.key IS UNIQUE;
