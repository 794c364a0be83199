// One file over HTTP(S), resumable and verified: bytes stream into NAME.part beside the target; a
// later call continues a .part with a Range request (a server that ignores it sends the whole file
// again, and the .part starts over); the MD5 must match the published one before a rename puts the
// file in place. A corrupt or short download is removed, never left where a reader would take it.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class StreamingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let handle: FileHandle
    let done = DispatchSemaphore(value: 0)
    var status = 0
    var failure: Error?
    var received: Int64 = 0
    let progress: ((Int64) -> Void)?

    init(handle: FileHandle, progress: ((Int64) -> Void)?) { self.handle = handle; self.progress = progress }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        // 200 to a Range request: the server sends everything, so the partial file starts over.
        if status == 200 { try? handle.truncate(atOffset: 0) }
        completionHandler(status == 200 || status == 206 ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        do { try handle.seekToEnd(); try handle.write(contentsOf: data) } catch { failure = error; dataTask.cancel() }
        received += Int64(data.count)
        progress?(received)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if failure == nil, let error { failure = error }
        done.signal()
    }
}

public enum Downloader {
    /// Fetches `remote` into `folder`; returns the file's path. An existing file with the right MD5 is kept.
    @discardableResult
    public static func fetch(_ remote: DatasetSource.Remote, into folder: String, progress: ((Int64) -> Void)? = nil) throws -> String {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let target = (folder as NSString).appendingPathComponent(remote.fileName), part = target + ".part"
        if fm.fileExists(atPath: target) {
            if try Checksum.md5(file: target) == remote.md5 { return target }
            try fm.removeItem(atPath: target)
        }
        if !fm.fileExists(atPath: part) { fm.createFile(atPath: part, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: part) else { throw FetchError.io(path: part, reason: "cannot write") }
        let offset = ((try? fm.attributesOfItem(atPath: part))?[.size] as? NSNumber)?.int64Value ?? 0
        guard let url = URL(string: remote.url) else { throw FetchError.network(url: remote.url, reason: "not a URL") }
        var request = URLRequest(url: url)
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let delegate = StreamingDelegate(handle: handle, progress: progress)
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        session.dataTask(with: request).resume()
        delegate.done.wait()
        session.finishTasksAndInvalidate()
        try? handle.synchronize()
        try? handle.close()
        // Nothing received at all: no partial file is worth keeping.
        if ((try? fm.attributesOfItem(atPath: part))?[.size] as? NSNumber)?.int64Value == 0 { try? fm.removeItem(atPath: part) }
        // 416: nothing left to send (the partial file was already whole); its checksum decides.
        guard delegate.status == 200 || delegate.status == 206 || delegate.status == 416 else {
            if delegate.status == 0 {
                throw FetchError.network(url: remote.url, reason: delegate.failure.map { "\($0.localizedDescription)" } ?? "no answer from the server")
            }
            throw FetchError.http(url: remote.url, status: delegate.status)
        }
        if let f = delegate.failure { throw FetchError.network(url: remote.url, reason: "\(f.localizedDescription) (the partial file is kept: run again to resume)") }
        let found = try Checksum.md5(file: part)
        guard found == remote.md5 else {
            try? fm.removeItem(atPath: part)
            throw FetchError.checksum(file: target, expected: remote.md5, found: found)
        }
        guard rename(part, target) == 0 else { throw FetchError.io(path: target, reason: "rename from \(part) failed (errno \(errno))") }
        return target
    }
}
