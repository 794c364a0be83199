// Thin execution of slimmable widths: a sandwich pass pays only for the channels it keeps.
//
// A width keeps, in gated layer l, the k_l channels of largest |gamma| (SlimmableWidths.kept). The
// masked pass (SlimmableWidths.install on the full network) multiplies the other channels' BN output
// by 0, so their gamma, beta, producer rows and consumer columns get zero gradient and contribute
// nothing downstream, yet every conv still runs at full width. Here a second network of the same
// architecture is resized to the kept counts, the kept rows / columns of every parameter are
// gathered into it, it runs forward and backward at that size, and its gradients are added into the
// full network's gradients at the rows / columns they came from: the same sum up to float rounding
// (ThinSandwichTests compares the two), at the arithmetic of the thin widths.
//
// Contract per step: `beginStep()` once (the |gamma| order is fixed while gradients accumulate),
// then per width `prepare(fractions:)`, forward and backward on `network`, `accumulateGradients()`.
// The thin network's BN running statistics are never read (its passes normalize with batch
// statistics and the full width owns the running estimates). Dropout draws continue the full
// network's streams, so a run stays a function of (seed, epoch, batch); with dropout on a gated
// tensor the masks differ from the masked pass's (they are drawn over k, not C, channels).
// After the first pass at the widest width nothing is allocated: layers resize within capacity.
import DynaSlimCore
import DynaSlimNN

public final class ThinWidthRunner {
    public let full: Network
    /// The network each pass runs: the full architecture resized to the pass's widths.
    public let network: Network

    /// One parameter of the full network and its thin twin; rows / cols name the gated layer whose
    /// kept channels select its output rows (BN entries, producer conv rows) or input columns.
    struct Binding { let full: Parameter; let thin: Parameter; let rows: Int?; let cols: Int? }
    struct ConvResize { let conv: Conv2dLayer; let fullIn: Int; let fullOut: Int; let inFrom: Int?; let outFrom: Int? }
    let bindings: [Binding]
    let convs: [ConvResize]
    let linears: [(layer: LinearLayer, fullIn: Int, from: Int)]
    /// Per gated layer: channel -> rank by |gamma| (0 = largest), and the kept channels, ascending.
    var rank: [[Int]]
    var kept: [[Int]]

    public init(full: Network) throws {
        self.full = full
        let thinNet = try ModelZoo.build(full.config, workspace: full.workspace)
        network = thinNet
        func owner(_ name: String) -> String { String(name[..<(name.lastIndex(of: ".") ?? name.endIndex)]) }
        let fullParams = Dictionary(uniqueKeysWithValues: full.namedParameters)
        bindings = try thinNet.namedParameters.map { name, thin in
            guard let f = fullParams[name], f.shape == thin.shape else { throw PruningError("thin twin: no parameter \(name) of shape \(thin.shape)") }
            let o = owner(name)
            let rows = full.gated.firstIndex { $0.name == o || $0.producerName == o }
            let cols = thin.shape.count > 1 ? full.gated.firstIndex { $0.consumerName == o } : nil
            return Binding(full: f, thin: thin, rows: rows, cols: cols)
        }
        var convs: [ConvResize] = [], linears: [(LinearLayer, Int, Int)] = []
        func addConv(_ c: Conv2dLayer) {
            guard !convs.contains(where: { $0.conv === c }) else { return }
            let producerOf = thinNet.gated.firstIndex { $0.producer === c }
            let consumerOf = thinNet.gated.firstIndex { if case .conv(let k) = $0.consumer { return k === c } else { return false } }
            convs.append(ConvResize(conv: c, fullIn: c.inChannels, fullOut: c.outChannels, inFrom: consumerOf, outFrom: producerOf))
        }
        for (index, g) in thinNet.gated.enumerated() {
            addConv(g.producer)
            switch g.consumer {
            case .conv(let c): addConv(c)
            case .linear(let l): linears.append((l, l.inFeatures, index))
            }
        }
        self.convs = convs; self.linears = linears
        rank = full.gated.map { [Int](repeating: 0, count: $0.bn.channels) }
        kept = full.gated.map { g in var a = [Int](); a.reserveCapacity(g.bn.channels); return a }
    }

    /// Ranks each gated layer's channels by |gamma| (ties: lower index first), as SlimmableWidths.install does.
    public func beginStep() {
        for (l, g) in full.gated.enumerated() {
            for (r, c) in SlimmableWidths.order(gamma: g.bn.weight.value).enumerated() { rank[l][c] = r }
        }
    }

    /// Resizes the thin network to `fractions` (one per gated layer) and gathers the kept weights into it.
    public func prepare(fractions: [Float]) throws {
        guard fractions.count == full.gated.count else {
            throw ShapeError("ThinWidthRunner.prepare", "\(fractions.count) fractions for \(full.gated.count) gated layers")
        }
        for l in full.gated.indices {
            let C = rank[l].count, k = SlimmableWidths.kept(fraction: fractions[l], channels: C)
            kept[l].removeAll(keepingCapacity: true)
            for c in 0..<C where rank[l][c] < k { kept[l].append(c) }
        }
        for c in convs {
            c.conv.resize(inChannels: c.inFrom.map { kept[$0].count } ?? c.fullIn, outChannels: c.outFrom.map { kept[$0].count } ?? c.fullOut)
        }
        for l in linears { l.layer.resize(inFeatures: kept[l.from].count) }
        for (l, g) in network.gated.enumerated() { g.bn.resize(channels: kept[l].count) }
        for (t, f) in zip(network.dropouts, full.dropouts) { t.rng = f.rng }
        for b in bindings { transfer(b, accumulate: false) }
    }

    /// Adds the thin pass's gradients into the full network's gradients at the kept rows / columns.
    public func accumulateGradients() {
        for b in bindings { transfer(b, accumulate: true) }
        for (t, f) in zip(network.dropouts, full.dropouts) { f.rng = t.rng }
    }

    /// Gathers full -> thin values, or scatter-adds thin -> full gradients. Shapes: 1-D [O] (rows only),
    /// [O, I] or [O, I, kh, kw]; `inner` = kh * kw.
    func transfer(_ b: Binding, accumulate: Bool) {
        let fs = b.full.shape
        let rows = b.rows.map { kept[$0] } ?? nil, cols = b.cols.map { kept[$0] } ?? nil
        let outCount = rows?.count ?? fs[0]
        let inFull = fs.count > 1 ? fs[1] : 1, inThin = cols?.count ?? inFull
        let inner = fs.dropFirst(2).reduce(1, *)
        b.full.value.withUnsafeMutableBufferPointer { fv in b.full.grad.withUnsafeMutableBufferPointer { fg in
            b.thin.value.withUnsafeMutableBufferPointer { tv in b.thin.grad.withUnsafeBufferPointer { tg in
                for a in 0..<outCount {
                    let i = rows?[a] ?? a
                    for bcol in 0..<inThin {
                        let j = cols?[bcol] ?? bcol
                        let src = (i * inFull + j) * inner, dst = (a * inThin + bcol) * inner
                        if accumulate { for e in 0..<inner { fg[src + e] += tg[dst + e] } }
                        else { for e in 0..<inner { tv[dst + e] = fv[src + e] } }
                    }
                }
            } }
        } }
    }
}
