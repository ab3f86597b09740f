/**
 * The order in which one connection's frames are handled. Until the handshake is done,
 * strictly one after another. After it, frames of the same task keep their order (accept,
 * progress, complete) while different tasks proceed in parallel, so a robot with many
 * tasks is not slowed to one database round trip at a time.
 */
export function createFrameQueue() {
  let handshake: Promise<void> = Promise.resolve();
  const lanes = new Map<string, Promise<void>>();

  return {
    /** `lane` = the frame's task id; null for frames that belong to no task (run at once). */
    run(job: () => Promise<void>, options: { isReady: boolean; lane: string | null }) {
      if (!options.isReady) {
        handshake = handshake.then(job);
        return;
      }
      if (options.lane === null) {
        void handshake.then(job);
        return;
      }
      const lane = options.lane;
      const next = (lanes.get(lane) ?? handshake).then(job);
      lanes.set(lane, next);
      void next.then(() => {
        if (lanes.get(lane) === next) lanes.delete(lane);
      });
    },
  };
}
