import ArgumentParser
import DynaSlimCore
import DynaSlimData
import DynaSlimNN
import DynaSlimTrain
import Foundation

extension DatasetName: ExpressibleByArgument {}
extension LRSchedule.Kind: ExpressibleByArgument {}
extension ShortcutKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
}

/// Parses "3x32x32" (C x H x W).
func parseShape(_ s: String) throws -> FeatureShape {
    let parts = s.lowercased().split(separator: "x").compactMap { Int($0) }
    guard parts.count == 3, parts.allSatisfy({ $0 > 0 }) else { throw ValidationError("input shape must look like 3x32x32, got '\(s)'") }
    return FeatureShape(c: parts[0], h: parts[1], w: parts[2])
}

func printJSON(_ obj: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}

func formatCount(_ n: Int) -> String {
    if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1e6) }
    if n >= 1_000 { return String(format: "%.1fK", Double(n) / 1e3) }
    return "\(n)"
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%dm%02ds", t / 60, t % 60)
}

var stdoutIsTerminal: Bool { isatty(1) != 0 }

/// Writes to stderr (errors and warnings from the CLI).
func warn(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Flushes stdout (for progress lines).
func flushStdout() { fflush(nil) }

/// An error about a checkpoint's fit to its data, reported with the checkpoint's path.
struct CheckpointFitError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body`, prefixing model/data mismatches and non-finite results with the checkpoint they concern.
func namingCheckpoint(_ path: String, _ body: () throws -> Void) throws {
    do { try body() } catch let e as DataMismatchError {
        throw CheckpointFitError(description: "\(path): \(e)")
    } catch let e as NonFiniteResultError {
        throw CheckpointFitError(description: "\(path): \(e)")
    }
}
