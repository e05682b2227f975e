// Job files: YAML of any shape through the loader (base files, schema, references). A
// file that loads must resolve, and its resolved.yaml must load again as the same job.
#include "fuzz_file.h"
#include "jobs/job.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = anneal::fuzz::write_input(data, size);
  anneal::fuzz::expect_anneal_error_or_success([&] {
    anneal::jobs::Job job = anneal::jobs::load_job(path, {"tags.fuzz=1"});
    anneal::jobs::Resolved r = anneal::jobs::resolve(job, {"ID", "/tmp/run", "name", job.experiment});
    const std::string text = anneal::jobs::to_yaml(r.tree);
    anneal::jobs::Job again = anneal::jobs::load_job_text(text, "resolved.yaml", "/tmp");
    if (again.type != job.type || again.command != r.command) std::abort();
  });
  return 0;
}
