// SGD with momentum, optional Nesterov, and L2 weight decay: torch.optim.SGD semantics
// (dampening 0): d = g + wd * p; buf = d on the first step, else momentum * buf + d;
// d = nesterov ? d + momentum * buf : buf; p -= lr * d.

public struct SGDConfig: Codable, Equatable, Sendable {
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var nesterov: Bool = false
    public init(momentum: Float = 0.9, weightDecay: Float = 5e-4, nesterov: Bool = false) {
        self.momentum = momentum; self.weightDecay = weightDecay; self.nesterov = nesterov
    }
}

public final class SGD {
    public let config: SGDConfig
    public let parameters: [(String, Parameter)]
    /// Momentum buffers by parameter name (saved for exact resumption).
    public var momentumBuffers: [String: [Float]] = [:]
    /// Per-parameter learning-rate multipliers (e.g. the threshold predictor's 10x).
    public var lrMultipliers: [String: Float] = [:]

    public init(parameters: [(String, Parameter)], config: SGDConfig) {
        self.parameters = parameters; self.config = config
    }

    public func step(learningRate lr: Float) {
        let mu = config.momentum
        for (name, p) in parameters {
            let wd = p.weightDecay ? config.weightDecay : 0
            let plr = lr * (lrMultipliers[name] ?? 1)
            let n = p.count
            if mu == 0 {
                p.value.withUnsafeMutableBufferPointer { v in p.grad.withUnsafeBufferPointer { g in
                    for i in 0..<n { v[i] -= plr * (g[i] + wd * v[i]) }
                } }
                continue
            }
            let fresh = momentumBuffers[name] == nil
            var buf = momentumBuffers.removeValue(forKey: name) ?? [Float](repeating: 0, count: n)
            p.value.withUnsafeMutableBufferPointer { v in p.grad.withUnsafeBufferPointer { g in buf.withUnsafeMutableBufferPointer { b in
                for i in 0..<n {
                    let d = g[i] + wd * v[i]
                    b[i] = fresh ? d : mu * b[i] + d
                    v[i] -= plr * (config.nesterov ? d + mu * b[i] : b[i])
                }
            } } }
            momentumBuffers[name] = buf
        }
    }
}
