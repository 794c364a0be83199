// The `dynaslim` command: a thin layer over the DynaSlim libraries. Each subcommand parses its
// options, calls the library, and prints; the libraries never print or exit.
import ArgumentParser

@main
struct DynaSlimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dynaslim",
        abstract: "Dynamic network slimming for CNNs on CPUs: train, slim, evaluate and benchmark.",
        subcommands: [Bench.self])
}
