// Whole-file reads, plain or gzip (via the system zlib: Foundation on Linux cannot inflate).
import CZlib
import Foundation

enum FileReading {
    /// Reads the whole file; transparently inflates gzip (by magic 1f 8b, not by name).
    static func readAll(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.cannotOpen(file: path, reason: "no such file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.cannotOpen(file: path, reason: "unreadable") }
        let bytes = [UInt8](data)
        if bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b { return try gunzip(path) }
        return bytes
    }

    static func gunzip(_ path: String) throws -> [UInt8] {
        guard let f = gzopen(path, "rb") else { throw DataError.cannotOpen(file: path, reason: "gzopen failed") }
        defer { gzclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw DataError.cannotOpen(file: path, reason: "corrupt gzip stream after \(out.count) bytes") }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }
}
