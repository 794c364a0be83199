// MACs of a network whose gated layers keep only some channels. A conv's MACs scale with the
// kept fraction of its input channels (when it consumes a gated layer) times the kept fraction
// of its output channels (when it produces one); everything else is unchanged.
import DynaSlimNN

public struct MACAccounting: Sendable {
    public struct Term: Sendable {
        public var macs: Double
        public var inLayer: Int?   // index into gated layers whose channels this conv consumes
        public var outLayer: Int?  // index of the gated layer this conv produces
    }
    public let dense: Int
    public let terms: [Term]
    public let fixed: Double
    public let widths: [Int]
    /// Each gated layer's share of the gated MACs (producer + consumer), the rate weights w_l.
    public let layerWeights: [Double]

    public init(_ net: Network) {
        var macsByName: [String: Int] = [:]
        for row in net.summary() { macsByName[row.name] = row.macs }
        dense = net.macsPerImage
        var terms: [String: Term] = [:]
        for (l, g) in net.gated.enumerated() {
            terms[g.producerName, default: Term(macs: Double(macsByName[g.producerName] ?? 0))].outLayer = l
            terms[g.consumerName, default: Term(macs: Double(macsByName[g.consumerName] ?? 0))].inLayer = l
        }
        self.terms = Array(terms.values)
        fixed = Double(dense) - self.terms.reduce(0) { $0 + $1.macs }
        widths = net.gated.map { $0.bn.channels }
        var w = [Double](repeating: 0, count: net.gated.count)
        for t in self.terms {
            if let l = t.outLayer { w[l] += t.macs }
            if let l = t.inLayer { w[l] += t.macs }
        }
        let total = w.reduce(0, +)
        layerWeights = w.map { total > 0 ? $0 / total : 0 }
    }

    /// MACs per image when gated layer l keeps kept[l] channels.
    public func macs(kept: [Int]) -> Double {
        var total = fixed
        for t in terms {
            var m = t.macs
            if let l = t.inLayer { m *= Double(kept[l]) / Double(widths[l]) }
            if let l = t.outLayer { m *= Double(kept[l]) / Double(widths[l]) }
            total += m
        }
        return total
    }
}
