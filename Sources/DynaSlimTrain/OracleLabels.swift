// Gate supervision for the dynamic stage's `oracle` rate rule: per training image, the pruning rate of
// the cheapest level of the backbone that classifies it correctly (1 - the level's width fraction;
// 0 when no level does), as DS-Net labels each input with the smallest width that still gets it right.
// Computed once when the run starts, from the backbone it starts from (BN recalibrated per level, the
// images unaugmented), and kept in the run directory as oracle-rates.safetensors so that `--resume`
// reuses them. Augmented views of an image share its label: an approximation, stated here.
import DynaSlimCore
import DynaSlimData
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming
import Foundation

public enum OracleLabels {
    public static let fileName = "oracle-rates.safetensors"
    static let tensorName = "oracle_rates"
    /// The ladder the labels come from: ResNet-20's 2x operating point sits near level 0.5.
    public static let levels: [Float] = [1, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25]

    /// One rate per image of `train`, in dataset order.
    public static func compute(_ net: Network, train: ImageDataset, normalization: Normalization, augmentation: Augmentation) throws -> [Float] {
        let ladder = try OracleEvaluator.ladder(net, test: train, train: train, normalization: normalization,
                                                options: OracleOptions(levels: levels, recalibrationImages: 2560, augmentation: augmentation))
        return HeadroomOracle.cheapestCorrect(ladder).map { $0.map { 1 - ladder.levels[$0] } ?? 0 }
    }

    public static func save(_ rates: [Float], directory: String) throws {
        try SafeTensors.write([NamedTensor(name: tensorName, shape: [rates.count], values: rates)], metadata: [:],
                              to: (directory as NSString).appendingPathComponent(fileName))
    }

    /// The saved labels; an error naming the file when it is missing, malformed or sized for another set.
    public static func load(directory: String, images: Int) throws -> [Float] {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: path) else { throw TrainError.resume(path: path, reason: "missing (the oracle rule's labels)") }
        guard let t = try SafeTensors.read(path).tensors.first(where: { $0.name == tensorName }) else {
            throw TrainError.resume(path: path, reason: "no \(tensorName) tensor")
        }
        guard t.values.count == images, t.values.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }) else {
            throw TrainError.resume(path: path, reason: "holds \(t.values.count) rates in [0, 1] expected for \(images) training images")
        }
        return t.values
    }
}
