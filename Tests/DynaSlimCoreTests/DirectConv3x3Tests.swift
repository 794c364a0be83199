import Testing
@testable import DynaSlimCore
import CKernels

/// The direct 3x3 kernel against the naive conv, for each of its instruction-set variants (the
/// best this CPU has, which is AVX-512 where the output width is a multiple of 16; AVX2; portable), over
/// widths that are and are not multiples of the 8-lane vector, channel counts that are and are not
/// multiples of the 4-channel tile, prefixes of a wider weight, and the fused epilogue.
@Suite("DirectConv3x3")
struct DirectConv3x3Tests {
    struct Case: CustomStringConvertible, Sendable {
        var inC, outC, h, w: Int
        var description: String { "\(inC)->\(outC) on \(h)x\(w)" }
    }
    static let cases: [Case] = [
        Case(inC: 16, outC: 16, h: 32, w: 32), Case(inC: 3, outC: 5, h: 7, w: 7), Case(inC: 2, outC: 3, h: 28, w: 28),
        Case(inC: 5, outC: 6, h: 1, w: 1), Case(inC: 7, outC: 9, h: 9, w: 17), Case(inC: 1, outC: 1, h: 2, w: 30),
        Case(inC: 6, outC: 4, h: 8, w: 8),
        // Output widths where the 16-lane AVX-512 variant runs when the CPU has it: multiples of 16,
        // and 8 in row pairs (an even number of rows from an even row; the others run 8-lane).
        Case(inC: 5, outC: 7, h: 6, w: 16), Case(inC: 9, outC: 6, h: 3, w: 48), Case(inC: 4, outC: 9, h: 16, w: 16),
        Case(inC: 3, outC: 6, h: 10, w: 8),
    ]

    /// Runs the kernel on input channels 0..<inK of a [fullIn, h, w] sample with the weight's rows
    /// `fullIn * 9` apart, rows 0..<outK, epilogue bias + residual + ReLU; returns [outK, h, w].
    static func run(_ c: Case, inK: Int, outK: Int, fullIn: Int, x: [Float], w: [Float], b: [Float], r: [Float], stride: Int = 1) -> [Float] {
        let ho = (c.h - 1) / stride + 1, wo = (c.w - 1) / stride + 1
        var y = [Float](repeating: .nan, count: outK * ho * wo)
        var pad = [Float](repeating: .nan, count: DirectConv3x3.paddedCount(channels: inK, height: c.h, width: c.w, stride: stride))
        x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in r.withUnsafeBufferPointer { rp in
            pad.withUnsafeMutableBufferPointer { pp in y.withUnsafeMutableBufferPointer { yp in
                // Pad in two channel ranges and compute in channel / pixel-row pieces, as threads do.
                let half = inK / 2
                DirectConv3x3.pad(channels: 0..<half, height: c.h, width: c.w, xp.baseAddress!, channelStride: c.h * c.w, into: pp.baseAddress!,
                                  stride: stride)
                DirectConv3x3.pad(channels: half..<inK, height: c.h, width: c.w, xp.baseAddress!, channelStride: c.h * c.w, into: pp.baseAddress!,
                                  stride: stride)
                // Channels 0..<split in one call; the rest in two calls by output pixel rows.
                let split = min(outK, 4), midRow = ho / 2
                var spoiled = false  // a piece re-padded only its rows: the next one must re-pad too
                for (rows, pixelRows) in [(0..<split, 0..<ho), (split..<outK, 0..<midRow), (split..<outK, midRow..<ho)] {
                    if pixelRows != 0..<ho || spoiled {
                        spoiled = true
                        // As an engine thread: re-pad only what these output rows read, over a spoiled buffer.
                        pp.update(repeating: .nan)
                        DirectConv3x3.pad(channels: 0..<inK, height: c.h, width: c.w, xp.baseAddress!, channelStride: c.h * c.w,
                                          into: pp.baseAddress!, stride: stride, forOutputRows: pixelRows)
                    }
                    DirectConv3x3.compute(inChannels: inK, height: c.h, width: c.w, padded: pp.baseAddress!, weight: wp.baseAddress!,
                                          weightStride: fullIn * 9, bias: bp.baseAddress!, residual: rp.baseAddress!, residualStride: ho * wo,
                                          relu: true, output: yp.baseAddress!, outputStride: ho * wo, rows: rows, pixelRows: pixelRows, stride: stride)
                }
            } }
        } } } }
        return y
    }

    /// relu(conv(x[0..<inK], w[0..<outK][0..<inK]) + b + r) in Double by the naive conv.
    static func reference(_ c: Case, inK: Int, outK: Int, fullIn: Int, x: [Float], w: [Float], b: [Float], r: [Float], stride: Int = 1) -> [Double] {
        let g = Conv2DGeometry(batch: 1, inChannels: inK, inHeight: c.h, inWidth: c.w, outChannels: outK, kernel: 3, stride: stride, padding: 1)
        var wk = [Double]()
        for m in 0..<outK { for ch in 0..<inK { for t in 0..<9 { wk.append(Double(w[(m * fullIn + ch) * 9 + t])) } } }
        let y = Conv2D.forwardNaive(g, input: x.prefix(inK * c.h * c.w).map(Double.init), weight: wk, bias: b.prefix(outK).map(Double.init))
        return y.enumerated().map { i, v in max(0, v + Double(r[i])) }
    }

    @Test("matches the naive conv (full width and channel prefixes, every variant)", arguments: cases)
    func matchesNaive(c: Case) {
        let x = TestSupport.randomFloats(c.inC * c.h * c.w, seed: 11), w = TestSupport.randomFloats(c.outC * c.inC * 9, seed: 12)
        let b = TestSupport.randomFloats(c.outC, seed: 13), r = TestSupport.randomFloats(c.outC * c.h * c.w, seed: 14)
        for (inK, outK) in [(c.inC, c.outC), (max(1, c.inC - 2), max(1, c.outC - 3))] {
            let ref = Self.reference(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r)
            let fast = Self.run(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r)
            let portable = DirectConv3x3.withPortableKernel { Self.run(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r) }
            let avx2 = DirectConv3x3.withoutAVX512Kernel { Self.run(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r) }
            #expect(TestSupport.relativeError(fast, ref) <= 1e-5, "\(c) prefix \(inK)->\(outK)")
            #expect(TestSupport.relativeError(avx2, ref) <= 1e-5, "\(c) prefix \(inK)->\(outK), without AVX-512")
            #expect(TestSupport.relativeError(portable, ref) <= 1e-5, "\(c) prefix \(inK)->\(outK), portable")
        }
    }

    @Test("stride 2 (phase planes) matches the naive conv, every variant", arguments: cases)
    func stride2MatchesNaive(c: Case) {
        let x = TestSupport.randomFloats(c.inC * c.h * c.w, seed: 31), w = TestSupport.randomFloats(c.outC * c.inC * 9, seed: 32)
        let b = TestSupport.randomFloats(c.outC, seed: 33), r = TestSupport.randomFloats(c.outC * c.h * c.w, seed: 34)
        for (inK, outK) in [(c.inC, c.outC), (max(1, c.inC - 2), max(1, c.outC - 3))] {
            let ref = Self.reference(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r, stride: 2)
            let fast = Self.run(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r, stride: 2)
            let portable = DirectConv3x3.withPortableKernel { Self.run(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r, stride: 2) }
            let avx2 = DirectConv3x3.withoutAVX512Kernel { Self.run(c, inK: inK, outK: outK, fullIn: c.inC, x: x, w: w, b: b, r: r, stride: 2) }
            #expect(TestSupport.relativeError(fast, ref) <= 1e-5, "\(c) prefix \(inK)->\(outK)")
            #expect(TestSupport.relativeError(avx2, ref) <= 1e-5, "\(c) prefix \(inK)->\(outK), without AVX-512")
            #expect(TestSupport.relativeError(portable, ref) <= 1e-5, "\(c) prefix \(inK)->\(outK), portable")
        }
    }

    @Test("row strides: output written into a zero-bordered plane's interior, read in place by the next conv",
          arguments: [1, 2], [19, 32])
    func paddedLayoutChain(stride: Int, width: Int) {
        // conv A (stride 1 or 2) writes into the padded layout; conv B (stride 1) reads that buffer
        // as its padded input, with a residual in the padded layout too. Compared with two naive convs.
        let c = Case(inC: 5, outC: 7, h: 13, w: width)
        let ho = (c.h - 1) / stride + 1, wo = (c.w - 1) / stride + 1, wp = DirectConv3x3.paddedWidth(wo), plane = (ho + 2) * wp
        let x = TestSupport.randomFloats(c.inC * c.h * c.w, seed: 21), wa = TestSupport.randomFloats(c.outC * c.inC * 9, seed: 22)
        let wb = TestSupport.randomFloats(c.outC * c.outC * 9, seed: 23), r = TestSupport.randomFloats(c.outC * ho * wo, seed: 24)
        var mid = [Float](repeating: 0, count: c.outC * plane), out = [Float](repeating: 0, count: c.outC * plane)
        var res = [Float](repeating: 0, count: c.outC * plane)
        for ch in 0..<c.outC { for y in 0..<ho { for x in 0..<wo { res[ch * plane + (y + 1) * wp + x + 1] = r[(ch * ho + y) * wo + x] } } }
        var pad = [Float](repeating: .nan, count: DirectConv3x3.paddedCount(channels: c.inC, height: c.h, width: c.w, stride: stride))
        for variant in [0, 1, 2] {  // the best variant, portable, without AVX-512
            let body = {
                x.withUnsafeBufferPointer { xp in wa.withUnsafeBufferPointer { ap in wb.withUnsafeBufferPointer { bp in res.withUnsafeBufferPointer { rp in
                    pad.withUnsafeMutableBufferPointer { pp in mid.withUnsafeMutableBufferPointer { mp in out.withUnsafeMutableBufferPointer { op in
                        DirectConv3x3.pad(channels: 0..<c.inC, height: c.h, width: c.w, xp.baseAddress!, channelStride: c.h * c.w, into: pp.baseAddress!,
                                          stride: stride)
                        DirectConv3x3.compute(inChannels: c.inC, height: c.h, width: c.w, padded: pp.baseAddress!, weight: ap.baseAddress!,
                                              weightStride: c.inC * 9, bias: nil, residual: nil, residualStride: 0, relu: true,
                                              output: mp.baseAddress! + wp + 1, outputStride: plane, outputRowStride: wp, rows: 0..<c.outC, stride: stride)
                        DirectConv3x3.compute(inChannels: c.outC, height: ho, width: wo, padded: mp.baseAddress!, weight: bp.baseAddress!,
                                              weightStride: c.outC * 9, bias: nil, residual: rp.baseAddress! + wp + 1, residualStride: plane,
                                              residualRowStride: wp, relu: false, output: op.baseAddress! + wp + 1, outputStride: plane,
                                              outputRowStride: wp, rows: 0..<c.outC)
                    } } }
                } } } }
            }
            switch variant { case 1: DirectConv3x3.withPortableKernel(body); case 2: DirectConv3x3.withoutAVX512Kernel(body); default: body() }
            let ga = Conv2DGeometry(batch: 1, inChannels: c.inC, inHeight: c.h, inWidth: c.w, outChannels: c.outC, kernel: 3, stride: stride, padding: 1)
            let a = Conv2D.forwardNaive(ga, input: x.map(Double.init), weight: wa.map(Double.init), bias: nil).map { max(0, $0) }
            let gb = Conv2DGeometry(batch: 1, inChannels: c.outC, inHeight: ho, inWidth: wo, outChannels: c.outC, kernel: 3, stride: 1, padding: 1)
            let ref = zip(Conv2D.forwardNaive(gb, input: a, weight: wb.map(Double.init), bias: nil), r).map { $0 + Double($1) }
            var interior = [Float](), border = [Float]()
            for ch in 0..<c.outC { for y in 0..<(ho + 2) { for x in 0..<wp {
                let v = out[ch * plane + y * wp + x], m = mid[ch * plane + y * wp + x]
                if y >= 1 && y <= ho && x >= 1 && x <= wo { interior.append(v) } else { border.append(v); border.append(m) }
            } } }
            #expect(TestSupport.relativeError(interior, ref) <= 1e-5, "stride \(stride), width \(width), variant \(variant)")
            #expect(border.allSatisfy { $0 == 0 }, "borders stay zero")
        }
    }

    @Test("outputs outside the requested rows are untouched")
    func leavesOtherRowsAlone() {
        let c = Case(inC: 4, outC: 8, h: 5, w: 11)
        let x = TestSupport.randomFloats(c.inC * c.h * c.w, seed: 1), w = TestSupport.randomFloats(c.outC * c.inC * 9, seed: 2)
        var y = [Float](repeating: -7, count: c.outC * c.h * c.w)
        var pad = [Float](repeating: 0, count: DirectConv3x3.paddedCount(channels: c.inC, height: c.h, width: c.w))
        x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in pad.withUnsafeMutableBufferPointer { pp in y.withUnsafeMutableBufferPointer { yp in
            DirectConv3x3.pad(channels: 0..<c.inC, height: c.h, width: c.w, xp.baseAddress!, channelStride: c.h * c.w, into: pp.baseAddress!)
            DirectConv3x3.compute(inChannels: c.inC, height: c.h, width: c.w, padded: pp.baseAddress!, weight: wp.baseAddress!, weightStride: c.inC * 9,
                                  bias: nil, residual: nil, residualStride: 0, relu: false, output: yp.baseAddress!, outputStride: c.h * c.w, rows: 2..<5)
        } } } }
        let P = c.h * c.w
        #expect(y[0..<(2 * P)].allSatisfy { $0 == -7 })
        #expect(y[(5 * P)...].allSatisfy { $0 == -7 })
        #expect(!y[(2 * P)..<(5 * P)].contains(-7))
    }

    @Test("weight gradient matches the naive backward (grouped samples, tail widths, 16-lane / 8-lane / portable variants)", arguments: cases)
    func weightGradientMatchesNaive(c: Case) {
        let S = 3
        let g = Conv2DGeometry(batch: S, inChannels: c.inC, inHeight: c.h, inWidth: c.w, outChannels: c.outC, kernel: 3, stride: 1, padding: 1)
        let x = TestSupport.randomFloats(g.inputCount, seed: 21), dy = TestSupport.randomFloats(g.outputCount, seed: 22)
        let w = TestSupport.randomFloats(g.weightCount, seed: 23)
        let ref = Conv2D.backwardNaive(g, input: x.map(Double.init), weight: w.map(Double.init), outputGrad: dy.map(Double.init)).weight
        func run() -> [Float] {
            let padCount = DirectConv3x3.paddedCount(channels: c.inC, height: c.h, width: c.w)
            var pad = [Float](repeating: .nan, count: padCount * S)
            var dw = [Float](repeating: 0, count: g.weightCount)
            x.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in pad.withUnsafeMutableBufferPointer { pp in dw.withUnsafeMutableBufferPointer { dwp in
                for s in 0..<S {
                    DirectConv3x3.pad(channels: 0..<c.inC, height: c.h, width: c.w, xp.baseAddress! + s * c.inC * c.h * c.w, channelStride: c.h * c.w,
                                      into: pp.baseAddress! + s * padCount)
                }
                // Two calls (sample 0, then samples 1-2) accumulate; rows split in two ranges.
                let split = c.outC / 2
                for rows in [0..<split, split..<c.outC] {
                    DirectConv3x3.weightGradient(inChannels: c.inC, height: c.h, width: c.w, samples: 1, padded: pp.baseAddress!, paddedStride: padCount,
                                                 outputGrad: dyp.baseAddress!, outputGradStride: c.outC * c.h * c.w, weightGrad: dwp.baseAddress!,
                                                 weightStride: c.inC * 9, rows: rows)
                    DirectConv3x3.weightGradient(inChannels: c.inC, height: c.h, width: c.w, samples: 2, padded: pp.baseAddress! + padCount,
                                                 paddedStride: padCount, outputGrad: dyp.baseAddress! + c.outC * c.h * c.w,
                                                 outputGradStride: c.outC * c.h * c.w, weightGrad: dwp.baseAddress!, weightStride: c.inC * 9, rows: rows)
                }
            } } } }
            return dw
        }
        #expect(TestSupport.relativeError(run(), ref) <= 1e-5, "\(c)")
        #expect(TestSupport.relativeError(DirectConv3x3.withPortableKernel { run() }, ref) <= 1e-5, "\(c), portable")
        #expect(TestSupport.relativeError(DirectConv3x3.withoutAVX512Kernel { run() }, ref) <= 1e-5, "\(c), 8 lanes")
    }

    @Test("stride-2 phase planes and shortcut subsampling (vector deinterleave) equal their scalar twins, both variants",
          arguments: [1, 2, 7, 8, 15, 16, 17, 28, 31, 32, 33, 64])
    func deinterleavingCopies(width: Int) {
        let C = 3, H = width % 5 + 3, rowStride = width + 5  // a source with padded rows
        let x = TestSupport.randomFloats(C * H * rowStride, seed: 31)
        let count = DirectConv3x3.paddedCount(channels: C, height: H, width: width, stride: 2)
        func phases(_ fast: Bool) -> [Float] {
            var p = [Float](repeating: .nan, count: count)
            x.withUnsafeBufferPointer { xp in p.withUnsafeMutableBufferPointer { pp in
                let f = fast ? ds_conv3x3s2_pad_rows_strided : ds_conv3x3s2_pad_rows_naive
                f(0, C, H, width, xp.baseAddress!, H * rowStride, rowStride, pp.baseAddress!, 0, 1 << 20)
            } }
            return p
        }
        let ho = (H - 1) / 2 + 1, wo = (width - 1) / 2 + 1
        func subsampled() -> [Float] {
            var y = [Float](repeating: .nan, count: C * ho * (wo + 3))
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                ds_subsample2(C, width, ho, wo, xp.baseAddress!, H * rowStride, rowStride, yp.baseAddress!, ho * (wo + 3), wo + 3)
            } }
            return y
        }
        var expected = [Float](repeating: .nan, count: C * ho * (wo + 3))
        for c in 0..<C { for oy in 0..<ho { for ox in 0..<wo { expected[c * ho * (wo + 3) + oy * (wo + 3) + ox] = x[c * H * rowStride + 2 * oy * rowStride + 2 * ox] } } }
        let reference = phases(false)
        // Bit patterns: NaN marks a float the copy must not touch.
        func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }
        #expect(bits(phases(true)) == bits(reference), "width \(width)")
        #expect(bits(DirectConv3x3.withPortableKernel { phases(true) }) == bits(reference), "width \(width), portable")
        #expect(bits(subsampled()) == bits(expected), "width \(width)")
        #expect(bits(DirectConv3x3.withPortableKernel { subsampled() }) == bits(expected), "width \(width), portable")
    }

    @Test("phase-plane output equals the conv followed by the scalar phase copy, bit for bit, zero borders kept (any width, partial channel tiles), every variant",
          arguments: [(3, 8, 16, 32), (16, 4, 9, 16), (5, 12, 10, 48), (4, 16, 28, 28), (6, 7, 7, 7), (2, 5, 6, 20), (3, 6, 5, 24)])
    func phasePlaneOutput(shape: (inC: Int, outC: Int, h: Int, w: Int)) {
        let (C, M, H, W) = shape
        var rng = SplitMix64(seed: UInt64(C * 100 + H))
        let Wp = DirectConv3x3.paddedWidth(W), plane = (H + 2) * Wp
        // A zero-bordered input, a residual in the same layout, weights and biases.
        var x = [Float](repeating: 0, count: C * plane), r = [Float](repeating: 0, count: M * plane)
        for c in 0..<C { for i in 0..<H { for j in 0..<W { x[c * plane + (i + 1) * Wp + j + 1] = rng.nextFloat() - 0.5 } } }
        for c in 0..<M { for i in 0..<H { for j in 0..<W { r[c * plane + (i + 1) * Wp + j + 1] = rng.nextFloat() - 0.5 } } }
        let w = (0..<M * C * 9).map { _ in rng.nextFloat() - 0.5 }, b = (0..<M).map { _ in rng.nextFloat() - 0.5 }
        let phaseStride = DirectConv3x3.paddedCount(channels: 1, height: H, width: W, stride: 2)
        func phaseOut() -> [Float] {
            var y = [Float](repeating: 0, count: M * phaseStride)
            x.withUnsafeBufferPointer { xp in r.withUnsafeBufferPointer { rp in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    // Two pixel-row pieces, as two cores write them.
                    for rows in [0..<(H / 2), (H / 2)..<H] {
                        DirectConv3x3.computePhaseOutput(inChannels: C, height: H, width: W, padded: xp.baseAddress!, weight: wp.baseAddress!,
                                                         weightStride: C * 9, bias: bp.baseAddress!, residual: rp.baseAddress! + Wp + 1,
                                                         residualStride: plane, residualRowStride: Wp, relu: true, output: yp.baseAddress!,
                                                         outputStride: phaseStride, rows: 0..<M, pixelRows: rows)
                    }
                }
            } } } }
            return y
        }
        // Reference: the same variant's conv into a plain output, then the scalar phase copy (the
        // portable variant rounds differently: no fused multiply-add).
        func reference() -> [Float] {
            var plain = [Float](repeating: 0, count: M * H * W), expected = [Float](repeating: 0, count: M * phaseStride)
            x.withUnsafeBufferPointer { xp in r.withUnsafeBufferPointer { rp in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                plain.withUnsafeMutableBufferPointer { yp in
                    DirectConv3x3.compute(inChannels: C, height: H, width: W, padded: xp.baseAddress!, weight: wp.baseAddress!, weightStride: C * 9,
                                          bias: bp.baseAddress!, residual: rp.baseAddress! + Wp + 1, residualStride: plane, residualRowStride: Wp,
                                          relu: true, output: yp.baseAddress!, outputStride: H * W, rows: 0..<M)
                }
            } } } }
            plain.withUnsafeBufferPointer { yp in expected.withUnsafeMutableBufferPointer { ep in
                ds_conv3x3s2_pad_rows_naive(0, M, H, W, yp.baseAddress!, H * W, W, ep.baseAddress!, 0, 1 << 20)
            } }
            return expected
        }
        func mismatches(_ a: [Float], _ b: [Float]) -> Int { zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count }
        #expect(mismatches(phaseOut(), reference()) == 0, "\(shape)")
        #expect(DirectConv3x3.withPortableKernel { mismatches(phaseOut(), reference()) } == 0, "\(shape), portable")
        #expect(DirectConv3x3.withoutAVX512Kernel { mismatches(phaseOut(), reference()) } == 0, "\(shape), without AVX-512")
    }
}
