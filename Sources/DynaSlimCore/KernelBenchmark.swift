// `dynaslim bench kernels`: conv forward / backward throughput on the conv layers of a CIFAR
// ResNet-20 at batch 128, next to raw SGEMM on the GEMM shapes those convs reduce to, measured
// in the same run. Library code: returns numbers, the CLI prints them.
import Dispatch

public struct KernelBenchmarkRow: Sendable, Codable {
    public var layer: String
    public var geometry: String
    /// GEMM shape of the forward pass for the whole batch: M x N x K.
    public var gemmShape: String
    public var forwardMs: Double, forwardGflops: Double
    public var backwardMs: Double, backwardGflops: Double
    /// Raw SGEMM on the forward / backward GEMM shapes (best of the two ways of running it).
    public var sgemmForwardGflops: Double, sgemmBackwardGflops: Double
    /// The same conv through im2col + SGEMM (the direct 3x3 kernel switched off), same run.
    public var im2colForwardMs: Double, im2colBackwardMs: Double
    public var forwardEfficiency: Double { forwardGflops / sgemmForwardGflops }
    public var backwardEfficiency: Double { backwardGflops / sgemmBackwardGflops }
}

public struct KernelBenchmarkResult: Sendable, Codable {
    public var threads: Int
    public var batch: Int
    public var rows: [KernelBenchmarkRow]
    /// Geometric mean over layers of conv-forward GFLOP/s / SGEMM GFLOP/s of its shape.
    public var convEfficiency: Double
    public var backwardEfficiency: Double
}

public enum KernelBenchmark {
    /// The distinct conv layers of a CIFAR ResNet-20 (3x32x32 input).
    public static func resnet20Layers(batch: Int) -> [(String, Conv2DGeometry)] {
        [("stem 3->16 @32", Conv2DGeometry(batch: batch, inChannels: 3, inHeight: 32, inWidth: 32, outChannels: 16, kernel: 3, padding: 1)),
         ("16->16 @32", Conv2DGeometry(batch: batch, inChannels: 16, inHeight: 32, inWidth: 32, outChannels: 16, kernel: 3, padding: 1)),
         ("16->32 s2 @32", Conv2DGeometry(batch: batch, inChannels: 16, inHeight: 32, inWidth: 32, outChannels: 32, kernel: 3, stride: 2, padding: 1)),
         ("32->32 @16", Conv2DGeometry(batch: batch, inChannels: 32, inHeight: 16, inWidth: 16, outChannels: 32, kernel: 3, padding: 1)),
         ("32->64 s2 @16", Conv2DGeometry(batch: batch, inChannels: 32, inHeight: 16, inWidth: 16, outChannels: 64, kernel: 3, stride: 2, padding: 1)),
         ("64->64 @8", Conv2DGeometry(batch: batch, inChannels: 64, inHeight: 8, inWidth: 8, outChannels: 64, kernel: 3, padding: 1))]
    }

    /// Median wall time in seconds of `body` over `repeats` runs after `warmup` runs.
    public static func medianSeconds(repeats: Int, warmup: Int = 2, _ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        times.sort()
        return times[times.count / 2]
    }

    public static func run(batch: Int = 128, repeats: Int = 9, threads: Int = Parallel.defaultThreadCount) throws -> KernelBenchmarkResult {
        BLAS.setThreadCount(1)
        let ws = Workspace(threads: threads)
        var rows: [KernelBenchmarkRow] = []
        var rng = SplitMix64(seed: 1)
        for (name, g) in resnet20Layers(batch: batch) {
            let x = Tensor(randomNormal: g.inputShape, rng: &rng).data
            let w = Tensor(randomNormal: g.weightShape, std: 0.1, rng: &rng).data
            var y = [Float](repeating: 0, count: g.outputCount)
            let dy = Tensor(randomNormal: g.outputShape, rng: &rng).data
            var dx = [Float](repeating: 0, count: g.inputCount), dw = [Float](repeating: 0, count: g.weightCount)
            func measure(direct: Bool) throws -> (Double, Double) {
                let saved = Conv2D.useDirect3x3
                Conv2D.useDirect3x3 = direct
                defer { Conv2D.useDirect3x3 = saved }
                let fwd = try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try y.withUnsafeMutableBufferPointer { yp in
                    try medianSeconds(repeats: repeats) { try Conv2D.forward(g, input: xp, weight: wp, output: yp, workspace: ws) }
                } } }
                let bwd = try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try dy.withUnsafeBufferPointer { dyp in
                    try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in
                        try medianSeconds(repeats: repeats) {
                            try Conv2D.backward(g, input: xp, weight: wp, outputGrad: dyp, inputGrad: dxp, weightGrad: dwp, workspace: ws)
                        }
                    } }
                } } }
                return (fwd, bwd)
            }
            let (fwd, bwd) = try measure(direct: true)
            let (fwdIm2col, bwdIm2col) = DirectConv3x3.applies(g) ? try measure(direct: false) : (fwd, bwd)
            let flops = 2.0 * Double(g.macs)
            let (sf, sb) = sgemmRates(g, threads: threads, repeats: repeats)
            rows.append(KernelBenchmarkRow(
                layer: name, geometry: g.description, gemmShape: "\(g.outChannels)x\(g.batch * g.outPlane)x\(g.colRows)",
                forwardMs: fwd * 1e3, forwardGflops: flops / fwd / 1e9,
                backwardMs: bwd * 1e3, backwardGflops: 2 * flops / bwd / 1e9,
                sgemmForwardGflops: sf, sgemmBackwardGflops: sb, im2colForwardMs: fwdIm2col * 1e3, im2colBackwardMs: bwdIm2col * 1e3))
        }
        func geomean(_ v: [Double]) -> Double { exp(v.map { log($0) }.reduce(0, +) / Double(v.count)) }
        return KernelBenchmarkResult(threads: threads, batch: batch, rows: rows,
                                     convEfficiency: geomean(rows.map(\.forwardEfficiency)),
                                     backwardEfficiency: geomean(rows.map(\.backwardEfficiency)))
    }

    /// SGEMM GFLOP/s for the forward GEMM (W[M x K] * col[K x N], N = batch * outPlane) and the
    /// backward pair (dW = dY col^T, dCol = W^T dY), each the better of two ways to run it on
    /// `threads` cores: (a) one multi-threaded call over the whole batch; (b) the batch split
    /// across threads, one single-threaded call per group of samples, exactly the calls the conv makes.
    static func sgemmRates(_ g: Conv2DGeometry, threads: Int, repeats: Int) -> (forward: Double, backward: Double) {
        let M = g.outChannels, K = g.colRows, N = g.batch * g.outPlane
        let a = UnsafeMutablePointer<Float>.allocate(capacity: M * K); a.initialize(repeating: 0.01, count: M * K)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: K * N); b.initialize(repeating: 0.01, count: K * N)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: M * N); c.initialize(repeating: 0, count: M * N)
        let dc = UnsafeMutablePointer<Float>.allocate(capacity: K * N); dc.initialize(repeating: 0, count: K * N)
        let dwParts = UnsafeMutablePointer<Float>.allocate(capacity: M * K * threads); dwParts.initialize(repeating: 0, count: M * K * threads)
        defer { a.deallocate(); b.deallocate(); c.deallocate(); dc.deallocate(); dwParts.deallocate() }
        let flops = 2.0 * Double(M) * Double(N) * Double(K)

        // (a) one call, BLAS threads = threads.
        BLAS.setThreadCount(threads)
        let fa = medianSeconds(repeats: repeats) { BLAS.sgemm(m: M, n: N, k: K, a: a, lda: K, b: b, ldb: N, c: c, ldc: N) }
        let ba = medianSeconds(repeats: repeats) {
            BLAS.sgemm(transB: true, m: M, n: K, k: N, a: c, lda: N, b: b, ldb: N, c: dwParts, ldc: K)
            BLAS.sgemm(transA: true, m: K, n: N, k: M, a: a, lda: K, b: c, ldb: N, c: dc, ldc: N)
        }
        BLAS.setThreadCount(1)
        // (b) batch split, the conv's own grouping, one BLAS thread per call.
        let sa = SendablePointer(a), sb = SendablePointer(b), sc = SendablePointer(c), sdc = SendablePointer(dc), sdw = SendablePointer(dwParts)
        let P = g.outPlane
        let fb = medianSeconds(repeats: repeats) {
            Parallel.forChunks(g.batch, threads: threads) { _, range in
                let gs = Conv2D.samplesPerGemm(g, chunk: range.count)
                var n = range.lowerBound
                while n < range.upperBound {
                    let cnt = min(gs, range.upperBound - n), off = n * P
                    BLAS.sgemm(m: M, n: cnt * P, k: K, a: sa.base, lda: K, b: sb.advanced(by: off), ldb: N, c: sc.advanced(by: off), ldc: N)
                    n += cnt
                }
            }
        }
        let bb = medianSeconds(repeats: repeats) {
            Parallel.forChunks(g.batch, threads: threads) { chunk, range in
                let gs = Conv2D.samplesPerGemm(g, chunk: range.count)
                var n = range.lowerBound
                while n < range.upperBound {
                    let cnt = min(gs, range.upperBound - n), off = n * P
                    BLAS.sgemm(transB: true, m: M, n: K, k: cnt * P, a: sc.advanced(by: off), lda: N, b: sb.advanced(by: off), ldb: N,
                               beta: 1, c: sdw.advanced(by: chunk * M * K), ldc: K)
                    BLAS.sgemm(transA: true, m: K, n: cnt * P, k: M, a: sa.base, lda: K, b: sc.advanced(by: off), ldb: N,
                               c: sdc.advanced(by: off), ldc: N)
                    n += cnt
                }
            }
        }
        return (flops / min(fa, fb) / 1e9, 2 * flops / min(ba, bb) / 1e9)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
