// The platform BLAS: Accelerate on Apple platforms, OpenBLAS (pthread build) on Linux.
// Only single-precision GEMM is needed: every conv and linear layer reduces to it.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

public enum BLAS {
    /// C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, row-major.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (before `op`).
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        #if canImport(Accelerate)
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        #else
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
        #endif
    }

    /// Threads OpenBLAS may use inside one call. DynaSlim parallelizes over the batch itself and
    /// keeps BLAS single-threaded (measured faster on these shapes, see docs/design.md: Parallelism); benchmarks of
    /// raw SGEMM raise it. No effect with Accelerate, which manages its own threads.
    public static func setThreadCount(_ count: Int) {
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, count)))
        #endif
    }
}
