// Where a CLT of ours reads and writes (TransformerLens names, per layer): features read the
// residual stream before the MLP and write the MLP output. A leaf module, so the run config, the
// ingest and the synthetic atlas share the names without loading the model code.
export const FEATURE_INPUT_HOOK = "hook_resid_mid";
export const FEATURE_OUTPUT_HOOK = "hook_mlp_out";
