// Typed errors for bad dataset files: each names the file, the byte offset, and what is wrong.

public enum DataError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(file: String, reason: String)
    case badMagic(file: String, found: UInt32, expected: UInt32)
    case truncated(file: String, offset: Int, needed: Int, available: Int)
    case wrongRecordSize(file: String, size: Int, recordSize: Int)
    case labelOutOfRange(file: String, offset: Int, label: Int, classes: Int)
    case shapeMismatch(file: String, message: String)
    case missingFile(path: String, hint: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason): return "\(file): cannot open: \(reason)"
        case let .badMagic(file, found, expected):
            return "\(file): bad magic number 0x\(String(found, radix: 16, uppercase: true)) at byte 0, expected 0x\(String(expected, radix: 16, uppercase: true))"
        case let .truncated(file, offset, needed, available):
            return "\(file): truncated at byte \(offset): needs \(needed) bytes, file has \(available)"
        case let .wrongRecordSize(file, size, recordSize):
            return "\(file): size \(size) bytes is not a multiple of the record size \(recordSize) (\(size % recordSize) trailing bytes at byte \(size - size % recordSize))"
        case let .labelOutOfRange(file, offset, label, classes):
            return "\(file): label \(label) at byte \(offset) is outside 0..<\(classes)"
        case let .shapeMismatch(file, message): return "\(file): \(message)"
        case let .missingFile(path, hint): return "\(path): not found. \(hint)"
        }
    }
}
