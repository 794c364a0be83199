// The `dynaslim` command: a thin layer over the DynaSlim libraries. Each subcommand parses its
// options, calls the library, and prints; the libraries never print or exit.
import ArgumentParser

@main
struct DynaSlimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dynaslim",
        abstract: "Dynamic network slimming for CNNs on CPUs: train, slim, evaluate and benchmark.",
        discussion: """
            Typical session:
              dynaslim train --model resnet20 --dataset fashion-mnist --epochs 10 --out runs/r20
              dynaslim eval runs/r20/model.safetensors
              dynaslim info runs/r20/model.safetensors
              dynaslim bench train --model resnet20 --input 3x32x32
            """,
        subcommands: [Train.self, Eval.self, Predict.self, Export.self, Download.self, Info.self, Prune.self, Bench.self, ReportCommand.self])

    /// The environment's switches first (ProcessSettings), then the command.
    static func main() {
        ProcessSettings.applyEnvironment()
        main(nil)
    }
}
