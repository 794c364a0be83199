import Testing
import DynaSlimBench
import DynaSlimNN

/// `bench train`'s rows: what each method's step computes, not how fast (no timing is asserted).
@Suite("Training benchmark rows")
struct TrainBenchmarkTests {
    @Test("every method gets a row; the arithmetic ratios follow from each step's passes")
    func rows() throws {
        let cfg = ModelConfig(architecture: "resnet8", inputChannels: 1, inputHeight: 8, inputWidth: 8, classes: 4)
        let r = try TrainBenchmark.run(model: cfg, batchSize: 4, steps: 1, warmup: 0)
        #expect(r.rows.map(\.method) == TrainStepMethod.allCases.map(\.rawValue))
        let dense = try #require(r.row(.dense)), thin = try #require(r.row(.staticThin))
        let sandwich = try #require(r.row(.sandwichThin)), masked = try #require(r.row(.sandwichMasked))
        #expect(dense.stepsPerDenseStep == 1 && dense.macsVsDense == 1)
        #expect(thin.macsPerImage < dense.macsPerImage && abs(thin.macsVsDense - Double(thin.macsPerImage) / Double(dense.macsPerImage)) < 1e-12)
        #expect(masked.macsVsDense == 4)
        // Narrowest (~1/4) + two random widths (~5/8 on average) over the gated convs, plus the ungated ones.
        #expect(sandwich.macsVsDense > 2 && sandwich.macsVsDense < 3.2)
        #expect(try #require(r.row(.dynamic)).macsVsDense > 1)
        #expect(r.rows.allSatisfy { $0.medianStepMs > 0 && $0.imagesPerSecond > 0 })
    }
}
