// Top-k selection for FBS (Gao et al., ICLR 2019: each input keeps the k output channels of largest
// predicted saliency). One rule for training and inference: scores descending, ties to the lower
// index; the kept indices are returned in ascending order (the order the gathered weight rows and
// the consumer's input columns are laid out in).

public enum TopK {
    /// rows[0..<k] = the indices of the k largest of scores[0..<n], ascending; among equal scores the
    /// lower index is kept. `work` holds n floats of scratch (scores is not modified). O(n) expected
    /// (a three-way quickselect for the k-th largest value, then one scan), no allocation: the
    /// inference engine calls it per image and gated layer.
    /// A NaN score ranks below every number (a broken model still gets exactly k valid rows).
    /// Precondition: 1 <= k <= n.
    public static func largest(_ k: Int, of scores: UnsafePointer<Float>, count n: Int, work: UnsafeMutablePointer<Float>,
                               into rows: UnsafeMutablePointer<Int>) {
        precondition(k >= 1 && k <= n, "TopK.largest: k = \(k) of \(n)")
        for i in 0..<n { work[i] = key(scores[i]) }
        let kth = kthLargest(k, work, n)
        var greater = 0
        for i in 0..<n where key(scores[i]) > kth { greater += 1 }
        var ties = k - greater, out = 0
        for i in 0..<n {
            let s = key(scores[i])
            if s > kth || (s == kth && ties > 0) {
                if !(s > kth) { ties -= 1 }
                rows[out] = i; out += 1
            }
        }
    }

    /// The k-th largest of a[0..<n] (k = 1: the maximum), reordering a. Three-way partitions keep
    /// runs of equal values (ReLU zeros, repeated scores) from degrading it.
    static func kthLargest(_ k: Int, _ a: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        var lo = 0, hi = n, target = k - 1  // the answer is at descending position target of a[lo..<hi]
        while hi - lo > 1 {
            let pivot = medianOfThree(a[lo], a[lo + (hi - lo) / 2], a[hi - 1])
            // a[lo..<gt] > pivot, a[gt..<i] == pivot, a[lt..<hi] < pivot (Dijkstra's flag, descending).
            var gt = lo, i = lo, lt = hi
            while i < lt {
                let v = a[i]
                if v > pivot { a.swapAt(i, gt); gt += 1; i += 1 }
                else if v < pivot { lt -= 1; a.swapAt(i, lt) }
                else { i += 1 }
            }
            if target < gt - lo { hi = gt }
            else if target < lt - lo { return pivot }
            else { target -= lt - lo; lo = lt }
        }
        return a[lo]
    }

    /// The value a score is ranked by: itself, or -infinity for NaN.
    @inline(__always) static func key(_ s: Float) -> Float { s.isNaN ? -.infinity : s }

    @inline(__always) static func medianOfThree(_ x: Float, _ y: Float, _ z: Float) -> Float {
        max(min(x, y), min(max(x, y), z))
    }

    /// Reference twin of `largest`: a full sort by (score descending, index ascending).
    public static func largestNaive(_ k: Int, of scores: [Float]) -> [Int] {
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        return order.prefix(k).sorted()
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) fileprivate func swapAt(_ i: Int, _ j: Int) { let t = self[i]; self[i] = self[j]; self[j] = t }
}
