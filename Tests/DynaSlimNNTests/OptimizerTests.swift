import Testing
@testable import DynaSlimNN

@Suite("SGD and schedules")
struct OptimizerTests {
    @Test("SGD matches torch.optim.SGD's update rule (momentum, weight decay, Nesterov)", arguments: [false, true])
    func sgd(nesterov: Bool) {
        let p = Parameter(shape: [2], value: [1.0, -2.0])
        let opt = SGD(parameters: [("w", p)], config: SGDConfig(momentum: 0.9, weightDecay: 0.1, nesterov: nesterov))
        // Reference computed by hand from torch's algorithm.
        var v: [Double] = [1.0, -2.0], buf: [Double] = [0, 0]
        let grads: [[Float]] = [[0.5, 0.25], [-1.0, 2.0], [0.1, 0.0]]
        for (k, g) in grads.enumerated() {
            p.grad = g
            opt.step(learningRate: 0.1)
            for i in 0..<2 {
                let d = Double(g[i]) + 0.1 * v[i]
                buf[i] = k == 0 ? d : 0.9 * buf[i] + d
                v[i] -= 0.1 * (nesterov ? d + 0.9 * buf[i] : buf[i])
            }
            #expect(abs(Double(p.value[0]) - v[0]) < 1e-6 && abs(Double(p.value[1]) - v[1]) < 1e-6)
        }
    }

    @Test("cosine, step and warm-up schedules")
    func schedules() {
        let cos = LRSchedule(kind: .cosine, baseLR: 0.1, epochs: 10)
        #expect(abs(cos.rate(at: 0) - 0.1) < 1e-7)
        #expect(abs(cos.rate(at: 5) - 0.05) < 1e-6)
        #expect(cos.rate(at: 10) < 1e-7)
        let step = LRSchedule(kind: .step, baseLR: 0.1, epochs: 200, milestones: [100, 150], gamma: 0.1)
        #expect(step.rate(at: 99.9) == 0.1)
        #expect(abs(step.rate(at: 100) - 0.01) < 1e-8)
        #expect(abs(step.rate(at: 160) - 0.001) < 1e-9)
        let warm = LRSchedule(kind: .constant, baseLR: 0.2, epochs: 10, warmupEpochs: 2)
        #expect(abs(warm.rate(at: 1) - 0.1) < 1e-7)
        #expect(warm.rate(at: 3) == 0.2)
    }
}
