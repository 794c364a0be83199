// MD5 of a file, streamed (the CIFAR archives are ~170 MB), through the system's libcrypto.
import CCrypto
import Foundation

public enum Checksum {
    /// Lower-case hex MD5 of the file at `path`.
    public static func md5(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw FetchError.io(path: path, reason: "cannot open") }
        defer { try? handle.close() }
        guard let ctx = EVP_MD_CTX_new() else { throw FetchError.io(path: path, reason: "libcrypto could not start") }
        defer { EVP_MD_CTX_free(ctx) }
        EVP_DigestInit_ex(ctx, EVP_md5(), nil)
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            _ = chunk.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE)), length: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &digest, &length)
        return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }
}
