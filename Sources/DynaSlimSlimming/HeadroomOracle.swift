// The headroom oracle: how much accuracy per FLOP any per-input choice of width could buy on a given
// backbone. The backbone is run at a ladder of levels (level f keeps the top f of every gated layer's
// channels by |gamma|); an image's cost at a level is that level's MACs. Per image, the cheapest level
// that classifies it correctly is the most a perfect predictor would spend on it. Under a mean-MACs
// budget B the best any per-input choice can reach is then a unit-value knapsack: every image starts at
// the cheapest level (wrong images stay there: spending more on them buys nothing), and images are
// raised to their cheapest correct level in order of extra cost, cheapest first, while the budget
// lasts. With unit values, taking the cheapest items first maximizes the count, so the greedy is exact
// (checked against a brute-force twin in the tests). The static curve gives every image one level.
// It is an upper bound: it also profits from lucky guesses at narrow levels.

public struct OracleLadder: Sendable, Codable, Equatable {
    /// The levels' width fractions, in the order evaluated.
    public var levels: [Float]
    /// MACs per image at each level (backbone only).
    public var macs: [Double]
    /// correct[level][image]: whether the level classifies the image correctly.
    public var correct: [[Bool]]

    public init(levels: [Float], macs: [Double], correct: [[Bool]]) {
        self.levels = levels; self.macs = macs; self.correct = correct
    }
    public var images: Int { correct.first?.count ?? 0 }
    /// One level for every image: its accuracy.
    public func staticAccuracy(level l: Int) -> Double {
        Double(correct[l].lazy.filter { $0 }.count) / Double(max(images, 1))
    }
}

public enum HeadroomOracle {
    /// Per image, the index of the cheapest level (by MACs) that classifies it correctly; nil when none does.
    public static func cheapestCorrect(_ ladder: OracleLadder) -> [Int?] {
        let order = ladder.macs.indices.sorted { ladder.macs[$0] < ladder.macs[$1] }
        return (0..<ladder.images).map { i in order.first { ladder.correct[$0][i] } }
    }

    /// The best accuracy any per-input choice of level reaches with mean MACs per image <= budget;
    /// nil when the budget is below the cheapest level.
    public static func bestAccuracy(_ ladder: OracleLadder, budget: Double) -> Double? {
        guard let floor = ladder.macs.min(), budget >= floor, ladder.images > 0 else { return nil }
        let cheapest = cheapestCorrect(ladder)
        let extras = cheapest.compactMap { $0.map { ladder.macs[$0] - floor } }.sorted()
        var spare = (budget - floor) * Double(ladder.images), count = 0
        // A relative slack absorbs the rounding of the budget sum (budgets taken from a level's own MACs).
        let slack = 1e-9 * budget * Double(ladder.images)
        for e in extras {
            if e > spare + slack { break }
            spare -= e; count += 1
        }
        return Double(count) / Double(ladder.images)
    }

    /// The brute-force twin of `bestAccuracy`: every assignment of levels to images (levels^images of
    /// them; small cases only).
    public static func bestAccuracyBruteForce(_ ladder: OracleLadder, budget: Double) -> Double? {
        let L = ladder.levels.count, N = ladder.images
        guard L > 0, N > 0 else { return nil }
        var choice = [Int](repeating: 0, count: N), best: Int? = nil
        while true {
            let spent = choice.reduce(0.0) { $0 + ladder.macs[$1] }
            if spent <= budget * Double(N) * (1 + 1e-9) {
                let right = choice.indices.filter { ladder.correct[choice[$0]][$0] }.count
                best = max(best ?? 0, right)
            }
            var k = 0
            while k < N { choice[k] += 1; if choice[k] < L { break }; choice[k] = 0; k += 1 }
            if k == N { break }
        }
        return best.map { Double($0) / Double(N) }
    }

    public struct Point: Sendable, Codable, Equatable {
        public var level: Float
        public var macs: Double
        public var flopSpeedup: Double
        public var staticAccuracy: Double
        /// The oracle's accuracy at the same mean MACs.
        public var oracleAccuracy: Double
        enum CodingKeys: String, CodingKey {
            case level, macs, flopSpeedup = "flop_speedup", staticAccuracy = "static_accuracy", oracleAccuracy = "oracle_accuracy"
        }
    }

    /// Both curves at each level's MACs, cheapest level first. `denseMacs` sets the speed-ups.
    public static func curves(_ ladder: OracleLadder, denseMacs: Double) -> [Point] {
        ladder.macs.indices.sorted { ladder.macs[$0] < ladder.macs[$1] }.map { l in
            Point(level: ladder.levels[l], macs: ladder.macs[l], flopSpeedup: denseMacs / ladder.macs[l],
                  staticAccuracy: ladder.staticAccuracy(level: l), oracleAccuracy: bestAccuracy(ladder, budget: ladder.macs[l]) ?? 0)
        }
    }

    /// The static curve's accuracy at mean MACs `budget`, linear in MACs between neighbouring levels
    /// (nil outside the ladder's range).
    public static func staticAccuracy(_ ladder: OracleLadder, atMacs budget: Double) -> Double? {
        let pts = ladder.macs.indices.map { (ladder.macs[$0], ladder.staticAccuracy(level: $0)) }.sorted { $0.0 < $1.0 }
        guard let first = pts.first, let last = pts.last, budget >= first.0 * (1 - 1e-12), budget <= last.0 * (1 + 1e-12) else { return nil }
        for k in 1..<max(pts.count, 1) where budget <= pts[k].0 {
            let (m0, a0) = pts[k - 1], (m1, a1) = pts[k]
            return m1 == m0 ? max(a0, a1) : a0 + (a1 - a0) * (budget - m0) / (m1 - m0)
        }
        return first.1
    }

    /// The largest FLOP speed-up (dense / mean MACs) at which a curve still reaches `accuracy`, found on
    /// the curve's piecewise-linear interpolation in MACs; nil when it never does.
    public static func speedup(reaching accuracy: Double, denseMacs: Double, ladder: OracleLadder, oracle: Bool) -> Double? {
        guard let lo = ladder.macs.min(), let hi = ladder.macs.max() else { return nil }
        let f: (Double) -> Double? = { oracle ? bestAccuracy(ladder, budget: $0) : staticAccuracy(ladder, atMacs: $0) }
        // Scan finely from the cheapest level up: the first budget that reaches the accuracy.
        let steps = 2000
        for k in 0...steps {
            let b = lo + (hi - lo) * Double(k) / Double(steps)
            if let a = f(b), a >= accuracy { return denseMacs / b }
        }
        return nil
    }
}
