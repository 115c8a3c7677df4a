import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_URI, isLoopback, loadConfig, parseUri } from "../src/config.ts";

describe("config from the environment", () => {
  test("defaults: local Bolt on 7687, database neo4j", () => {
    const c = loadConfig({});
    assert.equal(c.uri, DEFAULT_URI);
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.port, 7687);
    assert.equal(c.local, true);
    assert.equal(c.user, "neo4j");
    assert.equal(c.database, "neo4j");
    assert.equal(c.maxRetryMs, 15_000);
  });

  test("reads every variable; blank values count as unset", () => {
    const c = loadConfig({
      NEO4J_URI: "neo4j+s://db.example.org:7777",
      NEO4J_USER: "atlas",
      NEO4J_PASSWORD: "secret-pw",
      NEO4J_DATABASE: "atlas-test",
      NEO4J_MAX_RETRY_MS: "2500",
    });
    assert.deepEqual(
      [c.uri, c.host, c.port, c.local, c.user, c.password, c.database, c.maxRetryMs],
      ["neo4j+s://db.example.org:7777", "db.example.org", 7777, false, "atlas", "secret-pw", "atlas-test", 2500],
    );
    assert.equal(loadConfig({ NEO4J_URI: "  ", NEO4J_DATABASE: "" }).uri, DEFAULT_URI);
  });

  test("bad values are one clear error naming the variable", () => {
    assert.throws(() => loadConfig({ NEO4J_URI: "http://localhost:7474" }), /NEO4J_URI must look like bolt:\/\//);
    assert.throws(() => loadConfig({ NEO4J_URI: "bolt://localhost:99999" }), /NEO4J_URI/);
    assert.throws(() => loadConfig({ NEO4J_DATABASE: "bad name!" }), /NEO4J_DATABASE/);
    assert.throws(() => loadConfig({ NEO4J_MAX_RETRY_MS: "-1" }), /NEO4J_MAX_RETRY_MS/);
  });

  test("loopback detection decides whether db:up manages a local server", () => {
    assert.equal(parseUri("bolt://localhost")?.port, 7687);
    assert.equal(parseUri("bolt://[::1]:7690")?.host, "::1");
    for (const h of ["localhost", "127.0.0.1", "127.1.2.3", "::1"]) assert.equal(isLoopback(h), true, h);
    for (const h of ["10.0.0.5", "neo4j.internal", "128.0.0.1"]) assert.equal(isLoopback(h), false, h);
  });
});
