// One image through the ops with activations kept in the direct kernel's zero-bordered layout.
//
// A 3x3 stride-1 conv reads its input from a padded copy (a one-pixel zero border, rows rounded up
// to 8 lanes: DirectConv3x3.paddedWidth). Making that copy costs as much as a 2-3-channel conv
// does (perf on a 70%-thinned ResNet-20: 15% of the time in padding copies and zero fills), so
// here every direct conv writes its output straight into the interior of such a plane, and the
// next stride-1 conv reads it in place: no copy. The borders of these buffers are zeroed once
// when they are allocated and never written (the kernel stores interior pixels only), so they stay
// zero. Each output size (h, w) has its own set of buffers, because one size's border positions
// are another size's interior. The same holds for stride-2 convs: a stride-2 conv reads four phase
// planes of its input (even / odd rows x columns), and the residual block before an option-A
// stride-2 block writes its output straight into them (ds_conv3x3s1_rows_phase_out), which also
// hold the shortcut's subsampled pixels (phase (1, 1)); building them from a padded copy cost a
// 70%-thinned ResNet-20 about as much as its stride-2 conv's arithmetic. Other stride-2 convs
// still build their phase planes; GEMM-path convs (1x1, unpadded), pooling and the classifier read
// the padded or plain layout.
import DynaSlimCore
import Dispatch
import CKernels
import DynaSlimNN

/// An activation and its layout: `padded` planes are (h + 2) x paddedWidth(w) with the image at
/// row 1, column 1; plain planes are h x w. Channel c's plane starts at ptr + c * plane.
/// `phases`: the stride-2 phase planes of the h x w image (ds_conv3x3s2_pad_rows' layout, channel c's
/// four at ptr + c * phaseStride), which only a stride-2 direct conv and an option-A shortcut read;
/// rowStride, plane and origin do not apply.
struct Activation {
    var ptr: UnsafeMutablePointer<Float>
    var h: Int, w: Int
    var padded: Bool
    var phases = false
    /// Floats per channel in the phase layout.
    @inline(__always) var phaseStride: Int { DirectConv3x3.paddedCount(channels: 1, height: h, width: w, stride: 2) }
    @inline(__always) var rowStride: Int { padded ? DirectConv3x3.paddedWidth(w) : w }
    @inline(__always) var plane: Int { padded ? (h + 2) * rowStride : h * w }
    /// Pixel (0, 0) of channel 0.
    @inline(__always) var origin: UnsafeMutablePointer<Float> { padded ? ptr + rowStride + 1 : ptr }

    static func paddedCount(channels: Int, h: Int, w: Int) -> Int { channels * (h + 2) * DirectConv3x3.paddedWidth(w) }
    static func sizeKey(_ h: Int, _ w: Int) -> Int { h << 20 | w }
}

/// Per output size, four zero-bordered buffers: two for the residual stream (ping-pong), one for
/// a block's middle activation, one for a zero-padded shortcut.
final class PaddedBuffers: @unchecked Sendable {
    let buffers: [Int: [UnsafeMutablePointer<Float>]]
    private let owned: [UnsafeMutablePointer<Float>]
    /// Per size key: zeroed phase planes of an h x w activation (Activation.phases), for blocks that
    /// write them (borders stay zero: the kernel writes interior pixels only).
    let phases: [Int: UnsafeMutablePointer<Float>]
    /// `sizes`: output size key -> largest channel count written at that size; `phaseSizes`: the
    /// same for activations written as stride-2 phase planes.
    init(sizes: [Int: (h: Int, w: Int, channels: Int)], phaseSizes: [Int: (h: Int, w: Int, channels: Int)] = [:]) {
        var b: [Int: [UnsafeMutablePointer<Float>]] = [:], all: [UnsafeMutablePointer<Float>] = []
        for (key, s) in sizes {
            let count = Activation.paddedCount(channels: s.channels, h: s.h, w: s.w)
            b[key] = (0..<4).map { _ in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                p.initialize(repeating: 0, count: count)
                all.append(p)
                return p
            }
        }
        buffers = b
        var ph: [Int: UnsafeMutablePointer<Float>] = [:]
        for (key, s) in phaseSizes {
            let count = DirectConv3x3.paddedCount(channels: s.channels, height: s.h, width: s.w, stride: 2)
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 0, count: count)
            all.append(p)
            ph[key] = p
        }
        phases = ph
        owned = all
    }
    deinit { for p in owned { p.deallocate() } }
    @inline(__always) func get(_ h: Int, _ w: Int) -> [UnsafeMutablePointer<Float>] { buffers[Activation.sizeKey(h, w)]! }

    /// Channel placement last written into size (h, w)'s shortcut buffer.
    private var placements: [Int: (before: Int, active: Int)] = [:]
    /// Records that the shortcut buffer of size (h, w) now holds channels [before, before + active);
    /// true when that differs from the last placement (the caller must zero the other channels).
    func shortcutPlacement(_ h: Int, _ w: Int, before: Int, active: Int) -> Bool {
        let key = Activation.sizeKey(h, w)
        if let p = placements[key], p.before == before, p.active == active { return false }
        placements[key] = (before, active)
        return true
    }
}

extension InferenceEngine {
    /// The spatial size entering each op (the walk paddedSizes and phaseOutputs share).
    static func inputSizes(ops: [EngineOp], config: ModelConfig) -> [(h: Int, w: Int)] {
        var sizes: [(h: Int, w: Int)] = []
        var h = config.inputHeight, w = config.inputWidth
        for op in ops {
            sizes.append((h, w))
            switch op {
            case .conv(let o): (h, w) = o.outSize(h, w)
            case .block(let b): (h, w) = b.conv1.outSize(h, w)
            case .maxPool(let k, let s): h = (h - k) / s + 1; w = (w - k) / s + 1
            case .globalAvgPool, .linear: h = 1; w = 1
            }
        }
        return sizes
    }

    /// Output sizes of the direct convs and the channels written there (for PaddedBuffers).
    static func paddedSizes(ops: [EngineOp], config: ModelConfig) -> [Int: (h: Int, w: Int, channels: Int)] {
        var sizes: [Int: (h: Int, w: Int, channels: Int)] = [:]
        func note(_ o: ConvOp, _ h: Int, _ w: Int, channels: Int) {
            let (ho, wo) = o.outSize(h, w), key = Activation.sizeKey(ho, wo)
            sizes[key] = (ho, wo, max(sizes[key]?.channels ?? 0, channels))
        }
        for (op, (h, w)) in zip(ops, inputSizes(ops: ops, config: config)) {
            switch op {
            case .conv(let o): note(o, h, w, channels: o.outC)
            case .block(let b): note(b.conv1, h, w, channels: max(b.conv1.outC, b.conv2.outC))
            case .maxPool, .globalAvgPool, .linear: break
            }
        }
        return sizes
    }

    /// Ops (by index) whose block writes its output as the stride-2 phase planes that the next op
    /// reads, with that output's size and channels: a residual block followed by one whose conv1 is
    /// a 3x3 stride-2 conv with an option-A shortcut. Whether the direct kernel runs is checked per
    /// run.
    static func phaseOutputs(ops: [EngineOp], config: ModelConfig) -> [Int: (h: Int, w: Int, channels: Int)] {
        // The writer and both readers (the next block's convs: conv2 takes the shortcut from the
        // planes) must be direct-kernel shapes.
        func threeByThree(_ o: ConvOp, stride: Int) -> Bool { o.kernel == 3 && o.padding == 1 && o.stride == stride }
        var out: [Int: (h: Int, w: Int, channels: Int)] = [:]
        for (i, (op, (h, w))) in zip(ops, inputSizes(ops: ops, config: config)).enumerated() {
            guard case .block(let b) = op, i + 1 < ops.count, case .block(let next) = ops[i + 1], case .zeroPad = next.shortcut,
                  threeByThree(next.conv1, stride: 2), threeByThree(next.conv2, stride: 1), threeByThree(b.conv2, stride: 1) else { continue }
            let (ho, wo) = b.conv1.outSize(h, w)
            out[i] = (ho, wo, b.conv2.outC)
        }
        return out
    }

    /// runGroup for one image (g == 1) in the padded layout; same results. `kept` is read from
    /// the second op on: with `alongside` (parallel runs whose first op is an ungated direct conv),
    /// a helper core runs the predictor and then the first op's last output rows while the caller
    /// computes the rest, so the predictor may fill `kept` (InferenceEngine.run).
    func runPadded(_ input: UnsafePointer<Float>, first: Int, kept: UnsafePointer<Int32>, ctx: SampleContext, parallel: Bool,
                   out: UnsafeMutablePointer<Float>, alongside: PredictorAlongside? = nil) throws {
        let L = gateWidths.count
        func k(_ gate: Int?, _ full: Int) -> Int { gate.map { Int(kept[first * L + $0]) } ?? full }
        var cur = Activation(ptr: UnsafeMutablePointer(mutating: input), h: config.inputHeight, w: config.inputWidth, padded: false)
        var active = config.inputChannels
        var which = 0
        func nextPlain(_ h: Int, _ w: Int) -> Activation {
            defer { which = (which + 1) % 2 }
            return Activation(ptr: ctx.act[which].reserve(maxActivation), h: h, w: w, padded: false)
        }
        // Where a conv of `o` writes: a padded buffer of its output size (slot 2 for a block's middle,
        // else the ping-pong one that is not `avoid`) on the direct kernel, a plain one otherwise.
        func destination(_ o: ConvOp, _ x: Activation, middle: Bool, avoid: UnsafeMutablePointer<Float>) -> Activation {
            let (ho, wo) = o.outSize(x.h, x.w)
            if direct(geometry(o, x, inK: 1)) {
                let b = ctx.paddedBuffers!.get(ho, wo)
                return Activation(ptr: middle ? b[2] : (b[0] == avoid ? b[1] : b[0]), h: ho, w: wo, padded: true)
            }
            if middle { return Activation(ptr: ctx.act[2].reserve(maxActivation), h: ho, w: wo, padded: false) }
            return nextPlain(ho, wo)
        }
        // FBS: the current activation's channel j is original channel fbsColumns[j] (nil: identity).
        var fbsColumns: UnsafePointer<Int>? = nil
        let profile = self.profile
        var t0: UInt64 = 0
        @inline(__always) func tick() { if profile != nil { t0 = EngineProfile.now() } }
        @inline(__always) func tock(_ name: @autoclosure () -> String, _ o: ConvOp? = nil, inK: Int = 0, rows: Int = 0, _ out: Activation? = nil,
                                    macs extra: Int = 0) {
            guard let profile else { return }
            let end = EngineProfile.now()  // before the name is built: a String per step costs ~1 us
            let macs = o.map { rows * inK * $0.kernel * $0.kernel * (out?.h ?? 0) * (out?.w ?? 0) } ?? extra
            profile.add(name(), from: t0, to: end, macs: macs, splitGain: parallel && threads > 1 && ThreadChoice.enabled ? o?.threadChoice.gain : nil)
        }
        for (step, op) in ops.enumerated() {
            tick()
            switch op {
            case .conv(let o) where fbs != nil && (o.outGate != nil || o.inGate != nil):
                // FBS (VGG, M-CifarNet): the selected output channels, stored compressed; the input
                // is the previous selection (fbsColumns).
                let g = fbsGather(o, x: cur, inK: active, columns: o.inGate != nil ? fbsColumns : nil, select: o.outGate != nil, ctx: ctx, parallel: parallel)
                let dst = destination(o, cur, middle: false, avoid: cur.ptr)
                convAnyLayout(o, cur, inK: active, rows: g.rows, dst, residual: nil, reluAfter: false, ctx: ctx, parallel: parallel, gathered: g.weights)
                tock("\(step) conv \(dst.h)x\(dst.w)", o, inK: active, rows: g.rows, dst)
                cur = dst; active = g.rows; fbsColumns = g.selected
            case .conv(let o):
                let side = step == 0 && parallel ? alongside : nil
                precondition(side == nil || (o.inGate == nil && o.outGate == nil), "only an ungated first conv runs alongside")
                let outK = k(o.outGate, o.outC), inK = k(o.inGate, active)
                let dst = destination(o, cur, middle: false, avoid: cur.ptr)
                convAnyLayout(o, cur, inK: inK, rows: outK, dst, residual: nil, reluAfter: false, ctx: ctx, parallel: parallel, alongside: side)
                tock("\(step) conv \(dst.h)x\(dst.w)\(side != nil ? " + predictor" : "")", o, inK: inK, rows: outK, dst)
                cur = dst; active = outK
            case .block(let b):
                var mid = k(b.conv1.outGate, b.conv1.outC)
                let t = destination(b.conv1, cur, middle: true, avoid: cur.ptr)
                // FBS: conv1's selected rows (saliency-scaled) and, below, conv2's matching columns.
                var selected: UnsafePointer<Int>? = nil
                if fbs != nil, b.conv1.outGate != nil {
                    let g = fbsGather(b.conv1, x: cur, inK: active, columns: nil, select: true, ctx: ctx, parallel: parallel)
                    mid = g.rows; selected = g.selected
                    convAnyLayout(b.conv1, cur, inK: active, rows: mid, t, residual: nil, reluAfter: false, ctx: ctx, parallel: parallel,
                                  gathered: g.weights)
                } else {
                    convAnyLayout(b.conv1, cur, inK: active, rows: mid, t, residual: nil, reluAfter: false, ctx: ctx, parallel: parallel)
                }
                tock("\(step) conv1 \(t.h)x\(t.w)\(b.conv1.stride == 2 ? " s2" : "")", b.conv1, inK: active, rows: mid, t)
                tick()
                let planes = b.conv2.outC, ho = t.h, wo = t.w
                var short: Activation? = nil
                // Option A after a phase-plane write: conv2 adds phase (1, 1), the subsampled pixels
                // (2 oy, 2 ox), as the residual of channels [before, before + active); the others
                // have none (zero-padded channels), so the shortcut costs no copy at all.
                var phaseResidual: PhaseResidual? = nil
                switch b.shortcut {
                case .identity: short = cur
                case let .zeroPad(stride, before) where cur.phases:
                    precondition(stride == 2 && t.padded, "phase planes feed stride-2 direct blocks only")
                    let q = cur.phaseStride / 4
                    phaseResidual = PhaseResidual(origin: UnsafePointer(cur.ptr + 3 * q), plane: cur.phaseStride,
                                                  rowStride: DirectConv3x3.paddedWidth(wo), channels: before..<(before + active))
                case let .zeroPad(stride, before):
                    // Option A: the input subsampled by `stride`, channels placed at [before, before + active).
                    let sh: Activation
                    if t.padded {
                        let buffers = ctx.paddedBuffers!
                        sh = Activation(ptr: buffers.get(ho, wo)[3], h: ho, w: wo, padded: true)
                        // The other channels are zero; they stay zero while this buffer keeps the same placement.
                        if buffers.shortcutPlacement(ho, wo, before: before, active: active) {
                            for ch in 0..<planes where ch < before || ch >= before + active {
                                (sh.ptr + ch * sh.plane).update(repeating: 0, count: sh.plane)
                            }
                        }
                    } else {
                        sh = Activation(ptr: ctx.short.reserve(planes * ho * wo), h: ho, w: wo, padded: false)
                        sh.ptr.update(repeating: 0, count: planes * ho * wo)
                    }
                    Self.subsample(cur, channels: active, stride: stride, into: sh.origin + before * sh.plane, plane: sh.plane,
                                   rowStride: sh.rowStride, ho: ho, wo: wo)
                    short = sh
                case .projection(let p):
                    let sh = Activation(ptr: ctx.short.reserve(planes * ho * wo), h: ho, w: wo, padded: false)
                    convAnyLayout(p, cur, inK: active, rows: p.outC, sh, residual: nil, reluAfter: false, ctx: ctx, parallel: parallel)
                    short = sh
                }
                if case .identity = b.shortcut {} else { tock("\(step) shortcut"); tick() }
                // relu(bn2(conv2) + shortcut): the residual is added before the ReLU.
                var dst = destination(b.conv2, t, middle: false, avoid: cur.ptr)
                if phaseOutputAt[step], dst.padded, selected == nil, case .block(let next) = ops[step + 1],
                   direct(geometry(next.conv1, dst, inK: planes)), let ph = ctx.paddedBuffers!.phases[Activation.sizeKey(dst.h, dst.w)] {
                    dst = Activation(ptr: ph, h: dst.h, w: dst.w, padded: false, phases: true)
                }
                let g2 = selected.map { fbsGather(b.conv2, x: t, inK: mid, columns: $0, select: false, ctx: ctx, parallel: parallel).weights }
                convAnyLayout(b.conv2, t, inK: mid, rows: planes, dst, residual: short, reluAfter: true, ctx: ctx, parallel: parallel,
                              gathered: g2 ?? nil, phaseResidual: phaseResidual)
                tock("\(step) conv2 \(dst.h)x\(dst.w)", b.conv2, inK: mid, rows: planes, dst)
                cur = dst; active = planes
            case let .maxPool(kern, stride):
                let ho = (cur.h - kern) / stride + 1, wo = (cur.w - kern) / stride + 1
                let dst = nextPlain(ho, wo)
                Self.maxPool(cur, channels: active, kernel: kern, stride: stride, into: dst.ptr, plane: ho * wo)
                tock("\(step) max-pool")
                cur = dst
            case .globalAvgPool:
                let dst = nextPlain(1, 1)
                Self.globalAvgPool(cur, channels: active, into: dst.ptr)
                tock("\(step) avg-pool")
                cur = dst
            case .linear(let li):
                precondition(cur.h == 1 && cur.w == 1 && !cur.padded, "the classifier reads a pooled vector")
                let columns = fbs != nil && li.inGate != nil ? fbsColumns : nil
                let inK = columns == nil ? k(li.inGate, active) : active
                for o in 0..<li.outF {
                    var acc = li.bias[o]
                    li.weight.withUnsafeBufferPointer { wp in
                        let row = wp.baseAddress! + o * li.inF
                        if let columns { for j in 0..<inK { acc += row[columns[j]] * cur.ptr[j] } } else { for j in 0..<inK { acc += row[j] * cur.ptr[j] } }
                    }
                    out[o] = acc
                }
                tock("\(step) linear", macs: li.outF * inK)
                return
            }
        }
        // Networks ending in a conv classifier (M-CifarNet): logits are the last activation.
        for o in 0..<config.classes { out[o] = cur.origin[o * cur.plane] }
    }

    /// Option-A shortcut: channels 0..<channels of x subsampled by `stride` into dst (channel c at
    /// dst + c * plane, rows rowStride apart), ho x wo each.
    static func subsample(_ x: Activation, channels: Int, stride: Int, into dst: UnsafeMutablePointer<Float>, plane: Int, rowStride: Int,
                          ho: Int, wo: Int) {
        if stride == 2 {
            ds_subsample2(channels, x.w, ho, wo, x.origin, x.plane, x.rowStride, dst, plane, rowStride)
            return
        }
        for ch in 0..<channels {
            let src = x.origin + ch * x.plane, d = dst + ch * plane
            for oy in 0..<ho { for ox in 0..<wo { d[oy * rowStride + ox] = src[oy * stride * x.rowStride + ox * stride] } }
        }
    }

    /// dst[c * plane + oy * wo + ox] = max over the kernel x kernel window at (oy * stride, ox * stride)
    /// of channel c of x, for c < channels (no padding).
    static func maxPool(_ x: Activation, channels: Int, kernel: Int, stride: Int, into dst: UnsafeMutablePointer<Float>, plane: Int) {
        let ho = (x.h - kernel) / stride + 1, wo = (x.w - kernel) / stride + 1, rs = x.rowStride
        for ch in 0..<channels {
            let src = x.origin + ch * x.plane, d = dst + ch * plane
            for oy in 0..<ho { for ox in 0..<wo {
                var m = -Float.infinity
                for ky in 0..<kernel { for kx in 0..<kernel { m = max(m, src[(oy * stride + ky) * rs + ox * stride + kx]) } }
                d[oy * wo + ox] = m
            } }
        }
    }

    /// dst[c] = mean of channel c of x, for c < channels.
    static func globalAvgPool(_ x: Activation, channels: Int, into dst: UnsafeMutablePointer<Float>) {
        channelMeans(x, channels: channels, absolute: false, into: dst)
    }

    /// dst[c] = mean of channel c's pixels of x (of their magnitudes with `absolute`: FBS's predictor
    /// input), for c < channels. Summed in 8 lanes: one float running sum is a chain of dependent
    /// adds (4096 of them for ResNet-20's last 64 x 8 x 8 activation: ~7 us, as much as a thinned
    /// conv); lanes change the rounding only (the engine's tests compare logits).
    static func channelMeans(_ x: Activation, channels: Int, absolute: Bool, into dst: UnsafeMutablePointer<Float>) {
        let inv = 1 / Float(x.h * x.w)
        // Plain planes are one contiguous run of h * w; padded ones h runs of w, rowStride apart.
        let (runs, length, stride) = x.padded ? (x.h, x.w, x.rowStride) : (1, x.h * x.w, 0)
        let vectorEnd = length & ~7
        for ch in 0..<channels {
            let src = x.origin + ch * x.plane
            var lanes = SIMD8<Float>(), tail: Float = 0
            for r in 0..<runs {
                let row = UnsafeRawPointer(src + r * stride)
                var q = 0
                while q < vectorEnd {
                    let v = row.loadUnaligned(fromByteOffset: q * 4, as: SIMD8<Float>.self)
                    lanes += absolute ? v.replacing(with: -v, where: v .< 0) : v
                    q += 8
                }
                while q < length { let v = row.load(fromByteOffset: q * 4, as: Float.self); tail += absolute ? abs(v) : v; q += 1 }
            }
            dst[ch] = (lanes.sum() + tail) * inv
        }
    }

    @inline(__always)
    func geometry(_ o: ConvOp, _ x: Activation, inK: Int) -> Conv2DGeometry {
        Conv2DGeometry(batch: 1, inChannels: inK, inHeight: x.h, inWidth: x.w, outChannels: o.outC,
                       kernel: o.kernel, stride: o.stride, padding: o.padding)
    }

    /// y = act(conv(x[0..<inK]) rows 0..<rows + bias (+ residual)) for one image, any layouts: the
    /// direct kernel reads a padded stride-1 input in place and writes y's interior (y must be
    /// padded then); other convs run the GEMM path on plain copies.
    /// With `alongside` (direct convs only), a helper core runs it before its share of the rows.
    /// With `gathered` (FBS), the weight rows 0..<rows and bias come from there (row stride lda)
    /// instead of o's.
    func convAnyLayout(_ o: ConvOp, _ x: Activation, inK: Int, rows: Int, _ y: Activation, residual: Activation?, reluAfter: Bool,
                       ctx: SampleContext, parallel: Bool, alongside: PredictorAlongside? = nil, gathered: GatheredWeights? = nil,
                       phaseResidual: PhaseResidual? = nil) {
        let geo = geometry(o, x, inK: inK)
        guard direct(geo) else {
            precondition(alongside == nil, "only direct convs run work alongside")
            precondition(!x.phases && !y.phases && phaseResidual == nil, "phase planes are read and written by direct convs only")
            let xp = plain(x, channels: inK, scratch: ctx.unpadX)
            let rp = residual.map { UnsafePointer(plain($0, channels: o.outC, scratch: ctx.unpadResidual)) }
            precondition(!y.padded)
            if let gathered {
                convGroup(o, xp, inStride: inK * x.h * x.w, inK: inK, outKs: nil, g: 1, h: x.h, w: x.w, y.ptr, residual: rp, reluAfter: reluAfter,
                          ctx: ctx, parallel: parallel, zeroRowsUpTo: 0,
                          gathered: (weight: gathered.weight, lda: gathered.lda, bias: gathered.bias, rows: rows))
            } else {
                let outK = ctx.keptOut.reserve(1)
                outK[0] = rows
                conv(o, xp, inStride: inK * x.h * x.w, inK: inK, outKs: UnsafeBufferPointer(start: outK, count: 1), g: 1, h: x.h, w: x.w, y.ptr,
                     residual: rp, reluAfter: reluAfter, ctx: ctx, parallel: parallel)
            }
            return
        }
        precondition(y.padded || y.phases, "direct convs write the padded layout or phase planes")
        precondition(!x.phases || o.stride == 2, "phase planes feed stride-2 convs only")
        precondition(!y.phases || o.stride == 1, "phase-plane output: stride 1")
        let s = o.stride, ho = y.h, P = ho * y.w
        let inPlace = (s == 1 && x.padded) || (s == 2 && x.phases)
        let padCount = inPlace ? 0 : DirectConv3x3.paddedCount(channels: inK, height: x.h, width: x.w, stride: s)
        let macs = rows * geo.colRows * P
        let splittable = parallel && threads > 1 && macs >= 1 << 16 && alongside == nil
        let useThreads = splittable && (!ThreadChoice.enabled || o.threadChoice.useThreads())
        let t0 = splittable && ThreadChoice.enabled ? DispatchTime.now().uptimeNanoseconds : 0
        defer {
            if splittable && ThreadChoice.enabled {
                o.threadChoice.record(threaded: useThreads, nanoseconds: DispatchTime.now().uptimeNanoseconds &- t0, macs: macs)
            }
        }
        let chunks = useThreads || alongside != nil ? min(threads, ho) : 1
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: max(threads, 1)) { pads in
            // Each core pads the input rows its output rows read into its own buffer (reserved
            // here: the job itself touches no object).
            if !inPlace {
                if chunks > 1 { for c in 0..<chunks { pads[c] = contexts[c].col.reserve(padCount) } } else { pads[0] = ctx.col.reserve(padCount) }
            }
            o.weight.withUnsafeBufferPointer { wp in o.bias.withUnsafeBufferPointer { bp in
                var job = DirectConvJob(input: UnsafePointer(x.ptr), source: UnsafePointer(x.origin), sourcePlane: x.plane,
                                        sourceRow: x.rowStride, inPlace: inPlace, pads: pads.baseAddress!, inChannels: inK,
                                        height: x.h, width: x.w, stride: s, weight: gathered?.weight ?? wp.baseAddress!,
                                        weightStride: gathered?.lda ?? o.rowLength, bias: gathered?.bias ?? bp.baseAddress!,
                                        residual: phaseResidual.map { $0.origin - $0.channels.lowerBound * $0.plane } ?? residual.map { UnsafePointer($0.origin) },
                                        residualPlane: phaseResidual?.plane ?? residual?.plane ?? 0,
                                        residualRow: phaseResidual?.rowStride ?? residual?.rowStride ?? 0,
                                        residualChannels: phaseResidual?.channels ?? 0..<rows, relu: o.relu || reluAfter,
                                        output: y.phases ? y.ptr : y.origin, outputPlane: y.phases ? y.phaseStride : y.plane,
                                        outputRow: y.phases ? 0 : y.rowStride, phaseOutput: y.phases, rows: rows)
                withUnsafePointer(to: &job) { jp in
                    let context = UnsafeRawPointer(jp)
                    if let alongside {
                        // The helper's extra work (the predictor, ~10 us on CIFAR) is worth about 3/4
                        // of a ResNet stem's rows on one core, so it takes the last quarter (measured:
                        // the same as giving the caller every row, and both ahead of predictor-then-stem).
                        var both = ConvWithPredictorJob(conv: jp.pointee, predictor: alongside)
                        pool.forTwo(ho, first: ho - ho / 4, raw: ConvWithPredictorJob.run, context: &both)
                    } else if chunks > 1 {
                        // Batch 1: the cores split the output pixel rows (an even split at any width).
                        pool.forChunks(ho, raw: DirectConvJob.run, context: context)
                    } else {
                        DirectConvJob.run(context, 0, 0, ho)
                    }
                }
            } }
        }
    }

    /// FBS for one conv on the padded path. With `select`, the saliencies s = relu(W g + b) from
    /// g = mean |x| per input channel (x's channel j being original channel columns[j]) pick the
    /// top-k output channels, and their weight rows and biases are gathered scaled by s (s >= 0 and
    /// the conv's ReLU commute: relu(s z) = s relu(z), so the scaling costs no pass over the
    /// output); without, every output row. With `columns`, each row keeps only those input
    /// channels' taps, in that order. Nothing is gathered for an ungated conv of uncompressed input.
    func fbsGather(_ o: ConvOp, x: Activation, inK: Int, columns: UnsafePointer<Int>?, select: Bool, ctx: SampleContext, parallel: Bool)
        -> (weights: GatheredWeights?, rows: Int, selected: UnsafePointer<Int>?) {
        var selection: ChannelSelection? = nil
        if select, let l = o.outGate { selection = fbsSelect(layer: l, x: x, channels: inK, columns: columns, ctx: ctx) }
        if selection == nil && columns == nil { return (nil, o.outC, nil) }
        let kk = o.kernel * o.kernel, K = inK * kk, M = selection?.count ?? o.outC
        let wg = ctx.gathered.reserve(M * K), bg = ctx.gatheredBias.reserve(M)
        o.weight.withUnsafeBufferPointer { wp in o.bias.withUnsafeBufferPointer { bp in
            var job = GatherJob(weight: wp.baseAddress!, bias: bp.baseAddress!, rowLength: o.rowLength, rows: selection?.rows,
                                scale: selection?.scale, columns: columns, inK: inK, taps: kk, gathered: wg, gatheredBias: bg)
            // A stage-3 ResNet-20 block gathers ~22K floats per conv: worth both cores at batch 1.
            if parallel && threads > 1 && M * K >= 1 << 13 { pool.forChunks(M, raw: GatherJob.run, context: &job) }
            else { GatherJob.run(&job, 0, 0, M) }
        } }
        return (GatheredWeights(weight: UnsafePointer(wg), lda: K, bias: UnsafePointer(bg)), M, selection?.rows)
    }

    /// x's first `channels` channels as plain planes: x itself, or a copy of its interior.
    func plain(_ x: Activation, channels: Int, scratch: ScratchBuffer) -> UnsafeMutablePointer<Float> {
        if !x.padded { return x.ptr }
        let dst = scratch.reserve(channels * x.h * x.w), rs = x.rowStride
        for ch in 0..<channels {
            let src = x.origin + ch * x.plane, d = dst + ch * x.h * x.w
            for y in 0..<x.h { (d + y * x.w).update(from: src + y * rs, count: x.w) }
        }
        return dst
    }
}

/// An option-A shortcut read straight from phase planes: channel c (of `channels`) at origin +
/// (c - channels.lowerBound) * plane, rows rowStride apart.
struct PhaseResidual {
    let origin: UnsafePointer<Float>
    let plane: Int, rowStride: Int
    let channels: Range<Int>
}

/// One direct conv's arguments as plain values, for SpinPool's allocation-free forks: run(context,
/// chunk, lower, upper) computes output pixel rows [lower, upper) of every channel in 0..<rows,
/// padding (when not reading the input in place) the input rows they need into pads[chunk].
struct DirectConvJob {
    var input: UnsafePointer<Float>           // the padded input, read in place when inPlace
    var source: UnsafePointer<Float>          // else: pixel (0, 0) of the input to pad
    var sourcePlane: Int, sourceRow: Int
    var inPlace: Bool
    var pads: UnsafePointer<UnsafeMutablePointer<Float>>
    var inChannels: Int, height: Int, width: Int, stride: Int
    var weight: UnsafePointer<Float>, weightStride: Int
    var bias: UnsafePointer<Float>
    var residual: UnsafePointer<Float>?, residualPlane: Int, residualRow: Int
    /// Output channels that add the residual (channel m's at residual + m * residualPlane); the
    /// others add none.
    var residualChannels: Range<Int>
    var relu: Bool
    var output: UnsafeMutablePointer<Float>, outputPlane: Int, outputRow: Int
    /// Output as stride-2 phase planes (outputPlane floats per channel; outputRow unused).
    var phaseOutput: Bool
    var rows: Int

    static let run: SpinPool.RawJob = { context, chunk, lower, upper in
        let j = context!.assumingMemoryBound(to: DirectConvJob.self).pointee
        var input = j.input
        if !j.inPlace {
            let own = j.pads[chunk]
            DirectConv3x3.pad(channels: 0..<j.inChannels, height: j.height, width: j.width, j.source, channelStride: j.sourcePlane,
                              rowStride: j.sourceRow, into: own, stride: j.stride, forOutputRows: lower..<upper)
            input = UnsafePointer(own)
        }
        // Channel ranges without, with and again without the residual (one range in most convs).
        let r = j.residual == nil ? 0..<0 : j.residualChannels.clamped(to: 0..<j.rows)
        for (rows, residual) in [(0..<r.lowerBound, nil), (r, j.residual), (r.upperBound..<j.rows, nil)] where !rows.isEmpty {
            if j.phaseOutput {
                DirectConv3x3.computePhaseOutput(inChannels: j.inChannels, height: j.height, width: j.width, padded: input, weight: j.weight,
                                                 weightStride: j.weightStride, bias: j.bias, residual: residual, residualStride: j.residualPlane,
                                                 residualRowStride: j.residualRow, relu: j.relu, output: j.output, outputStride: j.outputPlane,
                                                 rows: rows, pixelRows: lower..<upper)
            } else {
                DirectConv3x3.compute(inChannels: j.inChannels, height: j.height, width: j.width, padded: input, weight: j.weight,
                                      weightStride: j.weightStride, bias: j.bias, residual: residual, residualStride: j.residualPlane,
                                      residualRowStride: j.residualRow, relu: j.relu, output: j.output, outputStride: j.outputPlane,
                                      outputRowStride: j.outputRow, rows: rows, pixelRows: lower..<upper, stride: j.stride)
            }
        }
    }
}

/// The stem conv with the predictor alongside (SpinPool.forTwo's raw job): chunk 1 runs the
/// predictor before its rows.
struct ConvWithPredictorJob {
    var conv: DirectConvJob
    let predictor: PredictorAlongside

    static let run: SpinPool.RawJob = { context, chunk, lower, upper in
        let j = context!.assumingMemoryBound(to: ConvWithPredictorJob.self)
        if chunk == 1 { j.pointee.predictor.run() }
        if lower < upper { DirectConvJob.run(UnsafeRawPointer(j) + MemoryLayout<ConvWithPredictorJob>.offset(of: \.conv)!, chunk, lower, upper) }
    }
}

/// FBS's gather as plain values (SpinPool's raw fork): run(context, chunk, lower, upper) writes
/// gathered rows [lower, upper): row r = source row rows[r] (or r), scaled by scale[r] (or 1),
/// keeping input channels columns[0..<inK] (or the first inK) of `taps` weights each.
struct GatherJob {
    let weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rowLength: Int
    let rows: UnsafePointer<Int>?, scale: UnsafePointer<Float>?, columns: UnsafePointer<Int>?
    let inK: Int, taps: Int
    let gathered: UnsafeMutablePointer<Float>, gatheredBias: UnsafeMutablePointer<Float>

    static let run: SpinPool.RawJob = { context, _, lower, upper in
        let j = context!.assumingMemoryBound(to: GatherJob.self).pointee
        let K = j.inK * j.taps
        for r in lower..<upper {
            let src = j.rows?[r] ?? r, sc = j.scale?[r] ?? 1
            let srcRow = j.weight + src * j.rowLength, dstRow = j.gathered + r * K
            j.gatheredBias[r] = j.bias[src] * sc
            if let columns = j.columns {
                for c in 0..<j.inK {
                    let from = srcRow + columns[c] * j.taps, to = dstRow + c * j.taps
                    for t in 0..<j.taps { to[t] = from[t] * sc }
                }
            } else {
                for i in 0..<K { dstRow[i] = srcRow[i] * sc }
            }
        }
    }
}

/// FBS's per-image weights: rows 0..<M at weight + m * lda, biases at bias (ctx scratch).
struct GatheredWeights {
    let weight: UnsafePointer<Float>
    let lda: Int
    let bias: UnsafePointer<Float>
}
