public enum FetchError: Error, CustomStringConvertible, Equatable {
    case network(url: String, reason: String)
    case http(url: String, status: Int)
    case checksum(file: String, expected: String, found: String)
    case archive(file: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .network(u, r): return "\(u): download failed: \(r)"
        case let .http(u, s): return "\(u): the server answered HTTP \(s)"
        case let .checksum(f, e, x): return "\(f): MD5 \(x), expected \(e): the download is corrupt or incomplete and was removed"
        case let .archive(f, r): return "\(f): cannot unpack: \(r)"
        case let .io(p, r): return "\(p): \(r)"
        }
    }
}
