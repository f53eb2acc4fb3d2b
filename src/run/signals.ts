// Stopping a run: the first SIGINT/SIGTERM asks the trainer to stop after the current step (it writes a
// checkpoint and says how to resume); a second one exits at once.

export interface StopRequest {
  readonly requested: () => boolean;
  dispose(): void;
}

export function stopOnSignals(what: string, onFirst: (signal: string) => void): StopRequest {
  let requested = false;
  const handler = (signal: NodeJS.Signals) => {
    if (requested) {
      process.stderr.write(`\n${what}: second ${signal}: exiting now (the last checkpoint is kept)\n`);
      process.exit(130);
    }
    requested = true;
    onFirst(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    requested: () => requested,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
