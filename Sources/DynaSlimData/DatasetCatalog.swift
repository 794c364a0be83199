// Named datasets and their default locations.
import DynaSlimCore
import Foundation

public enum DatasetName: String, CaseIterable, Codable, Sendable {
    case fashionMNIST = "fashion-mnist", mnist, cifar10, cifar100, cifar100Coarse = "cifar100-coarse"
}

public enum DatasetCatalog {
    public static let fashionMNISTDefault = "/usr/share/datasets/fashion-mnist"
    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    /// Class names a checkpoint's dataset is known to use, without reading the data; nil when unknown.
    public static func classNames(_ name: DatasetName) -> [String]? {
        switch name {
        case .fashionMNIST: return fashionMNISTClasses
        case .cifar10: return cifar10Classes
        case .mnist: return (0..<10).map(String.init)
        case .cifar100, .cifar100Coarse: return nil
        }
    }
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Default folder for a dataset: Debian's Fashion-MNIST package, ../shared/data for CIFAR-10.
    public static func defaultPath(_ name: DatasetName) -> String? {
        switch name {
        case .fashionMNIST: return fashionMNISTDefault
        case .mnist: return "/usr/share/datasets/mnist"
        case .cifar10:
            for p in ["../shared/data/cifar-10-batches-bin", "../../shared/data/cifar-10-batches-bin"] where FileManager.default.fileExists(atPath: p) { return p }
            return "../shared/data/cifar-10-batches-bin"
        case .cifar100, .cifar100Coarse: return nil
        }
    }

    static func idxFile(_ folder: String, _ stem: String) throws -> String {
        for name in [stem + ".gz", stem] {
            let p = (folder as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        throw DataError.missingFile(path: (folder as NSString).appendingPathComponent(stem + ".gz"),
                                    hint: "Install Debian's dataset-fashion-mnist or pass --data with the IDX files.")
    }

    /// Loads the train or test split.
    public static func load(_ name: DatasetName, path: String?, train: Bool) throws -> ImageDataset {
        guard let folder = path ?? defaultPath(name) else {
            throw DataError.missingFile(path: "(no default)", hint: "Pass --data with the folder of \(name.rawValue).")
        }
        switch name {
        case .fashionMNIST, .mnist:
            let split = train ? "train" : "t10k"
            return try IDXReader.load(images: try idxFile(folder, "\(split)-images-idx3-ubyte"), labels: try idxFile(folder, "\(split)-labels-idx1-ubyte"),
                                      name: "\(name.rawValue)-\(train ? "train" : "test")",
                                      classNames: name == .fashionMNIST ? fashionMNISTClasses : (0..<10).map(String.init))
        case .cifar10: return try CIFARReader.loadCIFAR10(folder: folder, train: train)
        case .cifar100: return try CIFARReader.loadCIFAR100(folder: folder, train: train)
        case .cifar100Coarse: return try CIFARReader.loadCIFAR100(folder: folder, train: train, coarse: true)
        }
    }

    /// Standard augmentation: crop + flip for CIFAR, flip only for (Fashion-)MNIST (as the prototype).
    public static func defaultAugmentation(_ name: DatasetName) -> Augmentation {
        switch name {
        case .cifar10, .cifar100, .cifar100Coarse: return Augmentation(randomCrop: true, cropPadding: 4, horizontalFlip: true)
        case .fashionMNIST: return Augmentation(randomCrop: false, horizontalFlip: true)
        case .mnist: return .none
        }
    }
}
