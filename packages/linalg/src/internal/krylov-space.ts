import { concat, getBackend, matmul, sub, type Tensor, tensor } from "@peftjs/tensor";
import { readMatrix } from "../convert.js";
import { denseOperator, type LinearOperator, type ProductMode } from "./linear-operator.js";
import type { Matrix } from "./matrix.js";

/**
 * What block Lanczos needs from a matrix A and from the storage of its basis. The basis lives on the smaller
 * side of A (`dimension` = min(m, n)), so its vectors and their re-orthogonalisation are as short as they can
 * be; "forward" maps that side to the other one (A·x, or Aᵀ·x when A is wide) and "backward" maps back.
 * Vector sets are row-major matrices whose rows are the vectors.
 */
export interface KrylovSpace {
  /** Length of the basis vectors: min(m, n). */
  readonly dimension: number;
  /** Length of the forward products: max(m, n). */
  readonly outerDimension: number;
  /** True when the basis holds left singular vectors (A is wide and forward is Aᵀ·x). */
  readonly transposed: boolean;
  /** Unit round-off of the stored basis and of the products (2⁻²⁴ in float32, 2⁻⁵³ in float64). */
  readonly unitRoundoff: number;
  /** Rows (A·x)ᵀ for the rows x (count × dimension → count × outerDimension); Aᵀ·x when transposed. */
  forward(vectors: Matrix): Matrix;
  /** Rows (Aᵀ·y)ᵀ for the rows y (count × outerDimension → count × dimension); A·y when transposed. */
  backward(vectors: Matrix): Matrix;
  /**
   * One Lanczos expansion: Z = M·x for the rows x of `block` (M = AᵀA, or AAᵀ when transposed; `block` must be
   * the last rows of the basis), then {@link KrylovSpace.projectOut}. Returns the norms of the rows of Z before
   * the projection, the projected rows and the coefficients.
   */
  expand(block: Matrix): {
    readonly normalNorms: Float64Array;
    readonly projected: Matrix;
    readonly coefficients: Matrix;
  };
  /** Number of basis vectors held. */
  readonly basisSize: number;
  /** Appends orthonormal rows (orthogonal to the basis) to the basis. */
  append(vectors: Matrix): void;
  /** Replaces the whole basis. */
  reset(vectors: Matrix): void;
  /**
   * Block classical Gram–Schmidt, twice ("twice is enough", Giraud et al. 2005): X ← X − (X·Vᵀ)·V, two passes,
   * against the whole basis V. Returns the projected rows and the sum of both passes' coefficients X·Vᵀ.
   */
  projectOut(vectors: Matrix): { readonly projected: Matrix; readonly coefficients: Matrix };
  /** Rows Y·V: combinations (count × basisSize) of the basis vectors (count × dimension). */
  combine(coefficients: Matrix): Matrix;
  /** Releases what the space holds on the tensor backend. */
  dispose(): void;
}

/**
 * A Krylov space over a {@link LinearOperator} (float64 products and arithmetic, all in JavaScript): the
 * reference implementation, used on the plain `js` backend and with `products: "float64"`.
 */
export function hostKrylovSpace(operator: LinearOperator): KrylovSpace {
  const transposed = operator.rows < operator.cols;
  const dimension = Math.min(operator.rows, operator.cols);
  let basis: Matrix = { rows: 0, cols: dimension, data: new Float64Array(0) };
  return {
    dimension,
    outerDimension: Math.max(operator.rows, operator.cols),
    transposed,
    unitRoundoff: 2 ** -53,
    forward: (vectors) => (transposed ? operator.applyTransposed(vectors) : operator.apply(vectors)),
    backward: (vectors) => (transposed ? operator.apply(vectors) : operator.applyTransposed(vectors)),
    expand(block) {
      const normal = this.backward(this.forward(block));
      return { normalNorms: rowNorms(normal), ...this.projectOut(normal) };
    },
    get basisSize() {
      return basis.rows;
    },
    append(vectors) {
      const data = new Float64Array((basis.rows + vectors.rows) * dimension);
      data.set(basis.data);
      data.set(vectors.data, basis.data.length);
      basis = { rows: basis.rows + vectors.rows, cols: dimension, data };
    },
    reset(vectors) {
      basis = { rows: vectors.rows, cols: dimension, data: Float64Array.from(vectors.data) };
    },
    projectOut(vectors) {
      const projected: Matrix = {
        rows: vectors.rows,
        cols: dimension,
        data: Float64Array.from(vectors.data),
      };
      const coefficients = new Float64Array(vectors.rows * basis.rows);
      for (let pass = 0; pass < 2; pass++) {
        const step = multiplyByTransposeRows(projected, basis);
        subtractProduct(projected, step, basis);
        for (let i = 0; i < coefficients.length; i++)
          coefficients[i] = (coefficients[i] as number) + (step.data[i] as number);
      }
      return { projected, coefficients: { rows: vectors.rows, cols: basis.rows, data: coefficients } };
    },
    combine: (coefficients) => multiplyRows(coefficients, basis),
    dispose() {},
  };
}

/** Euclidean norms of the rows. */
export function rowNorms(rows: Matrix): Float64Array {
  const norms = new Float64Array(rows.rows);
  for (let r = 0; r < rows.rows; r++) {
    let sum = 0;
    for (let i = 0; i < rows.cols; i++) sum += (rows.data[r * rows.cols + i] as number) ** 2;
    norms[r] = Math.sqrt(sum);
  }
  return norms;
}

/** X·Bᵀ for row sets X (r × n) and B (d × n): every entry a dot product of two contiguous rows. */
function multiplyByTransposeRows(x: Matrix, b: Matrix): Matrix {
  const length = x.cols;
  const out = new Float64Array(x.rows * b.rows);
  for (let r = 0; r < x.rows; r++) {
    const xOffset = r * length;
    for (let j = 0; j < b.rows; j++) {
      const bOffset = j * length;
      let dot = 0;
      for (let i = 0; i < length; i++)
        dot += (x.data[xOffset + i] as number) * (b.data[bOffset + i] as number);
      out[r * b.rows + j] = dot;
    }
  }
  return { rows: x.rows, cols: b.rows, data: out };
}

/** X ← X − C·B for C (r × d) and the rows B (d × n). */
function subtractProduct(x: Matrix, c: Matrix, b: Matrix): void {
  const length = x.cols;
  for (let r = 0; r < x.rows; r++) {
    const xOffset = r * length;
    for (let j = 0; j < b.rows; j++) {
      const factor = c.data[r * c.cols + j] as number;
      if (factor === 0) continue;
      const bOffset = j * length;
      for (let i = 0; i < length; i++)
        x.data[xOffset + i] = (x.data[xOffset + i] as number) - factor * (b.data[bOffset + i] as number);
    }
  }
}

/** C·B for C (r × d) and the rows B (d × n). */
function multiplyRows(c: Matrix, b: Matrix): Matrix {
  const out: Matrix = { rows: c.rows, cols: b.cols, data: new Float64Array(c.rows * b.cols) };
  const negated: Matrix = { rows: c.rows, cols: c.cols, data: c.data.map((value) => -value) };
  subtractProduct(out, negated, b);
  return out;
}

/**
 * A Krylov space whose products and re-orthogonalisation run as float32 `matmul`s on the active
 * @peftjs/tensor backend (the wasm SIMD GEMM), with the basis and every intermediate of a step kept there:
 * the vectors are the rows of the left operand, A the right one as stored (`matmul(X, A)` or
 * `matmul(X, A, {transposeB})`, which the wasm GEMM packs as cheaply; materialising Aᵀ would cost more than
 * all the products of a 576 × 1536 layer's init), and the basis is a [basisSize, dimension] tensor, the right
 * operand of X·Vᵀ and C·V. Float32 costs nothing in the result: the Rayleigh–Ritz problem and the
 * final small SVD run in float64 and the returned triplets are measured against A (block-lanczos.ts).
 * `check` sees the first forward product (the wasm backend's non-finite test, see {@link chooseKrylovSpace}).
 */
export function backendKrylovSpace(a: Tensor, check: (result: Float32Array) => void): KrylovSpace {
  const rows = a.shape[0] as number;
  const cols = a.shape[1] as number;
  const transposedInput = rows < cols;
  // Rows x·A (x on the row side of A) or x·Aᵀ = matmul(x, A, transposeB) (x on the column side): A is used
  // as stored, never copied; the wasm GEMM packs a transposed right operand as cheaply as a plain one.
  const multiplyByA = (vectors: Tensor, transposeA: boolean): Tensor =>
    matmul(vectors, a, { transposeB: transposeA });
  const dimension = Math.min(rows, cols);
  let basis: Tensor | undefined;
  let checked = false;
  const upload = (vectors: Matrix): Tensor =>
    tensor(Float32Array.from(vectors.data), [vectors.rows, vectors.cols]);
  const read = (value: Tensor): Float64Array => {
    const values = Float64Array.from(value.toFloat32Array());
    value.dispose();
    return values;
  };
  const forwardProduct = (vectors: Tensor): Tensor => {
    const product = multiplyByA(vectors, !transposedInput);
    if (!checked) {
      checked = true;
      check(product.toFloat32Array());
    }
    return product;
  };
  /** Two passes of X ← X − (X·Vᵀ)·V on the device; consumes `current`. */
  const project = (current: Tensor, count: number) => {
    const size = basis?.shape[0] ?? 0;
    const coefficients = new Float64Array(count * size);
    if (basis !== undefined) {
      for (let pass = 0; pass < 2; pass++) {
        const step = matmul(current, basis, { transposeB: true });
        const removed = matmul(step, basis);
        const next = sub(current, removed);
        const values = step.toFloat32Array();
        for (let i = 0; i < coefficients.length; i++)
          coefficients[i] = (coefficients[i] as number) + (values[i] as number);
        for (const value of [current, step, removed]) value.dispose();
        current = next;
      }
    }
    return {
      projected: { rows: count, cols: dimension, data: read(current) },
      coefficients: { rows: count, cols: size, data: coefficients },
    };
  };
  return {
    dimension,
    outerDimension: Math.max(rows, cols),
    transposed: transposedInput,
    unitRoundoff: 2 ** -24,
    forward(vectors) {
      const input = upload(vectors);
      const product = forwardProduct(input);
      input.dispose();
      return { rows: vectors.rows, cols: product.shape[1] as number, data: read(product) };
    },
    backward(vectors) {
      const input = upload(vectors);
      const product = multiplyByA(input, transposedInput);
      input.dispose();
      return { rows: vectors.rows, cols: dimension, data: read(product) };
    },
    expand(block) {
      const input = upload(block);
      const outer = forwardProduct(input);
      const normal = multiplyByA(outer, transposedInput);
      input.dispose();
      outer.dispose();
      const values = normal.toFloat32Array();
      const normalNorms = new Float64Array(block.rows);
      for (let r = 0; r < block.rows; r++) {
        let sum = 0;
        for (let i = 0; i < dimension; i++) sum += (values[r * dimension + i] as number) ** 2;
        normalNorms[r] = Math.sqrt(sum);
      }
      return { normalNorms, ...project(normal, block.rows) };
    },
    get basisSize() {
      return basis?.shape[0] ?? 0;
    },
    append(vectors) {
      const added = upload(vectors);
      if (basis === undefined) {
        basis = added;
        return;
      }
      const grown = concat([basis, added], 0);
      basis.dispose();
      added.dispose();
      basis = grown;
    },
    reset(vectors) {
      basis?.dispose();
      basis = upload(vectors);
    },
    projectOut: (vectors) => project(upload(vectors), vectors.rows),
    combine(coefficients) {
      if (basis === undefined) throw new Error("combine: the basis is empty");
      const input = upload(coefficients);
      const product = matmul(input, basis);
      input.dispose();
      return { rows: coefficients.rows, cols: dimension, data: read(product) };
    },
    dispose() {
      basis?.dispose();
      basis = undefined;
    },
  };
}

/**
 * Where the products with `a` run under a {@link ProductMode}, with `a` validated (NonFiniteInputError naming
 * the first NaN/±Infinity): off the backend (float64 kernels on the plain `js` backend, or when asked), `a`
 * is read back and scanned and its values returned; on a non-wasm backend it is scanned first too; on the
 * wasm backend it is not read back at all (a copy and scan cost more than all the products of a layer):
 * `check` scans the first product instead, which a NaN/±Infinity anywhere in A reaches in IEEE float32
 * arithmetic (0·∞ = NaN, ∞ − ∞ = NaN; the wasm GEMM neither flushes nor skips zeros), and reads A only then.
 * A finite A whose product overflows passes the scan and proceeds as before.
 */
export function productValidation(
  operation: string,
  a: Tensor,
  mode: ProductMode,
):
  | { readonly onBackend: false; readonly values: Float32Array }
  | { readonly onBackend: true; readonly check: (product: Float32Array) => void } {
  const backend = getBackend();
  const useBackend = mode === "backend" || (mode === "auto" && backend !== "js");
  if (!useBackend) return { onBackend: false, values: readMatrix(operation, a).values };
  if (backend !== "wasm") {
    readMatrix(operation, a);
    return { onBackend: true, check: () => {} };
  }
  return {
    onBackend: true,
    check: (product) => {
      // An indexed loop: for..of over a typed array runs an iterator that V8 optimises only once the loop is hot.
      for (let index = 0; index < product.length; index++) {
        const value = product[index] as number;
        // value − value is NaN exactly for NaN and ±Infinity.
        if (value - value !== 0) {
          readMatrix(operation, a);
          return;
        }
      }
    },
  };
}

/** The Krylov space for `a` under a {@link ProductMode}, validated as {@link productValidation} says. */
export function chooseKrylovSpace(operation: string, a: Tensor, mode: ProductMode): KrylovSpace {
  const validation = productValidation(operation, a, mode);
  if (validation.onBackend === false) {
    const [rows, cols] = a.shape as [number, number];
    return hostKrylovSpace(denseOperator(rows, cols, validation.values));
  }
  return backendKrylovSpace(a, validation.check);
}
