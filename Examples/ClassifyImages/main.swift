// How an app uses DynaSlim as a library: load a checkpoint, build the engine once, classify image files.
// The `dynaslim predict` command does the same with more reporting; this is the shortest complete path.
//   swift run classify-images CHECKPOINT IMAGE...
import DynaSlimCore
import DynaSlimData
import DynaSlimEngine
import DynaSlimImages
import DynaSlimIO
import DynaSlimSlimming
import DynaSlimTrain
import Foundation

let args = CommandLine.arguments.dropFirst()
guard args.count >= 2, let checkpoint = args.first else {
    FileHandle.standardError.write(Data("usage: classify-images CHECKPOINT IMAGE...\n".utf8))
    exit(2)
}
do {
    // A dynamic checkpoint carries its threshold predictor; any other loads as a plain (maybe thinned) network.
    let engine: InferenceEngine
    let metadata: [String: String]
    if let (dynamic, meta) = try DynamicCheckpoint.load(checkpoint) {
        engine = try InferenceEngine(network: dynamic.network, dynamic: dynamic, threads: 1)
        metadata = meta
    } else {
        let loaded = try Checkpoint.load(checkpoint, ignoringPrefixes: [FBSModel.prefix])
        engine = try InferenceEngine(network: loaded.network, threads: 1)
        metadata = loaded.metadata
    }
    // The normalization the model was trained with travels in the checkpoint's metadata.
    guard let json = metadata["dynaslim.normalization"] else { throw ImageError.unreadable(file: checkpoint, reason: "no dynaslim.normalization metadata") }
    let normalization = try JSONDecoder().decode(Normalization.self, from: Data(json.utf8))
    let config = engine.config
    let names = metadata["dynaslim.dataset"].flatMap(DatasetName.init(rawValue:)).flatMap(DatasetCatalog.classNames) ?? []
    var logits = [Float](repeating: 0, count: config.classes)
    for file in args.dropFirst() {
        do {
            let image = try ImageDecoder.decode(path: file, channels: config.inputChannels)
            let input = ModelInput.tensor(image, height: config.inputHeight, width: config.inputWidth, normalization: normalization)
            try input.withUnsafeBufferPointer { x in try logits.withUnsafeMutableBufferPointer { try engine.run(images: x, n: 1, logits: $0) } }
            let best = logits.indices.max { logits[$0] < logits[$1] }!
            print("\(file): \(best < names.count ? names[best] : "class \(best)")")
        } catch {
            print("\(file): \(error)")
        }
    }
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
