// The teacher side of knowledge distillation during training: a frozen copy of a checkpoint that
// scores each augmented batch in eval mode, and the blend of its soft targets into the step's
// logits gradient. Any method's run may carry one (config.distillation).
import DynaSlimCore
import DynaSlimIO
import DynaSlimNN
import DynaSlimSlimming

public final class Distiller {
    public let config: DistillationConfig
    public let teacher: Network
    private let teacherLogits = ScratchBuffer()
    private let kdGrad = ScratchBuffer()

    /// Loads the teacher; its classes and input shape must match the student's.
    public init(config: DistillationConfig, student: ModelConfig) throws {
        guard config.alpha >= 0 && config.alpha <= 1 else {
            throw TrainError.runDirectory(path: config.teacher, reason: "distillation weight alpha \(config.alpha) is outside [0, 1]")
        }
        guard config.temperature > 0 && config.temperature.isFinite else {
            throw TrainError.runDirectory(path: config.teacher, reason: "distillation temperature \(config.temperature) must be > 0")
        }
        self.config = config
        teacher = try Checkpoint.load(config.teacher, ignoringPrefixes: [ThresholdPredictor.prefix, FBSModel.prefix]).network
        let t = teacher.config
        guard t.classes == student.classes, t.inputShape == student.inputShape else {
            throw TrainError.runDirectory(path: config.teacher, reason: "teacher has \(t.classes) classes and input \(t.inputShape); "
                                          + "the student has \(student.classes) classes and input \(student.inputShape)")
        }
    }

    /// Blends distillation into a step: `logitsGrad` holds dCE/dz on entry and
    /// (1 - alpha) dCE/dz + alpha dKD/dz on return; returns (1 - alpha) CE + alpha KD.
    /// images [n, C, H, W] (normalized, augmented: the batch the student saw); logits, logitsGrad [n, classes].
    public func blend(images: UnsafeBufferPointer<Float>, n: Int, logits: UnsafeBufferPointer<Float>,
                      crossEntropy: Float, logitsGrad: UnsafeMutablePointer<Float>) throws -> Float {
        let C = teacher.config.classes, count = n * C
        let tOut = try teacher.forward(images: images, n: n, mode: .eval)
        let t = teacherLogits.reserve(count)
        t.update(from: tOut.pointer, count: count)
        let g = kdGrad.reserve(count)
        let kd = try KnowledgeDistillation.forwardBackward(batch: n, classes: C, logits: logits,
                                                            teacherLogits: UnsafeBufferPointer(start: t, count: count),
                                                            temperature: config.temperature,
                                                            logitsGrad: UnsafeMutableBufferPointer(start: g, count: count))
        let a = config.alpha
        for i in 0..<count { logitsGrad[i] = (1 - a) * logitsGrad[i] + a * g[i] }
        return (1 - a) * crossEntropy + a * kd
    }
}
