// Stopping on SIGINT/SIGTERM: the first signal asks for a graceful stop (the caller finishes or abandons
// its current work, saves, closes); a second one ends the process at once. Used by `serve`, `serve-model`,
// `dashboard`, and by `train`/`sft` (checkpoint, then exit).
//
// The second signal gets the operating system's default action: our listeners are removed as soon as the
// first arrives. That works even while the event loop is busy in a long synchronous computation (a
// generation, a backward pass), where a JavaScript handler would only run after it.
//
// `npx sqlrl …` runs npm → sh → node, and neither npm nor sh passes SIGTERM on to node: killing npm
// left node running as an orphan. watchLauncher() turns the launcher's disappearance into the same
// graceful stop.

export type StopReason = NodeJS.Signals | 'launcher exited';

export interface StopSignal {
  /** A stop was asked for (a first signal, or the launcher went away). */
  readonly requested: boolean;
  /** What asked for it; null until then. */
  readonly reason: StopReason | null;
  /** Resolves at the first request, with its reason. */
  readonly stopped: Promise<StopReason>;
  /** Removes the handlers: signals get their default action back. */
  dispose(): void;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** The handler a parent-process watchdog should call; null when nothing handles a stop gracefully. */
let activeRequest: ((reason: StopReason) => void) | null = null;

/**
 * Installs the two-stage stop: `onStop(reason)` runs once, at the first SIGINT/SIGTERM (or when the
 * launcher exits); any later signal kills the process at once. Call `dispose()` when the work is done.
 */
export function onStopSignals(onStop: (reason: StopReason) => void): StopSignal {
  let reason: StopReason | null = null;
  let resolve!: (r: StopReason) => void;
  const stopped = new Promise<StopReason>((r) => (resolve = r));
  const listener = (sig: NodeJS.Signals) => request(sig);
  const detach = () => {
    for (const s of SIGNALS) process.removeListener(s, listener);
    if (activeRequest === request) activeRequest = null;
  };
  function request(r: StopReason): void {
    if (reason !== null) return;
    reason = r;
    detach(); // from now on a signal has its default action: the process ends at once
    resolve(r);
    onStop(r);
  }
  for (const s of SIGNALS) process.on(s, listener);
  activeRequest = request;
  return {
    get requested() {
      return reason !== null;
    },
    get reason() {
      return reason;
    },
    stopped,
    dispose: detach,
  };
}

/** The hint printed at the first signal. */
export const SECOND_SIGNAL_HINT = 'press Ctrl-C again (or send SIGTERM again) to exit at once';

/** Launched by npm (npx, npm exec, npm run): npm sets these in its children's environment. */
function launchedByNpm(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.npm_execpath || env.npm_lifecycle_event || env.npm_command);
}

/**
 * When started by npm, checks every `intervalMs` whether the parent (npm's `sh -c`) is gone; if so, asks
 * for a graceful stop as a first SIGTERM would (or, with no stop handler installed, ends the process with
 * SIGTERM's default action). Returns a function that stops watching. No-op outside npm.
 */
export function watchLauncher(opts: { intervalMs?: number; env?: NodeJS.ProcessEnv } = {}): () => void {
  if (!launchedByNpm(opts.env ?? process.env)) return () => {};
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    if (activeRequest) activeRequest('launcher exited');
    else process.kill(process.pid, 'SIGTERM');
  }, opts.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
