// Direct 3x3 stride-1 "same" convolution (CKernels/conv3x3.c): the input is copied once into a
// zero-bordered buffer and read in place, instead of being expanded 9x by im2col and multiplied
// by SGEMM. Used by training's forward and input-gradient passes and by the inference engine.
// Naive twin: Conv2D.forwardNaive (tests compare them, AVX2 and portable variants both).
import CKernels

public enum DirectConv3x3 {
    /// The geometries the kernel computes: 3x3, stride 1, padding 1.
    @inline(__always)
    public static func applies(_ g: Conv2DGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
    }

    /// Floats of the padded input buffer for `channels` channels of h x w.
    @inline(__always)
    public static func paddedCount(channels: Int, height: Int, width: Int) -> Int {
        ds_conv3x3_padded_count(channels, height, width)
    }

    /// Output channels per register tile: threads split rows in multiples of it.
    public static let tileRows = Int(DS_CONV3X3_TILE_ROWS)

    /// True when the AVX2+FMA variant runs on this CPU.
    public static var usesAVX2: Bool { ds_conv3x3_uses_avx2() != 0 }

    /// Runs `body` with the portable variant forced (tests compare the two variants).
    public static func withPortableKernel<T>(_ body: () throws -> T) rethrows -> T {
        let old = ds_conv3x3_force_portable(1)
        defer { _ = ds_conv3x3_force_portable(old) }
        return try body()
    }

    /// Copies channels `channels` of x (channel c at x + c * channelStride, h x w) into `padded`.
    @inline(__always)
    public static func pad(channels: Range<Int>, height: Int, width: Int, _ x: UnsafePointer<Float>, channelStride: Int,
                           into padded: UnsafeMutablePointer<Float>) {
        ds_conv3x3_pad(channels.lowerBound, channels.upperBound, height, width, x, channelStride, padded)
    }

    /// y[m] (m in `rows`) = act(sum over the first `inChannels` padded input channels of the 3x3
    /// taps w[m * weightStride + c * 9 + t] + bias[m] + residual[m]); y's channel m at
    /// y + m * outputStride, the residual's at residual + m * residualStride. `pixelRows` limits the
    /// work to those output pixel rows of every channel (cores splitting one image).
    @inline(__always)
    public static func compute(inChannels: Int, height: Int, width: Int, padded: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, weightStride: Int, bias: UnsafePointer<Float>?,
                               residual: UnsafePointer<Float>?, residualStride: Int, relu: Bool,
                               output: UnsafeMutablePointer<Float>, outputStride: Int, rows: Range<Int>,
                               pixelRows: Range<Int>? = nil) {
        if rows.isEmpty { return }
        let oy = pixelRows ?? 0..<height
        ds_conv3x3s1_rows(inChannels, height, width, padded, weight, weightStride, bias, residual, residualStride, relu ? 1 : 0,
                          output, outputStride, rows.lowerBound, rows.upperBound, oy.lowerBound, oy.upperBound)
    }

    /// dW[m][c*9 + t] (m in `rows`, row stride `weightStride`) += the 3x3 weight gradient summed
    /// over `samples` samples: sample s's padded input at padded + s * paddedStride, its output
    /// gradient [outC, H, W] at outputGrad + s * outputGradStride.
    @inline(__always)
    public static func weightGradient(inChannels: Int, height: Int, width: Int, samples: Int, padded: UnsafePointer<Float>, paddedStride: Int,
                                      outputGrad: UnsafePointer<Float>, outputGradStride: Int, weightGrad: UnsafeMutablePointer<Float>,
                                      weightStride: Int, rows: Range<Int>) {
        if rows.isEmpty || samples == 0 { return }
        ds_conv3x3s1_wgrad(inChannels, height, width, samples, padded, paddedStride, outputGrad, outputGradStride, weightGrad, weightStride,
                           rows.lowerBound, rows.upperBound)
    }

    /// One sample, all output channels: y [outC, H, W] = conv(x [inC, H, W]) (+ bias).
    @inline(__always)
    public static func forwardSample(_ g: Conv2DGeometry, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                     bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, padded: UnsafeMutablePointer<Float>) {
        let H = g.inHeight, W = g.inWidth
        pad(channels: 0..<g.inChannels, height: H, width: W, x, channelStride: H * W, into: padded)
        compute(inChannels: g.inChannels, height: H, width: W, padded: padded, weight: weight, weightStride: g.colRows, bias: bias,
                residual: nil, residualStride: 0, relu: false, output: y, outputStride: H * W, rows: 0..<g.outChannels)
    }
}
