// The threshold predictor run the way the engine runs a backbone: BN folded into its convs, ReLU
// fused, the direct 3x3 kernel, buffers allocated once, one image at a time on the calling thread.
//
// Through the training graph (im2col + SGEMM layers, BN as its own pass) the predictor's ~0.13M
// MACs took ~55 us per CIFAR image at batch 1 (`bench infer --profile`): 6-7% of a 2.3x dynamic
// ResNet-20's latency for under 1% of its MACs. Here it takes a few microseconds. Its outputs equal
// the training graph's eval-mode outputs up to float rounding (BN folded); tested with the kept
// channel counts they imply.
// Like the backbone, its layers write straight into the layout the next conv reads: the average
// pool into a zero-bordered plane, a stride-1 conv followed by a stride-2 one into the latter's
// phase planes. Copying them instead took ~4 of its ~10 us per CIFAR image (one core, AVX-512):
// the pool (2 us, as generic code) and the two pad copies (2.7 us).
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming

final class PredictorExecutor: @unchecked Sendable {
    enum Step {
        case avgPool(kernel: Int, stride: Int)
        case conv(ConvOp)
        case globalAvgPool
        case linear(LinearOp)
    }
    let steps: [Step]
    let input: FeatureShape
    let outputs: Int
    private let ping = ScratchBuffer(), pong = ScratchBuffer(), padded = ScratchBuffer()
    /// Per step index: a zeroed buffer its (direct) conv reads in place, written by the step before
    /// it: a zero-bordered plane (stride 1, after a 2x2 average pool) or phase planes (stride 2,
    /// after a stride-1 conv). Their borders are never written, so they stay zero.
    private let fusedInputs: [Int: UnsafeMutablePointer<Float>]

    /// nil when the predictor has a layer this executor does not run (the caller then uses the
    /// training graph).
    init?(_ predictor: ThresholdPredictor) {
        var steps: [Step] = [], pending: Conv2dLayer?
        for (_, layer) in predictor.body.children {
            switch layer {
            case let pool as AvgPoolLayer:
                guard pending == nil else { return nil }
                steps.append(.avgPool(kernel: pool.kernel, stride: pool.stride))
            case let conv as Conv2dLayer:
                guard pending == nil, conv.kernel == 3, conv.padding == 1, conv.stride == 1 || conv.stride == 2 else { return nil }
                pending = conv
            case let bn as BatchNormLayer:
                guard let conv = pending else { return nil }
                steps.append(.conv(ConvOp(conv: conv, bn: bn)))
                pending = nil
            case is GlobalAvgPoolLayer: steps.append(.globalAvgPool)
            case let fc as LinearLayer: steps.append(.linear(LinearOp(fc)))
            default: return nil
            }
        }
        guard pending == nil, case .linear(let last)? = steps.last, last.outF == predictor.outputs else { return nil }
        self.steps = steps
        input = predictor.inputShape
        outputs = predictor.outputs
        // Shapes entering each step, and the buffers of the fused layouts.
        var fused: [Int: UnsafeMutablePointer<Float>] = [:]
        var c = input.c, h = input.h, w = input.w
        for (i, step) in steps.enumerated() {
            if i > 0, case .conv(let o) = step {
                let fuses: Bool
                switch (steps[i - 1], o.stride) {
                case (.avgPool(2, 2), 1): fuses = true
                case (.conv(let prev), 2): fuses = prev.stride == 1
                default: fuses = false
                }
                if fuses {
                    let count = DirectConv3x3.paddedCount(channels: c, height: h, width: w, stride: o.stride)
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                    p.initialize(repeating: 0, count: count)
                    fused[i] = p
                }
            }
            switch step {
            case let .avgPool(k, st): h = (h - k) / st + 1; w = (w - k) / st + 1
            case .conv(let o): (h, w) = o.outSize(h, w); c = o.outC
            case .globalAvgPool: h = 1; w = 1
            case .linear(let fc): c = fc.outF; h = 1; w = 1
            }
        }
        fusedInputs = fused
    }

    deinit { for p in fusedInputs.values { p.deallocate() } }

    /// 2x2 average pool (stride 2) of channels [C, h, w] into the interior of a zero-bordered
    /// plane set of the pooled size (DirectConv3x3's padded layout). Eight outputs per step from
    /// 16 floats of two input rows where the row allows.
    static func avgPool2(_ x: UnsafePointer<Float>, channels: Int, h: Int, w: Int, intoPadded p: UnsafeMutablePointer<Float>) {
        let ho = h / 2, wo = w / 2, wp = DirectConv3x3.paddedWidth(wo), plane = (ho + 2) * wp
        for c in 0..<channels {
            let src = x + c * h * w, dst = p + c * plane + wp + 1
            for i in 0..<ho {
                let r0 = UnsafeRawPointer(src + 2 * i * w), r1 = UnsafeRawPointer(src + (2 * i + 1) * w), d = dst + i * wp
                var j = 0
                while 2 * j + 16 <= w {
                    let s = r0.loadUnaligned(fromByteOffset: 8 * j, as: SIMD16<Float>.self) + r1.loadUnaligned(fromByteOffset: 8 * j, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(d + j).storeBytes(of: (s.evenHalf + s.oddHalf) * 0.25, as: SIMD8<Float>.self)
                    j += 8
                }
                let a = src + 2 * i * w, b = a + w
                while j < wo { d[j] = (a[2 * j] + a[2 * j + 1] + b[2 * j] + b[2 * j + 1]) * 0.25; j += 1 }
            }
        }
    }

    /// out[0..<outputs] = the predictor's raw outputs o for one image [C, H, W].
    func run(image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) throws {
        var cur = image, c = input.c, h = input.h, w = input.w
        var usePing = true
        func next(_ count: Int) -> UnsafeMutablePointer<Float> {
            defer { usePing.toggle() }
            return (usePing ? ping : pong).reserve(count)
        }
        // The current activation is in the zero-bordered layout (or phase planes) the step at
        // index `inPlace` reads, instead of plain at `cur`.
        var inPlace = -1
        for (i, step) in steps.enumerated() {
            switch step {
            case .avgPool(2, 2) where fusedInputs[i + 1] != nil:
                Self.avgPool2(cur, channels: c, h: h, w: w, intoPadded: fusedInputs[i + 1]!)
                h /= 2; w /= 2; inPlace = i + 1
            case let .avgPool(k, s):
                let g = PoolGeometry(batch: 1, channels: c, inHeight: h, inWidth: w, kernel: k, stride: s)
                let y = next(g.outputCount)
                try AvgPool2D.forward(g, input: UnsafeBufferPointer(start: cur, count: g.inputCount),
                                      output: UnsafeMutableBufferPointer(start: y, count: g.outputCount))
                cur = UnsafePointer(y); h = g.outHeight; w = g.outWidth
            case .conv(let o):
                let (ho, wo) = o.outSize(h, w)
                let p: UnsafeMutablePointer<Float>
                if inPlace == i { p = fusedInputs[i]! } else {
                    p = padded.reserve(DirectConv3x3.paddedCount(channels: c, height: h, width: w, stride: o.stride))
                    DirectConv3x3.pad(channels: 0..<c, height: h, width: w, cur, channelStride: h * w, into: p, stride: o.stride)
                }
                o.weight.withUnsafeBufferPointer { wp in o.bias.withUnsafeBufferPointer { bp in
                    if let phases = fusedInputs[i + 1] {
                        // The next conv is stride 2: write its phase planes.
                        DirectConv3x3.computePhaseOutput(inChannels: c, height: h, width: w, padded: p, weight: wp.baseAddress!,
                                                         weightStride: o.rowLength, bias: bp.baseAddress!, residual: nil, residualStride: 0,
                                                         relu: o.relu, output: phases,
                                                         outputStride: DirectConv3x3.paddedCount(channels: 1, height: ho, width: wo, stride: 2),
                                                         rows: 0..<o.outC)
                        inPlace = i + 1
                    } else {
                        let y = next(o.outC * ho * wo)
                        DirectConv3x3.compute(inChannels: c, height: h, width: w, padded: p, weight: wp.baseAddress!, weightStride: o.rowLength,
                                              bias: bp.baseAddress!, residual: nil, residualStride: 0, relu: o.relu, output: y, outputStride: ho * wo,
                                              rows: 0..<o.outC, stride: o.stride)
                        cur = UnsafePointer(y)
                    }
                } }
                c = o.outC; h = ho; w = wo
            case .globalAvgPool:
                let y = next(c)
                InferenceEngine.globalAvgPool(Activation(ptr: UnsafeMutablePointer(mutating: cur), h: h, w: w, padded: false), channels: c, into: y)
                cur = UnsafePointer(y); h = 1; w = 1
            case .linear(let fc):
                for o in 0..<fc.outF {
                    var acc = fc.bias[o]
                    for j in 0..<fc.inF { acc += fc.weight[o * fc.inF + j] * cur[j] }
                    out[o] = acc
                }
            }
        }
    }
}
