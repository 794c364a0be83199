import Foundation
import Testing
import DynaSlimData
@testable import DynaSlimFetch

/// `--download` against a loopback HTTP server (Fixtures/range_server.py) serving small archives made
/// here: a good archive lands unpacked and loads; a corrupt one fails its checksum and leaves nothing;
/// a truncated one with a matching checksum fails to unpack and leaves nothing; a partial download
/// resumes with a Range request; plain files (Fashion-MNIST's layout) land in their folder.
@Suite("Dataset download", .serialized)
struct DownloadTests {
    static let server = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/range_server.py").path

    final class Server {
        let process = Process(), input = Pipe(), output = Pipe()
        let port: Int
        let root: String
        init(root: String) throws {
            self.root = root
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", DownloadTests.server, root]
            process.standardInput = input; process.standardOutput = output
            try process.run()
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let d = output.fileHandleForReading.availableData
                if d.isEmpty { break }
                line += d
            }
            let json = try JSONSerialization.jsonObject(with: line.split(separator: UInt8(ascii: "\n")).first ?? Data()) as! [String: Any]
            port = json["port"] as! Int
        }
        var base: String { "http://127.0.0.1:\(port)" }
        var log: [String] { ((try? String(contentsOfFile: root + "/requests.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        deinit { try? input.fileHandleForWriting.close(); process.waitUntilExit() }
    }

    func temporary() -> String {
        let d = NSTemporaryDirectory() + "dynaslim-fetch-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A CIFAR-10-shaped archive: cifar-10-batches-bin/ with six files of two records each.
    func makeArchive(in dir: String) throws -> String {
        let src = dir + "/src/cifar-10-batches-bin"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
            var bytes: [UInt8] = []
            for label in [UInt8(3), 7] { bytes += [label] + [UInt8](repeating: label &* 20, count: 3072) }
            FileManager.default.createFile(atPath: src + "/" + name, contents: Data(bytes))
        }
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "czf", dir + "/serve/cifar-10-binary.tar.gz", "-C", dir + "/src", "cifar-10-batches-bin"]
        try FileManager.default.createDirectory(atPath: dir + "/serve", withIntermediateDirectories: true)
        try tar.run(); tar.waitUntilExit()
        return dir + "/serve/cifar-10-binary.tar.gz"
    }

    func cifarSource(_ server: Server, file: String, md5: String) -> DatasetSource {
        DatasetSource(dataset: .cifar10, files: [.init(url: server.base + "/" + file, fileName: "cifar-10-binary.tar.gz", md5: md5)],
                      archiveFolder: "cifar-10-batches-bin", required: (1...5).map { "data_batch_\($0).bin" } + ["test_batch.bin"])
    }

    var skipReason: String? {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? nil : "no python3 for the loopback server"
    }

    @Test("a good archive lands unpacked and loads; a second call finds it complete")
    func good() throws {
        if let r = skipReason { print("skipped: \(r)"); return }
        let dir = temporary(), archive = try makeArchive(in: dir)
        let server = try Server(root: dir + "/serve")
        let md5 = try Checksum.md5(file: archive)
        let folder = try DatasetFetch.fetch(cifarSource(server, file: "cifar-10-binary.tar.gz", md5: md5), root: dir + "/data")
        #expect(folder == dir + "/data/cifar-10-batches-bin")
        let test = try DatasetCatalog.load(.cifar10, path: folder, train: false)
        #expect(test.count == 2 && test.labels == [3, 7])
        #expect(try DatasetCatalog.load(.cifar10, path: folder, train: true).count == 10)
        let requests = server.log.count
        _ = try DatasetFetch.fetch(cifarSource(server, file: "cifar-10-binary.tar.gz", md5: md5), root: dir + "/data")
        #expect(server.log.count == requests)   // complete: nothing fetched again
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/data").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty)
    }

    @Test("a corrupt archive fails its checksum and leaves nothing in place")
    func corrupt() throws {
        if let r = skipReason { print("skipped: \(r)"); return }
        let dir = temporary(), archive = try makeArchive(in: dir)
        let md5 = try Checksum.md5(file: archive)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: archive)))
        bytes[bytes.count / 2] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/serve/corrupt.tar.gz"))
        let server = try Server(root: dir + "/serve")
        #expect { _ = try DatasetFetch.fetch(cifarSource(server, file: "corrupt.tar.gz", md5: md5), root: dir + "/data") } throws: { e in
            guard case .checksum = e as? FetchError else { return false }; return true
        }
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: dir + "/data/cifar-10-batches-bin"))
        #expect(!fm.fileExists(atPath: dir + "/data/downloads/cifar-10-binary.tar.gz"))
        #expect(!fm.fileExists(atPath: dir + "/data/downloads/cifar-10-binary.tar.gz.part"))
    }

    @Test("a truncated archive (its checksum matching) fails to unpack and leaves no folder")
    func truncated() throws {
        if let r = skipReason { print("skipped: \(r)"); return }
        let dir = temporary(), archive = try makeArchive(in: dir)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: dir + "/serve/short.tar.gz"))
        let server = try Server(root: dir + "/serve")
        let md5 = try Checksum.md5(file: dir + "/serve/short.tar.gz")
        #expect { _ = try DatasetFetch.fetch(cifarSource(server, file: "short.tar.gz", md5: md5), root: dir + "/data") } throws: { e in
            guard case .archive = e as? FetchError else { return false }; return "\(e)".contains("cifar-10-binary.tar.gz")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/data")
        #expect(!names.contains("cifar-10-batches-bin") && !names.contains { $0.hasPrefix(".") }, "\(names)")
    }

    @Test("a partial download resumes with a Range request")
    func resume() throws {
        if let r = skipReason { print("skipped: \(r)"); return }
        let dir = temporary(), archive = try makeArchive(in: dir)
        let md5 = try Checksum.md5(file: archive)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        try FileManager.default.createDirectory(atPath: dir + "/data/downloads", withIntermediateDirectories: true)
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/data/downloads/cifar-10-binary.tar.gz.part"))
        let server = try Server(root: dir + "/serve")
        _ = try DatasetFetch.fetch(cifarSource(server, file: "cifar-10-binary.tar.gz", md5: md5), root: dir + "/data")
        #expect(server.log == ["/cifar-10-binary.tar.gz bytes=\(bytes.count / 2)- 206"])
        #expect(try Checksum.md5(file: dir + "/data/downloads/cifar-10-binary.tar.gz") == md5)
    }

    @Test("plain files (Fashion-MNIST's layout) land in the dataset's folder; a missing one is an HTTP error")
    func plainFiles() throws {
        if let r = skipReason { print("skipped: \(r)"); return }
        let dir = temporary()
        try FileManager.default.createDirectory(atPath: dir + "/serve", withIntermediateDirectories: true)
        var remotes: [DatasetSource.Remote] = []
        for (k, name) in ["a.gz", "b.gz"].enumerated() {
            try Data([UInt8](repeating: UInt8(k + 1), count: 1000)).write(to: URL(fileURLWithPath: dir + "/serve/" + name))
            remotes.append(.init(url: "", fileName: name, md5: try Checksum.md5(file: dir + "/serve/" + name)))
        }
        let server = try Server(root: dir + "/serve")
        for i in remotes.indices { remotes[i].url = server.base + "/" + remotes[i].fileName }
        let source = DatasetSource(dataset: .fashionMNIST, files: remotes, archiveFolder: nil, required: ["a.gz", "b.gz"])
        #expect(try DatasetFetch.fetch(source, root: dir + "/data") == dir + "/data/fashion-mnist")
        var missing = source
        missing.files[0].url = server.base + "/nothing.gz"; missing.required = ["nothing.gz"]
        #expect { _ = try DatasetFetch.fetch(missing, root: dir + "/other") } throws: { e in
            guard case .http(_, 404) = e as? FetchError else { return false }; return true
        }
        // The published checksums are well-formed (32 hex digits) for every known source.
        for name in [DatasetName.cifar10, .cifar100, .fashionMNIST] {
            #expect(DatasetSource.source(for: name)!.files.allSatisfy { $0.md5.count == 32 && $0.md5.allSatisfy(\.isHexDigit) })
        }
    }
}
