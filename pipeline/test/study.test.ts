import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PNG } from "pngjs";
import {
  classifyFeature,
  cutoffSharpness,
  emptyHeatmap,
  featureDescriptors,
  goodfireVerdict,
  greaterThanDataset,
  greaterThanMetrics,
  greaterThanReport,
  HANNA_STYLE_NOUNS,
  type Heatmap,
  probabilityDifference,
  renderHeatmapPng,
  renderHeatmapSvg,
  sampleBalanced,
  twoDigitTokenIds,
  validYears,
  yearProbabilities,
  yearSplits,
} from "../src/study/index.ts";
import { BOS_ID, decodeToken, encode } from "../src/tokenizer/index.ts";

describe("greater-than dataset", () => {
  const ds = greaterThanDataset({ nouns: ["war", "treaty", "abduction", "zzqxnoun"], centuries: [17, 11] });

  test("prompt shape: BOS + 12 tokens, [' XX', 'YY'] at positions 7–8, final ' XX'", () => {
    const p = ds.prompts.find((x) => x.noun === "war" && x.century === 17 && x.yy === 11)!;
    assert.equal(p.text, "The war lasted from the year 1711 to the year 17");
    assert.deepEqual(p.tokens, [BOS_ID, ...encode(p.text)]);
    assert.equal(p.tokens.length, 13);
    assert.deepEqual(
      p.tokens.map((t) => (t === BOS_ID ? "<bos>" : decodeToken(t))),
      ["<bos>", "The", " war", " lasted", " from", " the", " year", " 17", "11", " to", " the", " year", " 17"],
    );
    assert.equal(p.yyPosition, 8);
    assert.equal(p.finalPosition, 12);
    for (const q of ds.prompts) {
      assert.equal(q.tokens.length, 13, q.text);
      assert.equal(decodeToken(q.tokens[q.yyPosition]!), String(q.yy).padStart(2, "0"));
      assert.equal(decodeToken(q.tokens[q.finalPosition]!), ` ${q.century}`);
    }
  });

  test("01-corrupted variant differs only at the YY position", () => {
    for (const p of ds.prompts.slice(0, 50)) {
      assert.equal(p.corruptedText, p.text.replace(/year (\d\d)\d\d/, "year $101"));
      assert.equal(p.corruptedTokens.length, p.tokens.length);
      const diff = p.tokens.map((t, i) => (t !== p.corruptedTokens[i] ? i : -1)).filter((i) => i >= 0);
      assert.deepEqual(diff, p.yy === 1 ? [] : [p.yyPosition]);
      assert.equal(decodeToken(p.corruptedTokens[p.yyPosition]!), "01");
    }
  });

  test("only years that split as [' XX', 'YY'] with YY in 02..98; multi-token nouns dropped", () => {
    assert.deepEqual(ds.droppedNouns, ["zzqxnoun"]);
    assert.deepEqual(ds.nouns, ["war", "treaty", "abduction"]);
    const y17 = ds.validYears.get(17)!;
    assert.equal(y17[0], 2);
    assert.equal(y17[y17.length - 1], 98);
    assert.equal(y17.length, 97, "every 17YY with YY in 02..98 splits");
    const y11 = ds.validYears.get(11)!;
    assert.ok(y11.length < 97 && !y11.includes(11), "1111 is a single token and is excluded");
    assert.equal(yearSplits(11, 11), false);
    assert.deepEqual(validYears(17, [95, 99]), [95, 96, 97, 98, 99]);
    assert.equal(ds.prompts.length, 3 * (y17.length + y11.length));
    assert.throws(() => greaterThanDataset({ nouns: ["war"], centuries: [10] }), /corrupted year 1001/);
    assert.throws(() => greaterThanDataset({ nouns: ["zzqxnoun"] }), /no usable nouns/);
  });

  test("two-digit token ids and balanced sampling", () => {
    const ids = twoDigitTokenIds();
    assert.equal(ids.length, 100);
    assert.equal(new Set(ids).size, 100);
    ids.forEach((id, zz) => {
      assert.equal(decodeToken(id), String(zz).padStart(2, "0"));
    });
    const s = sampleBalanced(ds, 194, 3);
    const counts = new Map<number, number>();
    for (const p of s) counts.set(p.yy, (counts.get(p.yy) ?? 0) + 1);
    assert.equal(counts.get(2), 2);
    assert.equal(counts.get(98), 2);
    assert.deepEqual(sampleBalanced(ds, 10, 3), s.slice(0, 10), "seeded");
  });

  test("Hanna-style noun list is usable with GPT-2's tokenizer", () => {
    const d = greaterThanDataset({ nouns: HANNA_STYLE_NOUNS, centuries: [17] });
    assert.ok(d.nouns.length >= 50, `${d.nouns.length} single-token nouns`);
  });
});

describe("greater-than metrics", () => {
  test("PD and cutoff sharpness on hand-made distributions", () => {
    const p = new Float64Array(100);
    p[30] = 0.5; // ZZ > YY
    p[20] = 0.2; // ZZ = YY counts as ≤
    p[10] = 0.1;
    p[21] = 0.15;
    p[19] = 0.05;
    assert.ok(Math.abs(probabilityDifference(p, 20) - (0.5 + 0.15 - 0.2 - 0.1 - 0.05)) < 1e-12);
    assert.ok(Math.abs(cutoffSharpness(p, 20) - (0.15 - 0.05)) < 1e-12);
    assert.throws(() => cutoffSharpness(p, 99), /1 ≤ YY ≤ 98/);
    assert.throws(() => probabilityDifference(p.subarray(0, 50), 3), /100 year probabilities/);
    const uniform = new Float64Array(100).fill(0.01);
    assert.ok(Math.abs(probabilityDifference(uniform, 49) - 0) < 1e-12);
  });

  test("year probabilities, averages and heatmap rows", () => {
    const full = new Float64Array(1000);
    const ids = Array.from({ length: 100 }, (_, i) => 500 + i);
    full[500 + 60] = 0.4;
    const p100 = yearProbabilities(full, ids);
    assert.equal(p100[60], 0.4);
    assert.throws(() => yearProbabilities(full, [2000, ...ids.slice(1)]), /outside the probability vector/);
    const a = new Float64Array(100);
    a[60] = 1;
    const b = new Float64Array(100);
    b[40] = 1;
    const m = greaterThanMetrics([
      { yy: 50, p100: a },
      { yy: 50, p100: b },
      { yy: 30, p100: a },
    ]);
    assert.ok(Math.abs(m.probabilityDifference - (0 + 1) / 3) < 1e-12); // (1 − 1 + 1) / 3
    assert.equal(m.heatmap.counts[50], 2);
    assert.equal(m.heatmap.values[50 * 100 + 60], 0.5);
    assert.equal(m.heatmap.values[50 * 100 + 40], 0.5);
    assert.ok(Number.isNaN(m.heatmap.values[10 * 100]!), "rows without data are NaN");
    assert.equal(m.yearMass, 1);
  });
});

/** Heatmap from a function of (yy, zz), rows in `yys` only. */
function synth(f: (yy: number, zz: number) => number, yys = Array.from({ length: 97 }, (_, i) => i + 2)): Heatmap {
  const h = emptyHeatmap();
  for (const y of yys) {
    h.counts[y] = 1;
    for (let z = 0; z < 100; z++) h.values[y * 100 + z] = f(y, z);
  }
  return h;
}

describe("feature descriptors", () => {
  test("a comparator that promotes ZZ > YY for every YY", () => {
    const d = featureDescriptors(synth((y, z) => (z > y ? 1 : -1)));
    assert.ok(d.greaterThanScore > 1.9, `GT score ${d.greaterThanScore}`);
    assert.equal(d.activeFraction, 1);
    assert.ok(d.rowSimilarity < 0.8, "output moves with YY");
    assert.deepEqual(classifyFeature(d), ["greater-than"]);
  });

  test("a narrow feature near YY = 11 that suppresses ≤ 11 and promotes > 11 (Goodfire's example)", () => {
    const h = synth((y, z) => (y >= 9 && y <= 13 ? (z > 11 ? 0.5 : -1) : 0));
    const d = featureDescriptors(h);
    assert.deepEqual([d.yyMin, d.yyMax], [9, 13]);
    assert.ok(Math.abs(d.activeFraction - 5 / 97) < 1e-12);
    assert.ok(Math.abs(d.yyCenter! - 11) < 1e-9);
    assert.ok(d.greaterThanScore > 0.5);
    assert.deepEqual(classifyFeature(d), ["narrow-context", "greater-than"]);
  });

  test("promotes large numbers regardless of YY", () => {
    const d = featureDescriptors(synth((_y, z) => z / 50 - 1));
    assert.ok(d.largeZZCorrelation > 0.99);
    assert.ok(d.rowSimilarity > 0.99);
    assert.deepEqual(classifyFeature(d), ["large-numbers"]);
  });

  test("parity detector: even outputs given odd inputs", () => {
    const d = featureDescriptors(synth((y, z) => (y % 2 === 1 ? (z % 2 === 0 ? 1 : -1) : 0)));
    assert.ok(d.parityGivenOddYY > 1.9);
    assert.equal(d.parityGivenEvenYY, 0, "inactive on even YY");
    assert.ok(d.activeFraction > 0.45 && d.activeFraction < 0.55);
    assert.ok(classifyFeature(d).includes("parity"));
  });

  test("multiples of 10, activation profile and an inactive feature", () => {
    const d = featureDescriptors(synth((_y, z) => (z % 10 === 0 ? 1 : 0)));
    assert.ok(d.multipleOf10Preference > 1.5);
    assert.ok(classifyFeature(d).includes("round-numbers"));
    const act = new Float64Array(100);
    act[40] = 2;
    act[60] = 1;
    const e = featureDescriptors(
      synth((y, z) => (y === 40 || y === 60 ? z - 50 : 0)),
      act,
    );
    assert.deepEqual(e.activeYY, [40, 60]);
    assert.ok(Math.abs(e.yyCenter! - (40 * 2 + 60) / 3) < 1e-9);
    const z = featureDescriptors(synth(() => 0));
    assert.deepEqual(z.activeYY, []);
    assert.deepEqual(classifyFeature(z), ["other"]);
  });
});

describe("PNG and SVG rendering", () => {
  test("heatmap PNG: size from the layout, diverging colours at the right cells", () => {
    const hm = synth((y, z) => (z > y ? 1 : -1), [2, 3, 4, 50]);
    const png = renderHeatmapPng(hm, { title: "Feature 8_123", xLabel: "ZZ", yLabel: "YY", cellSize: 3 });
    // Decoded by an independent PNG library (RGBA).
    const img = PNG.sync.read(png);
    assert.ok(img.width > 300 && img.height > 300);
    const px = (x: number, y: number) =>
      Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3));
    // Locate the grid: the first column (from the left) on the YY=50 row where red cells begin.
    // Cell (YY=50, ZZ=99) is red (+1 → [178,24,43]); (YY=50, ZZ=0) is blue (−1 → [33,102,172]).
    let found = false;
    for (let y = 0; y < img.height && !found; y++) {
      for (let x = 0; x + 3 * 99 < img.width; x++) {
        if (
          px(x, y).join() === "33,102,172" &&
          px(x + 3 * 99, y).join() === "178,24,43" &&
          px(x + 3 * 50, y).join() === "33,102,172" &&
          px(x + 3 * 51, y).join() === "178,24,43"
        ) {
          found = true;
          break;
        }
      }
    }
    assert.ok(found, "row YY=50: blue up to ZZ=50, red from ZZ=51");
    // Rows without data are grey.
    let grey = 0;
    for (let i = 0; i < img.data.length; i += 4)
      if (img.data[i] === 200 && img.data[i + 1] === 200 && img.data[i + 2] === 200) grey++;
    assert.ok(grey > 90 * 100 * 9 * 0.9, `grey cells ${grey}`);
    const svg = renderHeatmapSvg(hm, { title: "Feature 8_123", xLabel: "ZZ", yLabel: "YY" });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 100 * 100 + 1, "one rect per cell + colour bar");
    assert.match(svg, /fill="#b2182b"><title>50,99: 1\.000<\/title>/);
    assert.match(svg, /<text[^>]*>YY<\/text>/);
    assert.ok(svg.trimEnd().endsWith("</svg>"));
  });
});

describe("report", () => {
  test("lists feature types and states the Goodfire verdict plainly", () => {
    const narrow = featureDescriptors(synth((y, z) => (y >= 9 && y <= 13 ? (z > 11 ? 0.5 : -1) : 0)));
    const large = featureDescriptors(synth((_y, z) => z / 50 - 1));
    const feats = [
      {
        featureId: "8_1",
        layer: 8,
        featureIndex: 1,
        influence: 0.3,
        descriptors: narrow,
        types: classifyFeature(narrow),
      },
      {
        featureId: "9_2",
        layer: 9,
        featureIndex: 2,
        influence: 0.2,
        descriptors: large,
        types: classifyFeature(large),
      },
    ];
    assert.equal(goodfireVerdict(feats).verdict, "partially reproduces");
    const md = greaterThanReport({
      model: "demo",
      clt: "demo-clt",
      nPrompts: 10,
      nGraphs: 5,
      original: { probabilityDifference: 0.5, cutoffSharpness: 0.04, yearMass: 0.9 },
      features: feats,
    });
    assert.match(md, /\*\*This run partially reproduces Goodfire's picture\.\*\*/);
    assert.match(md, /\| narrow-context \| 1 \|/);
    assert.match(md, /\| large-numbers \| 1 \|/);
    assert.match(md, /\| 1 \| 8_1 \| 0\.300 \|/);
    assert.equal(goodfireVerdict([]).verdict, "does not reproduce");
  });
});
