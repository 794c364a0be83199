import Testing
@testable import DynaSlimCore

/// TopK.largest (quickselect + scan, FBS's per-image selection in the engine) against its sorting
/// twin, on scores with many ties (quantized values, runs of zeros) and every k.
@Suite("TopK")
struct TopKTests {
    @Test(arguments: [1, 2, 7, 16, 64, 192])
    func matchesSortingTwin(n: Int) {
        var rng = SplitMix64(seed: UInt64(n))
        var rows = [Int](repeating: -1, count: n), work = [Float](repeating: 0, count: n)
        for trial in 0..<20 {
            // Trial 0: all equal; odd trials: few distinct values (ties everywhere); even: continuous.
            let scores: [Float] = (0..<n).map { _ in
                trial == 0 ? 0.5 : trial % 2 == 1 ? Float(rng.nextInt(below: 4)) - 1 : rng.nextNormal()
            }
            for k in 1...n {
                scores.withUnsafeBufferPointer { TopK.largest(k, of: $0.baseAddress!, count: n, work: &work, into: &rows) }
                let expected = TopK.largestNaive(k, of: scores)
                #expect(Array(rows.prefix(k)) == expected, "n \(n) trial \(trial) k \(k)")
            }
        }
    }

    @Test("NaN scores rank last: still k distinct ascending rows")
    func nanScoresRankLast() {
        let scores: [Float] = [.nan, 2, .nan, -1, 5, .nan]
        var rows = [Int](repeating: -1, count: 6), work = [Float](repeating: 0, count: 6)
        for (k, expected) in [(1, [4]), (3, [1, 3, 4]), (4, [0, 1, 3, 4]), (6, [0, 1, 2, 3, 4, 5])] {
            scores.withUnsafeBufferPointer { TopK.largest(k, of: $0.baseAddress!, count: 6, work: &work, into: &rows) }
            #expect(Array(rows.prefix(k)) == expected, "k \(k)")
        }
    }

    @Test func kthLargestOfKnownValues() {
        var a: [Float] = [3, -1, 3, 0, 7, 7, 2]
        let sortedDescending = a.sorted(by: >)
        for k in 1...a.count {
            var copy = a
            #expect(TopK.kthLargest(k, &copy, copy.count) == sortedDescending[k - 1])
        }
        a = [1]
        #expect(TopK.kthLargest(1, &a, 1) == 1)
    }
}
