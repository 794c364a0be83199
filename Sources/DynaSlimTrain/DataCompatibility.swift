// A model, a dataset and a normalization must agree before a batch is built: a 1-channel model on
// CIFAR-10, or a checkpoint's normalization fitted to other data, is an error naming both sides
// rather than a trap deep in a loader or kernel.
import DynaSlimData
import DynaSlimNN

public struct DataMismatchError: Error, CustomStringConvertible {
    public let description: String
}

public enum DataCompatibility {
    public static func check(model: ModelConfig, dataset: ImageDataset, normalization: Normalization? = nil) throws {
        let m = model.inputShape, d = dataset.shape
        guard m == d else {
            throw DataMismatchError(description: "the \(model.architecture) model takes \(m.c)x\(m.h)x\(m.w) images; "
                                    + "dataset \(dataset.name) has \(d.c)x\(d.h)x\(d.w) images")
        }
        guard model.classes == dataset.classes else {
            throw DataMismatchError(description: "the \(model.architecture) model has \(model.classes) classes; dataset \(dataset.name) has \(dataset.classes)")
        }
        if let normalization {
            guard normalization.mean.count == d.c, normalization.std.count == d.c,
                  (normalization.mean + normalization.std).allSatisfy(\.isFinite), normalization.std.allSatisfy({ $0 > 0 }) else {
                throw DataMismatchError(description: "the normalization (mean \(normalization.mean), std \(normalization.std)) does not fit "
                                        + "dataset \(dataset.name)'s \(d.c) channels (finite means, positive stds)")
            }
        }
    }
}
