// A human label written through the API (`setLabel`): an ordinary (:Label) through `upsertLabels`
// (so it becomes the current label, denormalized on the Feature for search) with its provenance
// (who, when, through what, the note).
import { labelId, upsertLabels } from "./write.ts";

export interface HumanLabelInput {
  featureId: string;
  text: string;
  note: string | null;
  /** The API key's name. */
  author: string;
}

/** Writes the label and returns its id. Relabeling keeps the history: older labels stay, not current. */
export async function writeHumanLabel(input: HumanLabelInput): Promise<string> {
  const createdAt = new Date().toISOString();
  // The id includes the time so the same text written again is a new history entry.
  const id = labelId(input.featureId, "human", `${input.author}@${createdAt}`, input.text);
  const provenance = JSON.stringify({ author: input.author, via: "graphql setLabel", note: input.note, createdAt });
  await upsertLabels([
    {
      id,
      featureId: input.featureId,
      text: input.text,
      source: "human",
      explainer: input.author,
      method: "api:setLabel",
      provenance,
      createdAt,
    },
  ]);
  return id;
}
