// A decoded image as a model input: resized to the model's H x W, then normalized the way the
// checkpoint's training data was ((pixel / 255 - mean[c]) / std[c]), laid out [C, H, W].
//
// Resizing is area averaging (each output pixel the mean of the input area it covers, partial pixels
// weighted) when shrinking, which does not alias the way point sampling does, and bilinear
// interpolation when enlarging (pixel centres aligned, edges clamped), per axis.
import DynaSlimData

public enum ModelInput {
    /// [C, H, W] floats for a model taking `height` x `width` images with `normalization`'s channels.
    public static func tensor(_ image: DecodedImage, height: Int, width: Int, normalization: Normalization) -> [Float] {
        let C = image.channels
        precondition(normalization.mean.count == C && normalization.std.count == C, "normalization has \(normalization.mean.count) channels, image \(C)")
        let resized = resize(image, width: width, height: height)
        var out = [Float](repeating: 0, count: C * height * width)
        for c in 0..<C {
            let scale = 1 / (255 * normalization.std[c]), shift = -normalization.mean[c] / normalization.std[c]
            for y in 0..<height { for x in 0..<width {
                out[(c * height + y) * width + x] = resized[(y * width + x) * C + c] * scale + shift
            } }
        }
        return out
    }

    /// The image resized to width x height, as floats in 0...255, interleaved like the input.
    public static func resize(_ image: DecodedImage, width: Int, height: Int) -> [Float] {
        let C = image.channels
        let wx = weights(from: image.width, to: width), wy = weights(from: image.height, to: height)
        // Rows first (horizontal pass), then columns.
        var rows = [Float](repeating: 0, count: image.height * width * C)
        for y in 0..<image.height { for (x, taps) in wx.enumerated() { for c in 0..<C {
            var acc: Float = 0
            for (i, w) in taps { acc += w * Float(image.pixels[(y * image.width + i) * C + c]) }
            rows[(y * width + x) * C + c] = acc
        } } }
        var out = [Float](repeating: 0, count: height * width * C)
        for (y, taps) in wy.enumerated() { for x in 0..<width { for c in 0..<C {
            var acc: Float = 0
            for (i, w) in taps { acc += w * rows[(i * width + x) * C + c] }
            out[(y * width + x) * C + c] = acc
        } } }
        return out
    }

    /// Per output index, the input indices and weights (summing to 1) of a resize from n to m samples.
    static func weights(from n: Int, to m: Int) -> [[(Int, Float)]] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { j -> [(Int, Float)] in
            if n > m {
                // Area: output j covers input [j * scale, (j + 1) * scale).
                let a = Double(j) * scale, b = Double(j + 1) * scale
                var taps: [(Int, Float)] = []
                for i in Int(a.rounded(.down))..<min(n, Int(b.rounded(.up))) {
                    let overlap = min(b, Double(i + 1)) - max(a, Double(i))
                    if overlap > 0 { taps.append((i, Float(overlap / scale))) }
                }
                return taps
            }
            // Bilinear: the output centre mapped back into input coordinates, clamped at the edges.
            let x = min(max((Double(j) + 0.5) * scale - 0.5, 0), Double(n - 1))
            let i0 = Int(x.rounded(.down)), i1 = min(i0 + 1, n - 1), f = Float(x - Double(i0))
            return i0 == i1 ? [(i0, Float(1))] : [(i0, 1 - f), (i1, f)]
        }
    }
}
