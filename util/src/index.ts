// Helpers shared by every workspace, one per concern: the seeded RNG, the progress reporter, the
// atomic write, multi-file outputs published as one unit, the lock, run-folder ownership, and
// percentiles of measured samples.
export {
  type Chunks,
  checkTarget,
  cleanStaleTemps,
  pidAlive,
  restoreSwappedDir,
  swapDir,
  tempPath,
  writeDurable,
  writeFileAtomic,
  writeJsonAtomic,
} from "./atomic.ts";
export { acquireLock, LockedError, type LockOptions, type LockOwner, type Release, withLock } from "./lock.ts";
export {
  createProgress,
  createStageBoard,
  formatDuration,
  type Progress,
  type ProgressOptions,
  type StageBoard,
  type StageBoardOptions,
  stageLog,
} from "./progress.ts";
export { publishUnit, recoverUnit, type UnitFile } from "./publish.ts";
export { Rng, type RngState } from "./rng.ts";
export { checkRunFolder, claimRunFolder, inRunFolder, type RunFolder, type RunFolderOptions } from "./run-folder.ts";
export { percentile, type SampleSummary, summarizeSamples } from "./stats.ts";
