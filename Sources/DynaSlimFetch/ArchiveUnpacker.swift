// Unpacks a dataset's .tar.gz with libarchive into a staging folder beside the destination, then renames
// the unpacked folder into place: a truncated or corrupt archive leaves nothing half-written where the
// loaders look. Only regular files inside the expected top folder are taken (no absolute paths, no "..").
import CArchive
import Foundation

public enum ArchiveUnpacker {
    /// Unpacks `archive` so that `folder` (the archive's top folder) ends up in `destination`; returns its path.
    public static func unpack(_ archive: String, folder: String, into destination: String) throws -> String {
        let fm = FileManager.default
        let staging = (destination as NSString).appendingPathComponent(".\(folder).unpacking-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(atPath: staging)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: staging) }
        guard let reader = archive_read_new() else { throw FetchError.archive(file: archive, reason: "libarchive could not start") }
        defer { archive_read_free(reader) }
        archive_read_support_filter_gzip(reader)
        archive_read_support_format_tar(reader)
        func message() -> String { archive_error_string(reader).map { String(cString: $0) } ?? "unknown error" }
        guard archive_read_open_filename(reader, archive, 1 << 16) == ARCHIVE_OK else { throw FetchError.archive(file: archive, reason: message()) }
        var entry: OpaquePointer?
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let r = archive_read_next_header(reader, &entry)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry else { throw FetchError.archive(file: archive, reason: message()) }
            let path = String(cString: archive_entry_pathname(entry))
            let parts = path.split(separator: "/").map(String.init)
            guard !path.hasPrefix("/"), !parts.contains(".."), parts.first == folder else { continue }
            guard archive_entry_filetype(entry) == 0o100000 else { continue }   // AE_IFREG: a regular file
            let out = (staging as NSString).appendingPathComponent(parts.joined(separator: "/"))
            try fm.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            fm.createFile(atPath: out, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: out) else { throw FetchError.io(path: out, reason: "cannot write") }
            defer { try? handle.close() }
            while true {
                let n = buffer.withUnsafeMutableBytes { archive_read_data(reader, $0.baseAddress, $0.count) }
                if n == 0 { break }
                guard n > 0 else { throw FetchError.archive(file: archive, reason: "\(path): \(message())") }
                try handle.write(contentsOf: Data(buffer.prefix(n)))
            }
        }
        let unpacked = (staging as NSString).appendingPathComponent(folder)
        guard fm.fileExists(atPath: unpacked) else { throw FetchError.archive(file: archive, reason: "no \(folder)/ folder inside") }
        let final = (destination as NSString).appendingPathComponent(folder)
        try? fm.removeItem(atPath: final)
        guard rename(unpacked, final) == 0 else { throw FetchError.io(path: final, reason: "rename failed (errno \(errno))") }
        return final
    }
}
