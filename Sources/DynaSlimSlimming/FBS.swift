// Feature Boosting and Suppression (Gao et al., ICLR 2019), on the same gated layers as dynamic
// slimming. Per gated layer l and input i, from the producing conv's input x_i:
//   g_i = globalAvgPool(|x_i|)  [C_in]          (treated as a constant: no gradient into x)
//   s_i = relu(W_l g_i + b_l)   [C]             (the saliency predictor, "fbs.<layer>.weight/bias")
//   keep the top ceil(d * C) channels of s_i; the BN output of kept channel c is multiplied by s_ic,
//   the others are zeroed. Training adds lambda * sum |s| over kept channels (L1, as FBS does).
// Differences from the paper, stated: the saliency multiplies the BN(+ReLU) output (FBS scales the
// normalized conv output before the BN shift), and the predictor's input is not differentiated.
import DynaSlimCore
import DynaSlimNN

public struct FBSConfig: Codable, Equatable, Sendable {
    /// Final density d: fraction of channels kept per gated layer.
    public var density: Float = 0.5
    /// Density falls linearly from 1 to d over the first epochRatio * epochs.
    public var epochRatio: Double = 0.5
    /// L1 weight on the kept saliencies.
    public var lambda: Float = 1e-8
    public init(density: Float = 0.5, epochRatio: Double = 0.5, lambda: Float = 1e-8) {
        self.density = density; self.epochRatio = epochRatio; self.lambda = lambda
    }
}

public final class FBSModel {
    public let network: Network
    public var config: FBSConfig
    public let predictors: [LinearLayer]
    public let accounting: MACAccounting
    /// The density used by the next forward.
    public var density: Float
    private var pre: [[Float]] = []          // per layer [n * C]: W g + b before the ReLU
    private var g: [[Float]] = []            // per layer [n * Cin]
    private var keptMask: [[Bool]] = []      // per layer [n * C]
    private var batch = 0

    public static let prefix = "fbs."

    public init(network: Network, config: FBSConfig, seed: UInt64 = 23) {
        self.network = network; self.config = config; density = config.density
        accounting = MACAccounting(network)
        var rng = SplitMix64(seed: seed)
        predictors = network.gated.map { gl in
            let p = LinearLayer(gl.producer.inChannels, gl.bn.channels)
            for i in p.weight.value.indices { p.weight.value[i] = rng.nextNormal() * 0.01 }
            for i in p.bias.value.indices { p.bias.value[i] = 1 }  // start dense: every saliency ~1
            return p
        }
        pre = Array(repeating: [], count: predictors.count); g = pre; keptMask = Array(repeating: [], count: predictors.count)
        for (l, gl) in network.gated.enumerated() {
            gl.bn.maskProvider = { [unowned self] n in self.mask(layer: l, n: n) }
        }
    }

    public var namedParameters: [(String, Parameter)] {
        network.namedParameters + zip(network.gated, predictors).flatMap { gl, p in
            [("\(Self.prefix)\(gl.name).weight", p.weight), ("\(Self.prefix)\(gl.name).bias", p.bias)]
        }
    }
    public var predictorParameters: [(String, Parameter)] { Array(namedParameters.dropFirst(network.namedParameters.count)) }
    /// Saliency predictor MACs per image: one C_in x C linear per gated layer.
    public var predictorMACs: Int { predictors.reduce(0) { $0 + $1.inFeatures * $1.outFeatures } }

    public func kept(channels C: Int) -> Int { max(1, min(C, Int((density * Float(C)).rounded(.up)))) }

    /// Builds layer l's saliency mask from its producer's input (called inside the BN's forward).
    func mask(layer l: Int, n: Int) -> [Float] {
        let gl = network.gated[l], p = predictors[l]
        let Cin = p.inFeatures, C = p.outFeatures
        guard let x = gl.producer.lastInput else { return [Float](repeating: 1, count: n * C) }
        batch = n
        let P = x.plane
        var gv = [Float](repeating: 0, count: n * Cin)
        for i in 0..<n { for c in 0..<Cin {
            let row = x.pointer + (i * Cin + c) * P
            var s: Float = 0
            for j in 0..<P { s += abs(row[j]) }
            gv[i * Cin + c] = s / Float(P)
        } }
        var z = [Float](repeating: 0, count: n * C)
        gv.withUnsafeBufferPointer { gp in p.weight.value.withUnsafeBufferPointer { wp in z.withUnsafeMutableBufferPointer { zp in
            BLAS.sgemm(transB: true, m: n, n: C, k: Cin, a: gp.baseAddress!, lda: Cin, b: wp.baseAddress!, ldb: Cin, c: zp.baseAddress!, ldc: C)
        } } }
        let k = kept(channels: C)
        var mask = [Float](repeating: 0, count: n * C), keep = [Bool](repeating: false, count: n * C)
        var rows = [Int](repeating: 0, count: k), work = [Float](repeating: 0, count: C)
        for i in 0..<n {
            for c in 0..<C { z[i * C + c] += p.bias.value[c] }
            // The inference engine's rule too: scores descending, ties to the lower index.
            z.withUnsafeBufferPointer { zp in
                TopK.largest(k, of: zp.baseAddress! + i * C, count: C, work: &work, into: &rows)
            }
            for c in rows { keep[i * C + c] = true; mask[i * C + c] = max(0, z[i * C + c]) }
        }
        pre[l] = z; g[l] = gv; keptMask[l] = keep
        return mask
    }

    public func forward(images: UnsafeBufferPointer<Float>, n: Int, mode: Mode) throws -> Activation {
        try network.forward(images: images, n: n, mode: mode)
    }

    /// After `network.backward`: gradients of the saliency predictors (and the L1 term).
    public func backward() {
        let n = batch
        for (l, gl) in network.gated.enumerated() {
            let p = predictors[l], Cin = p.inFeatures, C = p.outFeatures
            let mg = gl.bn.maskGrad ?? [Float](repeating: 0, count: n * C)
            var dz = [Float](repeating: 0, count: n * C)
            for k in 0..<(n * C) where keptMask[l][k] && pre[l][k] > 0 { dz[k] = mg[k] + config.lambda }
            for i in p.weight.grad.indices { p.weight.grad[i] = 0 }
            for c in 0..<C { p.bias.grad[c] = 0 }
            for i in 0..<n { for c in 0..<C where dz[i * C + c] != 0 {
                let d = dz[i * C + c]
                p.bias.grad[c] += d
                for j in 0..<Cin { p.weight.grad[c * Cin + j] += d * g[l][i * Cin + j] }
            } }
        }
    }

    /// Density at fractional epoch `progress`: 1 -> d linearly over epochRatio * epochs.
    public func scheduledDensity(progress: Double, epochs: Int) -> Float {
        let ramp = config.epochRatio * Double(epochs)
        let f = ramp <= 0 ? 1 : min(1, progress / ramp)
        return 1 - (1 - config.density) * Float(f)
    }

    /// MACs per image at the current density (backbone) plus the saliency predictors.
    public var macsPerImage: Double {
        accounting.macs(kept: network.gated.map { kept(channels: $0.bn.channels) }) + Double(predictorMACs)
    }

    public func detach() { for gl in network.gated { gl.bn.maskProvider = nil; gl.bn.channelMask = nil; gl.bn.maskGrad = nil } }
}
