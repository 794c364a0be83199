import Testing
@testable import DynaSlimCore
@testable import DynaSlimSlimming

/// The oracle's budget greedy against its brute-force twin on small random ladders, and its curves on
/// hand-made cases.
@Suite("Headroom oracle")
struct HeadroomOracleTests {
    /// A random ladder of `levels` levels over `images` images; wider levels tend to be right more often.
    func randomLadder(levels: Int, images: Int, seed: UInt64) -> OracleLadder {
        var rng = SplitMix64(seed: seed)
        let fractions = (0..<levels).map { Float(levels - $0) / Float(levels) }
        let macs = fractions.map { Double($0 * $0) * 100 + 5 }
        let correct = fractions.map { f in (0..<images).map { _ in rng.nextFloat() < 0.2 + 0.7 * f } }
        return OracleLadder(levels: fractions, macs: macs, correct: correct)
    }

    @Test("the greedy equals brute force on every budget of 300 random small ladders")
    func greedyMatchesBruteForce() {
        for seed in 0..<300 {
            var rng = SplitMix64(seed: UInt64(1000 + seed))
            let ladder = randomLadder(levels: 2 + Int(rng.nextFloat() * 2.99), images: 1 + Int(rng.nextFloat() * 5.99), seed: UInt64(seed))
            let lo = ladder.macs.min()!, hi = ladder.macs.max()!
            // Each level's own MACs, points between them, and budgets outside the range.
            var budgets = ladder.macs + [lo * 0.5, hi * 1.5]
            for _ in 0..<6 { budgets.append(lo + (hi - lo) * Double(rng.nextFloat())) }
            for b in budgets {
                #expect(HeadroomOracle.bestAccuracy(ladder, budget: b) == HeadroomOracle.bestAccuracyBruteForce(ladder, budget: b),
                        "seed \(seed) budget \(b)")
            }
        }
    }

    @Test("a hand-made ladder: cheapest correct levels, both curves and the operating points")
    func handMade() throws {
        // Levels 1.0 (100 MACs) and 0.5 (50 MACs); four images: right at both, right only at full width,
        // right only at half width (a lucky guess), right at neither.
        let ladder = OracleLadder(levels: [1, 0.5], macs: [100, 50],
                                  correct: [[true, true, false, false], [true, false, true, false]])
        #expect(HeadroomOracle.cheapestCorrect(ladder) == [1, 0, 1, nil])
        let points = HeadroomOracle.curves(ladder, denseMacs: 100)
        #expect(points.map(\.level) == [0.5, 1])
        #expect(points.map(\.staticAccuracy) == [0.5, 0.5])
        // At 50 MACs every image sits at half width: images 0 and 2 are right. At 100 MACs image 1 can
        // also be raised (cost 50 of the 200 spare): 3 of 4.
        #expect(points.map(\.oracleAccuracy) == [0.5, 0.75])
        #expect(HeadroomOracle.bestAccuracy(ladder, budget: 62.5) == 0.75)   // spare 4 x 12.5 = 50 pays for image 1
        #expect(HeadroomOracle.bestAccuracy(ladder, budget: 62.4) == 0.5)
        #expect(HeadroomOracle.bestAccuracy(ladder, budget: 49) == nil)
        #expect(HeadroomOracle.staticAccuracy(ladder, atMacs: 75) == 0.5)
        let s = try #require(HeadroomOracle.speedup(reaching: 0.75, denseMacs: 100, ladder: ladder, oracle: true))
        #expect(abs(s - 100 / 62.5) < 0.01)
        #expect(HeadroomOracle.speedup(reaching: 0.75, denseMacs: 100, ladder: ladder, oracle: false) == nil)
    }

    @Test("the static curve interpolates linearly in MACs between levels")
    func interpolation() {
        let ladder = OracleLadder(levels: [1, 0.5], macs: [100, 50], correct: [[true, true], [false, false]])
        #expect(HeadroomOracle.staticAccuracy(ladder, atMacs: 75) == 0.5)
        #expect(HeadroomOracle.staticAccuracy(ladder, atMacs: 50) == 0)
        #expect(HeadroomOracle.staticAccuracy(ladder, atMacs: 100) == 1)
        #expect(HeadroomOracle.staticAccuracy(ladder, atMacs: 40) == nil)
    }
}
