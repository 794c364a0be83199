import ArgumentParser
import DynaSlimIO
import DynaSlimTrain
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dense or statically thinned ResNet checkpoint to ONNX (onnxruntime, Core ML, TensorRT...).",
        discussion: """
            The ONNX model takes float pixels scaled to [0, 1], [N, C, H, W] (the checkpoint's normalization is its \
            first two nodes) and returns logits; a thinned model's channel counts are kept as they are. The graph is \
            written by scripts/export_onnx.py with the onnx package (pip install onnx safetensors numpy). Dynamic and \
            FBS checkpoints are refused: per-input channel skipping has no ONNX form.
            """)

    @Argument(help: "A dense or thinned .safetensors checkpoint.") var checkpoint: String
    @Option(help: "Output .onnx file.") var onnx: String

    /// The exporter script, found from this source file's place in the repository.
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/export_onnx.py").path
    }

    func run() throws {
        // Validated here first, with the same typed errors as every other command.
        if try DynamicCheckpoint.load(checkpoint) != nil || DynamicCheckpoint.loadFBS(checkpoint) != nil {
            throw ValidationError("\(checkpoint) is a dynamic or FBS checkpoint: per-input channel skipping has no ONNX form; "
                                  + "export a dense or statically pruned model (dynaslim prune) instead")
        }
        let net = try Checkpoint.load(checkpoint).network
        guard net.config.architecture.hasPrefix("resnet"), net.config.shortcut == .a else {
            throw ValidationError("\(checkpoint): ONNX export covers the CIFAR ResNets with option-A shortcuts, not \(net.config.architecture)")
        }
        guard FileManager.default.fileExists(atPath: Self.script) else {
            throw ValidationError("the exporter \(Self.script) is missing: run dynaslim from its repository checkout")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.script, checkpoint, onnx]
        try p.run()
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw ExitCode(p.terminationStatus) }
    }
}
