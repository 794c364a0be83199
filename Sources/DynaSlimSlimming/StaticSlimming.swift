// Static Network Slimming (Liu et al., ICCV 2017), split as Torch-Pruning does:
// - importance: |gamma| of each gated BN channel;
// - policy: one global threshold at the R-th percentile of |gamma| over all gated layers, with a
//   per-layer floor (never fewer than `minChannels`, never zero);
// - coupling: a gated channel set ties the producing conv's output rows, the BN's entries, and
//   the consuming conv's input columns (or the classifier's input features);
// - removal: build the physically thinner network and copy the kept rows / columns.
import DynaSlimCore
import DynaSlimNN

public struct PruningError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Which channels of each gated layer survive, in original channel order.
public struct PruningPlan: Sendable {
    public var threshold: Float
    public var kept: [String: [Int]]           // gated layer name -> kept channel indices
    public var original: [String: Int]         // gated layer name -> original width
    public var prunedFraction: Double {
        let total = original.values.reduce(0, +), kept = self.kept.values.reduce(0) { $0 + $1.count }
        return 1 - Double(kept) / Double(max(total, 1))
    }
}

public enum StaticSlimming {
    /// Global percentile policy. `ratio` in [0, 1): fraction of gated channels to remove.
    public static func plan(_ net: Network, ratio: Double, minChannels: Int = 1) throws -> PruningPlan {
        guard ratio >= 0 && ratio < 1 else { throw PruningError("--ratio must be in [0, 1), got \(ratio)") }
        guard minChannels >= 1 else { throw PruningError("--min-channels must be at least 1, got \(minChannels)") }
        guard !net.gated.isEmpty else { throw PruningError("\(net.config.architecture) has no gated layers") }
        let all = net.gated.flatMap { $0.bn.weight.value.map(abs) }.sorted()
        let index = min(all.count - 1, Int(Double(all.count) * ratio))
        let threshold = ratio == 0 ? -Float.infinity : all[index]
        var kept: [String: [Int]] = [:], original: [String: Int] = [:]
        for g in net.gated {
            let a = g.bn.weight.value.map(abs)
            var keep = a.indices.filter { a[$0] > threshold }
            let floor = min(minChannels, a.count)
            if keep.count < floor {
                // Zero-channel guard: keep the `floor` largest |gamma| of this layer.
                keep = Array(a.indices.sorted { a[$0] > a[$1] }.prefix(floor)).sorted()
            }
            kept[g.name] = keep
            original[g.name] = a.count
        }
        return PruningPlan(threshold: threshold, kept: kept, original: original)
    }

    /// The physically thinner network: same architecture with `widths`, weights copied.
    public static func thin(_ net: Network, plan: PruningPlan) throws -> Network {
        var config = net.config
        var widths = config.widths ?? [:]
        for (name, k) in plan.kept { widths[name] = k.count }
        config.widths = widths
        let thinNet = try ModelZoo.build(config, workspace: net.workspace)
        // Row selections (output channels) and column selections (input channels / features) per
        // parameter-owner prefix, from the coupling of each gated layer.
        var rows: [String: [Int]] = [:], cols: [String: [Int]] = [:]
        for g in net.gated {
            guard let keep = plan.kept[g.name] else { continue }
            rows[g.producerName] = keep
            rows[g.name] = keep
            cols[g.consumerName] = keep
        }
        let source = Dictionary(uniqueKeysWithValues: net.namedParameters.map { ($0.0, $0.1.value) } + net.namedBuffers.map { ($0.0, $0.1.value) })
        let sourceShapes = Dictionary(uniqueKeysWithValues: net.namedParameters.map { ($0.0, $0.1.shape) } + net.namedBuffers.map { ($0.0, $0.1.shape) })
        func owner(_ name: String) -> String { String(name[..<(name.lastIndex(of: ".") ?? name.endIndex)]) }
        func select(_ name: String, targetShape: [Int]) throws -> [Float] {
            guard let v = source[name], let shape = sourceShapes[name] else { throw PruningError("no source tensor \(name)") }
            if shape == targetShape { return v }
            let o = owner(name)
            let r = rows[o] ?? Array(0..<(shape.first ?? 1))
            if shape.count == 1 { return r.map { v[$0] } }
            let inner = shape.dropFirst(2).reduce(1, *), inCount = shape[1]
            let c = cols[o] ?? Array(0..<inCount)
            var out: [Float] = []
            out.reserveCapacity(r.count * c.count * inner)
            for i in r { for j in c { let base = (i * inCount + j) * inner; out.append(contentsOf: v[base..<(base + inner)]) } }
            guard out.count == targetShape.reduce(1, *) else {
                throw PruningError("\(name): selected \(out.count) values for shape \(targetShape) from \(shape)")
            }
            return out
        }
        for (name, p) in thinNet.namedParameters { p.value = try select(name, targetShape: p.shape) }
        for (name, b) in thinNet.namedBuffers { b.value = try select(name, targetShape: b.shape) }
        return thinNet
    }

    /// Per-sample masks [n * C] for each gated BN, 1 for kept and 0 for removed channels: the
    /// original network with these masks computes what the thinned network computes.
    public static func masks(_ net: Network, plan: PruningPlan, batch: Int) -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for g in net.gated {
            var m = [Float](repeating: 0, count: g.bn.channels)
            for k in plan.kept[g.name] ?? [] { m[k] = 1 }
            out[g.name] = Array((0..<batch).map { _ in m }.joined())
        }
        return out
    }
}
