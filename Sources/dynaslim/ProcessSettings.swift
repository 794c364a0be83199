import CKernels
import DynaSlimCore
import DynaSlimEngine
import Foundation

/// The CLI's environment switches, mapped onto the libraries' settings once at start-up (the libraries
/// read no environment). All are for A/B measurements and tests except DYNASLIM_THREADS.
///   DYNASLIM_THREADS=N               worker threads (default: the active cores)
///   DYNASLIM_DIRECT_CONV=0           im2col + SGEMM only (no direct 3x3 kernels)
///   DYNASLIM_AVX512=0                the AVX2 variant of the direct kernels on an AVX-512 CPU
///   DYNASLIM_PADDED_ACTIVATIONS=0    the engine without zero-bordered activation planes
///   DYNASLIM_PHASE_OUTPUT=0          the engine's stride-2 convs build their own phase planes
///   DYNASLIM_THREAD_CHOICE=0         the engine splits every large-enough conv over the cores
///   DYNASLIM_KILL_AT_FILE_OP=N       (tests) `train` kills itself before its N-th epoch-commit file operation
enum ProcessSettings {
    static func applyEnvironment() {
        let env = ProcessInfo.processInfo.environment
        if let n = env["DYNASLIM_THREADS"].flatMap(Int.init), n > 0 { Parallel.defaultThreadCount = n }
        if env["DYNASLIM_DIRECT_CONV"] == "0" { Conv2D.useDirect3x3 = false }
        if env["DYNASLIM_AVX512"] == "0" { ds_conv3x3_allow_avx512(0) }
        var engine = EngineOptions()
        engine.paddedActivations = env["DYNASLIM_PADDED_ACTIVATIONS"] != "0"
        engine.phaseOutput = env["DYNASLIM_PHASE_OUTPUT"] != "0"
        engine.threadChoice = env["DYNASLIM_THREAD_CHOICE"] != "0"
        EngineOptions.processDefault = engine
    }
}
