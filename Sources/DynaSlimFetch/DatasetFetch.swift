// `--download`: a dataset's files from its source into a data root, verified and unpacked. Returns the
// folder the dataset loaders read (DatasetCatalog's --data). Already complete folders are left alone.
import DynaSlimData
import Foundation

public enum DatasetFetch {
    /// The folder under `root` where `name`'s files end up.
    public static func folder(_ name: DatasetName, root: String) -> String? {
        guard let s = DatasetSource.source(for: name) else { return nil }
        return (root as NSString).appendingPathComponent(s.archiveFolder ?? s.dataset.rawValue)
    }

    public static func fetch(_ name: DatasetName, root: String, mirror: String? = nil,
                             progress: ((String, Int64) -> Void)? = nil) throws -> String {
        guard let source = DatasetSource.source(for: name, mirror: mirror) else {
            throw FetchError.network(url: name.rawValue, reason: "no download source is known for \(name.rawValue)")
        }
        return try fetch(source, root: root, progress: progress)
    }

    /// The same for any source (the tests serve their own files).
    public static func fetch(_ source: DatasetSource, root: String, progress: ((String, Int64) -> Void)? = nil) throws -> String {
        let target = (root as NSString).appendingPathComponent(source.archiveFolder ?? source.dataset.rawValue)
        let fm = FileManager.default
        if source.required.allSatisfy({ fm.fileExists(atPath: (target as NSString).appendingPathComponent($0)) }) { return target }
        if let archiveFolder = source.archiveFolder {
            let downloads = (root as NSString).appendingPathComponent("downloads")
            for remote in source.files {
                let file = try Downloader.fetch(remote, into: downloads) { progress?(remote.fileName, $0) }
                _ = try ArchiveUnpacker.unpack(file, folder: archiveFolder, into: root)
            }
        } else {
            for remote in source.files { try Downloader.fetch(remote, into: target) { progress?(remote.fileName, $0) } }
        }
        let missing = source.required.filter { !fm.fileExists(atPath: (target as NSString).appendingPathComponent($0)) }
        guard missing.isEmpty else { throw FetchError.archive(file: target, reason: "missing after download: \(missing.joined(separator: ", "))") }
        return target
    }
}
