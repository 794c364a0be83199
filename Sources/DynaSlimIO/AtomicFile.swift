// Whole-file replacement that a kill at any instruction cannot leave half-written: the bytes go to a
// temp file beside the target (".NAME.tmp-PID"), are flushed to the disk, and a rename puts them in
// place (rename is atomic within a folder). A kill before the rename leaves the old file and a stale
// temp file, which `removeStaleTemporaries` clears on the next start.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum AtomicFile {
    /// The three file operations of one write, named for a caller's fault-injection hook.
    public enum Step: String, Sendable { case writeTemporary = "write", flush = "fsync", rename = "rename" }

    /// Replaces `path` with `data`. `beforeStep` (if given) runs before each file operation: tests use
    /// it to kill the process at a chosen one.
    public static func write(_ data: Data, to path: String, beforeStep: ((Step, String) throws -> Void)? = nil) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)").path
        do {
            try beforeStep?(.writeTemporary, path)
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw SafeTensorsError.io(file: path, reason: "cannot create \(tmp) (errno \(errno))") }
            var ok = true
            data.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = Glibc_write(fd, raw.baseAddress! + done, raw.count - done)
                    if n <= 0 { ok = false; break }
                    done += n
                }
            }
            try beforeStep?(.flush, path)
            if ok { ok = fsync(fd) == 0 }
            close(fd)
            guard ok else { throw SafeTensorsError.io(file: path, reason: "writing \(tmp) failed (errno \(errno))") }
            try beforeStep?(.rename, path)
            guard rename(tmp, path) == 0 else { throw SafeTensorsError.io(file: path, reason: "rename from \(tmp) failed (errno \(errno))") }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Removes temp files that killed writers left in `directory` (names ".*.tmp-PID").
    public static func removeStaleTemporaries(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(".") && name.contains(".tmp-") {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }
}

@inline(__always)
private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}
