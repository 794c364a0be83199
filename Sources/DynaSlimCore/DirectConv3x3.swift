// Direct 3x3 convolution, padding 1, stride 1 or 2 (CKernels/conv3x3.c): the input is copied once
// into a zero-bordered buffer (stride 2: four phase planes) and read in place, instead of being
// expanded 9x by im2col and multiplied by SGEMM. Used by training's forward and input-gradient
// passes, the weight gradient of large stride-1 planes, and the inference engine.
// Naive twins: Conv2D.forwardNaive / backwardNaive (tests compare them, AVX2 and portable variants).
import CKernels

public enum DirectConv3x3 {
    /// The geometries the forward kernel computes: 3x3, padding 1, stride 1 or 2.
    @inline(__always)
    public static func applies(_ g: Conv2DGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.padding == 1 && (g.stride == 1 || g.stride == 2)
    }

    /// Floats of the padded input buffer for `channels` channels of h x w.
    @inline(__always)
    public static func paddedCount(channels: Int, height: Int, width: Int, stride: Int = 1) -> Int {
        stride == 1 ? ds_conv3x3_padded_count(channels, height, width) : ds_conv3x3s2_padded_count(channels, height, width)
    }

    /// Output channels per register tile.
    public static let tileRows = Int(DS_CONV3X3_TILE_ROWS)

    /// True when the AVX2+FMA variant runs on this CPU.
    public static var usesAVX2: Bool { ds_conv3x3_uses_avx2() != 0 }

    /// True when the 16-lane AVX-512 variant runs on this CPU (for output widths that are multiples of 16).
    public static var usesAVX512: Bool { ds_conv3x3_uses_avx512() != 0 }
    /// Whether the 16-lane weight gradient (AVX-512) takes a height x width plane, one sample at a time.
    public static func wideWeightGradient(height: Int, width: Int) -> Bool {
        usesAVX512 && ds_conv3x3s1_wgrad16_applies(height, width, 1) != 0
    }

    /// Runs `body` with the AVX-512 variant kept off on the calling thread (tests compare the variants).
    public static func withoutAVX512Kernel<T>(_ body: () throws -> T) rethrows -> T {
        let old = ds_conv3x3_force_no_avx512(1)
        defer { _ = ds_conv3x3_force_no_avx512(old) }
        return try body()
    }

    /// Runs `body` with the portable variant forced on the calling thread (tests compare the two variants).
    public static func withPortableKernel<T>(_ body: () throws -> T) rethrows -> T {
        let old = ds_conv3x3_force_portable(1)
        defer { _ = ds_conv3x3_force_portable(old) }
        return try body()
    }

    /// Row stride of a zero-bordered plane of width `width` (the padded layout's rows).
    @inline(__always)
    public static func paddedWidth(_ width: Int) -> Int { ds_conv3x3_padded_width(width) }

    /// Copies channels `channels` of x (channel c at x + c * channelStride, h x w, rows
    /// `rowStride` floats apart, default w) into `padded`; with `forOutputRows`, only the part that
    /// those output pixel rows read.
    @inline(__always)
    public static func pad(channels: Range<Int>, height: Int, width: Int, _ x: UnsafePointer<Float>, channelStride: Int,
                           rowStride: Int? = nil, into padded: UnsafeMutablePointer<Float>, stride: Int = 1,
                           forOutputRows rows: Range<Int>? = nil) {
        let c0 = channels.lowerBound, c1 = channels.upperBound, ldr = rowStride ?? width
        if stride == 1 {
            // Output row oy reads padded rows oy ..< oy + 3.
            let r = rows.map { $0.lowerBound..<($0.upperBound + 2) } ?? 0..<(height + 2)
            ds_conv3x3_pad_rows_strided(c0, c1, height, width, x, channelStride, ldr, padded, r.lowerBound, r.upperBound)
        } else {
            // Output row oy reads phase rows oy ..< oy + 2.
            let r = rows.map { $0.lowerBound..<($0.upperBound + 1) } ?? 0..<((height - 1) / 2 + 2)
            ds_conv3x3s2_pad_rows_strided(c0, c1, height, width, x, channelStride, ldr, padded, r.lowerBound, r.upperBound)
        }
    }

    /// compute for a stride-1 conv whose height x width output is written as the stride-2 phase
    /// planes pad(..., stride: 2) would build from it (channel m's at output + m * outputStride,
    /// outputStride >= paddedCount(channels: 1, height:, width:, stride: 2)); interior only, so the
    /// planes' zero borders stay. Any size and channel range.
    @inline(__always)
    public static func computePhaseOutput(inChannels: Int, height: Int, width: Int, padded: UnsafePointer<Float>,
                                          weight: UnsafePointer<Float>, weightStride: Int, bias: UnsafePointer<Float>?,
                                          residual: UnsafePointer<Float>?, residualStride: Int, residualRowStride: Int? = nil, relu: Bool,
                                          output: UnsafeMutablePointer<Float>, outputStride: Int, rows: Range<Int>, pixelRows: Range<Int>? = nil) {
        if rows.isEmpty { return }
        let oy = pixelRows ?? 0..<height
        ds_conv3x3s1_rows_phase_out(inChannels, height, width, padded, weight, weightStride, bias, residual, residualStride,
                                    residualRowStride ?? width, relu ? 1 : 0, output, outputStride, rows.lowerBound, rows.upperBound,
                                    oy.lowerBound, oy.upperBound)
    }

    /// y[m] (m in `rows`) = act(sum over the first `inChannels` padded input channels of the 3x3
    /// taps w[m * weightStride + c * 9 + t] + bias[m] + residual[m]); y's channel m at
    /// y + m * outputStride, the residual's at residual + m * residualStride (both laid out as the
    /// output plane; rows `outputRowStride` / `residualRowStride` floats apart, default the output
    /// width: pass paddedWidth(outWidth) with `output` at row 1, column 1 of a zero-bordered plane
    /// to write the next conv's padded input directly). `height` x `width` is the input's size;
    /// `pixelRows` limits the work to those output pixel rows of every channel (cores splitting one
    /// image).
    @inline(__always)
    public static func compute(inChannels: Int, height: Int, width: Int, padded: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, weightStride: Int, bias: UnsafePointer<Float>?,
                               residual: UnsafePointer<Float>?, residualStride: Int, residualRowStride: Int? = nil, relu: Bool,
                               output: UnsafeMutablePointer<Float>, outputStride: Int, outputRowStride: Int? = nil, rows: Range<Int>,
                               pixelRows: Range<Int>? = nil, stride: Int = 1) {
        if rows.isEmpty { return }
        let outHeight = stride == 1 ? height : (height - 1) / 2 + 1, outWidth = stride == 1 ? width : (width - 1) / 2 + 1
        let oy = pixelRows ?? 0..<outHeight
        ds_conv3x3_rows_strided(Int32(stride), inChannels, height, width, padded, weight, weightStride, bias, residual, residualStride,
                                residualRowStride ?? outWidth, relu ? 1 : 0, output, outputStride, outputRowStride ?? outWidth,
                                rows.lowerBound, rows.upperBound, oy.lowerBound, oy.upperBound)
    }

    /// dW[m][c*9 + t] (m in `rows`, row stride `weightStride`) += the stride-1 3x3 weight gradient
    /// summed over `samples` samples: sample s's padded input at padded + s * paddedStride, its
    /// output gradient [outC, H, W] at outputGrad + s * outputGradStride.
    @inline(__always)
    public static func weightGradient(inChannels: Int, height: Int, width: Int, samples: Int, padded: UnsafePointer<Float>, paddedStride: Int,
                                      outputGrad: UnsafePointer<Float>, outputGradStride: Int, weightGrad: UnsafeMutablePointer<Float>,
                                      weightStride: Int, rows: Range<Int>) {
        if rows.isEmpty || samples == 0 { return }
        ds_conv3x3s1_wgrad(inChannels, height, width, samples, padded, paddedStride, outputGrad, outputGradStride, weightGrad, weightStride,
                           rows.lowerBound, rows.upperBound)
    }

    /// One sample, all output channels: y [outC, Ho, Wo] = conv(x [inC, H, W]) (+ bias).
    @inline(__always)
    public static func forwardSample(_ g: Conv2DGeometry, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                     bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, padded: UnsafeMutablePointer<Float>) {
        let H = g.inHeight, W = g.inWidth
        pad(channels: 0..<g.inChannels, height: H, width: W, x, channelStride: H * W, into: padded, stride: g.stride)
        compute(inChannels: g.inChannels, height: H, width: W, padded: padded, weight: weight, weightStride: g.colRows, bias: bias,
                residual: nil, residualStride: 0, relu: false, output: y, outputStride: g.outPlane, rows: 0..<g.outChannels, stride: g.stride)
    }
}
