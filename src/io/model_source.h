// Finding and opening a model: a llama2.c .bin, a Hugging Face directory, or a
// known model name ("stories260K") looked up in $SLIM_MODELS, ../shared/data/models,
// the local cache (~/.cache/slim-llm/models), and finally fetched from the
// Hugging Face hub with curl. Offline with no copy, the error says exactly which
// files to fetch and where to put them.
#pragma once
#include <memory>
#include <string>

#include "io/tokenizer.h"
#include "model/weights.h"

namespace slim {

constexpr const char* kDefaultModel = "stories260K";

struct ResolvedModel {
  std::string model_path;      // .bin file or HF directory
  std::string tokenizer_path;  // empty: look beside/inside the model
};

// Turns a --model argument into paths (downloading a known model if needed).
ResolvedModel resolve_model(const std::string& model_arg, const std::string& tokenizer_arg);

// Loads a model from a .bin or a directory.
Model load_model(const std::string& path);

// Loads the tokenizer for a model: the explicit path if given; else in an HF
// directory tokenizer.json, vocab.json + merges.txt, tokenizer.model,
// tokenizer.bin (llama2.c format).
// A llama2.c .bin without --tokenizer is an error that says so.
std::unique_ptr<Tokenizer> load_model_tokenizer(const ResolvedModel& r, const ModelConfig& c);

struct LoadedModel {
  ResolvedModel paths;
  Model model;
  std::unique_ptr<Tokenizer> tokenizer;
};
LoadedModel open_model(const std::string& model_arg, const std::string& tokenizer_arg, bool need_tokenizer = true);

}  // namespace slim
