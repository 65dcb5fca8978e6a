package dev.prefstream.cli;

import ai.djl.Device;
import dev.prefstream.trainer.model.CausalLm;
import picocli.CommandLine.Option;

/** --device auto|cpu|gpu|gpu:N. */
public final class DeviceOption {

  @Option(
      names = "--device",
      defaultValue = "auto",
      description = "auto (a GPU when DJL sees one, else the CPU), cpu, gpu or gpu:N.")
  String device;

  Device toDevice() {
    return switch (device) {
      case "auto" -> CausalLm.defaultDevice();
      case "cpu" -> Device.cpu();
      case "gpu" -> Device.gpu();
      default -> {
        if (device.startsWith("gpu:")) {
          yield Device.gpu(Integer.parseInt(device.substring(4)));
        }
        throw new IllegalArgumentException(
            "--device must be auto, cpu, gpu or gpu:N, got " + device);
      }
    };
  }
}
