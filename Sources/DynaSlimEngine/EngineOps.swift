// The engine's compiled operations. Every conv carries its BN folded in
// (w' = w * gamma / sqrt(var + eps) per output row, b' = beta - mean * gamma / sqrt(var + eps))
// and its ReLU fused, so a conv is one GEMM plus a bias / ReLU epilogue.
import DynaSlimCore
import DynaSlimNN

/// A conv with folded BN. `weight` is [outC][inC * k * k]; a gated consumer reads only its first
/// `inK` input channels (leading dimension stays inC * k * k), a gated producer computes only its
/// first `outK` rows: the channels were reordered by |gamma| so active channels form a prefix.
final class ConvOp {
    let inC, outC, kernel, stride, padding: Int
    var weight: [Float]
    var bias: [Float]
    let relu: Bool
    var inGate: Int?, outGate: Int?
    /// Batch 1: whether this conv is split over the cores (learned from its timings).
    var threadChoice = ThreadChoice()

    init(conv: Conv2dLayer, bn: BatchNormLayer?) {
        inC = conv.inChannels; outC = conv.outChannels; kernel = conv.kernel; stride = conv.stride; padding = conv.padding
        weight = conv.weight.value
        bias = conv.bias?.value ?? [Float](repeating: 0, count: conv.outChannels)
        relu = bn?.fusedReLU ?? false
        if let bn {
            let K = inC * kernel * kernel
            for o in 0..<outC {
                let scale = bn.weight.value[o] / (bn.runningVar.value[o] + bn.epsilon).squareRoot()
                for j in 0..<K { weight[o * K + j] *= scale }
                bias[o] = bn.bias.value[o] + (bias[o] - bn.runningMean.value[o]) * scale
            }
        }
    }

    var rowLength: Int { inC * kernel * kernel }



    /// Reorders output rows (and biases) by `perm` (new row i = old row perm[i]).
    func permuteRows(_ perm: [Int]) {
        let K = rowLength
        var w = weight, b = bias
        for (i, p) in perm.enumerated() {
            for j in 0..<K { w[i * K + j] = weight[p * K + j] }
            b[i] = bias[p]
        }
        weight = w; bias = b
    }

    /// Reorders input channels by `perm` (new channel i = old channel perm[i]).
    func permuteInputs(_ perm: [Int]) {
        let kk = kernel * kernel, K = rowLength
        var w = weight
        for o in 0..<outC { for (i, p) in perm.enumerated() { for t in 0..<kk { w[o * K + i * kk + t] = weight[o * K + p * kk + t] } } }
        weight = w
    }

    func outSize(_ h: Int, _ w: Int) -> (Int, Int) { ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1) }
}

final class LinearOp {
    let inF, outF: Int
    var weight: [Float]
    let bias: [Float]
    var inGate: Int?
    init(_ l: LinearLayer) { inF = l.inFeatures; outF = l.outFeatures; weight = l.weight.value; bias = l.bias.value }
    func permuteInputs(_ perm: [Int]) {
        var w = weight
        for o in 0..<outF { for (i, p) in perm.enumerated() { w[o * inF + i] = weight[o * inF + p] } }
        weight = w
    }
}

enum Shortcut {
    case identity
    case zeroPad(stride: Int, padBefore: Int)
    case projection(ConvOp)
}

final class BlockOp {
    let conv1: ConvOp, conv2: ConvOp
    let shortcut: Shortcut
    init(conv1: ConvOp, conv2: ConvOp, shortcut: Shortcut) { self.conv1 = conv1; self.conv2 = conv2; self.shortcut = shortcut }
}

enum EngineOp {
    case conv(ConvOp)
    case block(BlockOp)
    case maxPool(kernel: Int, stride: Int)
    case globalAvgPool
    case linear(LinearOp)
}
