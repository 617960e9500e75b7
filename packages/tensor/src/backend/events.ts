/** Something the backend registry did that a user may want to know about. */
export type BackendEvent =
  | {
      /** `setBackend` chose a backend. */
      readonly type: "backend-selected";
      /** The backend now active. */
      readonly backend: string;
      /** What was asked for (`"auto"` or a name). */
      readonly requested: string;
      /** Why this one (its availability reason). */
      readonly reason: string;
    }
  | {
      /** A backend failed its probe or self-test and will not be used. */
      readonly type: "backend-unavailable";
      /** The backend that is unavailable. */
      readonly backend: string;
      /** Why. */
      readonly reason: string;
    }
  | {
      /** The active backend lacks a kernel, so the `js` kernel ran on read-back data (emitted once per kernel and backend). */
      readonly type: "kernel-fallback";
      /** The active backend. */
      readonly backend: string;
      /** The kernel that fell back. */
      readonly kernel: string;
    };

/** A function called with every {@link BackendEvent}. */
export type BackendEventListener = (event: BackendEvent) => void;

const listeners = new Set<BackendEventListener>();

/**
 * Subscribes to backend events (selection, unavailability, kernel fallbacks).
 *
 * @returns a function that unsubscribes.
 */
export function onBackendEvent(listener: BackendEventListener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** Delivers an event to every listener; a throwing listener does not stop the others. */
export function emitBackendEvent(event: BackendEvent): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch {
      // A listener's failure must not break tensor computation; listeners report their own errors.
    }
  }
}
