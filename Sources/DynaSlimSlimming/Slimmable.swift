// Stage 1 of the two-stage recipe: train the backbone as a slimmable network over |gamma|-ordered
// channel prefixes (Yu et al., slimmable / universally slimmable networks; DS-Net), so that it
// works at every width the dynamic gates may later pick. Each step runs the "sandwich": the full
// width (cross-entropy on the labels), the narrowest allowed width and `randomWidths` random widths
// per gated layer (each distilled from the full width's softmax), and sums the gradients.
import DynaSlimCore
import DynaSlimNN

public struct SlimmableConfig: Codable, Equatable, Sendable {
    /// Narrowest width, as a fraction of each gated layer's channels.
    public var minWidth: Float = 0.25
    /// Random-width passes per step.
    public var randomWidths: Int = 2
    public init(minWidth: Float = 0.25, randomWidths: Int = 2) { self.minWidth = minWidth; self.randomWidths = randomWidths }
}

public enum SlimmableWidths {
    /// Channels kept for width fraction f of a C-channel layer (at least 1).
    public static func kept(fraction f: Float, channels C: Int) -> Int { max(1, min(C, Int((f * Float(C)).rounded(.up)))) }

    /// A layer's channels by |gamma|, largest first, ties to the lower index: the order every width's prefix takes.
    public static func order(gamma: [Float]) -> [Int] {
        let a = gamma.map(abs)
        return a.indices.sorted { a[$0] > a[$1] || (a[$0] == a[$1] && $0 < $1) }
    }

    /// Installs prefix masks: gated layer l keeps its top kept(fractions[l]) channels by |gamma| for every sample.
    public static func install(_ net: Network, fractions: [Float], batch n: Int) {
        for (l, g) in net.gated.enumerated() {
            let C = g.bn.channels, order = order(gamma: g.bn.weight.value)
            var row = [Float](repeating: 0, count: C)
            for c in order.prefix(kept(fraction: fractions[l], channels: C)) { row[c] = 1 }
            g.bn.channelMask = Array((0..<n).map { _ in row }.joined())
        }
    }

    /// The sandwich's width configurations for one step: narrowest, then random ones.
    public static func sandwich(_ cfg: SlimmableConfig, layers: Int, rng: inout SplitMix64) -> [[Float]] {
        var out = [[Float](repeating: cfg.minWidth, count: layers)]
        for _ in 0..<cfg.randomWidths {
            out.append((0..<layers).map { _ in cfg.minWidth + (1 - cfg.minWidth) * rng.nextFloat() })
        }
        return out
    }
}
