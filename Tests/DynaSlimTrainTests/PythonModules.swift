import Foundation

/// Whether python3 can import `modules` (comma-separated, as in an import statement): nil when it can, else
/// the reason a test prints when it skips, with the pip command that fixes it.
func missingPythonModules(_ modules: String, install: String) -> String? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import \(modules)"]
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return "no python3" }
    p.waitUntilExit()
    return p.terminationStatus == 0 ? nil : "python3 lacks \(modules) (pip install \(install))"
}
