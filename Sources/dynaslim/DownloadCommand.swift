import ArgumentParser
import DynaSlimData
import DynaSlimFetch
import Foundation

struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a dataset from its publishers into a data folder (CIFAR-10, CIFAR-100, Fashion-MNIST).",
        discussion: """
            Checksum-verified (the publishers' MD5) and resumable: an interrupted download continues where it stopped \
            on the next run. Archives are unpacked into a staging folder and renamed into place, so a corrupt or \
            truncated download leaves nothing half-written where the loaders look. Prints the folder to pass as --data \
            (train --download does all this itself).
            """)

    @Argument(help: "cifar10, cifar100 or fashion-mnist.") var dataset: DatasetName
    @Option(help: "Data root; the dataset lands in a folder inside it.") var root = "data"
    @Option(help: "Fetch the same file names from this base URL instead of the publishers' (a mirror).") var mirror: String?

    func run() throws {
        print(try DownloadProgress.fetch(dataset, root: root, mirror: mirror))
    }
}

/// Shared by `download` and `train --download`: fetches with a progress line on a terminal.
enum DownloadProgress {
    static func fetch(_ dataset: DatasetName, root: String, mirror: String?) throws -> String {
        let tty = stdoutIsTerminal
        var last = Date.distantPast
        let folder = try DatasetFetch.fetch(dataset, root: root, mirror: mirror) { file, bytes in
            guard tty, Date().timeIntervalSince(last) > 0.5 else { return }
            last = Date()
            FileHandle.standardError.write(Data("\r\u{1B}[K\(file): \(bytes >> 20) MiB".utf8))
        }
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        return folder
    }
}
