import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import DynaSlimTrain
import Foundation

/// `dynaslim eval CKPT --oracle`: the headroom oracle of a backbone (dense, slimmable or dynamic; a dynamic
/// checkpoint's predictor is ignored), printed as two curves (one level for all images vs the best per-image
/// choice at the same mean MACs) and the gap at the operating points; `--record` writes oracle.json beside
/// the checkpoint, which `dynaslim report` plots.
struct OracleSummary: Encodable {
    var checkpoint: String
    var images: Int
    var denseMacs: Double
    var recalibrationImages: Int
    var points: [HeadroomOracle.Point]
    /// At 2x FLOPs: the static curve (interpolated) and the oracle.
    var staticAccuracyAt2x: Double?
    var oracleAccuracyAt2x: Double?
    /// The largest FLOP speed-up at which each curve still reaches `accuracyTarget`.
    var accuracyTarget: Double
    var staticSpeedupAtTarget: Double?
    var oracleSpeedupAtTarget: Double?
    /// Per image: the cheapest correct level's width fraction (nil: no level is right).
    var cheapestCorrectLevel: [Float?]
    enum CodingKeys: String, CodingKey {
        case checkpoint, images, denseMacs = "dense_macs", recalibrationImages = "recalibration_images", points
        case staticAccuracyAt2x = "static_accuracy_at_2x", oracleAccuracyAt2x = "oracle_accuracy_at_2x", accuracyTarget = "accuracy_target"
        case staticSpeedupAtTarget = "static_speedup_at_target", oracleSpeedupAtTarget = "oracle_speedup_at_target"
        case cheapestCorrectLevel = "cheapest_correct_level"
    }
}

extension Eval {
    func evaluateOracle() throws {
        let ctx = try CheckpointContext.load(checkpoint, model: model, dataset: dataset)
        var test = try DatasetCatalog.load(ctx.dataset, path: data, train: false)
        if let limit { test = test.prefix(limit) }
        let train = recalibrate > 0 ? try DatasetCatalog.load(ctx.dataset, path: data, train: true) : nil
        let levelValues = try levels.split(separator: ",").map { s -> Float in
            guard let v = Float(s.trimmingCharacters(in: .whitespaces)), v > 0, v <= 1 else {
                throw ValidationError("--levels: '\(s)' is not a width fraction in (0, 1]")
            }
            return v
        }
        let net = ctx.network
        var full = net.config
        full.widths = nil
        let denseMacs = Double(try ModelZoo.build(full).macsPerImage)
        let ladder = try OracleEvaluator.ladder(net, test: test, train: train, normalization: try ctx.normalization(dataPath: data),
                                                options: OracleOptions(levels: levelValues, recalibrationImages: recalibrate,
                                                                       augmentation: DatasetCatalog.defaultAugmentation(ctx.dataset), batchSize: batchSize))
        let points = HeadroomOracle.curves(ladder, denseMacs: denseMacs)
        let cheapest = HeadroomOracle.cheapestCorrect(ladder)
        let summary = OracleSummary(
            checkpoint: checkpoint, images: ladder.images, denseMacs: denseMacs, recalibrationImages: recalibrate, points: points,
            staticAccuracyAt2x: HeadroomOracle.staticAccuracy(ladder, atMacs: denseMacs / 2),
            oracleAccuracyAt2x: HeadroomOracle.bestAccuracy(ladder, budget: denseMacs / 2),
            accuracyTarget: accuracyTarget,
            staticSpeedupAtTarget: HeadroomOracle.speedup(reaching: accuracyTarget, denseMacs: denseMacs, ladder: ladder, oracle: false),
            oracleSpeedupAtTarget: HeadroomOracle.speedup(reaching: accuracyTarget, denseMacs: denseMacs, ladder: ladder, oracle: true),
            cheapestCorrectLevel: cheapest.map { $0.map { ladder.levels[$0] } })
        let encoded = try JSONEncoder.sorted.encode(summary)
        if record {
            let dir = (checkpoint as NSString).deletingLastPathComponent
            try SafeTensors.atomicWrite(encoded, to: (dir.isEmpty ? "." : dir) + "/oracle.json")
        }
        if json { print(String(decoding: encoded, as: UTF8.self)); return }
        print("headroom oracle: \(net.config.architecture) on \(ctx.dataset.rawValue) test (\(ladder.images) images), "
              + (recalibrate > 0 ? "BN recalibrated per level on \(recalibrate) training images" : "BN statistics as trained"))
        print("level  FLOP speed-up  one level for all  best per-image choice (same mean MACs)  gap")
        for p in points {
            print(String(format: "%5.2f  %12.2fx  %16.2f%%  %36.2f%%  %+6.2f pp", p.level, p.flopSpeedup, p.staticAccuracy * 100,
                         p.oracleAccuracy * 100, (p.oracleAccuracy - p.staticAccuracy) * 100))
        }
        let f: (Double?) -> String = { $0.map { String(format: "%.2f%%", $0 * 100) } ?? "outside the ladder" }
        let s: (Double?) -> String = { $0.map { String(format: "%.2fx", $0) } ?? "never" }
        print("at 2x FLOPs: one level for all \(f(summary.staticAccuracyAt2x)), oracle \(f(summary.oracleAccuracyAt2x))")
        print(String(format: "FLOP speed-up at %.1f%% accuracy: ", accuracyTarget * 100)
              + "one level for all \(s(summary.staticSpeedupAtTarget)), oracle \(s(summary.oracleSpeedupAtTarget))")
        let none = cheapest.filter { $0 == nil }.count
        print("images no level classifies correctly: \(none) of \(ladder.images)")
    }
}
