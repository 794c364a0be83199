// Executing the compiled ops for one image, channel prefixes and all.
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming

extension InferenceEngine {
    /// Logits [n, classes] for n images [n, C, H, W]. For a dynamic model `kept` (if given)
    /// receives each image's active channel count per gated layer [n, L].
    public func run(images: UnsafeBufferPointer<Float>, n: Int, logits: UnsafeMutableBufferPointer<Float>,
                    kept: UnsafeMutableBufferPointer<Int32>? = nil) throws {
        let s = config.inputShape, L = gateWidths.count, classes = config.classes
        try ShapeError.check("engine", "images", count: images.count, expected: n * s.count, shape: [n, s.c, s.h, s.w])
        try ShapeError.check("engine", "logits", count: logits.count, expected: n * classes, shape: [n, classes])
        var k = [Int32](repeating: 0, count: max(1, n * L))
        for i in 0..<n { for l in 0..<L { k[i * L + l] = Int32(gateWidths[l]) } }
        if let dynamic {
            // Thresholds from the predictor; k = how many sorted |gamma| reach the threshold (>= 1).
            let o = try dynamic.predictor.forward(images: images, n: n, mode: .eval)
            for l in 0..<L {
                let a = sortedAbsGamma[l]
                let (lo, hi) = GateRule.range(a)
                for i in 0..<n {
                    let t = dynamic.fixedThresholds?[l] ?? GateRule.threshold(o.pointer[i * L + l], lo: lo, hi: hi)
                    var low = 0, high = a.count  // first index with a[idx] < t
                    while low < high { let mid = (low + high) / 2; if a[mid] >= t { low = mid + 1 } else { high = mid } }
                    k[i * L + l] = Int32(max(1, low))
                }
            }
        }
        if let kept { for i in 0..<min(kept.count, n * L) { kept[i] = k[i] } }
        let x = SendableConstPointer(images.baseAddress!), y = SendablePointer(logits.baseAddress!)
        let kk = k
        if n == 1 && threads > 1 {
            try runSample(x.base, kept: kk, sample: 0, ctx: contexts[0], parallel: true, out: y.base)
        } else {
            let errors = ErrorBox()
            Parallel.forChunks(n, threads: threads) { chunk, range in
                for i in range {
                    do { try self.runSample(x.advanced(by: i * s.count), kept: kk, sample: i, ctx: self.contexts[chunk], parallel: false,
                                            out: y.advanced(by: i * classes)) } catch { errors.set(error) }
                }
            }
            if let e = errors.error { throw e }
        }
    }

    /// MACs of one image given its kept counts (predictor excluded).
    public func macs(kept: [Int]) -> Double { accounting.macs(kept: kept) }

    func runSample(_ input: UnsafePointer<Float>, kept: [Int32], sample i: Int, ctx: SampleContext, parallel: Bool,
                   out: UnsafeMutablePointer<Float>) throws {
        let L = gateWidths.count
        func k(_ gate: Int?) -> Int? { gate.map { Int(kept[i * L + $0]) } }
        var cur = UnsafeMutablePointer(mutating: input)
        var active = config.inputChannels, h = config.inputHeight, w = config.inputWidth
        var which = 0
        func next() -> UnsafeMutablePointer<Float> { defer { which = (which + 1) % 2 }; return ctx.act[which].reserve(maxActivation) }
        for op in ops {
            switch op {
            case .conv(let o):
                let outK = k(o.outGate) ?? o.outC, inK = k(o.inGate) ?? active
                let dst = next()
                let (ho, wo) = o.outSize(h, w)
                conv(o, cur, inK: inK, outK: outK, h: h, w: w, dst, residual: nil, ctx: ctx, parallel: parallel)
                cur = dst; active = outK; h = ho; w = wo
            case .block(let b):
                let mid = k(b.conv1.outGate) ?? b.conv1.outC
                let (ho, wo) = b.conv1.outSize(h, w)
                let t = ctx.act[2].reserve(maxActivation)
                conv(b.conv1, cur, inK: active, outK: mid, h: h, w: w, t, residual: nil, ctx: ctx, parallel: parallel)
                // The shortcut, as a [planes, ho*wo] plane set the conv2 epilogue adds before its ReLU.
                let P = ho * wo, planes = b.conv2.outC
                let short: UnsafePointer<Float>
                switch b.shortcut {
                case .identity: short = UnsafePointer(cur)
                case let .zeroPad(stride, before):
                    let sp = ctx.short.reserve(planes * P)
                    sp.update(repeating: 0, count: planes * P)
                    for ch in 0..<active {
                        let src = cur + ch * h * w, dst = sp + (before + ch) * P
                        for oy in 0..<ho { for ox in 0..<wo { dst[oy * wo + ox] = src[oy * stride * w + ox * stride] } }
                    }
                    short = UnsafePointer(sp)
                case .projection(let p):
                    let sp = ctx.short.reserve(planes * P)
                    conv(p, cur, inK: active, outK: p.outC, h: h, w: w, sp, residual: nil, ctx: ctx, parallel: parallel)
                    short = UnsafePointer(sp)
                }
                let dst = next()
                // The block ends with relu(bn2(conv2) + shortcut): ReLU after the residual add.
                conv(b.conv2, t, inK: mid, outK: planes, h: ho, w: wo, dst, residual: short, reluAfter: true, ctx: ctx, parallel: parallel)
                cur = dst; active = planes; h = ho; w = wo
            case let .maxPool(kern, stride):
                let ho = (h - kern) / stride + 1, wo = (w - kern) / stride + 1
                let dst = next()
                for ch in 0..<active {
                    let src = cur + ch * h * w, d = dst + ch * ho * wo
                    for oy in 0..<ho { for ox in 0..<wo {
                        var m = -Float.infinity
                        for ky in 0..<kern { for kx in 0..<kern { m = max(m, src[(oy * stride + ky) * w + ox * stride + kx]) } }
                        d[oy * wo + ox] = m
                    } }
                }
                cur = dst; h = ho; w = wo
            case .globalAvgPool:
                let dst = next(), P = h * w, inv = 1 / Float(P)
                for ch in 0..<active {
                    var sum: Float = 0
                    let src = cur + ch * P
                    for j in 0..<P { sum += src[j] }
                    dst[ch] = sum * inv
                }
                cur = dst; h = 1; w = 1
            case .linear(let li):
                let inK = k(li.inGate) ?? active
                // logits[1, outF] = x[1, inK] * W[:, 0..<inK]^T + b (W is [outF, inF], row stride inF).
                li.weight.withUnsafeBufferPointer { wp in
                    BLAS.sgemm(transB: true, m: 1, n: li.outF, k: inK, a: cur, lda: inK, b: wp.baseAddress!, ldb: li.inF, c: out, ldc: li.outF)
                }
                for j in 0..<li.outF { out[j] += li.bias[j] }
                return
            }
        }
        // Networks ending in a conv classifier (M-CifarNet): logits are the last activation.
        for j in 0..<config.classes { out[j] = cur[j] }
    }

    /// y[outK, P] = relu?(W[0..<outK, 0..<inK*kk] * im2col(x[0..<inK]) + bias (+ residual)).
    func conv(_ o: ConvOp, _ x: UnsafePointer<Float>, inK: Int, outK: Int, h: Int, w: Int, _ y: UnsafeMutablePointer<Float>,
              residual: UnsafePointer<Float>?, reluAfter: Bool = false, ctx: SampleContext, parallel: Bool) {
        let g = Conv2DGeometry(batch: 1, inChannels: inK, inHeight: h, inWidth: w, outChannels: outK,
                               kernel: o.kernel, stride: o.stride, padding: o.padding)
        let P = g.outPlane, K = g.colRows, kk = o.kernel * o.kernel
        let useThreads = parallel && threads > 1 && outK * K * P >= 1 << 16
        let colPtr: UnsafePointer<Float>
        if g.isPointwise { colPtr = x } else {
            let col = ctx.col.reserve(K * P)
            if useThreads {
                let sx = SendableConstPointer(x), sc = SendablePointer(col)
                Parallel.forChunks(inK, threads: threads) { chunk, channels in
                    var sub = g
                    sub.inChannels = channels.count
                    let phase = self.contexts[chunk].phase.reserve(Conv2D.im2colPhaseScratch(sub))
                    Conv2D.im2colSample(sub, sx.advanced(by: channels.lowerBound * h * w), sc.advanced(by: channels.lowerBound * kk * P), ld: P,
                                        phaseBuffer: phase)
                }
            } else {
                Conv2D.im2colSample(g, x, col, ld: P, phaseBuffer: ctx.phase.reserve(Conv2D.im2colPhaseScratch(g)))
            }
            colPtr = UnsafePointer(col)
        }
        o.weight.withUnsafeBufferPointer { wp in o.bias.withUnsafeBufferPointer { bp in
            let sw = SendableConstPointer(wp.baseAddress!), sb = SendableConstPointer(bp.baseAddress!)
            let sc = SendableConstPointer(colPtr), sy = SendablePointer(y), sr = residual.map { SendableConstPointer($0) }
            let lda = o.rowLength, relu = o.relu || reluAfter
            let body: @Sendable (Int, Range<Int>) -> Void = { _, cols in
                if cols.isEmpty { return }
                BLAS.sgemm(m: outK, n: cols.count, k: K, a: sw.base, lda: lda, b: sc.advanced(by: cols.lowerBound), ldb: P,
                           c: sy.advanced(by: cols.lowerBound), ldc: P)
                for m in 0..<outK {
                    let row = sy.advanced(by: m * P)
                    let bias = sb[m]
                    if let sr {
                        let r = sr.advanced(by: m * P)
                        if relu { for p in cols { row[p] = max(row[p] + bias + r[p], 0) } } else { for p in cols { row[p] += bias + r[p] } }
                    } else if relu { for p in cols { row[p] = max(row[p] + bias, 0) } } else { for p in cols { row[p] += bias } }
                }
            }
            if useThreads { Parallel.forChunks(P, threads: threads, body) } else { body(0, 0..<P) }
        } }
    }
}

/// Collects the first error thrown inside a parallel region.
final class ErrorBox: @unchecked Sendable {
    private(set) var error: Error?
    private let lock = NSLockLike()
    func set(_ e: Error) { lock.withLock { if error == nil { error = e } } }
}

final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<T>(_ body: () -> T) -> T { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return body() }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
