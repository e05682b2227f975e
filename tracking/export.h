#pragma once
// A run's metrics out of anneal: CSV (one row per point), JSON (the run record and every
// point), or TensorBoard event files (TFRecord framing with masked CRC32C around `Event`
// protobufs with scalar summaries), so the curves open in TensorBoard.
#include <string>

#include "tracking/registry.h"

namespace anneal::tracking {

// Writes into folder `out` (created); returns the file written.
std::string export_run(Registry& registry, const std::string& id, const std::string& format, const std::string& out);

// CRC-32C (Castagnoli) and TFRecord's masked form of it.
uint32_t crc32c(const void* data, size_t n);
uint32_t masked_crc32c(const void* data, size_t n);

}  // namespace anneal::tracking
