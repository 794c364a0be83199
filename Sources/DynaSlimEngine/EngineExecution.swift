// Executing the compiled ops for one image, channel prefixes and all.
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming

extension InferenceEngine {
    /// Logits [n, classes] for n images [n, C, H, W]. For a dynamic model `kept` (if given)
    /// receives each image's active channel count per gated layer [n, L].
    public func run(images: UnsafeBufferPointer<Float>, n: Int, logits: UnsafeMutableBufferPointer<Float>,
                    kept: UnsafeMutableBufferPointer<Int32>? = nil) throws {
        let s = config.inputShape, L = gateWidths.count, classes = config.classes
        try ShapeError.check("engine", "images", count: images.count, expected: n * s.count, shape: [n, s.c, s.h, s.w])
        try ShapeError.check("engine", "logits", count: logits.count, expected: n * classes, shape: [n, classes])
        // Kept counts [n, L], in the engine's scratch (a batch allocates nothing).
        let k = keptScratch.reserve(max(1, n * L))
        for i in 0..<n { for l in 0..<L { k[i * L + l] = Int32(gateWidths[l]) } }
        if n == 1 && threads > 1 && overlapsPredictor {
            // Batch 1 on two cores: a helper runs the predictor while the caller starts the stem
            // conv, which is ungated and so needs no thresholds (runPadded's `alongside`).
            let side = PredictorAlongside(engine: Unmanaged.passUnretained(self), image: images.baseAddress!, kept: k,
                                          errors: Unmanaged.passUnretained(workerErrors))
            try runPadded(images.baseAddress!, first: 0, kept: UnsafePointer(k), ctx: contexts[0], parallel: true,
                          out: logits.baseAddress!, alongside: side)
            if let e = workerErrors.take() { throw e }
            if let kept { for i in 0..<min(kept.count, L) { kept[i] = k[i] } }
            return
        }
        if dynamic != nil {
            let t0 = profile != nil ? EngineProfile.now() : 0
            defer { if let profile { profile.add("predictor", from: t0, to: EngineProfile.now()) } }
            try predictKept(images.baseAddress!, n: n, into: k)
        }
        if let fbs {  // reported only: FBS convs select their channels themselves
            for i in 0..<n { for l in 0..<L { k[i * L + l] = Int32(fbs.kept(channels: gateWidths[l])) } }
        }
        if let kept { for i in 0..<min(kept.count, n * L) { kept[i] = k[i] } }
        let x = SendableConstPointer(images.baseAddress!), y = SendablePointer(logits.baseAddress!)
        let kk = UnsafePointer(k)
        if n == 1 && threads > 1 {
            try runGroup(x.base, count: 1, first: 0, kept: kk, ctx: contexts[0], parallel: true, out: y.base)
        } else if dynamic != nil && groupSize > 1 && sortGroupsByWidth {
            // Padding a group to its largest kept counts wastes least when its images have similar
            // widths: order the batch by MACs, run it in that order, and put the logits back.
            let order = (0..<n).sorted { a, b in
                let ma = macs(kept: (0..<L).map { Int(kk[a * L + $0]) }), mb = macs(kept: (0..<L).map { Int(kk[b * L + $0]) })
                return ma < mb || (ma == mb && a < b)
            }
            let xs = sortedImages.reserve(n * s.count), ys = sortedLogits.reserve(n * classes)
            var ks = Array(UnsafeBufferPointer(start: kk, count: n * L))
            for (dst, src) in order.enumerated() {
                (xs + dst * s.count).update(from: images.baseAddress! + src * s.count, count: s.count)
                for l in 0..<L { ks[dst * L + l] = kk[src * L + l] }
            }
            try ks.withUnsafeBufferPointer { try runBatched(UnsafePointer(xs), n: n, kept: $0.baseAddress!, out: ys) }
            for (dst, src) in order.enumerated() { (logits.baseAddress! + src * classes).update(from: ys + dst * classes, count: classes) }
        } else {
            try runBatched(x.base, n: n, kept: kk, out: y.base)
        }
    }

    /// Whether single images run on the padded path (runPadded).
    var usesPaddedPath: Bool { paddedActivations && contexts[0].paddedBuffers != nil && directConvolutions }

    /// Whether batch-1 runs can overlap the predictor with the first op: a dynamic model on the
    /// engine's fast predictor whose first op is an ungated direct conv on the padded path (ResNet's
    /// stem; VGG's and M-CifarNet's first convs are gated).
    var overlapsPredictor: Bool {
        guard dynamic != nil, predictorExecutor != nil, usesPaddedPath, case .conv(let o)? = ops.first, o.inGate == nil, o.outGate == nil else { return false }
        return direct(Conv2DGeometry(batch: 1, inChannels: o.inC, inHeight: config.inputHeight, inWidth: config.inputWidth,
                                          outChannels: o.outC, kernel: o.kernel, stride: o.stride, padding: o.padding))
    }

    /// k[i * L + l] = how many of gated layer l's sorted |gamma| reach image i's threshold (>= 1),
    /// the thresholds from the predictor (or the model's fixed ones, the static control).
    func predictKept(_ images: UnsafePointer<Float>, n: Int, into k: UnsafeMutablePointer<Int32>) throws {
        guard let dynamic else { return }
        let s = config.inputShape, L = gateWidths.count
        let o: UnsafePointer<Float>
        if let fast = predictorExecutor {
            let buffer = predictorOut.reserve(n * L)
            for i in 0..<n { try fast.run(image: images + i * s.count, out: buffer + i * L) }
            o = UnsafePointer(buffer)
        } else {
            o = UnsafePointer(try dynamic.predictor.forward(images: UnsafeBufferPointer(start: images, count: n * s.count), n: n, mode: .eval).pointer)
        }
        for l in 0..<L {
            let (lo, hi) = gateRanges[l], fixed = dynamic.fixedThresholds?[l]
            sortedAbsGamma[l].withUnsafeBufferPointer { a in
                for i in 0..<n {
                    let t = fixed ?? GateRule.threshold(o[i * L + l], lo: lo, hi: hi)
                    var low = 0, high = a.count  // first index with a[idx] < t
                    while low < high { let mid = (low + high) / 2; if a[mid] >= t { low = mid + 1 } else { high = mid } }
                    k[i * L + l] = Int32(max(1, low))
                }
            }
        }
    }

    /// Images split across the cores; each core runs its share in groups of `groupSize`.
    func runBatched(_ images: UnsafePointer<Float>, n: Int, kept: UnsafePointer<Int32>, out: UnsafeMutablePointer<Float>) throws {
        let s = config.inputShape, classes = config.classes
        let x = SendableConstPointer(images), y = SendablePointer(out), keptCounts = SendableConstPointer(kept)
        let errors = workerErrors, g = max(1, groupSize)
        Parallel.forChunks(n, threads: threads) { chunk, range in
            var i = range.lowerBound
            while i < range.upperBound {
                let cnt = min(g, range.upperBound - i)
                do {
                    try self.runGroup(x.advanced(by: i * s.count), count: cnt, first: i, kept: keptCounts.base, ctx: self.contexts[chunk], parallel: false,
                                      out: y.advanced(by: i * classes))
                } catch { errors.set(error) }
                i += cnt
            }
        }
        if let e = errors.take() { throw e }
    }

    /// MACs of one image given its kept counts (predictor excluded).
    public func macs(kept: [Int]) -> Double { accounting.macs(kept: kept) }

    /// Runs `count` consecutive images (NCHW) through the ops as one group: every conv is one GEMM
    /// over the group's pixels, at the group's largest kept counts; each image's channels beyond
    /// its own k are zeroed, so results equal running the images one by one.
    func runGroup(_ input: UnsafePointer<Float>, count g: Int, first: Int, kept: UnsafePointer<Int32>, ctx: SampleContext, parallel: Bool,
                  out: UnsafeMutablePointer<Float>) throws {
        if g == 1 && usesPaddedPath {
            try runPadded(input, first: first, kept: kept, ctx: ctx, parallel: parallel, out: out)
            return
        }
        let L = gateWidths.count
        // Image j's kept count of gated layer `gate`, for the group's images, in the context's scratch.
        func ks(_ gate: Int?) -> UnsafeBufferPointer<Int>? {
            gate.map { l in
                let p = ctx.keptOut.reserve(g)
                for j in 0..<g { p[j] = Int(kept[(first + j) * L + l]) }
                return UnsafeBufferPointer(start: p, count: g)
            }
        }
        // The group's widest kept count of gated layer `gate` (an input side needs no per-image list).
        func widest(_ gate: Int?) -> Int? { gate.map { l in (0..<g).reduce(0) { max($0, Int(kept[(first + $1) * L + l])) } } }
        var cur = UnsafeMutablePointer(mutating: input)
        var c = config.inputChannels, active = c, h = config.inputHeight, w = config.inputWidth
        var which = 0
        func next() -> UnsafeMutablePointer<Float> { defer { which = (which + 1) % 2 }; return ctx.act[which].reserve(maxActivation * g) }
        // FBS: original channel indices of the current (compressed) activation; nil = channels 0..<active.
        var chanIdx: UnsafePointer<Int>? = nil
        for op in ops {
            switch op {
            case .conv(let o) where fbs != nil && (o.outGate != nil || o.inGate != nil):
                let dst = next()
                let (ho, wo) = o.outSize(h, w)
                let sel = o.outGate.map { fbsSelect(layer: $0, x: Activation(ptr: cur, h: h, w: w, padded: false), channels: active, columns: chanIdx, ctx: ctx) }
                gatheredConv(o, cur, inK: active, columns: o.inGate != nil ? chanIdx : nil, rows: sel, h: h, w: w, dst, residual: nil, reluAfter: false,
                             ctx: ctx, parallel: parallel)
                cur = dst; c = sel?.count ?? o.outC; active = c; h = ho; w = wo
                chanIdx = sel?.rows
            case .conv(let o):
                let outKs = ks(o.outGate), inK = widest(o.inGate) ?? active
                let dst = next()
                let (ho, wo) = o.outSize(h, w)
                conv(o, cur, inStride: c * h * w, inK: inK, outKs: outKs, g: g, h: h, w: w, dst, residual: nil, ctx: ctx, parallel: parallel)
                cur = dst; c = o.outC; active = outKs?.max() ?? o.outC; h = ho; w = wo
            case .block(let b):
                let midKs = ks(b.conv1.outGate), mid = midKs?.max() ?? b.conv1.outC
                let (ho, wo) = b.conv1.outSize(h, w)
                let t = ctx.act[2].reserve(maxActivation * g)
                var fbsRows: ChannelSelection?
                if fbs != nil, let l = b.conv1.outGate {
                    let sel = fbsSelect(layer: l, x: Activation(ptr: cur, h: h, w: w, padded: false), channels: active, columns: nil, ctx: ctx)
                    fbsRows = sel
                    gatheredConv(b.conv1, cur, inK: active, columns: nil, rows: sel, h: h, w: w, t, residual: nil, reluAfter: false, ctx: ctx, parallel: parallel)
                } else {
                    conv(b.conv1, cur, inStride: c * h * w, inK: active, outKs: midKs, g: g, h: h, w: w, t, residual: nil, ctx: ctx, parallel: parallel)
                }
                // The shortcut, [g][planes][ho*wo], which the conv2 epilogue adds before its ReLU.
                let P = ho * wo, planes = b.conv2.outC
                let short: UnsafePointer<Float>
                switch b.shortcut {
                case .identity: short = UnsafePointer(cur)
                case let .zeroPad(stride, before):
                    let sp = ctx.short.reserve(g * planes * P)
                    sp.update(repeating: 0, count: g * planes * P)
                    for j in 0..<g {
                        let x = Activation(ptr: cur + j * c * h * w, h: h, w: w, padded: false)
                        Self.subsample(x, channels: active, stride: stride, into: sp + (j * planes + before) * P, plane: P, rowStride: wo, ho: ho, wo: wo)
                    }
                    short = UnsafePointer(sp)
                case .projection(let p):
                    let sp = ctx.short.reserve(g * planes * P)
                    conv(p, cur, inStride: c * h * w, inK: active, outKs: nil, g: g, h: h, w: w, sp, residual: nil, ctx: ctx, parallel: parallel)
                    short = UnsafePointer(sp)
                }
                let dst = next()
                // The block ends with relu(bn2(conv2) + shortcut): ReLU after the residual add.
                if let fbsRows {
                    gatheredConv(b.conv2, t, inK: fbsRows.count, columns: fbsRows.rows, rows: nil, h: ho, w: wo, dst, residual: short,
                                 reluAfter: true, ctx: ctx, parallel: parallel)
                } else {
                    conv(b.conv2, t, inStride: b.conv1.outC * P, inK: mid, outKs: nil, g: g, h: ho, w: wo, dst, residual: short, reluAfter: true,
                         ctx: ctx, parallel: parallel)
                }
                cur = dst; c = planes; active = planes; h = ho; w = wo
            case let .maxPool(kern, stride):
                let ho = (h - kern) / stride + 1, wo = (w - kern) / stride + 1
                let dst = next()
                for j in 0..<g {
                    Self.maxPool(Activation(ptr: cur + j * c * h * w, h: h, w: w, padded: false), channels: active, kernel: kern, stride: stride,
                                 into: dst + j * c * ho * wo, plane: ho * wo)
                }
                cur = dst; h = ho; w = wo
            case .globalAvgPool:
                let dst = next()
                for j in 0..<g { Self.globalAvgPool(Activation(ptr: cur + j * c * h * w, h: h, w: w, padded: false), channels: active, into: dst + j * c) }
                cur = dst; h = 1; w = 1
            case .linear(let li) where chanIdx != nil && li.inGate != nil:
                // FBS: the classifier reads the kept channels of the last gated layer.
                let idx = chanIdx!
                for o in 0..<li.outF {
                    var acc = li.bias[o]
                    for j in 0..<active { acc += li.weight[o * li.inF + idx[j]] * cur[j] }
                    out[o] = acc
                }
                return
            case .linear(let li):
                let inK = widest(li.inGate) ?? active
                // logits[g, outF] = x[g, 0..<inK] * W[:, 0..<inK]^T + b (W is [outF, inF], row stride inF).
                li.weight.withUnsafeBufferPointer { wp in
                    BLAS.sgemm(transB: true, m: g, n: li.outF, k: inK, a: cur, lda: c, b: wp.baseAddress!, ldb: li.inF, c: out, ldc: li.outF)
                }
                for j in 0..<g { for o in 0..<li.outF { out[j * li.outF + o] += li.bias[o] } }
                return
            }
        }
        // Networks ending in a conv classifier (M-CifarNet): logits are the last activation.
        for j in 0..<g { for o in 0..<config.classes { out[j * config.classes + o] = cur[j * c + o] } }
    }

    /// FBS channel selection for gated layer l from the producer's input x (plain or padded layout, whose
    /// channel j is original channel columns[j]): s = relu(W g + b), g = mean |x| per channel; the
    /// top-k rows (ascending) and their saliencies, in ctx's storage for layer l (no allocation).
    func fbsSelect(layer l: Int, x: Activation, channels: Int, columns: UnsafePointer<Int>?, ctx: SampleContext) -> ChannelSelection {
        let p = fbs!.predictors[l], C = p.outFeatures, Cin = p.inFeatures, buffer = ctx.fbsSelections[l]
        let g = ctx.fbsMeans.reserve(channels)
        Self.channelMeans(x, channels: channels, absolute: true, into: g)
        let z = buffer.scores
        p.bias.value.withUnsafeBufferPointer { z.update(from: $0.baseAddress!, count: C) }
        p.weight.value.withUnsafeBufferPointer { w in
            for j in 0..<channels {
                let col = columns?[j] ?? j, gj = g[j]
                for c in 0..<C { z[c] += w[c * Cin + col] * gj }
            }
        }
        let k = fbs!.kept(channels: C)
        TopK.largest(k, of: z, count: C, work: buffer.work, into: buffer.rows)
        for r in 0..<k { buffer.scale[r] = max(0, z[buffer.rows[r]]) }
        return ChannelSelection(rows: buffer.rows, scale: buffer.scale, count: k)
    }

    /// One image: y[rows.count or outC][P] = act(W[rows][columns] * im2col(x) + bias[rows] (+ residual)) * scale,
    /// with weight rows / input columns gathered into scratch (FBS's arbitrary channel sets).
    func gatheredConv(_ o: ConvOp, _ x: UnsafePointer<Float>, inK: Int, columns: UnsafePointer<Int>?, rows: ChannelSelection?, h: Int, w: Int,
                      _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, reluAfter: Bool, ctx: SampleContext, parallel: Bool) {
        let kk = o.kernel * o.kernel, K = inK * kk, M = rows?.count ?? o.outC
        let wg = ctx.gathered.reserve(M * K)
        let bias = ctx.gatheredBias.reserve(M)
        o.weight.withUnsafeBufferPointer { wp in
            for r in 0..<M {
                let src = rows?.rows[r] ?? r
                bias[r] = o.bias[src]
                let srcRow = wp.baseAddress! + src * o.rowLength, dstRow = wg + r * K
                if let columns {
                    for j in 0..<inK { (dstRow + j * kk).update(from: srcRow + columns[j] * kk, count: kk) }
                } else {
                    dstRow.update(from: srcRow, count: K)
                }
            }
        }
        convGroup(o, x, inStride: inK * h * w, inK: inK, outKs: nil, g: 1, h: h, w: w, y, residual: residual, reluAfter: reluAfter,
                  ctx: ctx, parallel: parallel, zeroRowsUpTo: 0,
                  gathered: (weight: UnsafePointer(wg), lda: K, bias: UnsafePointer(bias), rows: M))
        if let rows {
            let (ho, wo) = o.outSize(h, w)
            for r in 0..<rows.count { let row = y + r * ho * wo, sc = rows.scale[r]; for q in 0..<(ho * wo) { row[q] *= sc } }
        }
    }

    /// For a group of g images x [g][inStride]: y[g][outC][P] = act(W[0..<M, 0..<inK*kk] * im2col(x) + bias (+ residual)),
    /// M = max(outKs) (or outC); rows m >= outKs[j] of image j are zeroed.
    func conv(_ o: ConvOp, _ x: UnsafePointer<Float>, inStride: Int, inK: Int, outKs: UnsafeBufferPointer<Int>?, g: Int, h: Int, w: Int,
              _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, reluAfter: Bool = false, ctx: SampleContext, parallel: Bool) {
        // Split the group so each GEMM's im2col matrix stays cache-sized (the training kernels' rule).
        let (ho, wo) = o.outSize(h, w)
        let P = ho * wo, K = inK * o.kernel * o.kernel
        let sub = max(1, min(g, max(Conv2D.minGemmColumns, Conv2D.targetColFloats / max(1, K)) / max(1, P)))
        if sub < g {
            let outStride = o.outC * P
            var j = 0
            while j < g {
                let cnt = min(sub, g - j)
                convGroup(o, x + j * inStride, inStride: inStride, inK: inK, outKs: outKs.map { UnsafeBufferPointer(rebasing: $0[j..<(j + cnt)]) }, g: cnt, h: h, w: w,
                          y + j * outStride, residual: residual.map { $0 + j * outStride }, reluAfter: reluAfter, ctx: ctx, parallel: parallel,
                          zeroRowsUpTo: outKs?.max() ?? o.outC)
                j += cnt
            }
            return
        }
        convGroup(o, x, inStride: inStride, inK: inK, outKs: outKs, g: g, h: h, w: w, y, residual: residual, reluAfter: reluAfter, ctx: ctx, parallel: parallel,
                  zeroRowsUpTo: 0)
    }

    func convGroup(_ o: ConvOp, _ x: UnsafePointer<Float>, inStride: Int, inK: Int, outKs: UnsafeBufferPointer<Int>?, g: Int, h: Int, w: Int,
                   _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, reluAfter: Bool, ctx: SampleContext, parallel: Bool,
                   zeroRowsUpTo: Int, gathered: (weight: UnsafePointer<Float>, lda: Int, bias: UnsafePointer<Float>, rows: Int)? = nil) {
        let M = gathered?.rows ?? outKs?.max() ?? o.outC
        // Rows [M, zeroRowsUpTo) are read by the consumer (at the whole group's width) but not computed
        // for this sub-group: they must be zero.
        if zeroRowsUpTo > M {
            let (ho, wo) = o.outSize(h, w)
            for j in 0..<g { (y + j * o.outC * ho * wo + M * ho * wo).update(repeating: 0, count: (zeroRowsUpTo - M) * ho * wo) }
        }
        let geo = Conv2DGeometry(batch: 1, inChannels: inK, inHeight: h, inWidth: w, outChannels: M,
                                 kernel: o.kernel, stride: o.stride, padding: o.padding)
        let P = geo.outPlane, K = geo.colRows, N = g * P
        let outStride = (gathered?.rows ?? o.outC) * P
        let useThreads = parallel && threads > 1 && M * K * P >= 1 << 16
        if direct(geo) {
            directConv(o, x, inStride: inStride, inK: inK, outKs: outKs, rows: M, g: g, h: h, w: w, y, outStride: outStride,
                       residual: residual, reluAfter: reluAfter, ctx: ctx, useThreads: useThreads, gathered: gathered)
            return
        }
        // B = im2col of the group, [K, g*P] (the input itself for a single pointwise image).
        let colPtr: UnsafePointer<Float>
        if geo.isPointwise && g == 1 { colPtr = x } else {
            let col = ctx.col.reserve(K * N)
            if useThreads {
                // Each core im2cols a share of the input channels, with its own phase scratch.
                withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: max(threads, 1)) { phases in
                    for c in 0..<threads { phases[c] = contexts[c].phase.reserve(Conv2D.im2colPhaseScratch(geo)) }
                    var job = Im2colJob(geometry: geo, input: x, col: col, phases: UnsafePointer(phases.baseAddress!))
                    pool.forChunks(inK, raw: Im2colJob.run, context: &job)
                }
            } else {
                let phase = ctx.phase.reserve(Conv2D.im2colPhaseScratch(geo))
                for j in 0..<g { Conv2D.im2colSample(geo, x + j * inStride, col + j * P, ld: N, phaseBuffer: phase) }
            }
            colPtr = UnsafePointer(col)
        }
        // C = [M, g*P]: straight into y for one image, else into a scratch matrix scattered below.
        let cMat = g == 1 ? y : ctx.gemmOut.reserve(M * N)
        o.weight.withUnsafeBufferPointer { wp in o.bias.withUnsafeBufferPointer { bp in
            var job = GemmEpilogueJob(weight: gathered?.weight ?? wp.baseAddress!, lda: gathered?.lda ?? o.rowLength,
                                      bias: gathered?.bias ?? bp.baseAddress!, col: colPtr, m: M, k: K, n: N, pixels: P, images: g,
                                      cMatrix: cMat, output: y, outStride: outStride, residual: residual, relu: o.relu || reluAfter,
                                      keptRows: outKs?.baseAddress)
            if useThreads { pool.forChunks(N, raw: GemmEpilogueJob.run, context: &job) } else { GemmEpilogueJob.run(&job, 0, 0, N) }
        } }
    }
}

/// im2col of one image's input channels [lower, upper) as plain values (SpinPool's raw fork):
/// rows c * kk ..< (c + 1) * kk of the [K, P] matrix, chunk c using phases[c] as scratch.
struct Im2colJob {
    let geometry: Conv2DGeometry
    let input: UnsafePointer<Float>, col: UnsafeMutablePointer<Float>
    let phases: UnsafePointer<UnsafeMutablePointer<Float>>

    static let run: SpinPool.RawJob = { context, chunk, lower, upper in
        let j = context!.assumingMemoryBound(to: Im2colJob.self).pointee, geo = j.geometry
        if lower >= upper { return }
        var sub = geo
        sub.inChannels = upper - lower
        let P = geo.outPlane, kk = geo.kernelHeight * geo.kernelWidth
        Conv2D.im2colSample(sub, j.input + lower * geo.inHeight * geo.inWidth, j.col + lower * kk * P, ld: P, phaseBuffer: j.phases[chunk])
    }
}

/// The GEMM-path conv's columns [lower, upper) of C = W * B, then its epilogue, as plain values
/// (SpinPool's raw fork): C [m, n] = W [m, k] (row stride lda) * col [k, n]; per image j (pixels
/// j * P ..< (j + 1) * P) and row r: output = act(C + bias[r] (+ residual)), rows r >= keptRows[j]
/// zeroed. C is the output itself for one image.
struct GemmEpilogueJob {
    let weight: UnsafePointer<Float>, lda: Int, bias: UnsafePointer<Float>, col: UnsafePointer<Float>
    let m: Int, k: Int, n: Int, pixels: Int, images: Int
    let cMatrix: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, outStride: Int
    let residual: UnsafePointer<Float>?, relu: Bool
    let keptRows: UnsafePointer<Int>?

    static let run: SpinPool.RawJob = { context, _, lower, upper in
        let j = context!.assumingMemoryBound(to: GemmEpilogueJob.self).pointee
        if lower >= upper { return }
        let M = j.m, N = j.n, P = j.pixels
        BLAS.sgemm(m: M, n: upper - lower, k: j.k, a: j.weight, lda: j.lda, b: j.col + lower, ldb: N, c: j.cMatrix + lower, ldc: N)
        for image in 0..<j.images {
            let lo = max(lower, image * P), hi = min(upper, (image + 1) * P)
            if lo >= hi { continue }
            let rows = j.keptRows?[image] ?? M, a = lo - image * P, e = hi - image * P
            for r in 0..<M {
                let src = j.cMatrix + r * N + image * P, dst = j.output + image * j.outStride + r * P
                if r >= rows { (dst + a).update(repeating: 0, count: e - a); continue }
                if let residual = j.residual {
                    // dst = act(src + bias + residual): add the residual, then the affine/ReLU pass.
                    VectorReductions.add(src + a, residual + image * j.outStride + r * P + a, dst + a, e - a, relu: false)
                    VectorReductions.affine(dst + a, dst + a, e - a, scale: 1, shift: j.bias[r], relu: j.relu)
                } else {
                    VectorReductions.affine(src + a, dst + a, e - a, scale: 1, shift: j.bias[r], relu: j.relu)
                }
            }
        }
    }
}

extension InferenceEngine {
    /// Whether a conv runs on the direct 3x3 kernel rather than im2col + SGEMM: every 3x3 conv with
    /// padding 1 and stride 1 or 2 (measured faster at these sizes: BENCHMARKS.md), unless
    /// directConvolutions is off.
    func direct(_ g: Conv2DGeometry) -> Bool { directConvolutions && DirectConv3x3.applies(g) }

    /// The direct-kernel version of convGroup: image by image, each at its own kept counts (no
    /// padding to the group's widest image); rows [outKs[j], rows) of image j are zeroed. With
    /// `useThreads` (batch 1) the output pixel rows are split across the cores.
    /// Contract: at batch 1 `ctx` is contexts[0] and the other contexts' `col` buffers are free.
    func directConv(_ o: ConvOp, _ x: UnsafePointer<Float>, inStride: Int, inK: Int, outKs: UnsafeBufferPointer<Int>?, rows M: Int, g: Int, h: Int, w: Int,
                    _ y: UnsafeMutablePointer<Float>, outStride: Int, residual: UnsafePointer<Float>?, reluAfter: Bool,
                    ctx: SampleContext, useThreads: Bool,
                    gathered: (weight: UnsafePointer<Float>, lda: Int, bias: UnsafePointer<Float>, rows: Int)?) {
        let (ho, wo) = o.outSize(h, w), P = ho * wo
        let padCount = DirectConv3x3.paddedCount(channels: inK, height: h, width: w, stride: o.stride)
        let chunks = useThreads ? min(threads, ho) : 1
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: max(threads, 1)) { pads in
            // Each core pads the input rows its output rows read into its own buffer, so a conv costs
            // one fork and no serial section (an even split of the pixel rows whatever k is).
            for c in 0..<chunks { pads[c] = (c == 0 ? ctx : contexts[c]).col.reserve(padCount) }
            o.weight.withUnsafeBufferPointer { wp in o.bias.withUnsafeBufferPointer { bp in
                for j in 0..<g {
                    let k = min(M, outKs?[j] ?? M)
                    let yj = y + j * outStride
                    var job = DirectConvJob(input: x + j * inStride, source: x + j * inStride, sourcePlane: h * w, sourceRow: w,
                                            inPlace: false, pads: pads.baseAddress!, inChannels: inK, height: h, width: w, stride: o.stride,
                                            weight: gathered?.weight ?? wp.baseAddress!, weightStride: gathered?.lda ?? o.rowLength,
                                            bias: gathered?.bias ?? bp.baseAddress!, residual: residual.map { $0 + j * outStride },
                                            residualPlane: P, residualRow: wo, residualChannels: 0..<k, relu: o.relu || reluAfter,
                                            output: yj, outputPlane: P, outputRow: wo, phaseOutput: false, rows: k)
                    withUnsafePointer(to: &job) { jp in
                        if chunks > 1 { pool.forChunks(ho, raw: DirectConvJob.run, context: UnsafeRawPointer(jp)) }
                        else { DirectConvJob.run(UnsafeRawPointer(jp), 0, 0, ho) }
                    }
                    if k < M { (yj + k * P).update(repeating: 0, count: (M - k) * P) }
                }
            } }
        }
    }
}

/// Collects the first error thrown inside a parallel region.
final class ErrorBox: @unchecked Sendable {
    private(set) var error: Error?
    private let lock = NSLockLike()
    func set(_ e: Error) { lock.withLock { if error == nil { error = e } } }
    /// The first error set since the last take, and clears it (a box reused across runs).
    func take() -> Error? { lock.withLock { defer { error = nil }; return error } }
}

/// The predictor run on a helper core beside the stem conv (batch 1, two cores), as plain values
/// for an allocation-free fork: fills `kept` for the engine's later ops.
struct PredictorAlongside {
    let engine: Unmanaged<InferenceEngine>
    let image: UnsafePointer<Float>
    let kept: UnsafeMutablePointer<Int32>
    let errors: Unmanaged<ErrorBox>
    func run() {
        do { try engine.takeUnretainedValue().predictKept(image, n: 1, into: kept) } catch { errors.takeUnretainedValue().set(error) }
    }
}

final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<T>(_ body: () -> T) -> T { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return body() }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
