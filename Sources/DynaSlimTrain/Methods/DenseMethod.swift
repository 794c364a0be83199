// Dense training, and static Network Slimming's two stages: the L1 sparsity term (TrainConfig.sparsity) is
// the trainer's, and fine-tuning a pruned model is dense training of a thinner network.
import DynaSlimNN

public final class DenseMethod: TrainingMethod {
    public let network: Network
    public init(network: Network) { self.network = network }
    public var parameters: [(String, Parameter)] { network.namedParameters }
}
