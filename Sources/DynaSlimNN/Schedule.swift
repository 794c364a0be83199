// Learning-rate schedules, evaluated per step (fractional epoch), with optional linear warm-up.

public struct LRSchedule: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case constant, step, cosine }
    public var kind: Kind
    public var baseLR: Float
    public var epochs: Int
    /// Epochs at which `step` multiplies the rate by `gamma`.
    public var milestones: [Int]
    public var gamma: Float
    public var warmupEpochs: Float
    /// Cosine floor.
    public var minLR: Float

    public init(kind: Kind, baseLR: Float, epochs: Int, milestones: [Int] = [], gamma: Float = 0.1, warmupEpochs: Float = 0, minLR: Float = 0) {
        self.kind = kind; self.baseLR = baseLR; self.epochs = epochs; self.milestones = milestones
        self.gamma = gamma; self.warmupEpochs = warmupEpochs; self.minLR = minLR
    }

    /// Rate at fractional epoch `t` in [0, epochs).
    public func rate(at t: Double) -> Float {
        var lr: Float
        switch kind {
        case .constant: lr = baseLR
        case .step:
            lr = baseLR
            for m in milestones where t >= Double(m) { lr *= gamma }
        case .cosine:
            let total = Double(max(epochs, 1)), w = Double(warmupEpochs)
            let progress = total > w ? max(0, (t - w) / (total - w)) : 0
            lr = minLR + (baseLR - minLR) * Float(0.5 * (1 + cos(Double.pi * min(1, progress))))
        }
        if warmupEpochs > 0 && t < Double(warmupEpochs) { lr *= Float(t / Double(warmupEpochs)) }
        return lr
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
