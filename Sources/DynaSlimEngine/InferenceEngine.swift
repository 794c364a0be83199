// The inference engine: runs a dense, statically thinned or dynamic DynaSlim model and, for
// dynamic models, really skips each input's inactive channels.
//
// At build time BN is folded into the convs and ReLU fused; each gated layer's channels are
// reordered by |gamma| descending (producer rows, folded bias, consumer input columns), so an
// input's active channels are the prefix 0..<k. A gated conv then is one smaller contiguous GEMM:
// M = k_out rows, K = k_in * kh * kw columns read through the full leading dimension (no weight
// copies), and im2col touches only the k_in active input channels.
// Threads: batch 1 splits each conv across the cores (im2col by channel halves, GEMM by column
// halves); larger batches give each core whole samples. All buffers are allocated at build time.
import DynaSlimCore
import DynaSlimNN
import DynaSlimSlimming
import Dispatch
import Foundation

public struct EngineError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// Per-thread scratch: activations (ping-pong), im2col matrix, phase planes, and the zero-bordered
/// activations of the padded path (EnginePadded.swift).
final class SampleContext: @unchecked Sendable {
    /// Position in the engine's contexts (the core whose scratch this is).
    let index: Int
    let act: [ScratchBuffer]
    let col = ScratchBuffer(), phase = ScratchBuffer(), short = ScratchBuffer(), gemmOut = ScratchBuffer()
    let gathered = ScratchBuffer(), gatheredBias = ScratchBuffer()
    let unpadX = ScratchBuffer(), unpadResidual = ScratchBuffer(), fbsMeans = ScratchBuffer()
    /// A group's per-image kept widths of the layer being computed.
    let keptOut = IndexScratch()
    let paddedBuffers: PaddedBuffers?
    /// FBS: gated layer l's channel selection for the current image (empty for other models).
    let fbsSelections: [SelectionBuffer]
    init(index: Int, activationSize: Int, paddedSizes: [Int: (h: Int, w: Int, channels: Int)]?,
         phaseSizes: [Int: (h: Int, w: Int, channels: Int)] = [:], selectionWidths: [Int]) {
        self.index = index
        act = (0..<3).map { _ in ScratchBuffer(capacity: activationSize) }
        paddedBuffers = paddedSizes.map { PaddedBuffers(sizes: $0, phaseSizes: phaseSizes) }
        fbsSelections = selectionWidths.map { SelectionBuffer(width: $0) }
    }
}

/// One image's FBS channel set for a gated layer: rows[0..<count] (original channel indices,
/// ascending) and their saliencies scale[0..<count]. Points into a SelectionBuffer: valid until
/// that layer's next selection.
struct ChannelSelection {
    let rows: UnsafePointer<Int>
    let scale: UnsafePointer<Float>
    let count: Int
}

/// Storage for one gated layer's selections, allocated with its SampleContext (width = the layer's
/// channels), so selecting needs no allocation per image.
final class SelectionBuffer: @unchecked Sendable {
    let rows: UnsafeMutablePointer<Int>
    let scale: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>
    init(width: Int) {
        rows = .allocate(capacity: width)
        scale = .allocate(capacity: width); scores = .allocate(capacity: width); work = .allocate(capacity: width)
    }
    deinit { rows.deallocate(); scale.deallocate(); scores.deallocate(); work.deallocate() }
}

/// The engine's layout and scheduling switches, for A/B measurements; all on by default. A process sets
/// `processDefault` once at start-up, before it builds an engine (the CLI maps its DYNASLIM_* variables
/// onto it); the library reads no environment.
public struct EngineOptions: Sendable {
    /// Zero-bordered activation planes (no pad copies before 3x3 convs).
    public var paddedActivations = true
    /// Stride-2 convs read phase planes written by the op before them.
    public var phaseOutput = true
    /// Learn per conv whether splitting it over the cores pays (off: split every large-enough conv).
    public var threadChoice = true
    public init() {}
    nonisolated(unsafe) public static var processDefault = EngineOptions()
}

/// Inference for one network, compiled once: BN folded into the convs, ReLU fused, buffers laid out ahead,
/// and gated channels skipped for real (a thinned model's widths; a dynamic model's per-image prefixes;
/// FBS's per-image top-k). Build it once per model and call `run(images:n:logits:kept:)` per batch; a
/// batch allocates nothing. One engine serves one caller at a time.
public final class InferenceEngine: @unchecked Sendable {
    /// The model's architecture, input shape and classes.
    public let config: ModelConfig
    let ops: [EngineOp]
    public let gateWidths: [Int]
    /// Per gated layer, |gamma| sorted descending (the reordered channels' importances).
    let sortedAbsGamma: [[Float]]
    /// Per gated layer, GateRule.range of its |gamma| (constant for a loaded model).
    let gateRanges: [(lo: Float, hi: Float)]
    let dynamic: DynamicModel?
    /// FBS: per-input top-k channels by predicted saliency (arbitrary sets: weight rows / columns gathered).
    let fbs: FBSModel?
    public let threads: Int
    /// Images per GEMM when a core handles several (batched inference); 1 = image by image.
    public var groupSize: Int
    /// Dynamic batched runs: order images by MACs before grouping (less padding waste).
    public var sortGroupsByWidth = true
    /// Single images run with activations in the direct kernel's zero-bordered layout, so stride-1
    /// convs read their input in place (EnginePadded.swift). Default on, except with
    /// EngineOptions.paddedActivations = false (A/B measurements) and without the direct kernel. FBS models
    /// too: each image's selected channels run as gathered, saliency-scaled weight rows.
    public var paddedActivations: Bool
    /// 3x3 convs (padding 1, stride 1 or 2) on the direct kernel; off: every conv is im2col + SGEMM
    /// (tests, A/B). Default: Conv2D.useDirect3x3.
    public var directConvolutions = Conv2D.useDirect3x3
    /// When set, single-image runs on the padded path time each step into it (EngineProfile.swift).
    public var profile: EngineProfile?
    let sortedImages = ScratchBuffer(), sortedLogits = ScratchBuffer()
    /// Per run: each image's kept count per gated layer [n, L]; errors raised on other cores (the
    /// predictor run alongside, batched images).
    let keptScratch = TypedScratch<Int32>()
    let workerErrors = ErrorBox()
    /// The predictor on the engine's kernels (nil: run through the training graph).
    let predictorExecutor: PredictorExecutor?
    let predictorOut = ScratchBuffer()
    /// Helper threads for batch-1 runs (each conv split across the cores).
    let pool: SpinPool
    let contexts: [SampleContext]
    let maxActivation: Int
    /// Per op: a block whose output goes straight into the stride-2 phase planes the next block's
    /// conv1 reads (InferenceEngine.phaseOutputs).
    let phaseOutputAt: [Bool]
    public let denseMacsPerImage: Int
    let accounting: MACAccounting

    /// `dynamic`: gate with its predictor; nil: every gated layer runs at full width.
    public init(network: Network, dynamic: DynamicModel? = nil, fbs: FBSModel? = nil, threads: Int = Parallel.defaultThreadCount,
                groupSize: Int = 1) throws {
        config = network.config
        self.fbs = fbs
        self.groupSize = fbs == nil ? groupSize : 1  // FBS channel sets differ per input: image by image
        self.dynamic = dynamic
        predictorExecutor = dynamic.flatMap { PredictorExecutor($0.predictor) }
        self.threads = max(1, threads)
        pool = SpinPool.shared
        denseMacsPerImage = network.macsPerImage
        accounting = MACAccounting(network)
        var ops: [EngineOp] = []
        var pending: Conv2dLayer?
        func flush() { if let c = pending { ops.append(.conv(ConvOp(conv: c, bn: nil))); pending = nil } }
        func walk(_ layer: Layer) throws {
            switch layer {
            case let s as Sequential: for (_, l) in s.children { try walk(l) }
            case let c as Conv2dLayer: flush(); pending = c
            case let bn as BatchNormLayer:
                guard let c = pending else { throw EngineError("a BatchNorm without a preceding conv cannot be folded") }
                ops.append(.conv(ConvOp(conv: c, bn: bn))); pending = nil
            case is IdentityLayer, is DropoutLayer: break
            case is ReLULayer:
                throw EngineError("standalone ReLU layers are not supported by the engine (builders fuse ReLU into BN)")
            case let b as BasicBlock:
                flush()
                let short: Shortcut
                if let proj = b.projection {
                    short = .projection(ConvOp(conv: proj.children[0].1 as! Conv2dLayer, bn: proj.children[1].1 as? BatchNormLayer))
                } else if b.stride != 1 || b.inPlanes != b.planes {
                    short = .zeroPad(stride: b.stride, padBefore: (b.planes - b.inPlanes) / 2)
                } else { short = .identity }
                ops.append(.block(BlockOp(conv1: ConvOp(conv: b.conv1, bn: b.bn1), conv2: ConvOp(conv: b.conv2, bn: b.bn2), shortcut: short)))
            case let m as MaxPoolLayer: flush(); ops.append(.maxPool(kernel: m.kernel, stride: m.stride))
            case is GlobalAvgPoolLayer: flush(); ops.append(.globalAvgPool)
            case let l as LinearLayer: flush(); ops.append(.linear(LinearOp(l)))
            default: throw EngineError("layer \(type(of: layer)) is not supported by the engine")
            }
        }
        try walk(network.body)
        flush()
        self.ops = ops
        // Gate bookkeeping: bind each gated layer to its producer / consumer op and reorder its
        // channels by |gamma| descending.
        let (convPairs, linearPairs) = try Self.pair(ops: ops, network: network)
        var widths: [Int] = [], sorted: [[Float]] = []
        for (l, g) in network.gated.enumerated() {
            let a = g.bn.weight.value.map(abs)
            // FBS keeps the natural order (its channel sets are gathered); gating reorders by |gamma|.
            let perm = fbs != nil ? Array(a.indices) : a.indices.sorted { a[$0] > a[$1] || (a[$0] == a[$1] && $0 < $1) }
            widths.append(a.count)
            sorted.append(perm.map { a[$0] })
            guard let prod = convPairs.first(where: { $0.0 === g.producer })?.1 else { throw EngineError("producer of \(g.name) not found") }
            prod.outGate = l
            prod.permuteRows(perm)
            switch g.consumer {
            case .conv(let c):
                guard let cons = convPairs.first(where: { $0.0 === c })?.1 else { throw EngineError("consumer of \(g.name) not found") }
                cons.inGate = l
                cons.permuteInputs(perm)
            case .linear(let li):
                guard let cons = linearPairs.first(where: { $0.0 === li })?.1 else { throw EngineError("consumer of \(g.name) not found") }
                cons.inGate = l
                cons.permuteInputs(perm)
            }
        }
        gateWidths = widths
        sortedAbsGamma = sorted
        gateRanges = sorted.map { GateRule.range($0) }
        // Largest activation per sample, for the ping-pong buffers.
        var maxAct = config.inputShape.count, c = config.inputChannels, h = config.inputHeight, w = config.inputWidth
        for op in ops {
            switch op {
            case .conv(let o): (h, w) = o.outSize(h, w); c = o.outC
            case .block(let b): (h, w) = b.conv1.outSize(h, w); maxAct = max(maxAct, b.conv1.outC * h * w); c = b.conv2.outC
            case .maxPool(let k, let s): h = (h - k) / s + 1; w = (w - k) / s + 1
            case .globalAvgPool: h = 1; w = 1
            case .linear(let l): c = l.outF; h = 1; w = 1
            }
            maxAct = max(maxAct, c * h * w)
        }
        maxActivation = maxAct
        paddedActivations = EngineOptions.processDefault.paddedActivations
        let sizes = Self.paddedSizes(ops: ops, config: config)
        // Off: every stride-2 conv builds its phase planes (A/B measurements).
        let phaseOutput = EngineOptions.processDefault.phaseOutput
        let phases = fbs == nil && phaseOutput ? Self.phaseOutputs(ops: ops, config: config) : [:]
        phaseOutputAt = ops.indices.map { phases[$0] != nil }
        let phaseSizes = Dictionary(phases.values.map { (Activation.sizeKey($0.h, $0.w), $0) }, uniquingKeysWith: { a, b in a.channels >= b.channels ? a : b })
        let selectionWidths = fbs == nil ? [] : widths
        contexts = (0..<self.threads).map {
            SampleContext(index: $0, activationSize: maxAct, paddedSizes: sizes, phaseSizes: phaseSizes, selectionWidths: selectionWidths)
        }
    }

    /// Pairs the network's convs and linears with the engine ops built from them (same order).
    static func pair(ops: [EngineOp], network: Network) throws -> ([(Conv2dLayer, ConvOp)], [(LinearLayer, LinearOp)]) {
        var sourceConvs: [Conv2dLayer] = [], sourceLinears: [LinearLayer] = []
        func collect(_ layer: Layer) {
            switch layer {
            case let s as Sequential: for (_, c) in s.children { collect(c) }
            case let c as Conv2dLayer: sourceConvs.append(c)
            case let b as BasicBlock:
                sourceConvs.append(b.conv1); sourceConvs.append(b.conv2)
                if let p = b.projection { sourceConvs.append(p.children[0].1 as! Conv2dLayer) }
            case let li as LinearLayer: sourceLinears.append(li)
            default: break
            }
        }
        collect(network.body)
        var engineConvs: [ConvOp] = [], engineLinears: [LinearOp] = []
        for op in ops {
            switch op {
            case .conv(let c): engineConvs.append(c)
            case .block(let b):
                engineConvs.append(b.conv1); engineConvs.append(b.conv2)
                if case .projection(let p) = b.shortcut { engineConvs.append(p) }
            case .linear(let li): engineLinears.append(li)
            default: break
            }
        }
        guard sourceConvs.count == engineConvs.count, sourceLinears.count == engineLinears.count else {
            throw EngineError("internal: \(sourceConvs.count) convs in the network, \(engineConvs.count) in the engine")
        }
        return (Array(zip(sourceConvs, engineConvs)), Array(zip(sourceLinears, engineLinears)))
    }
}
