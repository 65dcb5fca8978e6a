package dev.prefstream.schemas;

/**
 * File names of the formats on both sides of the adapters topic, defined once: a PEFT adapter
 * directory (what the trainer publishes and the sink writes) and a Hugging Face model directory
 * (what the trainer loads).
 */
public final class FileNames {
  private FileNames() {}

  /** PEFT: the adapter's LoraConfig as JSON. */
  public static final String ADAPTER_CONFIG = "adapter_config.json";

  /** PEFT: the adapter's weights. */
  public static final String ADAPTER_WEIGHTS = "adapter_model.safetensors";

  /** Hugging Face: the model's architecture. */
  public static final String MODEL_CONFIG = "config.json";

  /** Hugging Face: the tokenizer (tokenizers' JSON format). */
  public static final String TOKENIZER = "tokenizer.json";

  /** Hugging Face: special tokens and the chat template. */
  public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
}
