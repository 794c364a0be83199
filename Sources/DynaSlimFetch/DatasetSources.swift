// Where each dataset comes from: its publishers' addresses and the MD5 checksums they publish
// (CIFAR: the dataset page; Fashion-MNIST: its repository's README), and what the data folder must
// hold afterwards. The files land in the folders `DatasetCatalog` reads.
import DynaSlimData

public struct DatasetSource: Sendable {
    public struct Remote: Sendable {
        public var url: String
        public var fileName: String
        public var md5: String
        public init(url: String, fileName: String, md5: String) { self.url = url; self.fileName = fileName; self.md5 = md5 }
    }
    public var dataset: DatasetName
    public var files: [Remote]
    /// For an archive: the folder it unpacks to (inside the data folder); nil for plain files.
    public var archiveFolder: String?
    /// Files that must exist in the dataset's folder once it is complete.
    public var required: [String]

    public init(dataset: DatasetName, files: [Remote], archiveFolder: String?, required: [String]) {
        self.dataset = dataset; self.files = files; self.archiveFolder = archiveFolder; self.required = required
    }

    public static func source(for name: DatasetName, mirror: String? = nil) -> DatasetSource? {
        func at(_ base: String, _ file: String, _ md5: String) -> Remote {
            Remote(url: (mirror ?? base) + "/" + file, fileName: file, md5: md5)
        }
        let toronto = "https://www.cs.toronto.edu/~kriz"
        switch name {
        case .cifar10:
            return DatasetSource(dataset: name, files: [at(toronto, "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")],
                                 archiveFolder: "cifar-10-batches-bin",
                                 required: (1...5).map { "data_batch_\($0).bin" } + ["test_batch.bin"])
        case .cifar100, .cifar100Coarse:
            return DatasetSource(dataset: name, files: [at(toronto, "cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8")],
                                 archiveFolder: "cifar-100-binary", required: ["train.bin", "test.bin"])
        case .fashionMNIST:
            let base = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
            return DatasetSource(dataset: name, files: [
                at(base, "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                at(base, "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                at(base, "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                at(base, "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
            ], archiveFolder: nil, required: ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
        case .mnist:
            return nil
        }
    }
}
