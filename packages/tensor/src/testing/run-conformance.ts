import { getBackend, setBackend } from "../index.js";
import {
  type ConformanceCase,
  compareOutputs,
  conformanceCases,
  executeCaseAsync,
} from "./conformance-cases.js";

/** The outcome of one case on one backend. */
export interface ConformanceResult {
  /** The case's name. */
  readonly name: string;
  /** The op under test. */
  readonly op: string;
  /** The backend under test. */
  readonly backend: string;
  /** True when the backend agreed with `js` (or threw the expected error). */
  readonly passed: boolean;
  /** What went wrong, when it did not pass. */
  readonly failure?: string;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/**
 * Runs one case on `js` and on `backend` and compares. For an error case, `backend` alone must throw the
 * expected error class. Results are read with `await tensor.data()`, so any backend works, including one that
 * reads only asynchronously. The previously active backend is restored afterwards.
 */
export async function runConformanceCase(
  testCase: ConformanceCase,
  backend: string,
): Promise<ConformanceResult> {
  const previous = getBackend();
  const base = { name: testCase.name, op: testCase.op, backend };
  try {
    if (testCase.expectedError !== undefined) {
      await setBackend(backend);
      try {
        await executeCaseAsync(testCase);
      } catch (error) {
        if (errorName(error) === testCase.expectedError) return { ...base, passed: true };
        return {
          ...base,
          passed: false,
          failure: `threw ${errorName(error)} (${String(error)}), expected ${testCase.expectedError}`,
        };
      }
      return { ...base, passed: false, failure: `did not throw; expected ${testCase.expectedError}` };
    }
    await setBackend("js");
    const expected = await executeCaseAsync(testCase);
    await setBackend(backend);
    let actual: Awaited<ReturnType<typeof executeCaseAsync>>;
    try {
      actual = await executeCaseAsync(testCase);
    } catch (error) {
      return {
        ...base,
        passed: false,
        failure: `threw ${errorName(error)}: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    const failure = compareOutputs(actual, expected, testCase.tolerance);
    return failure === undefined ? { ...base, passed: true } : { ...base, passed: false, failure };
  } finally {
    await setBackend(previous);
  }
}

/**
 * Runs every case (or those `filter` keeps) on `backend` against `js`.
 *
 * @returns one result per case, in table order.
 */
export async function runConformanceSuite(
  backend: string,
  filter: (testCase: ConformanceCase) => boolean = () => true,
): Promise<ConformanceResult[]> {
  const results: ConformanceResult[] = [];
  for (const testCase of conformanceCases.filter(filter))
    results.push(await runConformanceCase(testCase, backend));
  return results;
}
